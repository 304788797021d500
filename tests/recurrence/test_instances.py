"""Exceptions as each provider shows them, and EXCEPTION on the series' translation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from recurrence import (
    ExceptionInstance,
    Flag,
    RecurrenceParseError,
    caldav_exceptions,
    from_graph,
    from_rrule,
    from_vevent,
    google_exception,
    graph_cancelled_occurrences,
    graph_exception,
    graph_missing_occurrences,
    with_exceptions,
)

BERLIN = ZoneInfo("Europe/Berlin")
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")


# -- Google --------------------------------------------------------------------------------------


def test_google_moved_instance() -> None:
    # The shape of a real Google response (PROTOCOLS §1.5).
    event = {
        "id": "7sull595rv5apd9mr77a6g0s0h_20220131T170000Z",
        "recurringEventId": "7sull595rv5apd9mr77a6g0s0h",
        "originalStartTime": {
            "dateTime": "2022-01-31T14:00:00-03:00",
            "timeZone": "America/Argentina/Buenos_Aires",
        },
        "start": {"dateTime": "2022-01-31T16:00:00-03:00"},
        "status": "confirmed",
    }
    assert google_exception(event) == ExceptionInstance(
        "7sull595rv5apd9mr77a6g0s0h", datetime(2022, 1, 31, 17, 0, tzinfo=UTC), cancelled=False
    )


def test_google_cancelled_instance_all_day_and_without_offset() -> None:
    cancelled = {"id": "x_20260112", "recurringEventId": "x", "status": "cancelled",
                 "originalStartTime": {"date": "2026-01-12"}}  # fmt: skip
    assert google_exception(cancelled) == ExceptionInstance("x", date(2026, 1, 12), True)
    no_offset = {"recurringEventId": "x", "status": "cancelled",
                 "originalStartTime": {"dateTime": "2026-01-12T09:00:00",
                                       "timeZone": "Europe/Berlin"}}  # fmt: skip
    assert google_exception(no_offset) == ExceptionInstance(
        "x", datetime(2026, 1, 12, 8, tzinfo=UTC), True
    )


def test_google_master_and_single_events_are_not_exceptions() -> None:
    assert google_exception({"id": "m", "recurrence": ["RRULE:FREQ=WEEKLY"]}) is None
    assert google_exception({"id": "s", "start": {"dateTime": "2026-01-05T09:00:00Z"}}) is None


@pytest.mark.parametrize(
    "event",
    [
        {"recurringEventId": "x"},
        {"recurringEventId": "x", "originalStartTime": {}},
        {"recurringEventId": "x", "originalStartTime": {"dateTime": "yesterday"}},
        {"recurringEventId": "x", "originalStartTime": {"dateTime": "2026-01-12T09:00:00"}},
        {"recurringEventId": "x", "originalStartTime": {"date": "2026-02-30"}},
        {"recurringEventId": "x", "originalStartTime": {"dateTime": "9999-12-31T23:00:00-05:00"}},
        {"recurringEventId": "x", "originalStartTime": {"dateTime": "0001-01-01T00:30:00+05:00"}},
    ],
)
def test_google_malformed(event: dict[str, Any]) -> None:
    with pytest.raises(RecurrenceParseError):
        google_exception(event)


def test_with_exceptions_flags_the_series() -> None:
    start = datetime(2022, 1, 3, 14, 0, tzinfo=BUENOS_AIRES)
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"], start)
    assert tr.flags == frozenset()
    moved = google_exception(
        {"recurringEventId": "s", "originalStartTime": {"dateTime": "2022-01-31T17:00:00Z"}}
    )
    assert moved is not None
    flagged = with_exceptions(tr, [moved])
    assert flagged.flags == {Flag.EXCEPTION}
    assert flagged.exceptions == (datetime(2022, 1, 31, 14, 0, tzinfo=BUENOS_AIRES),)
    assert "2022-01-31 14:00" in str(flagged.message(Flag.EXCEPTION))
    assert flagged.rule == tr.rule  # synced without the exception
    # Adding more keeps one EXCEPTION message listing them all (one message per flag).
    again = with_exceptions(flagged, [datetime(2022, 1, 10, 17, 0, tzinfo=UTC)])
    assert len(again.messages) == 1 and len(again.exceptions) == 2
    assert with_exceptions(tr, []) == tr


def test_with_exceptions_leaves_an_unsynced_series_alone() -> None:
    tr = from_rrule(["RRULE:FREQ=DAILY"], datetime(2026, 1, 5, 9, tzinfo=BERLIN))
    assert with_exceptions(tr, [date(2026, 1, 6)]) == tr


# -- Graph ---------------------------------------------------------------------------------------


def test_graph_exception_and_cancelled_occurrence() -> None:
    edited = {"type": "exception", "seriesMasterId": "AAM=",
              "originalStart": "2026-01-12T08:00:00.0000000Z"}  # fmt: skip
    assert graph_exception(edited) == ExceptionInstance(
        "AAM=", datetime(2026, 1, 12, 8, tzinfo=UTC), cancelled=False
    )
    cancelled = {"type": "occurrence", "isCancelled": True, "seriesMasterId": "AAM=",
                 "originalStart": "2026-01-19T08:00:00Z"}  # fmt: skip
    assert graph_exception(cancelled) == ExceptionInstance(
        "AAM=", datetime(2026, 1, 19, 8, tzinfo=UTC), cancelled=True
    )
    assert graph_exception({"type": "occurrence", "seriesMasterId": "AAM="}) is None
    assert graph_exception({"type": "seriesMaster"}) is None
    assert graph_exception({"type": "singleInstance"}) is None
    with pytest.raises(RecurrenceParseError):
        graph_exception({"type": "exception", "seriesMasterId": "AAM="})
    with pytest.raises(RecurrenceParseError):
        graph_exception({"type": "exception", "seriesMasterId": "A", "originalStart": "soon"})


def test_graph_beta_cancelled_occurrences() -> None:
    master = {"cancelledOccurrences": ["OID.AAMkAGI2=.2026-01-12", "OID.AAMkAGI2=.2026-02-09"]}
    assert graph_cancelled_occurrences(master) == [date(2026, 1, 12), date(2026, 2, 9)]
    assert graph_cancelled_occurrences({}) == []
    with pytest.raises(RecurrenceParseError):
        graph_cancelled_occurrences({"cancelledOccurrences": ["OID.x.notadate"]})


def test_graph_missing_occurrences_are_the_deleted_ones() -> None:
    recurrence = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                    "firstDayOfWeek": "sunday"},
        "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 6,
                  "recurrenceTimeZone": "W. Europe Standard Time"},
    }  # fmt: skip
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    listed = [
        {"type": "occurrence",
         "start": {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"}},
        # 01-12 was deleted; 01-19 was moved to the Tuesday: its slot is its originalStart.
        {"type": "exception", "originalStart": "2026-01-19T08:00:00Z",
         "start": {"dateTime": "2026-01-20T08:00:00.0000000", "timeZone": "UTC"}},
        {"type": "occurrence",
         "start": {"dateTime": "2026-01-26T09:00:00", "timeZone": "Europe/Berlin"}},
        {"type": "occurrence", "start": {"dateTime": "2026-02-02T08:00:00Z"}},
    ]  # fmt: skip
    missing = graph_missing_occurrences(
        recurrence, start, listed, window_start=start, window_end=datetime(2026, 2, 3, tzinfo=UTC)
    )
    assert missing == [datetime(2026, 1, 12, 9, tzinfo=BERLIN)]
    # The window bounds the check; the series' end too (6 occurrences: last is 02-09).
    everything = graph_missing_occurrences(
        recurrence, start, [], window_start=date(2026, 1, 1), window_end=date(2027, 1, 1)
    )
    assert len(everything) == 6
    tr = with_exceptions(from_graph(recurrence, start), missing)
    assert tr.flags == {Flag.EXCEPTION}


# -- CalDAV --------------------------------------------------------------------------------------

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 15.0//EN
BEGIN:VEVENT
UID:series-1
DTSTART;TZID=Europe/Berlin:20260104T090000
DTEND;TZID=Europe/Berlin:20260104T100000
RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO;WKST=SU;COUNT=8
EXDATE;TZID=Europe/Berlin:20260118T090000
SUMMARY:Team
END:VEVENT
BEGIN:VEVENT
UID:series-1
RECURRENCE-ID;TZID=Europe/Berlin:20260105T090000
DTSTART;TZID=Europe/Berlin:20260105T110000
DTEND;TZID=Europe/Berlin:20260105T120000
SUMMARY:Team (moved)
END:VEVENT
BEGIN:VEVENT
UID:series-1
RECURRENCE-ID;TZID=Europe/Berlin:20260201T090000
DTSTART;TZID=Europe/Berlin:20260201T090000
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""


def test_caldav_overrides_and_exdates() -> None:
    found = caldav_exceptions(ICS)
    assert sorted(found, key=lambda e: str(e.original_start)) == [
        ExceptionInstance("series-1", datetime(2026, 1, 5, 8, tzinfo=UTC), cancelled=False),
        ExceptionInstance("series-1", datetime(2026, 1, 18, 8, tzinfo=UTC), cancelled=True),
        ExceptionInstance("series-1", datetime(2026, 2, 1, 8, tzinfo=UTC), cancelled=True),
    ]
    assert caldav_exceptions(ICS.encode()) == found
    with pytest.raises(RecurrenceParseError):
        caldav_exceptions("not a calendar")


def test_from_vevent_reads_the_master() -> None:
    cal = Calendar.from_ical(ICS)
    master = next(e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") is None)
    tr = from_vevent(master)
    assert tr.start == datetime(2026, 1, 4, 9, tzinfo=BERLIN)
    assert tr.flags == {Flag.SUNDAY_WEEK_START, Flag.EXCEPTION}  # WKST=SU, and the EXDATE
    assert tr.exceptions == (datetime(2026, 1, 18, 9, tzinfo=BERLIN),)
    tr = with_exceptions(tr, caldav_exceptions(cal))
    assert len(tr.exceptions) == 3


def test_from_vevent_all_day_and_missing_start() -> None:
    cal = Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20260704\r\n"
        "RRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nRRULE:FREQ=YEARLY\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    first, second = cal.walk("VEVENT")
    tr = from_vevent(first)
    assert tr.start == date(2026, 7, 4) and tr.flags == {Flag.NO_END}
    with pytest.raises(RecurrenceParseError):
        from_vevent(second)


def test_graph_missing_occurrences_offsets_all_day_and_unsynced_series() -> None:
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3},
    }
    start = datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("America/New_York"))
    listed = [
        {"start": {"dateTime": "2026-01-05T09:00:00-05:00"}},  # an offset, negative
        {"start": {"dateTime": "2026-01-19T14:00:00.0000000", "timeZone": "UTC"}},
    ]
    window = {"window_start": date(2026, 1, 1), "window_end": date(2026, 2, 1)}
    missing = graph_missing_occurrences(weekly, start, listed, **window)
    assert missing == [datetime(2026, 1, 12, 9, tzinfo=ZoneInfo("America/New_York"))]

    all_day = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3},
    }
    listed = [
        {"type": "exception", "originalStart": "2026-01-04T23:00:00Z"},  # Berlin's 5 January
        {"start": {"dateTime": "2026-01-19T00:00:00.0000000", "timeZone": "Europe/Berlin"}},
    ]
    assert graph_missing_occurrences(all_day, date(2026, 1, 5), listed, **window) == [
        date(2026, 1, 12)
    ]

    daily = {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}}
    assert graph_missing_occurrences(daily, start, [], **window) == []


# -- only real occurrences are exceptions (issue 13) ---------------------------------------------

# Rescheduled from Mondays to Tuesdays (SEQUENCE 2): the Monday override and EXDATE are left over.
RESCHEDULED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp.//CalDAV Client//EN
BEGIN:VEVENT
UID:weekly-1
SEQUENCE:2
DTSTART;TZID=Europe/Berlin:20240702T100000
DTEND;TZID=Europe/Berlin:20240702T110000
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10
EXDATE;TZID=Europe/Berlin:20240722T100000
SUMMARY:Weekly
END:VEVENT
BEGIN:VEVENT
UID:weekly-1
SEQUENCE:2
RECURRENCE-ID;TZID=Europe/Berlin:20240729T100000
DTSTART;TZID=Europe/Berlin:20240729T140000
DTEND;TZID=Europe/Berlin:20240729T150000
SUMMARY:Weekly (moved)
END:VEVENT
END:VCALENDAR
"""


def _master(ics: str) -> Any:
    return next(e for e in Calendar.from_ical(ics).walk("VEVENT") if e.get("RECURRENCE-ID") is None)


def test_caldav_override_and_exdate_on_no_occurrence_are_not_exceptions() -> None:
    # 2024-07-29 and 2024-07-22 are Mondays; the series repeats on Tuesdays.
    assert caldav_exceptions(RESCHEDULED) == []
    tr = with_exceptions(from_vevent(_master(RESCHEDULED)), caldav_exceptions(RESCHEDULED))
    assert tr.flags == frozenset() and tr.exceptions == ()
    assert not any("2024-07-29" in m for m in tr.messages)


def _override(recurrence_id: str) -> str:
    return RESCHEDULED.replace("RECURRENCE-ID;TZID=Europe/Berlin:20240729T100000", recurrence_id)


@pytest.mark.parametrize(
    ("recurrence_id", "expected"),
    [
        # A real occurrence, named in the series' zone, in UTC or in another zone: the instant.
        ("RECURRENCE-ID;TZID=Europe/Berlin:20240730T100000", datetime(2024, 7, 30, 8, tzinfo=UTC)),
        ("RECURRENCE-ID:20240730T080000Z", datetime(2024, 7, 30, 8, tzinfo=UTC)),
        ("RECURRENCE-ID;TZID=America/New_York:20240730T040000",
         datetime(2024, 7, 30, 8, tzinfo=UTC)),
        # A floating value is a wall time in the series' zone.
        ("RECURRENCE-ID:20240730T100000", datetime(2024, 7, 30, 8, tzinfo=UTC)),
        # The right day at another time is no instance (RFC 5545 §3.8.4.4).
        ("RECURRENCE-ID;TZID=Europe/Berlin:20240730T090000", None),
        # After the last (10th) occurrence, 2024-09-03.
        ("RECURRENCE-ID;TZID=Europe/Berlin:20240910T100000", None),
    ],
)  # fmt: skip
def test_caldav_override_is_compared_by_instant_in_the_series_zone(
    recurrence_id: str, expected: datetime | None
) -> None:
    ics = _override(recurrence_id)
    found = caldav_exceptions(ics)
    assert found == ([] if expected is None else [ExceptionInstance("weekly-1", expected, False)])
    tr = with_exceptions(from_vevent(_master(ics)), found)
    assert (Flag.EXCEPTION in tr.flags) is (expected is not None)


@pytest.mark.parametrize(
    ("master_sequence", "override_sequence", "exception"),
    [
        ("SEQUENCE:2", "SEQUENCE:1", False),  # made before the series was rescheduled: stale
        ("SEQUENCE:2", "SEQUENCE:2", True),
        ("SEQUENCE:2", "SEQUENCE:3", True),
        ("SEQUENCE:2", "", True),  # no SEQUENCE on the override: nothing to compare
        ("", "SEQUENCE:0", True),
    ],
)
def test_caldav_override_older_than_its_master_is_stale(
    master_sequence: str, override_sequence: str, exception: bool
) -> None:
    master, override = RESCHEDULED.split("END:VEVENT\nBEGIN:VEVENT\n")
    master = master.replace("SEQUENCE:2\n", f"{master_sequence}\n" if master_sequence else "")
    override = override.replace(
        "SEQUENCE:2\n", f"{override_sequence}\n" if override_sequence else ""
    ).replace("20240729T100000", "20240730T100000")
    found = caldav_exceptions(master + "END:VEVENT\nBEGIN:VEVENT\n" + override)
    assert bool(found) is exception


def test_caldav_all_day_override_and_exdate() -> None:
    ics = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:d
DTSTART;VALUE=DATE:20240702
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=5
EXDATE;VALUE=DATE:20240716,20240717
END:VEVENT
BEGIN:VEVENT
UID:d
RECURRENCE-ID;VALUE=DATE:20240709
DTSTART;VALUE=DATE:20240710
END:VEVENT
BEGIN:VEVENT
UID:d
RECURRENCE-ID;VALUE=DATE:20240708
DTSTART;VALUE=DATE:20240708
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""
    assert sorted(caldav_exceptions(ics), key=lambda e: str(e.original_start)) == [
        ExceptionInstance("d", date(2024, 7, 9), cancelled=False),
        ExceptionInstance("d", date(2024, 7, 16), cancelled=True),
    ]


def test_google_instance_whose_original_start_is_no_occurrence_is_no_exception() -> None:
    start = datetime(2022, 1, 3, 14, 0, tzinfo=BUENOS_AIRES)  # Mondays 14:00, ten of them
    tr = from_rrule(["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"], start)
    stale = [
        {"recurringEventId": "s", "status": "cancelled",  # a Tuesday
         "originalStartTime": {"dateTime": "2022-01-11T14:00:00-03:00"}},
        {"recurringEventId": "s", "status": "confirmed",  # after the end
         "originalStartTime": {"dateTime": "2022-03-14T14:00:00-03:00"}},
        {"recurringEventId": "s", "status": "cancelled",  # the right day, another time
         "originalStartTime": {"dateTime": "2022-01-17T15:00:00-03:00"}},
    ]  # fmt: skip
    found = [e for e in map(google_exception, stale) if e is not None]
    assert len(found) == 3
    assert with_exceptions(tr, found) == tr and with_exceptions(tr, found).flags == frozenset()
    real = google_exception(
        {"recurringEventId": "s", "status": "cancelled",
         "originalStartTime": {"dateTime": "2022-01-17T14:00:00-03:00"}}
    )  # fmt: skip
    assert real is not None
    flagged = with_exceptions(tr, [*found, real])
    assert flagged.flags == {Flag.EXCEPTION}
    assert flagged.exceptions == (datetime(2022, 1, 17, 14, tzinfo=BUENOS_AIRES),)


def test_graph_exception_off_the_pattern_is_no_exception() -> None:
    recurrence = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 4,
                  "recurrenceTimeZone": "W. Europe Standard Time"},
    }  # fmt: skip
    tr = from_graph(recurrence, datetime(2026, 1, 5, 8, tzinfo=UTC))
    stale = graph_exception(
        {"type": "exception", "seriesMasterId": "A", "originalStart": "2026-01-13T08:00:00Z"}
    )
    real = graph_exception(
        {"type": "exception", "seriesMasterId": "A", "originalStart": "2026-01-12T08:00:00Z"}
    )
    assert stale is not None and real is not None
    assert with_exceptions(tr, [stale]).flags == frozenset()
    assert with_exceptions(tr, [stale, real]).exceptions == (
        datetime(2026, 1, 12, 9, tzinfo=BERLIN),
    )
    # An all-day series: Graph's originalStart is midnight in the event's zone, in UTC.
    all_day = from_graph(recurrence, date(2026, 1, 5), all_day_zone=BERLIN)
    midnight = [datetime(2026, 1, 11, 23, tzinfo=UTC), datetime(2026, 1, 12, 23, tzinfo=UTC)]
    assert with_exceptions(all_day, midnight).exceptions == (date(2026, 1, 12),)


def test_graph_missing_occurrences_of_a_sunday_week_series_reach_its_last_date() -> None:
    # Outlook's dates: Jan 4, 5, 18, 19; the Monday-week rule ends on its own Jan 18.
    recurrence = {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"]},
        "range": {"type": "numbered", "startDate": "2026-01-04", "numberOfOccurrences": 4},
    }
    start = datetime(2026, 1, 4, 9, tzinfo=BERLIN)
    listed = [{"start": {"dateTime": f"2026-01-{d:02}T08:00:00Z"}} for d in (4, 5, 18)]
    missing = graph_missing_occurrences(
        recurrence, start, listed, window_start=date(2026, 1, 1), window_end=date(2026, 3, 1)
    )
    assert missing == [datetime(2026, 1, 19, 9, tzinfo=BERLIN)]
    tr = with_exceptions(from_graph(recurrence, start), missing)
    assert tr.exceptions == (datetime(2026, 1, 19, 9, tzinfo=BERLIN),)
