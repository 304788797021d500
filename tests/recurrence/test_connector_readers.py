"""What the connectors' readers make of the cases of issue 13, through their pure mapping
functions (no Django, no server): an all-day UTC UNTIL, an empty RRULE, a stale override.

An all-day series' UTC UNTIL is read in the calendar's zone. Outlook writes
``UNTIL=20200916T230000Z`` for an all-day weekly series that its owner, an hour ahead of UTC that
day (London in summer), ends on Thursday 17 September: midnight starting the last day, in the
writer's zone. Read in UTC it would end a week earlier. The readers take the calendar's zone: the
VCALENDAR's ``X-WR-TIMEZONE`` when there is one, else the link owner's zone.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from connectors.caldav.mapping import from_ical
from connectors.google.mapping import from_google
from recurrence import Flag, calendar_zone, from_rrule
from tests.recurrence.test_instances import RESCHEDULED

LONDON = ZoneInfo("Europe/London")
FIRST = date(2020, 8, 20)  # a Thursday
OUTLOOK_UNTIL = "RRULE:FREQ=WEEKLY;UNTIL=20200916T230000Z;BYDAY=TH"  # 00:00 on the 17th in London
BEFORE_MIDNIGHT = "RRULE:FREQ=WEEKLY;UNTIL=20200916T225959Z;BYDAY=TH"  # 23:59:59 on the 16th


@pytest.mark.parametrize(
    ("line", "zone", "last"),
    [
        (OUTLOOK_UNTIL, LONDON, date(2020, 9, 17)),
        (BEFORE_MIDNIGHT, LONDON, date(2020, 9, 10)),
        (OUTLOOK_UNTIL, ZoneInfo("UTC"), date(2020, 9, 10)),
        ("RRULE:FREQ=WEEKLY;UNTIL=20200917T000000Z;BYDAY=TH", ZoneInfo("UTC"), date(2020, 9, 17)),
    ],
)
def test_all_day_utc_until_on_both_sides_of_midnight(line: str, zone: ZoneInfo, last: date) -> None:
    tr = from_rrule([line], FIRST, all_day_zone=zone)
    assert tr.rule is not None and tr.rule.until == last and tr.flags == frozenset()


def _ics(line: str, header: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n"
        f"{header}BEGIN:VEVENT\r\nUID:all-day-1\r\nDTSTART;VALUE=DATE:20200820\r\n"
        f"DTEND;VALUE=DATE:20200821\r\n{line}\r\nSUMMARY:Rota\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.mark.parametrize(
    ("line", "header", "owner", "last"),
    [
        # X-WR-TIMEZONE names the calendar's zone, whatever the owner's is.
        (OUTLOOK_UNTIL, "X-WR-TIMEZONE:Europe/London\r\n", "UTC", date(2020, 9, 17)),
        (BEFORE_MIDNIGHT, "X-WR-TIMEZONE:Europe/London\r\n", "UTC", date(2020, 9, 10)),
        (OUTLOOK_UNTIL, "X-WR-TIMEZONE:GMT Standard Time\r\n", "UTC", date(2020, 9, 17)),
        (OUTLOOK_UNTIL, "X-WR-TIMEZONE:UTC\r\n", "Europe/London", date(2020, 9, 10)),
        # Without it (or with a name no zone database knows), the owner's zone.
        (OUTLOOK_UNTIL, "", "Europe/London", date(2020, 9, 17)),
        (OUTLOOK_UNTIL, "X-WR-TIMEZONE:Atlantis/Capital\r\n", "Europe/London", date(2020, 9, 17)),
        (BEFORE_MIDNIGHT, "", "Europe/London", date(2020, 9, 10)),
        (OUTLOOK_UNTIL, "", "UTC", date(2020, 9, 10)),
    ],
)
def test_caldav_reads_an_all_day_until_in_the_calendar_zone(
    line: str, header: str, owner: str, last: date
) -> None:
    event = from_ical(_ics(line, header), item_id="a.ics", default_zone=owner)
    assert event.rule is not None and event.rule.until == last
    assert event.flags == frozenset()


def test_calendar_zone() -> None:
    utc = ZoneInfo("UTC")
    assert calendar_zone(Calendar.from_ical(_ics(OUTLOOK_UNTIL)), LONDON) is LONDON
    with_name = Calendar.from_ical(_ics(OUTLOOK_UNTIL, "X-WR-TIMEZONE:Europe/London\r\n"))
    assert calendar_zone(with_name, utc) == LONDON


@pytest.mark.parametrize(
    ("line", "owner", "last"),
    [
        (OUTLOOK_UNTIL, "Europe/London", date(2020, 9, 17)),
        (BEFORE_MIDNIGHT, "Europe/London", date(2020, 9, 10)),
        (OUTLOOK_UNTIL, "UTC", date(2020, 9, 10)),
    ],
)
def test_google_reads_an_all_day_until_in_the_owner_zone(line: str, owner: str, last: date) -> None:
    item = {
        "id": "rota",
        "summary": "Rota",
        "start": {"date": "2020-08-20"},
        "end": {"date": "2020-08-21"},
        "recurrence": [line],
        "organizer": {"self": True},
    }
    event = from_google(item, default_zone=owner)
    assert event.rule is not None and event.rule.until == last
    assert Flag.UNSUPPORTED not in event.flags


# -- an empty RRULE and a stale override, as the connectors read them ----------------------------

HOLIDAY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Public holidays//EN\r\nBEGIN:VEVENT\r\n"
    "UID:christmas\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261226\r\nRRULE:\r\n"
    "SUMMARY:Christmas Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_caldav_holiday_with_an_empty_rrule_is_a_single_event_with_a_note() -> None:
    event = from_ical(HOLIDAY, item_id="christmas.ics", default_zone="Europe/Berlin")
    assert event.rule is None and event.all_day and event.start.date() == date(2026, 12, 25)
    assert event.flags == {Flag.EMPTY_RULE}
    (message,) = event.messages
    assert "single event on 2026-12-25" in message


def test_google_event_with_an_empty_rrule_is_a_single_event_with_a_note() -> None:
    item = {"id": "x", "start": {"date": "2026-12-25"}, "end": {"date": "2026-12-26"},
            "recurrence": ["RRULE:"], "organizer": {"self": True}}  # fmt: skip
    event = from_google(item, default_zone="Europe/Berlin")
    assert event.rule is None and event.flags == {Flag.EMPTY_RULE} and len(event.messages) == 1


def test_caldav_stale_override_and_exdate_raise_no_exception() -> None:
    event = from_ical(RESCHEDULED, item_id="weekly.ics", default_zone="Europe/Berlin")
    assert event.rule is not None and event.flags == frozenset()
    assert event.exceptions == () and event.messages == ()
