"""Month arithmetic: month ends, leap years, wall time across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.periods import add_days, add_months, paid_period, renewal_key
from tests.billing.conftest import AMS

ZONE = "Europe/Amsterdam"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (local(2027, 1, 31, 10), 1, local(2027, 2, 28, 10)),
        (local(2028, 1, 31, 10), 1, local(2028, 2, 29, 10)),  # leap year
        (local(2027, 3, 31, 10), 1, local(2027, 4, 30, 10)),
        (local(2027, 12, 31, 10), 2, local(2028, 2, 29, 10)),
        (local(2027, 1, 15, 10), 12, local(2028, 1, 15, 10)),
        # Across the change to summer time the wall clock stays at 10:00.
        (local(2027, 3, 15, 10), 1, local(2027, 4, 15, 10)),
    ],
)
def test_add_months_clips_to_the_month_end(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months, ZONE) == expected
    assert add_months(start, months, ZONE).tzinfo is UTC


def test_paid_months_count_from_the_anchor_so_the_31st_comes_back() -> None:
    anchor = local(2027, 1, 31, 10)
    periods = [paid_period(anchor, i, ZONE) for i in range(4)]
    starts = [p[0].astimezone(AMS).date().isoformat() for p in periods]
    assert starts == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    # Consecutive periods touch: each ends where the next starts.
    assert all(periods[i][1] == periods[i + 1][0] for i in range(3))
    # Each period starts in its own month, so the renewal keys are distinct.
    keys = [renewal_key(7, start, ZONE) for start, _ in periods]
    assert keys == [
        "renewal:7:2027-01",
        "renewal:7:2027-02",
        "renewal:7:2027-03",
        "renewal:7:2027-04",
    ]


def test_a_leap_year_february_has_its_29th() -> None:
    anchor = local(2028, 1, 30, 9)
    assert paid_period(anchor, 1, ZONE)[0] == local(2028, 2, 29, 9)
    assert paid_period(anchor, 2, ZONE)[0] == local(2028, 3, 30, 9)


def test_thirty_days_keep_the_wall_clock_across_dst() -> None:
    start = local(2026, 10, 10, 10)  # summer time; 30 days later it is winter time
    end = add_days(start, 30, ZONE)
    assert end.astimezone(AMS) == local(2026, 11, 9, 10)
    assert end - start == timedelta(days=30, hours=1)  # the extra hour of the autumn change


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_months(datetime(2027, 1, 1), 1, ZONE)  # noqa: DTZ001
