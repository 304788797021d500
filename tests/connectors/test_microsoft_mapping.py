"""Graph event JSON <-> EventData (PROTOCOLS.md §2.3, §2.4, §4.1), without a server."""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tzlocal.windows_tz import win_tz

from connectors.errors import InvalidData
from connectors.events import ALL_FIELDS, Attendee, EventData, EventStatus
from connectors.microsoft.mapping import (
    TIME_ZONE_PROPERTY,
    from_graph_event,
    show_as,
    to_graph_event,
    to_graph_patch,
)
from connectors.microsoft.zones import windows_name
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


def test_times_are_written_with_seven_digits_and_a_windows_zone_name() -> None:
    """Graph takes Windows names and a short IANA list without Europe/Amsterdam (issue 19
    item 4): a Dutch practice's meeting is written in W. Europe Standard Time, and our property
    keeps its IANA zone."""
    body = to_graph_event(sample())
    assert body["start"] == {
        "dateTime": "2026-12-07T09:30:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    assert {"id": TIME_ZONE_PROPERTY, "value": "Europe/Amsterdam"} in body[
        "singleValueExtendedProperties"
    ]
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


# -- time zones Graph takes (issue 19 item 4) -----------------------------------------------------

# A zone of every region; the right column: what Graph's answer carries as the event's zone.
REGIONS = [
    ("Europe/Amsterdam", "W. Europe Standard Time"),
    ("America/Sao_Paulo", "E. South America Standard Time"),
    ("America/St_Johns", "Newfoundland Standard Time"),
    ("Africa/Casablanca", "Morocco Standard Time"),
    ("Asia/Kathmandu", "Nepal Standard Time"),
    ("Australia/Lord_Howe", "Lord Howe Standard Time"),
    ("Pacific/Chatham", "Chatham Islands Standard Time"),
    ("Atlantic/Azores", "Azores Standard Time"),
    ("Indian/Maldives", "West Asia Standard Time"),
    ("Antarctica/McMurdo", "New Zealand Standard Time"),
    ("Etc/UTC", "UTC"),
]


def as_outlook_answers(body: dict[str, Any]) -> dict[str, Any]:
    """What Graph sends back for a written body: times in UTC, the zone name as written in
    ``originalStartTimeZone``, our properties when expanded."""
    zone = ZoneInfo(win_tz.get(body["start"]["timeZone"], "UTC"))
    answer = dict(body)
    for name in ("start", "end"):
        local = datetime.fromisoformat(body[name]["dateTime"][:19])
        moment = local if body["isAllDay"] else local.replace(tzinfo=zone).astimezone(UTC)
        answer[name] = {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                        "timeZone": "UTC"}  # fmt: skip
    return {"id": "AAMkAGz", "originalStartTimeZone": body["start"]["timeZone"], **answer}


def in_zone(name: str, **changes: Any) -> EventData:
    tz = ZoneInfo(name)
    start = datetime(2027, 3, 28, 9, 30, tzinfo=tz)  # around Europe's change to summer time
    return sample(start=start, end=start + timedelta(minutes=45), time_zone=name, **changes)


@pytest.mark.parametrize(("iana", "windows"), REGIONS)
def test_a_zone_of_every_region_is_written_as_its_windows_name_and_read_back(
    iana: str, windows: str
) -> None:
    rule = Rule(Frequency.WEEKLY, until=date(2027, 12, 26), weekdays=frozenset({Weekday.SU}))
    body = to_graph_event(in_zone(iana, rule=rule))
    assert body["start"]["timeZone"] == body["end"]["timeZone"] == windows
    assert body["recurrence"]["range"]["recurrenceTimeZone"] == windows
    assert body["start"]["dateTime"] == "2027-03-28T09:30:00.0000000"  # local time, its zone
    # Read back for a user elsewhere: our property gives the IANA zone, the instants are kept.
    got = from_graph_event(as_outlook_answers(body), default_zone="America/New_York")
    assert (got.time_zone, got.start, got.end) == (iana, in_zone(iana).start, in_zone(iana).end)
    assert got.rule == rule
    # An event made in Outlook itself (no property of ours) reads in the user's zone.
    body.pop("singleValueExtendedProperties")
    assert from_graph_event(as_outlook_answers(body), default_zone=iana).time_zone == iana


def test_every_zone_of_this_system_is_written_in_a_windows_zone_with_its_clock() -> None:
    """CLDR's table where it keeps the clock (by this system's zone rules), another Windows zone
    where it does not (Antarctica/Casey: CLDR says UTC+11, tzdata +8) or where CLDR has no entry
    (CST6CDT, Europe/Uzhgorod); only Antarctica/Troll has none. Checked here at four instants a
    month over three years, apart from the connector's own comparison."""
    moments = [
        datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=15 * n, hours=hour)
        for n in range(73)
        for hour in (3, 15)
    ]
    unmatched = []
    for name in sorted(zoneinfo.available_timezones() - {"Factory", "localtime"}):
        written = windows_name(name)
        if written is None:
            unmatched.append(name)
            continue
        ours, theirs = ZoneInfo(name), ZoneInfo(win_tz[written])
        assert [m.astimezone(ours).utcoffset() for m in moments] == [
            m.astimezone(theirs).utcoffset() for m in moments
        ], (name, written)
    assert unmatched == ["Antarctica/Troll"]


def test_a_zone_no_windows_zone_matches_is_written_in_utc_and_read_back() -> None:
    """Antarctica/Troll (UTC+0 in winter, +2 in summer) has no Windows zone: a one-off or an
    all-day event is written in UTC (exact), a timed series is refused with a clear message
    (its times would move twice a year)."""
    event = in_zone("Antarctica/Troll")
    body = to_graph_event(event)
    assert body["start"] == {"dateTime": "2027-03-28T07:30:00.0000000", "timeZone": "UTC"}
    got = from_graph_event(as_outlook_answers(body), default_zone="Europe/Amsterdam")
    assert (got.time_zone, got.start, got.end) == ("Antarctica/Troll", event.start, event.end)
    start = datetime(2027, 3, 28, tzinfo=ZoneInfo("Antarctica/Troll"))
    rule = Rule(Frequency.WEEKLY, until=date(2027, 12, 26), weekdays=frozenset({Weekday.SU}))
    all_day = replace(event, start=start, end=start + timedelta(days=1), all_day=True, rule=rule)
    assert to_graph_event(all_day)["start"]["dateTime"] == "2027-03-28T00:00:00.0000000"
    with pytest.raises(InvalidData, match="no time zone that keeps the clock of Antarctica/Troll"):
        to_graph_event(replace(event, rule=rule))


def test_a_zone_changed_in_outlook_wins_over_the_one_we_wrote() -> None:
    body = to_graph_event(in_zone("Europe/Amsterdam"))
    answer = as_outlook_answers(body)
    answer["originalStartTimeZone"] = "Eastern Standard Time"  # moved to New York in Outlook
    got = from_graph_event(answer, default_zone="Europe/Amsterdam")
    assert got.time_zone == "America/New_York"


def test_a_refused_windows_name_gives_way_to_one_with_the_same_clock() -> None:
    body = to_graph_event(in_zone("Europe/Amsterdam"), avoid=frozenset({"W. Europe Standard Time"}))
    assert body["start"]["timeZone"] == "Central Europe Standard Time"  # Budapest's clock
    got = from_graph_event(as_outlook_answers(body), default_zone="UTC")
    assert got.time_zone == "Europe/Amsterdam"


# -- an update writes only what changed (issue 12 §3, issue 19 item 5) -----------------------------


def test_a_patch_holds_only_the_named_fields_that_changed() -> None:
    current = outlook_event(
        body={"contentType": "text", "content": "Notes"},
        location={"displayName": "Room 1", "address": {"city": "Utrecht"}},
        showAs="oof",
    )
    was = from_graph_event(current, default_zone="Europe/Amsterdam")
    assert to_graph_patch(was, current, default_zone="Europe/Amsterdam") == {}
    renamed = replace(was, title="Renamed", description="Changed", location="Room 2")
    assert to_graph_patch(
        renamed, current, fields=frozenset({"title"}), default_zone="Europe/Amsterdam"
    ) == {"subject": "Renamed"}
    body = to_graph_patch(renamed, current, fields=ALL_FIELDS, default_zone="Europe/Amsterdam")
    assert set(body) == {"subject", "body", "location"}  # not showAs, times or reminders


@pytest.mark.parametrize(
    ("status", "current", "written"),
    [
        (EventStatus.CONFIRMED, "free", None),
        (EventStatus.CONFIRMED, "oof", None),
        (EventStatus.CONFIRMED, "workingElsewhere", None),
        (EventStatus.CONFIRMED, "tentative", "busy"),
        (EventStatus.TENTATIVE, "free", "tentative"),
        (EventStatus.TENTATIVE, "tentative", None),
        (EventStatus.CANCELLED, "busy", None),
    ],
)
def test_show_as_changes_only_with_the_status(
    status: EventStatus, current: str, written: str | None
) -> None:
    assert show_as(status, current) == written


def test_a_status_that_did_not_change_keeps_outlooks_free_busy() -> None:
    current = outlook_event(showAs="workingElsewhere")
    was = from_graph_event(current, default_zone="Europe/Amsterdam")
    assert was.status is EventStatus.CONFIRMED
    assert "showAs" not in to_graph_patch(was, current, default_zone="Europe/Amsterdam")
    tentative = replace(was, status=EventStatus.TENTATIVE)
    assert to_graph_patch(tentative, current, default_zone="Europe/Amsterdam") == {
        "showAs": "tentative"
    }
