"""Hypothesis properties: round trips, and "exact or flagged" for arbitrary provider rules.

Every comparison covers the whole series, or its first six years when it runs longer, and uses the
independent ground truths of ``helpers`` (dateutil's own parser for RRULE, a day-by-day model for
Outlook).
"""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from recurrence import (
    FAR_FUTURE,
    Flag,
    Frequency,
    NotExpressibleError,
    RecurrenceParseError,
    Rule,
    Translation,
    Weekday,
    from_graph,
    from_rrule,
    to_graph,
    to_rrule,
)
from recurrence.model import is_last_of_month, localize, nth_of_month
from tests.recurrence.helpers import (
    Value,
    dates_of,
    horizon_of,
    internal_occurrences,
    outlook_dates,
    rfc_occurrences,
    suggestion_occurrences,
    translated,
)

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
ZONES = [
    ZoneInfo(z)
    for z in (
        "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC",
        "America/Sao_Paulo", "Pacific/Auckland", "America/Santiago", "Europe/London",
        "Pacific/Chatham",
    )
]  # fmt: skip
# Wall times that stress DST (02:00-03:00 is skipped or repeated in many zones) and midnight.
TIMES = st.sampled_from(
    [time(0, 0), time(0, 30), time(1, 30), time(2, 0), time(2, 30), time(3, 0), time(9, 0),
     time(12, 45), time(23, 0), time(23, 59)]
) | st.times().map(lambda t: t.replace(microsecond=0))  # calendars have whole seconds  # fmt: skip
CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
GRAPH_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# -- internal rules ------------------------------------------------------------------------------


def _next_month(y: int, m: int) -> tuple[int, int]:
    return (y + 1, 1) if m == 12 else (y, m + 1)


@st.composite
def internal_rules(draw: st.DrawFn) -> tuple[Rule, Value]:
    frequency = draw(st.sampled_from(list(Frequency)))
    interval = draw(st.integers(1, 6) | st.integers(7, 99))
    base = draw(st.dates(date(2020, 1, 1), date(2034, 12, 31)))
    kwargs: dict[str, Any] = {}
    day = base
    if frequency is Frequency.WEEKLY:
        days = draw(st.frozensets(st.sampled_from(list(Weekday)), min_size=1))
        while Weekday(day.weekday()) not in days:
            day += timedelta(days=1)
        kwargs["weekdays"] = days
    elif frequency is Frequency.MONTHLY and draw(st.booleans()):
        month_day = draw(st.integers(1, 31) | st.integers(28, 31))
        y, m = base.year, base.month
        while calendar.monthrange(y, m)[1] < month_day:
            y, m = _next_month(y, m)
        day = date(y, m, month_day)
        kwargs["month_day"] = month_day
    elif frequency is Frequency.MONTHLY:
        nth = draw(st.sampled_from([1, 2, 3, 4, 5, -1]))
        weekday = draw(st.sampled_from(list(Weekday)))
        day = date(base.year, base.month, 1)
        while not (
            day.weekday() == weekday
            and (is_last_of_month(day) if nth == -1 else nth_of_month(day) == nth)
        ):
            day += timedelta(days=1)
        kwargs.update(nth=nth, nth_weekday=weekday)
    elif draw(st.booleans()):  # yearly, sometimes on February 29
        day = date(draw(st.sampled_from([2020, 2024, 2028, 2032])), 2, 29)
    until = draw(st.just(FAR_FUTURE) | st.integers(0, 4000).map(lambda n: day + timedelta(days=n)))
    rule = Rule(frequency, until, interval, **kwargs)
    rule.check_start(day)
    if draw(st.booleans()):
        return rule, day
    return rule, datetime.combine(day, draw(TIMES), tzinfo=draw(st.sampled_from(ZONES)))


def _ending_on_last_occurrence(rule: Rule, start: Value) -> Rule:
    """``rule`` with its end moved back to its last occurrence: what reading UNTIL or an end date
    gives (the issue: "UNTIL becomes the local date of the last occurrence"); same dates."""
    if rule.until == FAR_FUTURE:
        return rule
    naive = start if isinstance(start, datetime) else datetime.combine(start, time())
    last = rule.to_dateutil(naive.replace(tzinfo=None)).before(
        datetime.combine(rule.until, time.max), inc=True
    )
    assert last is not None
    return replace(rule, until=last.date())


def _instants(values: list[Value]) -> list[Value]:
    return [v.astimezone(UTC) if isinstance(v, datetime) else v for v in values]


@SETTINGS
@given(internal_rules())
def test_internal_to_rrule_and_back_is_identical(case: tuple[Rule, Value]) -> None:
    rule, start = case
    lines = to_rrule(rule, start)
    assert "WKST=MO" in lines[0]
    tr = from_rrule(lines, start)
    assert tr.rule == _ending_on_last_occurrence(rule, start)
    assert tr.flags == ({Flag.NO_END} if rule.until == FAR_FUTURE else set())
    ours = internal_occurrences(rule, start)
    assert _instants(translated(tr)) == _instants(ours)
    # The line means the same dates to dateutil's own parser (the writer is exact too).
    assert _instants(rfc_occurrences(lines[0], start)) == _instants(ours)


def _graph_risky(rule: Rule, start: Value) -> bool:
    day = start.date() if isinstance(start, datetime) else start
    return rule.nth == 5 or (rule.frequency is not Frequency.WEEKLY and day.day >= 29)


@SETTINGS
@given(internal_rules())
def test_internal_to_graph_and_back_is_identical(case: tuple[Rule, Value]) -> None:
    rule, start = case
    day = start.date() if isinstance(start, datetime) else start
    try:
        recurrence = to_graph(rule, start)
    except NotExpressibleError:
        assert _graph_risky(rule, start)
        return
    assert recurrence["pattern"]["firstDayOfWeek"] == "monday"
    tr = from_graph(recurrence, start)
    expected = _ending_on_last_occurrence(rule, start)
    if rule.nth == 5:  # written as "last", which Outlook shows on the same dates in this series
        expected = replace(expected, nth=-1)
    assert tr.rule == expected
    assert tr.flags == ({Flag.NO_END} if rule.until == FAR_FUTURE else set())
    ours = internal_occurrences(rule, start)
    assert _instants(translated(tr)) == _instants(ours)
    # Outlook would show exactly these dates (its own model, clamping and all).
    assert outlook_dates(recurrence, day, until=min(rule.until, horizon_of(day))) == dates_of(ours)


# -- arbitrary provider rules: exact or flagged --------------------------------------------------


@st.composite
def rrule_lines(draw: st.DrawFn) -> tuple[str, Value]:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "WEEKLY", "MONTHLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(CODES))}")
    # dateutil searches up to year 9999 for the first occurrence of a rule that has none, which
    # takes seconds; the combinations that can be empty are left out here (BYDAY with BYMONTHDAY,
    # BYSETPOS with numbered weekdays, day 30 of February): the readers never expand them, they
    # are unsupported on their structure alone, which the tables check.
    days = draw(st.lists(st.sampled_from(CODES), min_size=0, max_size=4, unique=True))
    numbered = False
    if days:
        if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
            ordinals = st.sampled_from([1, 2, 3, 4, 5, -1, -2])
            days = [f"{draw(ordinals)}{d}" for d in days[: draw(st.integers(1, 2))]]
            numbered = True
        parts.append("BYDAY=" + ",".join(days))
    month = draw(st.integers(1, 12)) if freq == "YEARLY" and draw(st.booleans()) else None
    if month is not None:
        parts.append(f"BYMONTH={month}")
    if not days and freq in ("MONTHLY", "YEARLY") and draw(st.integers(0, 3)) == 0:
        longest = calendar.monthrange(2024, month)[1] if month else 31
        month_days = draw(st.lists(st.integers(1, longest) | st.just(-1), min_size=1, max_size=2))
        parts.append("BYMONTHDAY=" + ",".join(map(str, sorted(set(month_days)))))
    if days and not numbered and freq in ("MONTHLY", "YEARLY") and draw(st.integers(0, 4)) == 0:
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1, 3]))}")
    all_day = draw(st.booleans())
    zone = draw(st.sampled_from(ZONES))
    base = datetime.combine(draw(st.dates(date(2021, 1, 1), date(2032, 12, 31))), draw(TIMES))
    base_value: Value = base.date() if all_day else base.replace(tzinfo=zone)
    end = draw(st.sampled_from(["none", "count", "until", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 80))}")
    elif end == "until":
        until = base.replace(tzinfo=zone) + timedelta(
            days=draw(st.integers(0, 900)), seconds=draw(st.sampled_from([0, -1, 1, 3600, -3600]))
        )
        if all_day and draw(st.booleans()):
            parts.append(f"UNTIL={until:%Y%m%d}")
        else:
            parts.append(f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    draw(st.randoms()).shuffle(parts)  # part order is free in RFC 5545
    line = "RRULE:" + ";".join(parts)
    # The series' start is its first occurrence (the provider's DTSTART matches its rule).
    first = next(iter(rfc_occurrences(line, base_value)), None)
    assume(first is not None)
    assert first is not None
    if isinstance(first, datetime):  # keep dateutil's wall time, even inside a DST gap
        first = datetime.combine(first.date(), base.time(), tzinfo=zone)
    return line, first


def _check_exact_or_flagged(tr: Translation, truth: list[Value]) -> None:
    event("flags: " + ",".join(sorted(tr.flags)) + (" +suggestion" if tr.suggestions else ""))
    assert len(tr.messages) == len(tr.flags)
    assert {m.flag for m in tr.messages} == set(tr.flags)
    if tr.rule is None:
        assert tr.flags & {Flag.DAILY, Flag.UNSUPPORTED}
        if tr.suggestions:
            assert _instants(suggestion_occurrences(tr)) == _instants(truth)
        return
    assert tr.flags <= {Flag.NO_END, Flag.SUNDAY_WEEK_START, Flag.EXCEPTION}
    mine = translated(tr)
    if Flag.SUNDAY_WEEK_START in tr.flags:
        assert _instants(mine) != _instants(truth)
        assert _instants(suggestion_occurrences(tr)) == _instants(truth)
    else:
        assert _instants(mine) == _instants(truth)


@settings(SETTINGS, max_examples=400)
@given(rrule_lines())
def test_any_rrule_is_exact_or_flagged(case: tuple[str, Value]) -> None:
    line, start = case
    tr = from_rrule([line], start)
    _check_exact_or_flagged(tr, rfc_occurrences(line, start))


@st.composite
def graph_recurrences(draw: st.DrawFn) -> tuple[dict[str, Any], Value]:
    kind = draw(
        st.sampled_from(["daily", "weekly", "weekly", "absoluteMonthly", "relativeMonthly",
                         "absoluteYearly", "relativeYearly"])
    )  # fmt: skip
    pattern: dict[str, Any] = {"type": kind, "interval": draw(st.integers(1, 4))}
    if draw(st.booleans()):
        pattern["firstDayOfWeek"] = draw(st.sampled_from(GRAPH_DAYS))
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        size = draw(st.integers(1, 3 if kind == "weekly" else 2))
        pattern["daysOfWeek"] = draw(
            st.lists(st.sampled_from(GRAPH_DAYS), min_size=size, max_size=size, unique=True)
        )
    if kind in ("relativeMonthly", "relativeYearly"):
        pattern["index"] = draw(st.sampled_from(["first", "second", "third", "fourth", "last"]))
    if kind in ("absoluteMonthly", "absoluteYearly"):
        pattern["dayOfMonth"] = draw(st.integers(1, 31) | st.integers(28, 31))
    if kind in ("absoluteYearly", "relativeYearly"):
        pattern["month"] = draw(st.integers(1, 12))
    base = draw(st.dates(date(2021, 1, 1), date(2032, 12, 31)))
    range_: dict[str, Any] = {"type": draw(st.sampled_from(["noEnd", "endDate", "numbered"]))}
    if range_["type"] == "endDate":
        range_["endDate"] = (base + timedelta(days=draw(st.integers(0, 1500)))).isoformat()
    elif range_["type"] == "numbered":
        range_["numberOfOccurrences"] = draw(st.integers(1, 60))
    recurrence = {"pattern": pattern, "range": range_}
    if kind == "absoluteYearly":
        assume(pattern["dayOfMonth"] <= calendar.monthrange(2024, pattern["month"])[1])
    first = next(iter(outlook_dates(recurrence, base, until=base + timedelta(days=3000))), None)
    assume(first is not None)
    assert first is not None
    range_["startDate"] = first.isoformat()
    if draw(st.booleans()):
        return recurrence, first
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        range_["recurrenceTimeZone"] = zone.key
    return recurrence, datetime.combine(first, draw(TIMES), tzinfo=zone)


@settings(SETTINGS, max_examples=400)
@given(graph_recurrences())
def test_any_graph_pattern_is_exact_or_flagged(case: tuple[dict[str, Any], Value]) -> None:
    recurrence, start = case
    tr = from_graph(recurrence, start)
    event("flags: " + ",".join(sorted(tr.flags)) + (" +suggestion" if tr.suggestions else ""))
    day = start.date() if isinstance(start, datetime) else start
    truth = outlook_dates(recurrence, day)
    assert len(tr.messages) == len(tr.flags)
    if tr.rule is None:
        assert tr.flags & {Flag.DAILY, Flag.UNSUPPORTED}
        if tr.suggestions:
            assert dates_of(suggestion_occurrences(tr)) == truth
        return
    mine = dates_of(translated(tr))
    if Flag.SUNDAY_WEEK_START in tr.flags:
        assert mine != truth
        assert dates_of(suggestion_occurrences(tr)) == truth
    else:
        assert mine == truth


# -- UNTIL at day boundaries, DST --------------------------------------------------------------


@SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    wall=st.sampled_from([time(0, 0), time(0, 30), time(23, 30), time(23, 59, 59), time(2, 30)]),
    first=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    weeks=st.integers(0, 60),
    delta=st.sampled_from([0, -1, 1, -3600, 3600, -43200, 43200, 86399, -86399]),
)
def test_until_in_utc_never_adds_or_loses_an_occurrence(
    zone: ZoneInfo, wall: time, first: date, weeks: int, delta: int
) -> None:
    start = datetime.combine(first, wall, tzinfo=zone)
    # UNTIL is a real instant near an occurrence (or near the days around it).
    target = localize(datetime.combine(first + timedelta(weeks=weeks), wall), zone)
    until = (target + timedelta(seconds=delta)).astimezone(UTC)
    line = f"RRULE:FREQ=WEEKLY;UNTIL={until:%Y%m%dT%H%M%SZ}"
    tr = from_rrule([line], start)
    truth = rfc_occurrences(line, start)
    assert tr.rule is not None and tr.flags == set()
    assert _instants(translated(tr)) == _instants(truth or [start])
    assert tr.rule.until == (truth[-1].date() if truth else first)  # type: ignore[union-attr]


@SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    first=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    days=st.integers(0, 400),
    clock=st.sampled_from([time(0, 0), time(23, 59, 59), time(12, 0), time(5, 0), time(19, 0)]),
)
def test_all_day_until_in_utc_reads_in_the_calendar_zone(
    zone: ZoneInfo, first: date, days: int, clock: time
) -> None:
    until = datetime.combine(first + timedelta(days=days), clock, tzinfo=UTC)
    line = f"RRULE:FREQ=WEEKLY;BYDAY={CODES[first.weekday()]};UNTIL={until:%Y%m%dT%H%M%SZ}"
    tr = from_rrule([line], first, all_day_zone=zone)
    assert tr.rule is not None
    # An all-day occurrence is included when its midnight in the calendar's zone is not after
    # UNTIL: brute force over the candidate days.
    included = [
        d
        for d in (first + timedelta(weeks=k) for k in range(days // 7 + 3))
        if localize(datetime.combine(d, time()), zone) <= until or d == first
    ]
    assert [d for d in translated(tr) if d <= included[-1] + timedelta(days=7)] == included


@SETTINGS
@given(internal_rules())
def test_dst_keeps_the_local_wall_time(case: tuple[Rule, Value]) -> None:
    rule, start = case
    assume(isinstance(start, datetime))
    assert isinstance(start, datetime) and start.tzinfo is not None
    tr = from_rrule(to_rrule(rule, start), start)
    wall = start.time()
    for occurrence in translated(tr):
        assert isinstance(occurrence, datetime)
        # The same wall time every time; only a time skipped by DST moves forward.
        expected = localize(datetime.combine(occurrence.date(), wall), start.tzinfo)
        assert occurrence == expected


# -- malformed input never escapes as another exception ------------------------------------------

FRAGMENTS = st.sampled_from(
    ["RRULE:", "EXDATE:", "RDATE:", "EXRULE:", "FREQ=", "WEEKLY", "DAILY", "MONTHLY", "YEARLY",
     "HOURLY", "COUNT=", "UNTIL=", "INTERVAL=", "BYDAY=", "BYMONTHDAY=", "BYSETPOS=", "WKST=",
     "MO", "SU", "2TU", "-1FR", ";", ",", "=", ":", "0", "1", "-", "99", "20260105", "T090000",
     "Z", "TZID=Europe/Berlin", "VALUE=DATE", " ", "x", "\\", "1000000000", "99991231",
     "00010101", "T235959Z", "BYMONTH=2;BYMONTHDAY=30", "DAILY;BYSETPOS=2", "BYWEEKNO=53"]
)  # fmt: skip


@settings(SETTINGS, max_examples=300)
@given(st.lists(st.lists(FRAGMENTS, max_size=12).map("".join), max_size=3), st.booleans())
def test_fuzzed_lines_give_a_translation_or_the_documented_error(
    lines: list[str], all_day: bool
) -> None:
    start: Value = (
        date(2026, 1, 5) if all_day else datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    )
    try:
        tr = from_rrule(lines, start)
    except RecurrenceParseError:
        return
    assert len(tr.messages) == len(tr.flags)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.sampled_from(
        ["weekly", "daily", "absoluteMonthly", "relativeYearly", "monday", "sunday", "last",
         "noEnd", "endDate", "numbered", "2026-01-05", "2026-02-30", "UTC", ""]
    ),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["type", "interval", "daysOfWeek", "dayOfMonth", "month", "index",
                         "firstDayOfWeek", "endDate", "numberOfOccurrences", "recurrenceTimeZone",
                         "pattern", "range"]),
        inner,
        max_size=6,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(SETTINGS, max_examples=300)
@given(JSON)
def test_fuzzed_graph_gives_a_translation_or_the_documented_error(recurrence: object) -> None:
    try:
        tr = from_graph(recurrence, datetime(2026, 1, 5, 9, tzinfo=UTC))  # type: ignore[arg-type]
    except RecurrenceParseError:
        return
    assert len(tr.messages) == len(tr.flags)


@settings(SETTINGS, max_examples=200)
@given(
    wkst=st.sampled_from(CODES[1:]),
    interval=st.integers(2, 5),
    days=st.lists(st.sampled_from(CODES), min_size=2, max_size=4, unique=True),
    first=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    end=st.sampled_from(["", ";COUNT=1", ";COUNT=2", ";COUNT=3", ";COUNT=17", ";UNTIL=20301231"]),
    all_day=st.booleans(),
)
def test_week_start_is_flagged_exactly_when_the_dates_differ(
    wkst: str, interval: int, days: list[str], first: date, end: str, all_day: bool
) -> None:
    while CODES[first.weekday()] not in days:
        first += timedelta(days=1)
    line = f"RRULE:FREQ=WEEKLY;WKST={wkst};INTERVAL={interval};BYDAY={','.join(days)}{end}"
    start: Value = first if all_day else datetime.combine(first, time(8), tzinfo=ZONES[0])
    tr = from_rrule([line], start)
    truth = rfc_occurrences(line, start)
    # Both directions: flagged => the Monday-week dates differ (and the split is exact);
    # not flagged => they are the same.
    _check_exact_or_flagged(tr, truth)
    assert tr.rule is not None
    split = tr.suggestions[0].meetings if tr.suggestions else ()
    assert len(split) <= 2
