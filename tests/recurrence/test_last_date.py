"""``Rule.last_date``: the last occurrence in closed form, checked against dateutil's walk."""

from __future__ import annotations

import time as clock
from datetime import date, datetime, time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from recurrence import Frequency, Rule, Weekday

NTH = st.sampled_from([1, 2, 3, 4, 5, -1])


@st.composite
def rules(draw: st.DrawFn) -> tuple[Rule, date]:
    """Any valid rule and a start (matching the pattern or not: dateutil then starts later)."""
    frequency = draw(st.sampled_from(list(Frequency)))
    start = draw(st.dates(date(2019, 1, 1), date(2030, 12, 31)))
    until = draw(st.dates(start, date(2045, 12, 31)))
    interval = draw(st.integers(1, 14) | st.sampled_from([12, 24, 48, 99]))
    kwargs: dict[str, Any] = {}
    if frequency is Frequency.WEEKLY:
        kwargs["weekdays"] = draw(st.frozensets(st.sampled_from(list(Weekday)), min_size=1))
    elif frequency is Frequency.MONTHLY:
        if draw(st.booleans()):
            kwargs["month_day"] = draw(st.integers(1, 31))
        else:
            kwargs["nth"] = draw(NTH)
            kwargs["nth_weekday"] = draw(st.sampled_from(list(Weekday)))
    return Rule(frequency, until=until, interval=interval, **kwargs), start


@settings(max_examples=400, deadline=None, derandomize=True)
@given(rules())
def test_last_date_is_dateutils_last_occurrence(case: tuple[Rule, date]) -> None:
    rule, start = case
    walked = rule.to_dateutil(datetime.combine(start, time(9))).before(
        datetime.combine(rule.until, time.max), inc=True
    )
    assert rule.last_date(start) == (walked.date() if walked else None)


def test_a_series_until_the_last_day_of_year_9999_costs_nothing() -> None:
    """Issue 12: seven days a week until 9999-12-31 walked 14 s and failed in year 10000."""
    rule = Rule(Frequency.WEEKLY, until=date(9999, 12, 31), weekdays=frozenset(Weekday))
    began = clock.process_time()
    assert rule.last_date(date(2026, 12, 1)) == date(9999, 12, 31)
    leap = Rule(Frequency.YEARLY, until=date(9999, 12, 31), interval=1)
    assert leap.last_date(date(2028, 2, 29)) == date(9996, 2, 29)
    fifth = Rule(
        Frequency.MONTHLY, until=date(9999, 12, 31), interval=12, nth=5, nth_weekday=Weekday.MO
    )
    assert fifth.last_date(date(2016, 2, 29)) is not None
    assert clock.process_time() - began < 0.5  # a handful of steps, not a walk of 2.8M days


def test_no_occurrence_before_an_until_that_precedes_the_start() -> None:
    rule = Rule(Frequency.WEEKLY, until=date(2026, 1, 1), weekdays=frozenset({Weekday.MO}))
    assert rule.last_date(date(2026, 3, 2)) is None
