"""Graph ``patternedRecurrence`` as Outlook writes it, checked against a day-by-day model of
Outlook's expansion (``helpers.outlook_dates``), and the writers ``to_graph`` / ``to_rrule``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recurrence import (
    FAR_FUTURE,
    Flag,
    Frequency,
    NotExpressibleError,
    RecurrenceParseError,
    Rule,
    SuggestionKind,
    Weekday,
    from_graph,
    from_rrule,
    to_graph,
    to_rrule,
)
from tests.recurrence.helpers import (
    dates_of,
    outlook_dates,
    rfc_occurrences,
    suggestion_occurrences,
    translated,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MO, TU, WE, TH, FR, SA, SU = Weekday


def graph(pattern: dict[str, Any], range_: dict[str, Any]) -> dict[str, Any]:
    # Graph returns every field, the ignored ones zero-filled; readers must ignore them.
    full = {"month": 0, "dayOfMonth": 0, "firstDayOfWeek": "sunday", "index": "first"}
    full.update(pattern)
    rng = {"numberOfOccurrences": 0, "recurrenceTimeZone": "W. Europe Standard Time"}
    rng.update(range_)
    return {"pattern": full, "range": rng}


def end(d: str) -> dict[str, Any]:
    return {"type": "endDate", "startDate": "2026-01-01", "endDate": d}


NO_END = {"type": "noEnd", "startDate": "2026-01-01"}


def numbered(n: int) -> dict[str, Any]:
    return {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": n}


def at(y: int, m: int, d: int, hh: int = 9, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(y, m, d, hh, 0, tzinfo=zone)


F = Flag
CASES: list[tuple[str, dict[str, Any], datetime | date, set[Flag]]] = [
    ("weekly mo,we until", graph({"type": "weekly", "interval": 1,
                                  "daysOfWeek": ["monday", "wednesday"]},
                                 end("2026-03-31")), at(2026, 1, 5), set()),
    ("weekly endDate between occurrences", graph({"type": "weekly", "interval": 1,
                                                  "daysOfWeek": ["friday"]}, end("2026-03-01")),
     at(2026, 1, 2), set()),
    ("weekly biweekly su,mo sunday start", graph({"type": "weekly", "interval": 2,
                                                  "daysOfWeek": ["sunday", "monday"]}, NO_END),
     at(2026, 1, 4), {F.SUNDAY_WEEK_START, F.NO_END}),
    ("weekly biweekly default firstDayOfWeek", {"pattern": {"type": "weekly", "interval": 2,
                                                            "daysOfWeek": ["sunday", "thursday"]},
                                                "range": numbered(12)}, at(2026, 1, 1),
     {F.SUNDAY_WEEK_START}),
    ("weekly biweekly mo,tu sunday start", graph({"type": "weekly", "interval": 2,
                                                  "daysOfWeek": ["monday", "tuesday"]}, NO_END),
     at(2026, 1, 5), {F.NO_END}),
    ("weekly biweekly su,mo monday start", graph({"type": "weekly", "interval": 2,
                                                  "daysOfWeek": ["sunday", "monday"],
                                                  "firstDayOfWeek": "monday"}, numbered(9)),
     at(2026, 1, 4), set()),
    ("absolute monthly 15", graph({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
                                  numbered(24)), at(2026, 1, 15), set()),
    ("absolute monthly 31 no end clamps", graph({"type": "absoluteMonthly", "interval": 1,
                                                 "dayOfMonth": 31}, NO_END), at(2026, 1, 31),
     {F.UNSUPPORTED}),
    ("absolute monthly 31 in long months only", graph({"type": "absoluteMonthly", "interval": 2,
                                                       "dayOfMonth": 31}, end("2026-07-31")),
     at(2026, 1, 31), set()),
    ("absolute monthly 30 bimonthly clamps in feb", graph({"type": "absoluteMonthly",
                                                           "interval": 1, "dayOfMonth": 30},
                                                          end("2026-04-30")), at(2026, 1, 30),
     {F.UNSUPPORTED}),
    ("relative monthly second tuesday", graph({"type": "relativeMonthly", "interval": 1,
                                               "daysOfWeek": ["tuesday"], "index": "second"},
                                              numbered(10)), at(2026, 1, 13), set()),
    ("relative monthly last friday", graph({"type": "relativeMonthly", "interval": 3,
                                            "daysOfWeek": ["friday"], "index": "last"}, NO_END),
     at(2026, 1, 30), {F.NO_END}),
    ("relative monthly several days", graph({"type": "relativeMonthly", "interval": 1,
                                             "daysOfWeek": ["monday", "tuesday"],
                                             "index": "first"}, NO_END), at(2026, 1, 5),
     {F.UNSUPPORTED}),
    ("absolute yearly", graph({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 15,
                               "month": 6}, numbered(5)), at(2026, 6, 15), set()),
    ("absolute yearly leap day no end", graph({"type": "absoluteYearly", "interval": 1,
                                               "dayOfMonth": 29, "month": 2}, NO_END),
     at(2028, 2, 29), {F.UNSUPPORTED}),
    ("absolute yearly leap day every 4 years", graph({"type": "absoluteYearly", "interval": 4,
                                                      "dayOfMonth": 29, "month": 2},
                                                     end("2040-12-31")), at(2028, 2, 29), set()),
    ("relative yearly", graph({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["sunday"],
                               "index": "second", "month": 3}, numbered(6)), at(2026, 3, 8), set()),
    ("daily", graph({"type": "daily", "interval": 1}, numbered(30)), at(2026, 1, 5), {F.DAILY}),
    ("daily every 7 days", graph({"type": "daily", "interval": 7}, NO_END), at(2026, 1, 5),
     {F.DAILY}),
    ("daily every 3 days", graph({"type": "daily", "interval": 3}, NO_END), at(2026, 1, 5),
     {F.DAILY}),
    ("all-day weekly", graph({"type": "weekly", "interval": 1, "daysOfWeek": ["saturday"]},
                             end("2026-02-28")), date(2026, 1, 3), set()),
    ("all-day yearly", graph({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 24,
                              "month": 12}, NO_END), date(2026, 12, 24), {F.NO_END}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "recurrence", "start", "flags"), CASES, ids=[c[0] for c in CASES])
def test_outlook_pattern(
    name: str, recurrence: dict[str, Any], start: datetime | date, flags: set[Flag]
) -> None:
    tr = from_graph(recurrence, start)
    assert tr.flags == flags, [str(m) for m in tr.messages]
    assert len(tr.messages) == len(flags)
    first = start.date() if isinstance(start, datetime) else start
    truth = outlook_dates(recurrence, first)
    if tr.rule is None:
        if Flag.DAILY in flags and tr.suggestions:
            assert dates_of(suggestion_occurrences(tr)) == truth
        return
    mine = dates_of(translated(tr))
    if Flag.SUNDAY_WEEK_START in flags:
        assert mine != truth
        assert dates_of(suggestion_occurrences(tr)) == truth
    else:
        assert mine == truth
    if isinstance(start, datetime):  # every occurrence keeps the wall time, across DST too
        assert {o.timetz().replace(tzinfo=None) for o in translated(tr)} == {time(9)}


def test_clamping_message_names_the_day() -> None:
    tr = from_graph(CASES[7][1], CASES[7][2])
    assert "day 31" in str(tr.message(Flag.UNSUPPORTED))
    assert "Outlook" in str(tr.message(Flag.UNSUPPORTED))


def test_several_days_relative_message_names_them() -> None:
    tr = from_graph(CASES[12][1], CASES[12][2])
    assert "monday,tuesday" in str(tr.message(Flag.UNSUPPORTED))


def test_daily_suggestions() -> None:
    every_day = from_graph(CASES[17][1], CASES[17][2])
    (s,) = every_day.suggestions
    assert s.kind is SuggestionKind.WEEKLY and set(s.meetings[0].rule.weekdays) == set(Weekday)
    weekly = from_graph(CASES[18][1], CASES[18][2])
    (s,) = weekly.suggestions
    assert s.meetings[0].rule.interval == 1 and set(s.meetings[0].rule.weekdays) == {MO}
    assert from_graph(CASES[19][1], CASES[19][2]).suggestions == ()


def test_windows_zone_moves_a_utc_start_into_the_series_zone() -> None:
    # Graph returns times in UTC unless asked otherwise; the series is expanded in Berlin time.
    recurrence = graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, numbered(20))
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    tr = from_graph(recurrence, start)
    assert tr.start == start and tr.start.tzinfo == BERLIN  # type: ignore[union-attr]
    occurrences = translated(tr)
    assert {(o.hour, o.minute) for o in occurrences} == {(9, 0)}  # 09:00 in winter and summer
    assert {o.utcoffset().total_seconds() for o in occurrences} == {3600, 7200}  # type: ignore[union-attr]


def test_iana_zone_and_unknown_zone() -> None:
    recurrence = graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, numbered(3))
    recurrence["range"]["recurrenceTimeZone"] = "America/New_York"
    tr = from_graph(recurrence, datetime(2026, 1, 5, 14, 0, tzinfo=UTC))
    assert tr.start == datetime(2026, 1, 5, 9, 0, tzinfo=NEW_YORK)
    recurrence["range"]["recurrenceTimeZone"] = "Mars Standard Time"
    start = at(2026, 1, 5)
    assert from_graph(recurrence, start).start == start
    del recurrence["range"]["recurrenceTimeZone"]
    assert from_graph(recurrence, start).start == start


def test_graph_start_not_on_pattern_is_unsupported() -> None:
    recurrence = graph({"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]}, NO_END)
    tr = from_graph(recurrence, at(2026, 1, 5))
    assert tr.flags == {Flag.UNSUPPORTED} and "own start" in str(tr.messages[0])


def test_numbered_gives_the_exact_end() -> None:
    recurrence = graph({"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "friday"],
                        "firstDayOfWeek": "monday"}, numbered(7))  # fmt: skip
    tr = from_graph(recurrence, at(2026, 1, 5))
    assert tr.rule is not None and tr.rule.until == date(2026, 2, 16)
    assert len(translated(tr)) == 7


BAD_GRAPH: list[object] = [
    None,
    [],
    {},
    {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}},
    {"range": NO_END},
    {"pattern": "weekly", "range": NO_END},
    graph({"type": "fortnightly", "interval": 1}, NO_END),
    graph({"type": None, "interval": 1}, NO_END),
    graph({"type": "weekly", "interval": 0, "daysOfWeek": ["monday"]}, NO_END),
    graph({"type": "weekly", "interval": "2", "daysOfWeek": ["monday"]}, NO_END),
    graph({"type": "weekly", "interval": True, "daysOfWeek": ["monday"]}, NO_END),
    graph({"type": "weekly", "interval": 1}, NO_END),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": []}, NO_END),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]}, NO_END),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": "monday"}, NO_END),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "x"},
          NO_END),
    graph({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 0}, NO_END),
    graph({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32}, NO_END),
    graph({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 5, "month": 13}, NO_END),
    graph({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "fifth"},
          NO_END),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, {"type": "forever"}),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, {"type": "endDate"}),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
          {"type": "endDate", "endDate": "2026-13-01"}),
    graph({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, numbered(0)),
]  # fmt: skip


@pytest.mark.parametrize("recurrence", BAD_GRAPH, ids=lambda r: str(r)[:70])
def test_malformed_graph_raises_the_documented_error(recurrence: object) -> None:
    with pytest.raises(RecurrenceParseError):
        from_graph(recurrence, at(2026, 1, 5))  # type: ignore[arg-type]


# -- writing -------------------------------------------------------------------------------------


def test_to_graph_weekly_always_sets_monday_week_start() -> None:
    rule = Rule(Frequency.WEEKLY, date(2026, 6, 30), 2, frozenset({SU, MO}))
    out = to_graph(rule, at(2026, 1, 4))
    assert out == {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "sunday"],
                    "firstDayOfWeek": "monday"},
        "range": {"type": "endDate", "startDate": "2026-01-04", "endDate": "2026-06-30",
                  "recurrenceTimeZone": "Europe/Berlin"},
    }  # fmt: skip
    assert dates_of(internal := translated(from_graph(out, at(2026, 1, 4)))) == outlook_dates(
        out, date(2026, 1, 4)
    )
    assert len(internal) > 20


@pytest.mark.parametrize(
    ("rule", "start", "pattern"),
    [
        (Rule(Frequency.MONTHLY, FAR_FUTURE, 1, month_day=15), at(2026, 1, 15),
         {"type": "absoluteMonthly", "dayOfMonth": 15}),
        (Rule(Frequency.MONTHLY, FAR_FUTURE, 2, nth=-1, nth_weekday=FR), at(2026, 1, 30),
         {"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"}),
        (Rule(Frequency.MONTHLY, FAR_FUTURE, 1, nth=4, nth_weekday=TH), at(2026, 1, 22),
         {"type": "relativeMonthly", "daysOfWeek": ["thursday"], "index": "fourth"}),
        (Rule(Frequency.YEARLY, FAR_FUTURE, 3), date(2026, 7, 31),
         {"type": "absoluteYearly", "dayOfMonth": 31, "month": 7}),
    ],
)  # fmt: skip
def test_to_graph_patterns(rule: Rule, start: datetime | date, pattern: dict[str, Any]) -> None:
    out = to_graph(rule, start)
    assert pattern.items() <= out["pattern"].items()
    assert out["pattern"]["firstDayOfWeek"] == "monday"
    assert out["range"]["type"] == "noEnd"  # FAR_FUTURE was an imported NO_END
    assert ("recurrenceTimeZone" in out["range"]) is isinstance(start, datetime)
    back = from_graph(out, start)
    assert back.rule == rule and back.flags == {Flag.NO_END}


def test_to_graph_refuses_what_outlook_would_show_differently() -> None:
    fifth = Rule(Frequency.MONTHLY, FAR_FUTURE, 1, nth=5, nth_weekday=TU)
    with pytest.raises(NotExpressibleError) as info:
        to_graph(fifth, at(2026, 3, 31))
    assert "fifth Tuesday" in str(info.value)
    day31 = Rule(Frequency.MONTHLY, FAR_FUTURE, 1, month_day=31)
    with pytest.raises(NotExpressibleError, match="day 31"):
        to_graph(day31, at(2026, 1, 31))
    leap = Rule(Frequency.YEARLY, FAR_FUTURE, 1)
    with pytest.raises(NotExpressibleError):
        to_graph(leap, at(2028, 2, 29))
    # ... but writes them when no month of the series is affected.
    short = Rule(Frequency.MONTHLY, date(2026, 6, 30), 3, nth=5, nth_weekday=TU)  # Mar, Jun
    assert to_graph(short, at(2026, 3, 31))["pattern"]["index"] == "last"
    long_months = Rule(Frequency.MONTHLY, date(2026, 8, 31), 7, month_day=31)  # Jan, Aug
    assert to_graph(long_months, at(2026, 1, 31))["pattern"]["dayOfMonth"] == 31
    every_4_years = Rule(Frequency.YEARLY, date(2060, 12, 31), 4)
    assert to_graph(every_4_years, at(2028, 2, 29))["pattern"]["month"] == 2


def test_to_graph_end_date_when_asked() -> None:
    rule = Rule(Frequency.WEEKLY, FAR_FUTURE, 1, frozenset({MO}))
    out = to_graph(rule, at(2026, 1, 5), far_future=None)
    assert out["range"] == {
        "type": "endDate",
        "startDate": "2026-01-05",
        "endDate": "2078-12-31",
        "recurrenceTimeZone": "Europe/Berlin",
    }


def test_to_graph_utc_zone_name() -> None:
    rule = Rule(Frequency.WEEKLY, date(2026, 2, 2), 1, frozenset({MO}))
    assert (
        to_graph(rule, datetime(2026, 1, 5, 9, tzinfo=UTC))["range"]["recurrenceTimeZone"] == "UTC"
    )


def test_to_rrule_lines() -> None:
    rule = Rule(Frequency.WEEKLY, date(2026, 3, 31), 2, frozenset({TH, MO}))
    assert to_rrule(rule, at(2026, 1, 5)) == [
        "RRULE:FREQ=WEEKLY;WKST=MO;INTERVAL=2;BYDAY=MO,TH;UNTIL=20260331T215959Z"
    ]  # 23:59:59 CEST on the last day
    assert to_rrule(rule, date(2026, 1, 5)) == [
        "RRULE:FREQ=WEEKLY;WKST=MO;INTERVAL=2;BYDAY=MO,TH;UNTIL=20260331"
    ]
    open_ended = Rule(Frequency.MONTHLY, FAR_FUTURE, 1, nth=-1, nth_weekday=FR)
    assert to_rrule(open_ended, at(2026, 1, 30)) == ["RRULE:FREQ=MONTHLY;WKST=MO;BYDAY=-1FR"]
    assert to_rrule(open_ended, at(2026, 1, 30), far_future=None)[0].endswith(
        "UNTIL=20781231T225959Z"
    )
    yearly = Rule(Frequency.YEARLY, date(2030, 5, 1), 1)
    assert to_rrule(yearly, at(2026, 5, 1)) == ["RRULE:FREQ=YEARLY;WKST=MO;UNTIL=20300501T215959Z"]


def test_to_rrule_until_is_exact_in_dateutil() -> None:
    rule = Rule(Frequency.WEEKLY, date(2026, 3, 29), 1, frozenset({SU}))  # DST starts that day
    start = datetime(2026, 1, 4, 23, 30, tzinfo=BERLIN)
    (line,) = to_rrule(rule, start)
    occurrences = rfc_occurrences(line, start)
    assert occurrences[-1] == datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN)
    assert from_rrule([line], start).rule == rule


def test_to_rrule_refuses_an_invalid_rule() -> None:
    from recurrence import RuleError

    with pytest.raises(RuleError):
        to_rrule(Rule(Frequency.WEEKLY, date(2026, 3, 1), 1, frozenset({TU})), at(2026, 1, 5))


@pytest.mark.parametrize(
    "range_",
    [
        {"type": "numbered", "startDate": "2026-01-04", "numberOfOccurrences": 4},
        {"type": "endDate", "startDate": "2026-01-04", "endDate": "2026-01-19"},
    ],
)
def test_sunday_week_pattern_round_trips_to_the_same_rule(range_: dict[str, Any]) -> None:
    """Outlook's default Sunday weeks: the Monday-week rule ends on its own last occurrence
    (Jan 18; Outlook's last is Monday Jan 19), so writing it and reading it back is stable."""
    recurrence = {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"]},
        "range": range_,
    }
    start = datetime(2026, 1, 4, 9, tzinfo=BERLIN)
    tr = from_graph(recurrence, start)
    assert Flag.SUNDAY_WEEK_START in tr.flags
    assert tr.rule is not None and tr.rule.until == date(2026, 1, 18)
    again = from_graph(to_graph(tr.rule, tr.start), tr.start)
    assert again.rule == tr.rule and again.flags == frozenset()
    assert dates_of(suggestion_occurrences(tr)) == outlook_dates(recurrence, start.date())
