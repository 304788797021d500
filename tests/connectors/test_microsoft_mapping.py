"""Graph event JSON <-> EventData (PROTOCOLS.md §2.3, §2.4, §4.1), without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.errors import InvalidData
from connectors.events import Attendee, EventStatus
from connectors.microsoft.mapping import from_graph_event, to_graph_event
from recurrence import Frequency, Rule, Weekday
from tests.connectors.contract import sample

AMS = ZoneInfo("Europe/Amsterdam")
HTML = "<html><head><style>p{}</style></head><body><p>Hi &amp; bye</p>line<br>two</body></html>"


def outlook_event(**extra: object) -> dict[str, object]:
    return {
        "id": "AAMkAG1",
        "subject": "Review",
        "start": {"dateTime": "2026-12-07T08:30:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-07T09:15:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 10,
        "showAs": "busy",
        **extra,
    }


def test_times_are_written_with_seven_digits_and_the_zone_name() -> None:
    body = to_graph_event(sample())
    assert body["start"] == {
        "dateTime": "2026-12-07T09:30:00.0000000",
        "timeZone": "Europe/Amsterdam",
    }
    assert body["end"]["dateTime"] == "2026-12-07T10:15:00.0000000"
    assert body["body"] == {"contentType": "text", "content": sample().description}
    assert "attendees" not in body  # no meeting requests (module docstring)
    assert body["recurrence"] is None


def test_a_windows_zone_name_is_read_as_the_users_zone_when_they_keep_the_same_clock() -> None:
    assert from_graph_event(outlook_event(), default_zone="Europe/Amsterdam").time_zone == (
        "Europe/Amsterdam"
    )
    # Another clock (London): the Windows name's own zone.
    event = from_graph_event(outlook_event(), default_zone="Europe/London")
    assert event.time_zone == "Europe/Berlin"
    assert event.start == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert event.start.tzinfo == ZoneInfo("Europe/Berlin")
    assert event.reminder_minutes == 10


def test_last_modified_is_read_with_seven_digits() -> None:
    event = from_graph_event(outlook_event(lastModifiedDateTime="2026-12-01T10:20:30.1234567Z"))
    assert event.updated == datetime(2026, 12, 1, 10, 20, 30, 123456, tzinfo=UTC)


def test_an_unknown_zone_falls_back_to_the_default() -> None:
    event = from_graph_event(
        outlook_event(originalStartTimeZone="tzone://Microsoft/Custom"),
        default_zone="Europe/Amsterdam",
    )
    assert event.time_zone == "Europe/Amsterdam"


def test_html_bodies_become_text_and_outlook_attendees_are_read() -> None:
    event = from_graph_event(
        outlook_event(
            body={"contentType": "html", "content": HTML},
            attendees=[
                {"emailAddress": {"address": "Ann@Example.test", "name": "Ann"},
                 "type": "required", "status": {"response": "tentativelyAccepted"}},
                {"emailAddress": {"address": "room@example.test"}, "type": "resource"},
            ],
            isOrganizer=False,
            showAs="tentative",
            isReminderOn=False,
        )
    )  # fmt: skip
    assert event.description == "Hi & bye\nline\ntwo"
    assert event.attendees == (Attendee("ann@example.test", "Ann", "tentative"),)
    assert (event.is_organizer, event.status, event.reminder_minutes) == (
        False,
        EventStatus.TENTATIVE,
        None,
    )
    assert from_graph_event(outlook_event(isCancelled=True)).status is EventStatus.CANCELLED


def test_all_day_series_are_written_without_a_recurrence_zone() -> None:
    start = datetime(2026, 12, 8, tzinfo=AMS)
    rule = Rule(Frequency.WEEKLY, interval=2, until=date(2027, 2, 23),
                weekdays=frozenset({Weekday.TU, Weekday.SU}))  # fmt: skip
    body = to_graph_event(
        sample(start=start, end=start + timedelta(days=1), all_day=True, rule=rule)
    )
    assert body["isAllDay"] is True
    assert body["start"]["dateTime"] == "2026-12-08T00:00:00.0000000"
    assert body["recurrence"]["pattern"]["firstDayOfWeek"] == "monday"  # always sent (§4.1)
    assert "recurrenceTimeZone" not in body["recurrence"]["range"]


def test_a_rule_outlook_cannot_hold_is_invalid_data() -> None:
    start = datetime(2026, 12, 29, 9, tzinfo=AMS)  # the fifth Tuesday
    rule = Rule(Frequency.MONTHLY, until=date(2027, 12, 31), nth=5, nth_weekday=Weekday.TU)
    with pytest.raises(InvalidData, match="fifth"):
        to_graph_event(sample(start=start, end=start + timedelta(hours=1), rule=rule))


def test_a_malformed_event_names_itself() -> None:
    with pytest.raises(InvalidData) as caught:
        from_graph_event({"id": "AAMkbad", "start": {"dateTime": "yesterday"}, "end": {}})
    assert caught.value.item_id == "AAMkbad"
