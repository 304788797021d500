"""Ground truth for the recurrence tests, independent of the code under test.

* RFC 5545: python-dateutil's own parser (``rrulestr``) on the line exactly as written, expanded
  from the *aware* start, so UNTIL with ``Z`` is compared with real instants as RFC 5545 says.
* Outlook: a brute-force day-by-day model of ``patternedRecurrence`` written from Microsoft's
  documentation (weeks from ``firstDayOfWeek``, day 29-31 clamped to the month's end), sharing no
  code with ``recurrence.graph``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from recurrence import Rule, Translation
from recurrence.model import localize

Value = datetime | date
HORIZON_YEARS = 6


def horizon_of(start: Value, years: int = HORIZON_YEARS) -> date:
    day = start.date() if isinstance(start, datetime) else start
    return day + relativedelta(years=years)


def rfc_occurrences(line: str, start: Value, *, until: date | None = None) -> list[Value]:
    """dateutil's expansion of one RRULE line: aware occurrences (normalised through UTC, as a
    calendar shows a wall time skipped by DST) or dates, up to ``until`` or the horizon."""
    last = until or horizon_of(start)
    out: list[Value] = []
    if isinstance(start, datetime):
        assert start.tzinfo is not None
        dtstart: datetime = start
        if re.search(r"UNTIL=\d{8}(;|$)", line, re.I):
            # A DATE UNTIL on a timed series is invalid RFC 5545 that clients still write; we
            # read it as "through that local day" (dateutil would stop at its midnight).
            line = re.sub(r"(UNTIL=\d{8})(;|$)", r"\1T235959\2", line, flags=re.I)
        if re.search(r"UNTIL=\d{8}T\d{6}(;|$)", line, re.I):
            dtstart = start.replace(tzinfo=None)  # a floating UNTIL: wall times on both sides
        for occ in rrulestr(line, dtstart=dtstart):
            assert isinstance(occ, datetime)
            normal = localize(occ.replace(tzinfo=None), start.tzinfo)
            if normal.date() > last:
                break
            out.append(normal)
        return out
    # All-day: floating midnight; a UNTIL with Z is read in UTC, that is with the Z dropped.
    floating = re.sub(r"(UNTIL=\d{8}T\d{6})Z", r"\1", line)
    for occ in rrulestr(floating, dtstart=datetime.combine(start, time())):
        assert isinstance(occ, datetime)
        if occ.date() > last:
            break
        out.append(occ.date())
    return out


def internal_occurrences(rule: Rule, start: Value, *, until: date | None = None) -> list[Value]:
    last = until or horizon_of(start)
    if isinstance(start, datetime):
        out: list[Value] = []
        for occ in rule.occurrences(start):
            if occ.date() > last:
                break
            out.append(occ)
        return out
    return [d for d in rule.dates(start) if d <= last]


def translated(tr: Translation, *, until: date | None = None) -> list[Value]:
    assert tr.rule is not None
    return internal_occurrences(tr.rule, tr.start, until=until)


def suggestion_occurrences(tr: Translation, *, until: date | None = None) -> list[Value]:
    """The union of the dates of every meeting of the translation's suggestion(s)."""
    until = until or horizon_of(tr.start)  # one horizon for all meetings: they start apart
    out: list[Value] = []
    for suggestion in tr.suggestions:
        for meeting in suggestion.meetings:
            out.extend(internal_occurrences(meeting.rule, meeting.start, until=until))
    return sorted(out, key=_key)


def _key(value: Value) -> tuple[date, str]:
    if isinstance(value, datetime):
        return (value.astimezone(UTC).date(), value.astimezone(UTC).isoformat())
    return (value, "")


# -- Outlook -------------------------------------------------------------------------------------

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def outlook_dates(
    recurrence: Mapping[str, Any], start: date, *, until: date | None = None
) -> list[date]:
    """The dates Outlook shows for a ``patternedRecurrence`` whose first occurrence is ``start``."""
    pattern, range_ = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    interval = pattern.get("interval", 1)
    days = {_DAYS.index(d) for d in pattern.get("daysOfWeek", [])}
    first_day = _DAYS.index(pattern.get("firstDayOfWeek", "sunday"))
    last = until or horizon_of(start)
    if range_["type"] == "endDate":
        last = min(last, date.fromisoformat(range_["endDate"]))
    count = range_.get("numberOfOccurrences") if range_["type"] == "numbered" else None

    def week_of(d: date) -> date:
        return d - timedelta(days=(d.weekday() - first_day) % 7)

    def months_between(d: date) -> int:
        return (d.year - start.year) * 12 + d.month - start.month

    def clamped(d: date, dom: int) -> bool:
        return d.day == min(dom, calendar.monthrange(d.year, d.month)[1])

    def nth_ok(d: date, index: str) -> bool:
        n = _INDEX[index]
        if n == -1:
            return (d + timedelta(days=7)).month != d.month
        return (d.day - 1) // 7 + 1 == n

    def member(d: date) -> bool:
        if kind == "daily":
            return (d - start).days % interval == 0
        if kind == "weekly":
            weeks = (week_of(d) - week_of(start)).days // 7
            return weeks % interval == 0 and d.weekday() in days
        if kind == "absoluteMonthly":
            return months_between(d) % interval == 0 and clamped(d, pattern["dayOfMonth"])
        if kind == "relativeMonthly":
            return (
                months_between(d) % interval == 0
                and d.weekday() in days
                and nth_ok(d, pattern.get("index", "first"))
            )
        if kind == "absoluteYearly":
            return (
                (d.year - start.year) % interval == 0
                and d.month == pattern["month"]
                and clamped(d, pattern["dayOfMonth"])
            )
        if kind == "relativeYearly":
            return (
                (d.year - start.year) % interval == 0
                and d.month == pattern["month"]
                and d.weekday() in days
                and nth_ok(d, pattern.get("index", "first"))
            )
        raise AssertionError(kind)

    out: list[date] = []
    d = start
    while d <= last and (count is None or len(out) < count):
        if member(d):
            out.append(d)
        d += timedelta(days=1)
    return out


def dates_of(values: Iterable[Value]) -> list[date]:
    return [v.date() if isinstance(v, datetime) else v for v in values]
