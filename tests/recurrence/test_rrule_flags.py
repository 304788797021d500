"""UNSUPPORTED naming what, EXCEPTION from EXDATE, NO_END, and malformed input."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rruleset, rrulestr

from recurrence import (
    FAR_FUTURE,
    Flag,
    Message,
    RecurrenceParseError,
    Text,
    Weekday,
    from_rrule,
)
from tests.recurrence.helpers import rfc_occurrences, translated

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # a Monday, the 5th, the first Monday


# -- UNSUPPORTED ---------------------------------------------------------------------------------

UNSUPPORTED = [
    # (lines, start, words the message must contain)
    (["RRULE:FREQ=HOURLY;INTERVAL=2"], START, ["several times a day", "FREQ=HOURLY"]),
    (["RRULE:FREQ=MINUTELY;INTERVAL=30"], START, ["FREQ=MINUTELY"]),
    (["RRULE:FREQ=SECONDLY"], START, ["FREQ=SECONDLY"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,14"], START, ["times of day", "BYHOUR=9,14"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=10"], START, ["BYHOUR=10"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"],
     datetime(2026, 1, 30, 9, tzinfo=BERLIN), ["BYSETPOS=-1"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2,4"], datetime(2026, 1, 13, 9, tzinfo=BERLIN),
     ["BYSETPOS=2,4"]),
    (["RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15"], datetime(2026, 1, 1, 9, tzinfo=BERLIN),
     ["several days of the month", "BYMONTHDAY=1,15"]),
    (["RRULE:FREQ=MONTHLY;BYMONTHDAY=-1"], datetime(2026, 1, 31, 9, tzinfo=BERLIN),
     ["end of the month", "BYMONTHDAY=-1"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=1MO,3MO"], START, ["several weekdays of the month", "1MO,3MO"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=-2FR"], datetime(2026, 1, 23, 9, tzinfo=BERLIN), ["-2FR"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=MO"], START, ["every Monday of the month", "BYDAY=MO"]),
    (["RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"], datetime(2026, 2, 13, 9, tzinfo=BERLIN),
     ["BYMONTHDAY=13"]),
    (["RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"], datetime(2026, 5, 11, 9, tzinfo=BERLIN),
     ["week numbers", "BYWEEKNO=20"]),
    (["RRULE:FREQ=YEARLY;BYYEARDAY=100"], datetime(2026, 4, 10, 9, tzinfo=BERLIN),
     ["days of the year", "BYYEARDAY=100"]),
    (["RRULE:FREQ=YEARLY;BYMONTH=1,7"], START, ["several months", "BYMONTH=1,7"]),
    (["RRULE:FREQ=YEARLY;BYDAY=1MO"], START, ["whole year", "BYDAY=1MO"]),
    (["RRULE:FREQ=YEARLY;BYMONTHDAY=5"], START, ["every month", "BYMONTHDAY=5"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO;BYMONTH=6,7,8"], datetime(2026, 6, 1, 9, tzinfo=BERLIN),
     ["BYMONTH=6,7,8"]),
    (["RRULE:FREQ=WEEKLY;INTERVAL=150;BYDAY=MO"], START, ["150", "99"]),
    (["RRULE:FREQ=YEARLY;INTERVAL=9;BYMONTH=3;BYDAY=2SU"], datetime(2026, 3, 8, 9, tzinfo=BERLIN),
     ["108", "99"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO", "RDATE;TZID=Europe/Berlin:20260107T090000"], START,
     ["separately added dates", "RDATE"]),
    (["RDATE;VALUE=DATE:20260107,20260110"], date(2026, 1, 7), ["RDATE"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXRULE:FREQ=MONTHLY;BYDAY=1MO"], START, ["EXRULE"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO", "RRULE:FREQ=MONTHLY;BYDAY=1TU"], START,
     ["several repetition rules"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=TU"], START, ["does not include its own start", "2026-01-05"]),
    (["RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15"], START, ["own start"]),
    (["RRULE:FREQ=MONTHLY;BYMONTHDAY=6"], START, ["own start"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO;RSCALE=HEBREW"], START, ["RSCALE=HEBREW"]),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9"], date(2026, 1, 5), ["BYHOUR=9"]),  # all-day
    (["RRULE:FREQ=HOURLY;BYWEEKNO=3"], START, ["FREQ=HOURLY", "BYWEEKNO=3"]),  # both named
]  # fmt: skip


@pytest.mark.parametrize(("lines", "start", "words"), UNSUPPORTED, ids=lambda v: str(v)[:60])
def test_unsupported_names_what(lines: list[str], start: datetime | date, words: list[str]) -> None:
    tr = from_rrule(lines, start)
    assert tr.rule is None
    assert tr.flags == {Flag.UNSUPPORTED}
    (message,) = tr.messages
    assert message.flag is Flag.UNSUPPORTED
    for word in words:
        assert word in message, (word, str(message))
    assert "not synchronised" in message and "Tip:" in message


def test_bysetpos_with_one_weekday_is_the_nth_weekday_exactly() -> None:
    # "BYSETPOS" in general is unsupported, but with one plain weekday it *is* the nth weekday,
    # as Outlook and Apple write "the second Tuesday": holding it is exact, not a guess.
    start = datetime(2026, 1, 13, 9, tzinfo=BERLIN)
    a = from_rrule(["RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2"], start)
    b = from_rrule(["RRULE:FREQ=MONTHLY;BYDAY=2TU"], start)
    assert a.rule == b.rule and a.rule is not None
    assert a.rule.nth == 2


# -- DAILY ---------------------------------------------------------------------------------------


def test_daily_message_and_suggestion() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=15"], START)
    assert tr.rule is None and tr.flags == {Flag.DAILY}
    message = str(tr.message(Flag.DAILY))
    assert "repeats daily" in message and "not synchronised" in message
    (suggestion,) = tr.suggestions
    (meeting,) = suggestion.meetings
    assert meeting.start == START
    assert set(meeting.rule.weekdays) == set(range(5)) and meeting.rule.until == date(2026, 1, 23)
    assert "Every week on Monday, Tuesday, Wednesday, Thursday, Friday" in suggestion.message


def test_daily_without_weekly_equivalent_gives_the_working_days_tip() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY;INTERVAL=3"], START)
    assert tr.suggestions == ()
    assert "weekly repetition on the working days" in str(tr.message(Flag.DAILY))


def test_daily_not_starting_on_its_pattern_offers_nothing() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY;BYDAY=TU,WE"], START)  # START is a Monday
    assert tr.flags == {Flag.DAILY} and tr.suggestions == ()


def test_daily_limited_by_month_offers_nothing() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY;BYMONTH=1"], START)
    assert tr.flags == {Flag.DAILY} and tr.suggestions == ()


# -- EXCEPTION (EXDATE) --------------------------------------------------------------------------


def test_exdate_with_tzid_is_an_exception() -> None:
    lines = [
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        "EXDATE;TZID=Europe/Berlin:20260112T090000,20260126T090000",
    ]
    tr = from_rrule(lines, START)
    assert tr.flags == {Flag.EXCEPTION}
    assert tr.exceptions == (
        datetime(2026, 1, 12, 9, tzinfo=BERLIN),
        datetime(2026, 1, 26, 9, tzinfo=BERLIN),
    )
    # The series is synced without the exception: the internal rule keeps every occurrence.
    assert len(translated(tr)) == 6
    message = str(tr.message(Flag.EXCEPTION))
    assert "2026-01-12 09:00" in message and "2026-01-26 09:00" in message
    assert "add a separate meeting" in message


def test_exdate_in_utc_matches_the_instant() -> None:
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20260112T080000Z"], START)
    assert tr.exceptions == (datetime(2026, 1, 12, 9, tzinfo=BERLIN),)
    assert tr.flags == {Flag.EXCEPTION, Flag.NO_END}


def test_exdate_that_matches_no_occurrence_removes_nothing() -> None:
    # RFC 5545 §3.8.5.1: an EXDATE whose time differs from the instance excludes nothing.
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4", "EXDATE:20260112T090000Z"]
    tr = from_rrule(lines, START)
    assert tr.flags == frozenset() and tr.exceptions == ()
    # Nor does one after the end of the series.
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2", "EXDATE:20260126T080000Z"], START)
    assert tr.flags == frozenset()


def test_exdate_on_an_all_day_series() -> None:
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=SU;UNTIL=20260301", "EXDATE;VALUE=DATE:20260118"]
    tr = from_rrule(lines, date(2026, 1, 4))
    assert tr.flags == {Flag.EXCEPTION}
    assert tr.exceptions == (date(2026, 1, 18),)


def test_exdate_floating_and_unknown_tzid_use_the_series_zone() -> None:
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4", "EXDATE;TZID=Mars/Olympus:20260119T090000"]
    assert from_rrule(lines, START).exceptions == (datetime(2026, 1, 19, 9, tzinfo=BERLIN),)
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4", "EXDATE:20260119T090000"]
    assert from_rrule(lines, START).exceptions == (datetime(2026, 1, 19, 9, tzinfo=BERLIN),)


def test_exdate_windows_tzid() -> None:
    lines = [
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4",
        "EXDATE;TZID=W. Europe Standard Time:20260119T090000",
    ]
    assert from_rrule(lines, START).exceptions == (datetime(2026, 1, 19, 9, tzinfo=BERLIN),)


def test_exception_is_not_reported_for_a_series_that_is_not_synced() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY", "EXDATE:20260106T080000Z"], START)
    assert tr.flags == {Flag.DAILY}


# -- NO_END ----------------------------------------------------------------------------------------


def test_no_end_uses_the_far_future_setting() -> None:
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO"], START)
    assert tr.flags == {Flag.NO_END} and tr.rule is not None
    assert tr.rule.until == FAR_FUTURE == date(2078, 12, 31)
    # People read "no end date", never the internal far-future end (issue 18 §3).
    assert "2078" not in str(tr.message(Flag.NO_END))
    assert "repeats with no end date" in str(tr.message(Flag.NO_END))
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO"], START, far_future=date(2040, 1, 1))
    assert tr.rule is not None and tr.rule.until == date(2040, 1, 1)
    assert "2040" not in str(tr.message(Flag.NO_END))


# -- messages --------------------------------------------------------------------------------------


def test_messages_are_translatable_and_render_in_another_language() -> None:
    tr = from_rrule(["RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15"], datetime(2026, 1, 1, 9, tzinfo=BERLIN))
    (message,) = tr.messages
    catalogue = {
        message.text.template: "NICHT SYNCHRONISIERT: %(what)s",
        "repeats on several days of the month (BYMONTHDAY=%(value)s)": "mehrere Tage (%(value)s)",
    }
    assert (
        message.render(lambda s: catalogue.get(s, s)) == "NICHT SYNCHRONISIERT: mehrere Tage (1,15)"
    )
    assert isinstance(message, str) and isinstance(message.text, Text)
    again = pickle.loads(pickle.dumps(message))  # noqa: S301 - our own object
    assert isinstance(again, Message) and again == message and again.flag is Flag.UNSUPPORTED


def test_module_imports_no_django() -> None:
    import subprocess
    import sys

    code = "import sys, recurrence, recurrence.instances; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- malformed input -------------------------------------------------------------------------------

MALFORMED = [
    ["RRULE:BYDAY=MO"],  # FREQ missing
    ["RRULE:FREQ=WEEKLY;COUNT=3;UNTIL=20260201T000000Z"],  # COUNT and UNTIL
    ["RRULE:FREQ=FORTNIGHTLY"],
    ["RRULE:FREQ=WEEKLY;BYDAY=XX"],
    ["RRULE:FREQ=WEEKLY;BYDAY=+MO"],
    ["RRULE:FREQ=MONTHLY;BYDAY=0MO"],
    ["RRULE:FREQ=MONTHLY;BYDAY=60MO"],
    ["RRULE:FREQ=WEEKLY;INTERVAL=0"],
    ["RRULE:FREQ=WEEKLY;INTERVAL=-2"],
    ["RRULE:FREQ=WEEKLY;INTERVAL=two"],
    ["RRULE:FREQ=WEEKLY;COUNT=0"],
    ["RRULE:FREQ=MONTHLY;BYMONTHDAY=32"],
    ["RRULE:FREQ=MONTHLY;BYMONTHDAY=0"],
    ["RRULE:FREQ=YEARLY;BYMONTH=13"],
    ["RRULE:FREQ=WEEKLY;BYHOUR=24"],
    ["RRULE:FREQ=WEEKLY;WKST=XX"],
    ["RRULE:FREQ=WEEKLY;FOO=BAR"],
    ["RRULE:FREQ=WEEKLY;FREQ=DAILY"],
    ["RRULE:FREQ=WEEKLY;BYDAY=MO;BYDAY=TU"],
    ["RRULE:FREQ=WEEKLY;UNTIL=2026"],
    ["RRULE:FREQ=WEEKLY;UNTIL=20261301"],
    ["RRULE"],
    ["garbage"],
    [":"],
    ["DTSTART:20260105T090000"],
    ["EXDATE:20260105T090000"],  # no RRULE at all
    [],
    ["RRULE:FREQ=WEEKLY", "EXDATE:notadate"],
    ["RRULE:FREQ=WEEKLY", "EXDATE;VALUE=DATE:2026-01-05"],
]


@pytest.mark.parametrize("lines", MALFORMED, ids=str)
def test_malformed_input_raises_the_documented_error(lines: list[str]) -> None:
    with pytest.raises(RecurrenceParseError):
        from_rrule(lines, START)


@pytest.mark.parametrize(
    "start",
    [datetime(2026, 1, 5, 9), "2026-01-05", None, 20260105],  # noqa: DTZ001 - naive on purpose
    ids=repr,
)
def test_bad_start_raises_the_documented_error(start: object) -> None:
    with pytest.raises(RecurrenceParseError):
        from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO"], start)  # type: ignore[arg-type]


def test_non_string_lines_raise_the_documented_error() -> None:
    with pytest.raises(RecurrenceParseError):
        from_rrule([b"RRULE:FREQ=WEEKLY"], START)  # type: ignore[list-item]


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(RecurrenceParseError, ValueError)


def test_folded_text_block_and_bare_value() -> None:
    block = "RRULE:FREQ=WEEKLY;BYDAY=MO,\r\n WE;COUNT=4\r\n"  # RFC 5545 §3.1 line folding
    tr = from_rrule(block, START)
    assert tr.rule is not None and tr.rule.until == date(2026, 1, 14)
    assert set(tr.rule.weekdays) == {Weekday.MO, Weekday.WE}
    bare = from_rrule(["FREQ=WEEKLY;BYDAY=MO;COUNT=4"], START)
    assert bare.rule is not None and bare.rule.until == date(2026, 1, 26)


def test_utc_start_is_its_own_zone() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=3"], start)
    assert [o - start for o in translated(tr)] == [timedelta(days=7 * i) for i in range(3)]


# -- far ends: bounded work, no bare exception ---------------------------------------------------

EXTREME_ENDS = [
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;COUNT=1000000000", date(2078, 12, 31), True),
    (
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;UNTIL=99991231T235959Z",
        date(2078, 12, 31),
        True,
    ),
    ("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=99991231", date(2078, 12, 26), True),
    ("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=00010101T000000Z", date(2026, 1, 5), False),
    ("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=00010101", date(2026, 1, 5), False),
    ("RRULE:FREQ=YEARLY;UNTIL=20790101T000000Z", date(2078, 1, 5), False),  # nothing after 2078
    ("RRULE:FREQ=YEARLY;UNTIL=20800101T000000Z", date(2078, 1, 5), True),  # 2079-01-05 is cut
]


@pytest.mark.parametrize(("line", "until", "capped"), EXTREME_ENDS, ids=lambda v: str(v)[:50])
@pytest.mark.parametrize("all_day", [False, True])
def test_ends_beyond_the_far_future_date_are_cut_there(
    line: str, until: date, capped: bool, all_day: bool
) -> None:
    tr = from_rrule([line], START.date() if all_day else START)
    assert tr.rule is not None and tr.rule.until == until
    assert (Flag.NO_END in tr.flags) is capped
    if capped:
        assert "ends after 2078-12-31" in str(tr.message(Flag.NO_END))


def test_extreme_exdates_and_starts() -> None:
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2", "EXDATE:99991231T235959Z,00010101T000000Z"]
    assert from_rrule(lines, START).flags == frozenset()
    for start in (datetime(9999, 12, 27, 9, tzinfo=BERLIN), date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(RecurrenceParseError):
            from_rrule(["RRULE:FREQ=WEEKLY"], start)


def test_exact_means_the_same_dates() -> None:
    assert from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"], START).exact
    assert from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO"], START).exact  # NO_END: same until 2078
    assert not from_rrule(["RRULE:FREQ=DAILY"], START).exact
    assert not from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20260112T080000Z"], START).exact
    sunday = datetime(2026, 1, 4, 9, tzinfo=BERLIN)
    assert not from_rrule(["RRULE:FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO"], sunday).exact


# -- what the model can hold, decided by dates (issue 13) ----------------------------------------


def _rfc_set(
    rules: list[str],
    start: datetime | date,
    until: date,
    rdates: tuple[datetime | date, ...] = (),
    exdates: tuple[datetime | date, ...] = (),
) -> list[datetime | date]:
    """dateutil's own recurrence set (RFC 5545 §3.8.5: the RRULEs' and RDATEs' union without the
    EXDATEs) of the rules as written, from the aware start (or floating midnight, all-day)."""
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, datetime.min.time())
    day = (
        (lambda d: d)
        if isinstance(start, datetime)
        else (lambda d: datetime.combine(d, dtstart.time()))
    )
    rs = rruleset()
    for line in rules:
        rs.rrule(rrulestr(line, dtstart=dtstart))  # type: ignore[arg-type]
    for value in rdates:
        rs.rdate(day(value))
    for value in exdates:
        rs.exdate(day(value))
    out = [o for o in rs if o.date() <= until]
    return out if isinstance(start, datetime) else [o.date() for o in out]


@pytest.mark.parametrize(
    "lines",
    [
        ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"],
        ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "RRULE:COUNT=6;BYDAY=MO;FREQ=WEEKLY"],
        # Different lines, and one has every date of the other: the union is that one.
        ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=3"],
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=3", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"],
    ],
    ids=str,
)
def test_the_same_rule_twice_is_one_rule(lines: list[str]) -> None:
    tr = from_rrule(lines, START)
    assert tr.flags == frozenset()
    assert tr.rule == from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"], START).rule
    assert translated(tr) == _rfc_set(lines, START, date(2027, 1, 1))


@pytest.mark.parametrize(
    ("second", "held"),
    [
        ("RRULE:FREQ=MONTHLY;BYDAY=1MO;COUNT=12", False),  # first Mondays for a year
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", False),  # two Wednesdays
        ("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=7", True),  # one Monday more: this rule is the union
    ],
)
def test_several_rules_are_refused_when_no_one_of_them_is_the_union(
    second: str, held: bool
) -> None:
    first = "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    tr = from_rrule([first, second], START)
    union = _rfc_set([first, second], START, date(2027, 1, 1))
    if held:
        assert tr.flags == frozenset() and translated(tr) == union
    else:
        assert tr.flags == {Flag.UNSUPPORTED} and "several repetition rules" in tr.messages[0]
        assert union not in (_rfc_set([r], START, date(2027, 1, 1)) for r in (first, second))


ISSUE_UNTIL = ["RRULE:FREQ=WEEKLY;UNTIL=20200204T151459Z;BYDAY=TU",
               "RDATE;TZID=Europe/Berlin:20200204T161500"]  # fmt: skip
TUESDAY_1615 = datetime(2020, 1, 7, 16, 15, tzinfo=BERLIN)  # 15:15Z, a second after UNTIL


def test_rdate_restoring_the_occurrence_an_until_misses_by_a_second() -> None:
    tr = from_rrule(ISSUE_UNTIL, TUESDAY_1615)
    assert tr.flags == frozenset(), [str(m) for m in tr.messages]
    assert tr.rule is not None and tr.rule.until == date(2020, 2, 4)
    rdate = datetime(2020, 2, 4, 16, 15, tzinfo=BERLIN)
    truth = _rfc_set(ISSUE_UNTIL[:1], TUESDAY_1615, date(2021, 1, 1), rdates=(rdate,))
    assert translated(tr) == truth and len(truth) == 5


@pytest.mark.parametrize(
    "rdate",
    [
        "RDATE;TZID=Europe/Berlin:20200121T161500",  # an occurrence already
        "RDATE:20200121T151500Z,20200107T151500Z",  # the same instants in UTC, and the start
    ],
)
def test_rdates_that_are_occurrences_change_nothing(rdate: str) -> None:
    rule = "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    plain = from_rrule([rule], TUESDAY_1615)
    tr = from_rrule([rule, rdate], TUESDAY_1615)
    assert tr.flags == frozenset() and tr.rule == plain.rule


def test_rdates_extend_an_all_day_series_without_a_gap() -> None:
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=3", "RDATE;VALUE=DATE:20260125,20260201"]
    tr = from_rrule(lines, date(2026, 1, 4))
    assert tr.rule is not None and tr.rule.until == date(2026, 2, 1) and tr.flags == frozenset()
    added = (date(2026, 1, 25), date(2026, 2, 1))
    assert translated(tr) == _rfc_set(lines[:1], date(2026, 1, 4), date(2027, 1, 1), added)
    # A gap that an EXDATE makes is an exception of the longer series, as it is on the provider.
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=3", "RDATE;VALUE=DATE:20260201",
             "EXDATE;VALUE=DATE:20260125"]  # fmt: skip
    tr = from_rrule(lines, date(2026, 1, 4))
    assert tr.rule is not None and tr.rule.until == date(2026, 2, 1)
    assert tr.flags == {Flag.EXCEPTION} and tr.exceptions == (date(2026, 1, 25),)


@pytest.mark.parametrize(
    "rdate",
    [
        "RDATE;TZID=Europe/Berlin:20200211T161500",  # leaves 02-04 out: a gap
        "RDATE;TZID=Europe/Berlin:20200204T170000",  # that day, another time
        "RDATE;TZID=Europe/Berlin:20200205T161500",  # a Wednesday
        "RDATE;VALUE=DATE:20200204",  # a date on a timed series
        "RDATE;VALUE=PERIOD:20200204T151500Z/20200204T161500Z",
        "RDATE;TZID=Europe/Berlin:20191231T161500",  # before the start
    ],
)
def test_rdates_that_change_the_dates_are_still_refused(rdate: str) -> None:
    tr = from_rrule([ISSUE_UNTIL[0], rdate], TUESDAY_1615)
    assert tr.flags == {Flag.UNSUPPORTED}
    assert "separately added dates (RDATE)" in tr.messages[0]


@pytest.mark.parametrize(
    "line",
    [
        "RRULE:RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31;COUNT=6",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=6;RSCALE=GREGORIAN;SKIP=OMIT",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=6;RSCALE=gregorian",
        # SKIP only acts on days a month lacks: never for weekdays, nor before such a month.
        "RRULE:RSCALE=GREGORIAN;SKIP=BACKWARD;FREQ=WEEKLY;BYDAY=SA;COUNT=6",
        "RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=MONTHLY;BYMONTHDAY=31;COUNT=1",
        "RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=MONTHLY;BYMONTHDAY=31;UNTIL=20260301T075959Z",
    ],
)
def test_gregorian_rscale_is_the_plain_rule(line: str) -> None:
    start = datetime(2026, 1, 31, 9, tzinfo=BERLIN)  # a Saturday
    plain = line.replace("RSCALE=GREGORIAN;", "").replace(";RSCALE=GREGORIAN", "")
    plain = plain.replace(";RSCALE=gregorian", "").replace(";SKIP=OMIT", "")
    plain = plain.replace("SKIP=BACKWARD;", "").replace("SKIP=FORWARD;", "")
    tr = from_rrule([line], start)
    assert tr.flags == frozenset(), [str(m) for m in tr.messages]
    assert tr.rule == from_rrule([plain], start).rule
    assert translated(tr) == rfc_occurrences(plain, start)


@pytest.mark.parametrize(
    "line",
    [
        # The 31st every month: BACKWARD puts February's on the 28th, FORWARD on March 1.
        "RRULE:RSCALE=GREGORIAN;SKIP=BACKWARD;FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
        "RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
        "RRULE:RSCALE=GREGORIAN;SKIP=BACKWARD;FREQ=MONTHLY;UNTIL=20260301T075959Z",
        "RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=MONTHLY;UNTIL=20260301T080000Z",
        "RRULE:RSCALE=GREGORIAN;SKIP=BACKWARD;FREQ=MONTHLY",
    ],
)
def test_gregorian_skip_that_moves_a_date_is_refused(line: str) -> None:
    tr = from_rrule([line], datetime(2026, 1, 31, 9, tzinfo=BERLIN))
    assert tr.flags == {Flag.UNSUPPORTED}
    assert "SKIP=" in tr.messages[0] and "day 31" in tr.messages[0]


def test_gregorian_skip_on_february_29() -> None:
    leap = datetime(2028, 2, 29, 9, tzinfo=BERLIN)
    refused = from_rrule(["RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=YEARLY;COUNT=2"], leap)
    assert refused.flags == {Flag.UNSUPPORTED}
    held = from_rrule(["RRULE:RSCALE=GREGORIAN;SKIP=FORWARD;FREQ=YEARLY;INTERVAL=4"], leap)
    assert held.flags == {Flag.NO_END}


# -- an empty RRULE line (issue 13) --------------------------------------------------------------


@pytest.mark.parametrize(
    "lines", [["RRULE:"], ["RRULE:;;;"], ["RRULE:", "EXDATE:20260112T080000Z"]]
)
@pytest.mark.parametrize("start", [START, date(2026, 12, 25)], ids=["timed", "all-day"])
def test_an_empty_rrule_is_no_repetition_with_a_note(
    lines: list[str], start: datetime | date
) -> None:
    tr = from_rrule(lines, start)
    assert tr.rule is None and tr.start == start
    assert tr.flags == {Flag.EMPTY_RULE}
    (message,) = tr.messages
    day = start.date() if isinstance(start, datetime) else start
    assert "empty repetition rule" in message and "single event" in message
    assert day.isoformat() in message and "Tip:" in message


def test_an_empty_rrule_beside_a_real_one_changes_nothing() -> None:
    rule = "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"
    tr = from_rrule(["RRULE:", rule], START)
    assert tr.flags == frozenset() and tr.rule == from_rrule([rule], START).rule
