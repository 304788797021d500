"""Two-way sync end to end against real Radicale, Xandikos and Cyrus servers and the Google fake
(PRODUCT 7-18, QUALITY I1-I10). Tests about what a server does run on each CalDAV server."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import niquests
import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from agenda.models import Confirmation, Meeting, MeetingAttendee
from calsync.engine.run import run_link
from calsync.models import (
    CalendarLink,
    EventMapping,
    LinkState,
    Provider,
    SyncMessage,
    SyncRun,
    Target,
)
from calsync.services import link_create
from connectors.google.connector import GoogleConnector
from recurrence import Frequency, Rule, Weekday
from tests.caldav_servers import CalDAVServer, CountingProxy
from tests.engine.helpers import link_caldav, link_google
from tests.factories import ClientFactory, ResourceFactory, make_meeting
from tests.fakes.google import SCOPE_APP_CREATED

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


CALDAV_SERVERS = ["radicale", "xandikos", "cyrus"]


@pytest.fixture(params=CALDAV_SERVERS)
def caldav_server(request: pytest.FixtureRequest) -> CalDAVServer:
    server: CalDAVServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture(params=[*CALDAV_SERVERS, "google"])
def linked(request: pytest.FixtureRequest, staff: User):  # type: ignore[no-untyped-def]
    """``link_to``: links ``staff`` to a fresh calendar on each provider and returns the link and
    a connector that reads and writes that calendar as another client would."""
    if request.param in CALDAV_SERVERS:
        server = request.getfixturevalue(request.param)
        return lambda: link_caldav(staff, server)
    fake = request.getfixturevalue("google_fake")
    settings = request.getfixturevalue("settings")
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)

    def to_google():  # type: ignore[no-untyped-def]
        link, calendar_id = link_google(staff, fake)
        tokens = fake.issue_tokens(link.account, [SCOPE_APP_CREATED])
        reader = GoogleConnector(
            credentials=tokens.credentials(),
            calendar_id=calendar_id,
            api_endpoint=fake.api_endpoint,
            default_zone=staff.time_zone,
            timeout=10,
        )
        return link, reader

    return to_google


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


def remote_titles(reader) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {i.external_id: i.event.title for i in reader.full_listing().items}


def put_outside(reader, href: str, body: str) -> None:  # type: ignore[no-untyped-def]
    response = niquests.put(
        reader.calendar_url + href,
        data=body.replace("\n", "\r\n"),
        headers={"Content-Type": "text/calendar"},
        auth=(reader.client.username, reader.client.password),
        timeout=10,
    )
    assert response.status_code in (201, 204)


def test_first_sync_sends_future_meetings_and_takes_future_events(
    staff: User, caldav_server: CalDAVServer
) -> None:
    make_meeting(staff, title="Past", start=future(-10))
    make_meeting(staff, title="Upcoming", start=future(3))
    weekly = Rule(
        Frequency.WEEKLY,
        until=future(60).date(),
        weekdays=frozenset({Weekday(future(-14).weekday())}),
    )
    make_meeting(staff, title="Old series, still running", start=future(-14), rule=weekly)
    link, reader = link_caldav(staff, caldav_server)
    put_outside(
        reader,
        "dentist.ics",
        f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:dentist-{uuid.uuid4().hex}
DTSTAMP:20260101T000000Z
DTSTART:{future(5).astimezone(ZoneInfo("UTC")):%Y%m%dT%H%M%SZ}
DTEND:{future(5, 10).astimezone(ZoneInfo("UTC")):%Y%m%dT%H%M%SZ}
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
""",
    )
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 2, "created_here": 1}
    assert sorted(remote_titles(reader).values()) == [
        "Dentist",
        "Old series, still running",
        "Upcoming",
    ]
    dentist = Meeting.objects.get(title="Dentist")
    assert (dentist.kind, dentist.owner_id) == ("personal", staff.pk)
    # A quiet second run writes nothing on either side (I5).
    again = run_link(link.pk)
    assert again.status == "ok" and again.counts == {}
    # The series went out as one series, not as single events.
    series = [i.event for i in reader.full_listing().items if i.event.title.startswith("Old")]
    assert series[0].rule is not None


def test_edits_and_deletions_flow_both_ways_without_echo(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Review", start=future(2))
    link, reader = linked()
    run_link(link.pk)
    mapping = EventMapping.objects.get(meeting=meeting)

    # Outside edit comes in, and is not written back (I6).
    item = reader.get(mapping.external_id)
    from dataclasses import replace

    reader.update(
        mapping.external_id, replace(item.event, title="Review (moved room)"), etag=item.etag
    )
    assert run_link(link.pk).counts == {"updated_here": 1}
    meeting.refresh_from_db()
    assert meeting.title == "Review (moved room)"
    assert run_link(link.pk).counts == {}

    # Local edit goes out.
    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    meeting_update(meeting=meeting, data=data_of(meeting, description="Bring the files"))
    assert run_link(link.pk).counts == {"updated_there": 1}
    assert reader.get(mapping.external_id).event.description == "Bring the files"
    assert run_link(link.pk).counts == {}

    # Deleted outside: deleted here (a tombstone), mapping gone.
    reader.delete(mapping.external_id, etag=None)
    assert run_link(link.pk).counts == {"deleted_here": 1}
    assert Meeting.all_objects.get(pk=meeting.pk).deleted_at is not None
    assert not EventMapping.objects.exists()


def test_local_delete_removes_the_copy(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Cancelled here", start=future(2))
    link, reader = linked()
    run_link(link.pk)
    from agenda.services import meeting_delete

    meeting_delete(meeting=meeting)
    assert run_link(link.pk).counts == {"deleted_there": 1}
    assert remote_titles(reader) == {}


def test_field_rules_attendees_resources_reminders_and_visibility(
    staff: User, colleague: User, linked
) -> None:
    room = ResourceFactory(tenant=staff.tenant, name="Room 2")
    meeting = make_meeting(
        staff,
        title="Case review",
        start=future(4),
        location="Ground floor",
        resources=(room,),
        attendees=(colleague,),
        other_attendees=("guest@example.com",),
        reminder_minutes=15,
        visible_for_all=True,
    )
    link, reader = linked()
    run_link(link.pk)
    event = reader.full_listing().items[0].event
    assert event.location == "Ground floor; Room 2"  # PRODUCT 11
    assert sorted(a.email for a in event.attendees) == sorted(
        [colleague.email, "guest@example.com"]
    )
    assert event.reminder_minutes == 15
    # Outside: a 7-minute reminder, a new outside guest, the room kept in the location.
    from dataclasses import replace

    from connectors.events import Attendee

    item = reader.full_listing().items[0]
    reader.update(
        item.external_id,
        replace(
            item.event,
            reminder_minutes=7,
            attendees=(*item.event.attendees, Attendee("new@example.org")),
        ),
        etag=item.etag,
    )
    run_link(link.pk)
    meeting.refresh_from_db()
    assert meeting.reminder_minutes == 5  # rounded to the nearest internal choice (PRODUCT 13)
    assert list(meeting.resources.all()) == [room] and meeting.location == "Ground floor"
    assert sorted(meeting.other_attendees) == ["guest@example.com", "new@example.org"]
    assert [a.user for a in meeting.attendance.all()] == [colleague]
    assert meeting.visible_for_all  # never synced, never lost (PRODUCT 12)


def test_time_change_outside_clears_confirmations(staff: User, colleague: User, linked) -> None:
    make_meeting(staff, title="Team", start=future(3), attendees=(colleague,))
    MeetingAttendee.objects.update(confirmation=Confirmation.ACCEPTED)
    link, reader = linked()
    run_link(link.pk)
    from dataclasses import replace

    item = reader.full_listing().items[0]
    reader.update(
        item.external_id,
        replace(
            item.event,
            start=item.event.start + timedelta(hours=1),
            end=item.event.end + timedelta(hours=1),
        ),
        etag=item.etag,
    )
    run_link(link.pk)
    assert MeetingAttendee.objects.get().confirmation == Confirmation.PENDING


def test_client_appointments_take_time_and_cancellation_only(staff: User, linked) -> None:
    client = ClientFactory(tenant=staff.tenant, name="Ms. Client")
    meeting = make_meeting(staff, title="Treatment", start=future(3), client=client)
    link, reader = linked()
    run_link(link.pk)
    from dataclasses import replace

    item = reader.full_listing().items[0]
    moved = item.event.start + timedelta(hours=2)
    reader.update(
        item.external_id,
        replace(
            item.event,
            title="Renamed outside",
            start=moved,
            end=item.event.end + timedelta(hours=2),
        ),
        etag=item.etag,
    )
    run_link(link.pk)
    meeting.refresh_from_db()
    assert meeting.start == moved and meeting.title == "Treatment"
    assert reader.full_listing().items[0].event.title == "Treatment"  # re-asserted
    assert run_link(link.pk).counts == {}


def test_conflicts_merge_field_by_field_and_are_recorded(staff: User, linked) -> None:
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = linked()
    run_link(link.pk)
    from dataclasses import replace

    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    item = reader.full_listing().items[0]
    reader.update(
        item.external_id,
        replace(item.event, description="outside", location="Room A", updated=None),
        etag=item.etag,
    )
    meeting_update(
        meeting=meeting, data=data_of(meeting, description="inside", title="Planning (new)")
    )
    outcome = run_link(link.pk)
    meeting.refresh_from_db()
    event = reader.full_listing().items[0].event
    # title: changed here only; location: there only; description: both (here is newer).
    assert (meeting.title, meeting.location, meeting.description) == (
        "Planning (new)",
        "Room A",
        event.description,
    )
    assert (event.title, event.location) == ("Planning (new)", "Room A")
    run = SyncRun.objects.get(pk=outcome.record_id)
    assert [c["field"] for c in run.conflicts] == ["description"]
    assert run_link(link.pk).counts == {}


def test_daily_series_is_not_imported_and_the_user_is_told_once(
    staff: User,
    caldav_server: CalDAVServer,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    link, reader = link_caldav(staff, caldav_server)
    run_link(link.pk)
    put_outside(
        reader,
        "standup.ics",
        f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:standup-{uuid.uuid4().hex}
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Amsterdam:{future(1):%Y%m%dT%H%M%S}
DTEND;TZID=Europe/Amsterdam:{future(1, 10):%Y%m%dT%H%M%S}
RRULE:FREQ=DAILY;COUNT=10
SUMMARY:Stand-up
END:VEVENT
END:VCALENDAR
""",
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_link(link.pk)
    assert not Meeting.objects.filter(title="Stand-up").exists()
    message = SyncMessage.objects.get(link=link)
    assert message.code == "daily" and "daily" in message.text
    assert len(mail.outbox) == 1 and staff.email in mail.outbox[0].to
    with django_capture_on_commit_callbacks(execute=True):
        run_link(link.pk)
    assert SyncMessage.objects.count() == 1 and len(mail.outbox) == 1


def test_mass_delete_guard_stops_and_asks(staff: User, linked) -> None:
    meetings = [make_meeting(staff, title=f"M{i}", start=future(i + 1)) for i in range(6)]
    link, reader = linked()
    run_link(link.pk)
    for item in reader.full_listing().items[:5]:
        reader.delete(item.external_id, etag=None)
    outcome = run_link(link.pk)
    assert outcome.status == "stopped" and "would delete 5 of your 6" in outcome.detail
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 6
    assert SyncMessage.objects.filter(code="mass_delete").exists()
    CalendarLink.objects.filter(pk=link.pk).update(allow_mass_delete=True)
    assert run_link(link.pk).counts == {"deleted_here": 5}
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 1


def test_a_crash_after_the_remote_write_makes_no_duplicate(
    staff: User, linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_meeting(staff, title="Once", start=future(2))
    link, reader = linked()
    from calsync.engine import run as engine

    original = engine._check_lease
    calls = {"n": 0}

    def crash_after_write(link_id: int, token: int) -> None:
        calls["n"] += 1
        # Not an Exception: a killed worker runs no handler (the engine catches Exceptions).
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(engine, "_check_lease", crash_after_write)
    with pytest.raises(KeyboardInterrupt):
        run_link(link.pk)
    monkeypatch.setattr(engine, "_check_lease", original)
    assert len(remote_titles(reader)) == 1 and not EventMapping.objects.exists()
    CalendarLink.objects.filter(pk=link.pk).update(lease_until=None)  # the lease expired
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert list(remote_titles(reader).values()) == ["Once"]  # I2: still one
    assert EventMapping.objects.count() == 1 and Meeting.objects.count() == 1


def test_two_runs_of_one_link_never_overlap(staff: User, radicale: CalDAVServer) -> None:
    link, _ = link_caldav(staff, radicale)
    CalendarLink.objects.filter(pk=link.pk).update(
        lease_until=timezone.now() + timedelta(minutes=5)
    )
    assert run_link(link.pk).status == "skipped"


def test_a_no_change_run_costs_the_same_queries_whatever_the_size(staff: User, linked) -> None:
    link, _ = linked()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert run_link(link.pk).counts == {}
        return len(captured)

    run_link(link.pk)
    small = queries()
    for i in range(15):
        make_meeting(staff, title=f"M{i}", start=future(i + 1))
    run_link(link.pk)  # sends them out
    run_link(link.pk)  # reads its own writes back: recognised as echoes, nothing written
    # Issue 17: 2 statements (the folded lease with the owner's change probe, the cursor UPDATE).
    assert queries() == small <= 2


def test_a_newer_edit_there_does_not_undo_an_older_edit_here(staff: User, linked) -> None:
    """PRODUCT 17: "most recently modified wins" applies per field changed on both sides only."""
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = linked()
    run_link(link.pk)
    from dataclasses import replace

    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    meeting_update(
        meeting=meeting, data=data_of(meeting, title="Planning (here)", description="inside")
    )
    item = reader.full_listing().items[0]
    later = timezone.now() + timedelta(minutes=5)
    reader.update(
        item.external_id,
        replace(item.event, location="Room B", description="outside", updated=later),
        etag=item.etag,
    )
    outcome = run_link(link.pk)
    meeting.refresh_from_db()
    assert (meeting.title, meeting.location) == ("Planning (here)", "Room B")
    assert [c["field"] for c in SyncRun.objects.get(pk=outcome.record_id).conflicts] == [
        "description"
    ]
    assert meeting.description == reader.full_listing().items[0].event.description


def test_the_page_shows_the_last_run_its_messages_and_asks_about_deletions(
    staff: User, radicale: CalDAVServer
) -> None:
    from django.urls import reverse

    from tests.conftest import login

    meetings = [make_meeting(staff, title=f"M{i}", start=future(i + 1)) for i in range(6)]
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Up to date · synced" in page and "6 sent to the external calendar." in page
    for item in reader.full_listing().items[:5]:
        reader.delete(item.external_id, etag=None)
    run_link(link.pk)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "would delete 5 of your 6" in page and "Allow these deletions" in page
    client.post(reverse("calsync:allow_deletions", args=[link.pk]))
    assert run_link(link.pk).counts == {"deleted_here": 5}
    assert Meeting.objects.filter(pk__in=[m.pk for m in meetings]).count() == 1


def test_events_we_only_attend_come_in_but_our_edits_stay_here(
    staff: User,
    google_fake,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """PRODUCT 16: someone else organises it; it is imported, and internal edits are not
    written back to the organiser's event."""
    from tests.engine.helpers import link_google

    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    link, calendar_id = link_google(staff, google_fake)
    start = future(4)
    created = google_fake.user_import(
        calendar_id,
        {
            "summary": "Board meeting",
            "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Amsterdam"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).isoformat(),
                "timeZone": "Europe/Amsterdam",
            },
            "organizer": {"email": "chair@hospital.example", "self": False},
        },
    )
    run_link(link.pk)
    meeting = Meeting.objects.get(title="Board meeting")
    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    meeting_update(meeting=meeting, data=data_of(meeting, title="Board meeting (my notes)"))
    assert run_link(link.pk).counts == {}
    assert google_fake.event(calendar_id, created["id"])["summary"] == "Board meeting"


def test_a_malformed_event_is_skipped_with_a_message_and_the_run_goes_on(
    staff: User, radicale: CalDAVServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QUALITY: bad input from a provider skips that one event with a message. Radicale refuses
    truly malformed iCalendar itself, so the parser is made to refuse one event instead."""
    from connectors.caldav import connector as caldav_connector
    from connectors.errors import InvalidData

    meeting = make_meeting(staff, title="Kept", start=future(2))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    item = reader.full_listing().items[0]
    from dataclasses import replace

    reader.update(item.external_id, replace(item.event, title="BROKEN"), etag=item.etag)
    reader.create(replace(item.event, title="Good one", meeting_id=None), idempotency_key="good")
    real = caldav_connector.from_ical

    def picky(data, **kwargs):  # type: ignore[no-untyped-def]
        if "BROKEN" in str(data):
            raise InvalidData("DTSTART is not a date", item_id=kwargs.get("item_id"))
        return real(data, **kwargs)

    monkeypatch.setattr(caldav_connector, "from_ical", picky)
    outcome = run_link(link.pk)
    assert outcome.status == "ok" and outcome.counts == {"created_here": 1}
    meeting.refresh_from_db()
    assert meeting.title == "Kept" and meeting.deleted_at is None  # not taken for a deletion
    assert "could not be read" in SyncMessage.objects.get(code="unreadable").text


# -- what real servers do (issue 12 §3) -------------------------------------------------------

OUTSIDE_EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//another client//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:{start:%Y%m%dT%H%M%SZ}
DTEND:{end:%Y%m%dT%H%M%SZ}
SUMMARY:{title}
{extra}END:VEVENT
END:VCALENDAR
"""


def outside_event(uid: str, title: str, days: int, extra: str = "") -> str:
    start = future(days).astimezone(ZoneInfo("UTC"))
    return OUTSIDE_EVENT.format(
        uid=uid, title=title, start=start, end=start + timedelta(hours=1), extra=extra
    )


def test_an_edit_here_to_an_outside_event_keeps_what_is_not_ours(
    staff: User, caldav_server: CalDAVServer
) -> None:
    """Made by another client, its file name is not its UID and it holds properties we do not
    sync. An edit here changes only the title there: the UID read, URL, CATEGORIES, CLASS and
    the other application's property stay (Radicale answered 409 and Cyrus 403 no-uid-conflict
    when we sent the file name as the UID)."""
    link, reader = link_caldav(staff, caldav_server)
    extra = (
        "URL:https://elsewhere.example/events/1\nCATEGORIES:Work\nCLASS:PRIVATE\n"
        "X-OTHER-APP-ID:other-42\nLOCATION:Room Blue\\; Building A\n"
    )
    uid = f"{uuid.uuid4().hex}@elsewhere"  # Cyrus: unique across the user's calendars
    put_outside(reader, "made-elsewhere.ics", outside_event(uid, "Theirs", 3, extra))
    assert run_link(link.pk).counts == {"created_here": 1}
    meeting = Meeting.objects.get(title="Theirs")
    assert meeting.location == "Room Blue; Building A"
    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    meeting_update(meeting=meeting, data=data_of(meeting, title="Renamed here"))
    outcome = run_link(link.pk)
    assert outcome.counts == {"updated_there": 1}, outcome.detail
    text = (
        niquests.get(
            reader.calendar_url + "made-elsewhere.ics",
            auth=(caldav_server.username, caldav_server.password),
            timeout=10,
        ).text
        or ""
    )
    unfolded = text.replace("\r\n ", "").replace("\r\n", "\n")
    assert "SUMMARY:Renamed here" in unfolded
    for line in (
        f"UID:{uid}",
        "URL:https://elsewhere.example/events/1",
        "CATEGORIES:Work",
        "CLASS:PRIVATE",
        "X-OTHER-APP-ID:other-42",
        "LOCATION:Room Blue\\; Building A",
    ):
        assert line in unfolded.split("\n"), line
    assert run_link(link.pk).counts == {}  # no echo


def test_a_write_the_server_refuses_skips_that_meeting_and_the_link_keeps_syncing(
    staff: User, caldav_server: CalDAVServer
) -> None:
    """Another client's event already uses the UID our copy of a meeting gets: Radicale 409,
    Xandikos 412 and Cyrus 403 name the precondition. That meeting is skipped with a message;
    the password is not taken for revoked (Cyrus's 403 marked the link *needs reconnect*)."""
    refused = make_meeting(staff, title="Refused", start=future(2))
    make_meeting(staff, title="Sent", start=future(3))
    link, reader = link_caldav(staff, caldav_server)
    from calsync.engine.plan import idempotency_key
    from calsync.engine.run import _local_view

    key = idempotency_key(link.pk, _local_view(refused, False, timezone.now(), {}))
    put_outside(reader, "squatter.ics", outside_event(key, "Squatter", 4))
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1, "created_here": 1, "skipped": 1}
    link.refresh_from_db()
    assert link.state == LinkState.ACTIVE
    message = SyncMessage.objects.get(link=link, code="invalid")
    assert "already has its UID" in message.text
    assert sorted(remote_titles(reader).values()) == ["Sent", "Squatter"]


def test_provider_events_that_cannot_be_read_never_stop_a_run(
    staff: User, caldav_server: CalDAVServer
) -> None:
    """Dates beyond what Python can hold (OverflowError) aborted every run; now each is skipped
    with a message naming it, and the good events around it sync."""
    from tests.connectors.test_caldav_hostile import HOSTILE, put

    make_meeting(staff, title="Ours", start=future(2))
    link, reader = link_caldav(staff, caldav_server)
    dates = ("date-9999", "tokyo-0001", "la-9999")
    accepted = [
        uid for uid in dates if put(caldav_server, reader.calendar_url, uid, HOSTILE[uid]) < 400
    ]
    assert len(accepted) >= 2  # Radicale refuses the DATE one itself
    put_outside(reader, "good.ics", outside_event(uuid.uuid4().hex, "Dentist", 5))
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1, "created_here": 1}
    assert Meeting.objects.filter(title="Dentist").exists()
    texts = list(
        SyncMessage.objects.filter(link=link, code="unreadable").values_list("text", flat=True)
    )
    assert len(texts) == len(accepted) and all("could not be read" in t for t in texts)
    assert run_link(link.pk).status == "ok"


def test_a_quiet_run_is_one_request_to_the_server(staff: User, caldav_server: CalDAVServer) -> None:
    """QUALITY.md: a no-change poll is one provider request (it was a 401 challenge and its
    retry on Radicale and Cyrus). Counted by a proxy in front of the real server."""
    for i in range(3):
        make_meeting(staff, title=f"M{i}", start=future(i + 1))
    calendar_url = caldav_server.new_calendar_url()
    with CountingProxy(caldav_server.url) as proxy:
        link = link_create(
            user=staff,
            provider=Provider.CALDAV,
            account=caldav_server.username,
            server_url=proxy.url,
            calendar_id=proxy.proxied(calendar_url),
            calendar_name="test",
            target=Target.EXISTING,
            secrets={"password": caldav_server.password},
        )
        assert run_link(link.pk).counts == {"created_there": 3}
        run_link(link.pk)  # reads its own writes back
        proxy.reset()
        assert run_link(link.pk).counts == {}
        assert [(method, status) for method, _, status in proxy.requests] == [("REPORT", 207)]
