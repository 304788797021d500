"""Real-world RRULEs as Google, Outlook (ICS / CalDAV) and Apple write them.

Every row states the flags expected; every row with a rule is checked occurrence by occurrence
against python-dateutil's own expansion of the line as written (the whole series, or six years of
an open one), and every row flagged SUNDAY_WEEK_START or DAILY is checked to really differ (or, for
the suggestion, to match exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from recurrence import (
    FAR_FUTURE,
    Flag,
    Frequency,
    SuggestionKind,
    Weekday,
    from_rrule,
    to_rrule,
)
from tests.recurrence.helpers import (
    Value,
    rfc_occurrences,
    suggestion_occurrences,
    translated,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")
AUCKLAND = ZoneInfo("Pacific/Auckland")
F = Flag


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


@dataclass(frozen=True)
class Case:
    id: str
    line: str
    start: Value
    flags: frozenset[Flag] = frozenset()
    until: date | None = None  # the expected internal end date, when the row has one
    rule: dict[str, object] = field(default_factory=dict)  # expected rule attributes


def case(
    id: str, line: str, start: Value, *flags: Flag, until: date | None = None, **rule: object
) -> Case:
    return Case(id, line, start, frozenset(flags), until, rule)


WEEKLY, MONTHLY, YEARLY = Frequency.WEEKLY, Frequency.MONTHLY, Frequency.YEARLY
MO, TU, WE, TH, FR, SA, SU = Weekday

CASES = [
    # -- Google Calendar (API `recurrence`) ------------------------------------------------------
    case("google weekly one day", "RRULE:FREQ=WEEKLY;BYDAY=TU", at(2026, 1, 6), F.NO_END,
         frequency=WEEKLY, weekdays={TU}, interval=1, until=FAR_FUTURE),
    case("google every weekday", "RRULE:FREQ=WEEKLY;BYDAY=FR,MO,TH,TU,WE", at(2026, 1, 5),
         F.NO_END, weekdays={MO, TU, WE, TH, FR}),
    case("google biweekly WKST=SU one day", "RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=WE",
         at(2026, 1, 7), F.NO_END, interval=2, weekdays={WE}),
    case("google biweekly WKST=SU no sunday", "RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=MO,TH",
         at(2026, 1, 5), F.NO_END, weekdays={MO, TH}),
    case("google biweekly WKST=SU sunday+tue+thu",
         "RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,TU,TH", at(2026, 1, 4),
         F.NO_END, F.SUNDAY_WEEK_START, weekdays={SU, TU, TH}),
    case("google biweekly WKST=SU starting monday",
         "RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO", at(2026, 1, 5),
         F.NO_END, F.SUNDAY_WEEK_START),
    case("google WKST=SU interval 1 is harmless", "RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=SU,MO",
         at(2026, 1, 4), F.NO_END, weekdays={SU, MO}),
    case("google until end of local day (CET)", "RRULE:FREQ=WEEKLY;UNTIL=20260302T225959Z;BYDAY=MO",
         at(2026, 1, 5), until=date(2026, 3, 2)),
    case("google until end of local day (CEST)",
         "RRULE:FREQ=WEEKLY;UNTIL=20260630T215959Z;BYDAY=TU", at(2026, 4, 7),
         until=date(2026, 6, 30)),
    case("google count", "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO,TH", at(2026, 1, 5),
         until=date(2026, 2, 5)),
    case("google monthly second tuesday", "RRULE:FREQ=MONTHLY;BYDAY=2TU", at(2026, 1, 13),
         F.NO_END, frequency=MONTHLY, nth=2, nth_weekday=TU),
    case("google monthly last friday", "RRULE:FREQ=MONTHLY;BYDAY=-1FR", at(2026, 1, 30),
         F.NO_END, nth=-1, nth_weekday=FR),
    case("google monthly fifth thursday", "RRULE:FREQ=MONTHLY;BYDAY=5TH", at(2026, 1, 29),
         F.NO_END, nth=5, nth_weekday=TH),
    case("google monthly on the start's day", "RRULE:FREQ=MONTHLY", at(2026, 1, 31), F.NO_END,
         month_day=31),
    case("google monthly bymonthday", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12", at(2026, 1, 15),
         month_day=15, until=date(2026, 12, 15)),
    case("google yearly", "RRULE:FREQ=YEARLY", at(2026, 3, 14), F.NO_END, frequency=YEARLY),
    case("google yearly leap day", "RRULE:FREQ=YEARLY;COUNT=3", at(2028, 2, 29, 8),
         frequency=YEARLY, until=date(2036, 2, 29)),
    case("google daily", "RRULE:FREQ=DAILY", at(2026, 1, 5), F.DAILY),
    case("google daily count", "RRULE:FREQ=DAILY;COUNT=10", at(2026, 1, 5), F.DAILY),
    case("google every 2 days", "RRULE:FREQ=DAILY;INTERVAL=2", at(2026, 1, 5), F.DAILY),
    case("google daily on weekdays", "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20260227T225959Z",
         at(2026, 1, 5), F.DAILY),
    case("google daily every 14 days", "RRULE:FREQ=DAILY;INTERVAL=14;COUNT=6", at(2026, 1, 7),
         F.DAILY),
    case("google weekly, New York, over DST", "RRULE:FREQ=WEEKLY;BYDAY=SU;UNTIL=20261109T045959Z",
         at(2026, 3, 1, 1, 30, NEW_YORK), until=date(2026, 11, 8)),
    case("google all-day weekly until date", "RRULE:FREQ=WEEKLY;UNTIL=20260301;BYDAY=SU",
         date(2026, 1, 4), until=date(2026, 3, 1)),
    case("google all-day yearly birthday", "RRULE:FREQ=YEARLY", date(2026, 7, 31), F.NO_END),
    case("google all-day monthly count", "RRULE:FREQ=MONTHLY;COUNT=4", date(2026, 1, 31),
         until=date(2026, 7, 31)),
    # -- Outlook (ICS export, Exchange CalDAV bridges) -------------------------------------------
    case("outlook biweekly until = last start in UTC",
         "RRULE:FREQ=WEEKLY;UNTIL=20260622T070000Z;INTERVAL=2;BYDAY=MO,WE;WKST=SU",
         at(2026, 1, 5), until=date(2026, 6, 22)),
    case("outlook until one second before the last start",
         "RRULE:FREQ=WEEKLY;UNTIL=20260622T065959Z;INTERVAL=2;BYDAY=MO,WE;WKST=SU",
         at(2026, 1, 5), until=date(2026, 6, 10)),
    case("outlook biweekly sunday pair, week start sunday",
         "RRULE:FREQ=WEEKLY;COUNT=8;INTERVAL=2;BYDAY=SU,SA;WKST=SU", at(2026, 1, 3),
         F.SUNDAY_WEEK_START),
    case("outlook relative monthly bysetpos", "RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=TU;BYSETPOS=2",
         at(2026, 1, 13), nth=2, nth_weekday=TU, until=date(2026, 6, 9)),
    case("outlook last weekday of month", "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
         at(2026, 1, 30), F.UNSUPPORTED),
    case("outlook relative yearly", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", at(2026, 3, 8),
         F.NO_END, frequency=MONTHLY, interval=12, nth=2, nth_weekday=SU),
    case("outlook relative yearly bysetpos", "RRULE:FREQ=YEARLY;BYDAY=SU;BYMONTH=10;BYSETPOS=-1",
         at(2026, 10, 25), F.NO_END, frequency=MONTHLY, interval=12, nth=-1),
    case("outlook absolute yearly count", "RRULE:FREQ=YEARLY;COUNT=5;BYMONTHDAY=15;BYMONTH=6",
         at(2026, 6, 15), frequency=YEARLY, until=date(2030, 6, 15)),
    case("outlook all-day until midnight UTC",
         "RRULE:FREQ=WEEKLY;UNTIL=20260322T000000Z;BYDAY=SU;WKST=SU", date(2026, 1, 4),
         until=date(2026, 3, 22)),
    case("outlook until at UTC midnight cuts the morning",
         "RRULE:FREQ=WEEKLY;UNTIL=20260302T000000Z;BYDAY=MO;WKST=SU", at(2026, 1, 5),
         until=date(2026, 2, 23)),
    case("new york evening, until one second before",
         "RRULE:FREQ=WEEKLY;UNTIL=20260303T005959Z;BYDAY=MO", at(2026, 1, 5, 20, zone=NEW_YORK),
         until=date(2026, 2, 23)),
    case("new york evening, until exactly the last start (next UTC day)",
         "RRULE:FREQ=WEEKLY;UNTIL=20260303T010000Z;BYDAY=MO", at(2026, 1, 5, 20, zone=NEW_YORK),
         until=date(2026, 3, 2)),
    case("auckland morning, until the previous UTC day",
         "RRULE:FREQ=WEEKLY;UNTIL=20260301T200000Z;BYDAY=MO", at(2026, 1, 5, 9, zone=AUCKLAND),
         until=date(2026, 3, 2)),
    # -- Apple Calendar (iCloud CalDAV) --------------------------------------------------------
    case("apple weekly, WKST=SU", "RRULE:FREQ=WEEKLY;INTERVAL=1;WKST=SU;BYDAY=MO,WE",
         at(2026, 1, 5), F.NO_END),
    case("apple biweekly with sunday", "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20261231T225959Z;"
         "BYDAY=SU,WE;WKST=SU", at(2026, 1, 4), F.SUNDAY_WEEK_START),
    case("apple second tuesday via bysetpos", "RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=TU;BYSETPOS=2",
         at(2026, 2, 10), F.NO_END, nth=2),
    case("apple several days of month", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15", at(2026, 1, 1),
         F.UNSUPPORTED),
    case("apple every 3 months", "RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=30",
         at(2026, 1, 30, 18, 0, SYDNEY), F.NO_END, month_day=30, interval=3),
    case("apple all-day yearly until", "RRULE:FREQ=YEARLY;UNTIL=20301231", date(2026, 2, 1),
         until=date(2030, 2, 1)),
    case("apple all-day until local end of day in UTC",
         "RRULE:FREQ=WEEKLY;BYDAY=SU;UNTIL=20260301T225959Z", date(2026, 1, 4),
         until=date(2026, 3, 1)),
    # -- RFC 5545 §3.8.5.3, the WKST example ---------------------------------------------------
    case("rfc wkst=MO", "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
         at(1997, 8, 5, 9, 0, NEW_YORK), until=date(1997, 8, 24)),
    # The Monday-week rule ends on its own last occurrence (Aug 24), not on the provider's (Aug
    # 31, a day it does not have): reading back what it writes gives the same rule (issue 13).
    case("rfc wkst=SU", "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
         at(1997, 8, 5, 9, 0, NEW_YORK), F.SUNDAY_WEEK_START, until=date(1997, 8, 24)),
    # -- other zones and times ---------------------------------------------------------------------
    case("kolkata half hour zone", "RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=30",
         at(2026, 1, 2, 23, 30, KOLKATA)),
    case("sao paulo", "RRULE:FREQ=MONTHLY;BYDAY=1MO;UNTIL=20270101T025959Z",
         at(2026, 1, 5, 0, 30, SAO_PAULO), until=date(2026, 12, 7)),
    case("floating until on a timed series", "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260302T090000",
         at(2026, 1, 5), until=date(2026, 3, 2)),
    case("date until on a timed series", "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260302",
         at(2026, 1, 5), until=date(2026, 3, 2)),
    case("byhour equal to the start is harmless", "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
         at(2026, 1, 5), F.NO_END),
    case("lower case", "rrule:freq=weekly;byday=mo,we;count=4", at(2026, 1, 5),
         until=date(2026, 1, 14)),
]  # fmt: skip


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_real_world_rule(c: Case) -> None:
    tr = from_rrule([c.line], c.start)
    assert tr.flags == c.flags, [str(m) for m in tr.messages]
    assert {m.flag for m in tr.messages} == set(tr.flags)
    assert len(tr.messages) == len(tr.flags)
    truth = rfc_occurrences(c.line, c.start)
    if tr.rule is None:
        assert Flag.DAILY in tr.flags or Flag.UNSUPPORTED in tr.flags
        return
    tr.rule.check_start(c.start.date() if isinstance(c.start, datetime) else c.start)
    if c.until is not None:
        assert tr.rule.until == c.until
    for name, expected in c.rule.items():
        actual = getattr(tr.rule, name)
        assert (set(actual) if isinstance(actual, frozenset) else actual) == expected, name
    mine = translated(tr)
    if Flag.SUNDAY_WEEK_START in tr.flags:
        assert mine != truth  # flagged only when the dates really differ
        assert suggestion_occurrences(tr) == truth  # and the split is exact
    else:
        assert mine == truth


@pytest.mark.parametrize("c", [c for c in CASES if Flag.DAILY in c.flags], ids=lambda c: c.id)
def test_daily_suggestion_is_exact_when_offered(c: Case) -> None:
    tr = from_rrule([c.line], c.start)
    assert tr.rule is None
    truth = rfc_occurrences(c.line, c.start)
    if c.line.endswith(("FREQ=DAILY;INTERVAL=2",)):
        assert tr.suggestions == ()  # every other day has no weekly equivalent
        return
    (suggestion,) = tr.suggestions
    assert suggestion.kind is SuggestionKind.WEEKLY
    assert suggestion_occurrences(tr) == truth
    assert "one click" in str(tr.message(Flag.DAILY))


def test_rfc_wkst_example_dates() -> None:
    """RFC 5545 §3.8.5.3: WKST=MO gives Aug 5, 10, 19, 24; WKST=SU gives Aug 5, 17, 19, 31."""
    start = at(1997, 8, 5, 9, 0, NEW_YORK)
    mo = from_rrule(["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"], start)
    su = from_rrule(["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"], start)
    assert [o.day for o in translated(mo)] == [5, 10, 19, 24]
    assert [o.day for o in suggestion_occurrences(su)] == [5, 17, 19, 31]
    (split,) = su.suggestions
    assert split.kind is SuggestionKind.SPLIT
    assert [set(m.rule.weekdays) for m in split.meetings] == [{SU}, {TU}]
    assert [m.start for m in split.meetings] == [at(1997, 8, 17, 9, 0, NEW_YORK), start]


def test_protocols_sunday_monday_example() -> None:
    """PROTOCOLS §4.1: from Sunday 2026-01-04, WKST=SU pairs each Sunday with the next Monday."""
    start = at(2026, 1, 4)
    tr = from_rrule(["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO"], start)
    got = [o.date().isoformat() for o in suggestion_occurrences(tr)[:6]]
    assert got == [
        "2026-01-04",
        "2026-01-05",
        "2026-01-18",
        "2026-01-19",
        "2026-02-01",
        "2026-02-02",
    ]
    internal = [o.date().isoformat() for o in translated(tr)[:6]]
    assert internal == [
        "2026-01-04", "2026-01-12", "2026-01-18", "2026-01-26", "2026-02-01", "2026-02-09",
    ]  # fmt: skip
    message = str(tr.message(Flag.SUNDAY_WEEK_START))
    assert "split it into two weekly meetings" in message
    assert "synchronised as normal" in message


def test_sunday_week_start_not_flagged_when_series_too_short_to_differ() -> None:
    start = at(2026, 1, 4)
    # Two occurrences in the first (shared) week: Sunday the 4th only; Monday weeks agree.
    tr = from_rrule(["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO;COUNT=1"], start)
    assert tr.flags == frozenset()
    # Ending before the first Monday: still the same dates in both week systems.
    tr = from_rrule(
        ["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO;UNTIL=20260104T225959Z"], start
    )
    assert tr.flags == frozenset()
    assert translated(tr) == [start]


def test_saturday_week_start_is_flagged_and_split_exactly() -> None:
    """A week start on Saturday moves the boundary too: same flag, split at the provider's start."""
    line = "RRULE:FREQ=WEEKLY;WKST=SA;INTERVAL=3;BYDAY=SA,MO,WE;COUNT=20"
    start = at(2026, 1, 3)
    tr = from_rrule([line], start)
    assert Flag.SUNDAY_WEEK_START in tr.flags
    (split,) = tr.suggestions
    assert [set(m.rule.weekdays) for m in split.meetings] == [{SA}, {MO, WE}]
    assert suggestion_occurrences(tr, until=date(2030, 1, 1)) == rfc_occurrences(
        line, start, until=date(2030, 1, 1)
    )


# -- the Monday-week rule ends on its own last occurrence (issue 13) -----------------------------

SUNDAY_WEEKS = [
    ("RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO;COUNT=4", at(2026, 1, 4)),
    ("RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO;UNTIL=20260119T225959Z", at(2026, 1, 4)),
    ("RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", at(1997, 8, 5, 9, 0, NEW_YORK)),
    ("RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=3;BYDAY=SU,WE,FR;COUNT=20", date(2026, 1, 4)),
]


@pytest.mark.parametrize(("line", "start"), SUNDAY_WEEKS, ids=[c[0] for c in SUNDAY_WEEKS])
def test_sunday_week_rule_round_trips_to_the_same_rule(line: str, start: Value) -> None:
    tr = from_rrule([line], start)
    assert Flag.SUNDAY_WEEK_START in tr.flags and tr.rule is not None
    day = start.date() if isinstance(start, datetime) else start
    # Its end is its own last occurrence, not the provider's last date...
    assert tr.rule.until == tr.rule.last_date(day)
    last = translated(tr)[-1]
    assert tr.rule.until == (last.date() if isinstance(last, datetime) else last)
    # ...so what it writes reads back as the same rule, every time.
    again = from_rrule(to_rrule(tr.rule, tr.start), tr.start)
    assert again.rule == tr.rule and again.flags == frozenset()
    assert from_rrule(to_rrule(again.rule, tr.start), tr.start).rule == tr.rule
    # Each meeting of the split ends on its own last occurrence too.
    (split,) = tr.suggestions
    for meeting in split.meetings:
        first = meeting.start.date() if isinstance(meeting.start, datetime) else meeting.start
        assert meeting.rule.until == meeting.rule.last_date(first)
    assert suggestion_occurrences(tr) == rfc_occurrences(line, start)


def test_sunday_week_rule_from_the_protocols_example_ends_on_its_own_day() -> None:
    tr = from_rrule(["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO;COUNT=4"], at(2026, 1, 4))
    # Google's dates: Jan 4, 5, 18, 19. The Monday-week rule's: Jan 4, 12, 18 (then Jan 26).
    assert tr.rule is not None and tr.rule.until == date(2026, 1, 18)
    (split,) = tr.suggestions
    assert [(m.start.date(), m.rule.until) for m in split.meetings] == [  # type: ignore[union-attr]
        (date(2026, 1, 4), date(2026, 1, 18)),
        (date(2026, 1, 5), date(2026, 1, 19)),
    ]


def test_open_sunday_week_series_stays_open() -> None:
    tr = from_rrule(["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO"], at(2026, 1, 4))
    assert tr.rule is not None and tr.rule.until == FAR_FUTURE
    assert all(m.rule.until == FAR_FUTURE for m in tr.suggestions[0].meetings)
    assert not any(line.count("UNTIL") for line in to_rrule(tr.rule, tr.start))
