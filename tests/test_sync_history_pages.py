"""The sync history on the pages (issue 16 §2): the meeting page's history, the CalendarSync
page's conflicts, deletions and *Undo the last run*, and the one-click conversions of PRODUCT 21,
through the views against Radicale and the Google fake."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import User
from agenda.models import Meeting
from agenda.services import meeting_update
from calsync.engine.run import run_link
from calsync.models import EventMapping, SyncChange, SyncMessage
from connectors.google.connector import GoogleConnector
from tests.agenda.test_services import data_of
from tests.caldav_servers import CalDAVServer
from tests.conftest import login
from tests.engine.helpers import google_reader, link_caldav, link_google
from tests.engine.test_sync_caldav import future, put_outside
from tests.factories import make_meeting

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
UTC = ZoneInfo("UTC")


def ics(summary: str, start: datetime, rule: str) -> str:
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{summary}-{uuid.uuid4().hex}
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Amsterdam:{start:%Y%m%dT%H%M%S}
DTEND;TZID=Europe/Amsterdam:{start + timedelta(hours=1):%Y%m%dT%H%M%S}
RRULE:{rule}
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""


def next_weekday(weekday: int, days: int = 2) -> datetime:
    start = future(days)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def test_the_meeting_page_shows_its_history_and_undoes_a_change(
    staff: User, radicale: CalDAVServer
) -> None:
    meeting = make_meeting(staff, title="Review", start=future(2))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    external_id = EventMapping.objects.get(meeting=meeting).external_id
    item = reader.get(external_id)
    reader.update(external_id, replace(item.event, title="Review, room 4"), etag=item.etag)
    run_link(link.pk)
    client = login(staff)
    page = client.get(reverse("agenda:meeting", args=[meeting.pk])).content.decode()
    assert "Sync history" in page and "Edited in the external calendar" in page
    assert "Review, room 4" in page and "From the external calendar to CalSync" in page
    change = SyncChange.objects.filter(meeting=meeting, action="updated").get()

    response = client.post(
        reverse("calsync:change_undo", args=[change.pk]),
        {"next": reverse("agenda:meeting", args=[meeting.pk])},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("agenda:meeting", args=[meeting.pk])
    meeting.refresh_from_db()
    assert meeting.title == "Review"
    assert run_link(link.pk).counts == {"updated_there": 1}
    assert reader.get(external_id).event.title == "Review"
    # Twice is a clear message, not an error page.
    again = client.post(reverse("calsync:change_undo", args=[change.pk]), follow=True)
    assert again.status_code == 200 and "undone already" in again.content.decode()


def test_an_attendee_does_not_see_the_owners_sync_history(
    staff: User, colleague: User, radicale: CalDAVServer
) -> None:
    meeting = make_meeting(staff, title="Shared", start=future(2), attendees=(colleague,))
    link, _ = link_caldav(staff, radicale)
    run_link(link.pk)
    assert SyncChange.objects.filter(meeting=meeting).exists()
    page = login(colleague).get(reverse("agenda:meeting", args=[meeting.pk])).content.decode()
    assert "Shared" in page and "Sync history" not in page


def test_an_offsite_next_is_not_followed(staff: User, radicale: CalDAVServer) -> None:
    meeting = make_meeting(staff, title="Review", start=future(2))
    link, _ = link_caldav(staff, radicale)
    run_link(link.pk)
    change = SyncChange.objects.get(meeting=meeting)
    response = login(staff).post(
        reverse("calsync:change_undo", args=[change.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("calsync:calendarsync")


def test_the_calendarsync_page_lists_conflicts_and_takes_the_other_side(
    staff: User, radicale: CalDAVServer
) -> None:
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    item = reader.full_listing().items[0]
    reader.update(item.external_id, replace(item.event, location="Room outside"), etag=item.etag)
    meeting_update(meeting=meeting, data=data_of(meeting, location="Room inside"))
    run_link(link.pk)
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Conflicts to review" in page
    assert "Room inside" in page and "Room outside" in page
    change = SyncChange.objects.get(conflict_state="open")
    client.post(reverse("calsync:conflict_take", args=[change.pk]))
    meeting.refresh_from_db()
    assert meeting.location == "Room outside"
    assert "Conflicts to review" not in client.get(reverse("calsync:calendarsync")).content.decode()
    run_link(link.pk)
    assert reader.get(item.external_id).event.location == "Room outside"


def test_restore_and_undo_the_last_run_from_the_calendarsync_page(
    staff: User, radicale: CalDAVServer
) -> None:
    meetings = [make_meeting(staff, title=f"M{i}", start=future(i + 1)) for i in range(3)]
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    for item in reader.full_listing().items[:2]:
        reader.delete(item.external_id, etag=None)
    assert run_link(link.pk).counts == {"deleted_here": 2}
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Deleted by synchronisation" in page and "Undo the last run (2 changes" in page
    first = SyncChange.objects.filter(action="deleted").order_by("pk").first()
    assert first is not None
    client.post(reverse("calsync:change_undo", args=[first.pk]))
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 2
    response = client.post(reverse("calsync:undo_last_run", args=[link.pk]), follow=True)
    assert "1 meeting restored" in response.content.decode()
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 3
    assert run_link(link.pk).counts == {"created_there": 2}
    assert len(reader.full_listing().items) == 3


# -- the one-click conversions (PRODUCT 21) ----------------------------------------------------


def test_a_daily_series_is_converted_to_weekly_in_one_click_and_imported(
    staff: User, radicale: CalDAVServer
) -> None:
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    put_outside(reader, "standup.ics", ics("Stand-up", future(1), "FREQ=DAILY;COUNT=10"))
    run_link(link.pk)
    message = SyncMessage.objects.get(link=link, code="daily")
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Convert to weekly" in page
    response = client.post(reverse("calsync:message_convert", args=[message.pk]), follow=True)
    assert "now repeats weekly" in response.content.decode()
    assert not SyncMessage.objects.filter(pk=message.pk).exists()
    event = next(i.event for i in reader.full_listing().items if i.event.title == "Stand-up")
    assert event.rule is not None and event.rule.frequency.value == "weekly"
    assert len(event.rule.weekdays) == 7
    assert run_link(link.pk).counts == {"created_here": 1}
    meeting = Meeting.objects.get(title="Stand-up")
    window = meeting.occurrences(future(0), future(30))
    assert [o.start for o in window] == [future(1) + timedelta(days=d) for d in range(10)]


def test_a_daily_series_on_google_is_converted_too(staff: User, google_fake, settings) -> None:
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    link, calendar_id = link_google(staff, google_fake)
    run_link(link.pk)
    reader: GoogleConnector = google_reader(google_fake, link)
    start = next_weekday(0, 3).replace(hour=8)
    reader.events.insert(
        calendarId=calendar_id,
        body={
            "summary": "Workdays",
            "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Amsterdam"},
            "end": {
                "dateTime": (start + timedelta(minutes=30)).isoformat(),
                "timeZone": "Europe/Amsterdam",
            },
            "recurrence": ["RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=15"],
        },
    ).execute(http=reader.http)
    run_link(link.pk)
    message = SyncMessage.objects.get(link=link, code="daily")
    login(staff).post(reverse("calsync:message_convert", args=[message.pk]))
    assert run_link(link.pk).counts == {"created_here": 1}
    meeting = Meeting.objects.get(title="Workdays")
    assert meeting.rule is not None and sorted(meeting.rule.weekdays) == [0, 1, 2, 3, 4]
    assert len(meeting.occurrences(start - timedelta(days=1), start + timedelta(days=40))) == 15


def test_a_sunday_week_series_is_split_in_one_click(staff: User, radicale: CalDAVServer) -> None:
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    sunday = next_weekday(6)
    put_outside(
        reader,
        "sunday.ics",
        ics("Rota", sunday, "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO;WKST=SU;COUNT=6"),
    )
    assert run_link(link.pk).counts == {"created_here": 1}
    message = SyncMessage.objects.get(link=link, code="sunday_week_start")
    expected = [sunday + timedelta(days=d) for d in (0, 1, 14, 15, 28, 29)]
    client = login(staff)
    assert "Split into two meetings" in client.get(reverse("calsync:calendarsync")).content.decode()
    response = client.post(reverse("calsync:message_convert", args=[message.pk]), follow=True)
    assert "split into two weekly meetings" in response.content.decode()
    meetings = list(Meeting.objects.filter(title="Rota"))
    assert len(meetings) == 2
    assert sorted(len(m.rule.weekdays) for m in meetings if m.rule) == [1, 1]
    window = (sunday - timedelta(days=1), sunday + timedelta(days=60))
    got = sorted(o.start for m in meetings for o in m.occurrences(*window))
    assert got == expected
    assert run_link(link.pk).counts == {"updated_there": 1, "created_there": 1}
    # The outside calendar now holds two series with the same dates (wall times in Amsterdam).
    ams = ZoneInfo("Europe/Amsterdam")
    outside = sorted(
        d
        for i in reader.full_listing().items
        if i.event.rule is not None
        for d in i.event.rule.to_dateutil(i.event.start.astimezone(ams).replace(tzinfo=None))
    )
    assert outside == [e.replace(tzinfo=None) for e in expected]
    assert run_link(link.pk).counts == {}


def test_a_conversion_of_a_series_gone_outside_says_so(staff: User, radicale: CalDAVServer) -> None:
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    put_outside(reader, "standup.ics", ics("Stand-up", future(1), "FREQ=DAILY;COUNT=10"))
    run_link(link.pk)
    message = SyncMessage.objects.get(link=link, code="daily")
    reader.delete(message.subject, etag=None)
    response = login(staff).post(reverse("calsync:message_convert", args=[message.pk]), follow=True)
    assert response.status_code == 200
    assert "no longer in your external calendar" in response.content.decode()


def test_a_daily_series_in_outlook_is_converted_too(staff: User, microsoft_fake) -> None:
    from django.test import override_settings

    from tests.engine.helpers import link_microsoft
    from tests.engine.test_sync_microsoft import outlook_time

    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        link, calendar_id = link_microsoft(staff, microsoft_fake)
        run_link(link.pk)
        start = future(2)
        created = microsoft_fake.user_create(
            calendar_id,
            {
                "subject": "Huddle",
                "start": outlook_time(start),
                "end": outlook_time(start + timedelta(minutes=15)),
                "recurrence": {
                    "pattern": {"type": "daily", "interval": 1},
                    "range": {
                        "type": "numbered",
                        "startDate": start.astimezone(UTC).date().isoformat(),
                        "numberOfOccurrences": 8,
                    },
                },
            },
        )
        run_link(link.pk)
        message = SyncMessage.objects.get(link=link, code="daily")
        response = login(staff).post(
            reverse("calsync:message_convert", args=[message.pk]), follow=True
        )
        assert "now repeats weekly" in response.content.decode()
        pattern = microsoft_fake.event(str(created["id"]))["recurrence"]["pattern"]
        assert pattern["type"] == "weekly" and len(pattern["daysOfWeek"]) == 7
        assert run_link(link.pk).counts == {"created_here": 1}
        meeting = Meeting.objects.get(title="Huddle")
        got = meeting.occurrences(start - timedelta(days=1), start + timedelta(days=30))
        assert [o.start for o in got] == [start + timedelta(days=d) for d in range(8)]
