"""Date arithmetic for trials and paid months, in the tenant's wall time.

Months are added with ``dateutil.relativedelta``, always from the subscription's anchor
(``anchor + n months``), never from the previous period's end: a subscription anchored on
31 January renews on 28 February (29 in a leap year) and then on 31 March again. Adding in the
tenant's zone keeps the wall-clock time across daylight-saving changes, so "30 days" and "a month"
mean what the administrator reads on the page.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta


def _local(moment: datetime, zone: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("billing times must be timezone-aware")
    return moment.astimezone(zoneinfo.ZoneInfo(zone))


def add_days(moment: datetime, days: int, zone: str) -> datetime:
    """``moment`` plus ``days`` calendar days at the same wall-clock time in ``zone``."""
    return (_local(moment, zone) + timedelta(days=days)).astimezone(UTC)


def add_months(moment: datetime, months: int, zone: str) -> datetime:
    """``moment`` plus ``months`` months in ``zone``; a day past the end of the target month is
    clipped to its last day (31 January + 1 month = 28 or 29 February)."""
    return (_local(moment, zone) + relativedelta(months=months)).astimezone(UTC)


def paid_period(anchor: datetime, index: int, zone: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of paid month ``index`` counted from ``anchor``."""
    return add_months(anchor, index, zone), add_months(anchor, index + 1, zone)


def month_label(moment: datetime, zone: str) -> str:
    """``YYYY-MM`` of ``moment`` in ``zone``: the month part of a renewal key."""
    return _local(moment, zone).strftime("%Y-%m")


def renewal_key(subscription_id: int, period_start: datetime, zone: str) -> str:
    """The idempotency key of the charge for the period starting at ``period_start``. Periods of
    one subscription start in distinct months (each is at least 28 days after the previous
    start), so this names exactly one period."""
    return f"renewal:{subscription_id}:{month_label(period_start, zone)}"
