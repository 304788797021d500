"""Privacy levels end to end (issue 16 §1, PRODUCT 37) on Radicale, the Google fake and the Graph
fake: what a copy holds is read from the provider's stored item itself (the iCalendar text, the
Google resource, the Graph event), never from our own view of it.

- A client appointment at *busy* leaves nothing of the client outside: no name, description,
  attendee or location; the neutral title and the time only.
- Still two-way where it makes sense: moving or cancelling the redacted copy outside moves or
  cancels the meeting here; its neutral title and empty fields coming back change nothing here
  and are not written again (no echo); a rename or a description added outside is not taken and
  the copy goes back to the redaction.
- Changing the level rewrites every existing copy in one run, tightening and loosening.
- An event made outside keeps full two-way sync whatever the level.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import niquests
import pytest
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting, MeetingKind
from agenda.services import meeting_update
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping, SyncChange
from connectors.base import Connector
from connectors.events import EventData
from tests.agenda.test_services import data_of
from tests.engine.helpers import (
    google_reader,
    graph_reader,
    link_caldav,
    link_google,
    link_microsoft,
)
from tests.factories import ClientFactory, ResourceFactory, UserFactory, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]

# Everything of the client appointment below that must never leave the practice at *busy*.
SECRETS = ("Jansen", "Marit", "anxiety", "Kerkstraat", "Room Blue", "marit@client.example")


@dataclass
class Side:
    """A linked calendar: the link, another client of that calendar, and the provider's stored
    item for an external id (its whole text)."""

    link: CalendarLink
    outside: Connector
    stored: Callable[[str], str]


@pytest.fixture(params=["radicale", "google", "microsoft"])
def side(request: pytest.FixtureRequest, staff: User) -> Callable[[], Side]:
    if request.param == "radicale":
        server = request.getfixturevalue("radicale")

        def caldav() -> Side:
            link, reader = link_caldav(staff, server)

            def stored(external_id: str) -> str:
                response = niquests.get(
                    urljoin(reader.calendar_url, external_id),
                    auth=(server.username, server.password),
                    timeout=10,
                )
                assert response.status_code == 200, response.status_code
                # Unfolded (RFC 5545 §3.1), so a value is found whole.
                return (response.text or "").replace("\r\n ", "").replace("\r\n\t", "")

            return Side(link, reader, stored)

        return caldav
    settings_ = request.getfixturevalue("settings")
    if request.param == "microsoft":
        fake = request.getfixturevalue("microsoft_fake")
        for name, value in {
            "CALSYNC_MICROSOFT_CLIENT_ID": fake.client_id,
            "CALSYNC_MICROSOFT_CLIENT_SECRET": fake.client_secret,
            "CALSYNC_MICROSOFT_AUTHORITY": fake.authority,
            "CALSYNC_MICROSOFT_GRAPH_ENDPOINT": fake.graph_endpoint,
        }.items():
            setattr(settings_, name, value)

        def outlook() -> Side:
            link, _ = link_microsoft(staff, fake)
            return Side(
                link,
                graph_reader(fake, link),
                lambda external_id: json.dumps(fake.event(external_id), ensure_ascii=False),
            )

        return outlook
    google = request.getfixturevalue("google_fake")
    for name, value in google.django_settings().items():
        setattr(settings_, name, value)

    def to_google() -> Side:
        link, calendar_id = link_google(staff, google)
        return Side(
            link,
            google_reader(google, link),
            lambda external_id: json.dumps(
                google.event(calendar_id, external_id), ensure_ascii=False
            ),
        )

    return to_google


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


def client_appointment(owner: User) -> Meeting:
    assert owner.tenant is not None
    colleague = UserFactory(tenant=owner.tenant)
    return make_meeting(
        owner,
        title="Intake Marit Jansen",
        start=future(3),
        client=ClientFactory(tenant=owner.tenant, name="Marit Jansen"),
        description="First session: anxiety, referred by GP",
        location="Kerkstraat 1",
        resources=(ResourceFactory(tenant=owner.tenant, name="Room Blue"),),
        attendees=(colleague,),
        other_attendees=("marit@client.example",),
        reminder_minutes=15,
    )


def set_levels(link: CalendarLink, **levels: str) -> None:
    """The staff member's choice (the service that the CalendarSync page calls)."""
    from calsync.privacy import link_privacy_update

    link.refresh_from_db()
    assert link_privacy_update(link=link, actor=link.user, levels=levels)


def copy_of(meeting: Meeting, link: CalendarLink) -> EventMapping:
    return EventMapping.objects.get(link=link, meeting=meeting)


def listed(outside: Connector, external_id: str) -> tuple[EventData, str]:
    for item in outside.full_listing().items:
        if item.external_id == external_id and item.event is not None:
            return item.event, item.etag
    raise AssertionError(f"{external_id} is not listed")


def test_a_busy_copy_of_a_client_appointment_holds_nothing_of_the_client(
    staff: User, side: Callable[[], Side]
) -> None:
    meeting = client_appointment(staff)
    linked = side()
    set_levels(linked.link, client="busy")
    outcome = run_link(linked.link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1}
    external_id = copy_of(meeting, linked.link).external_id
    stored = linked.stored(external_id)
    for secret in SECRETS:
        assert secret.lower() not in stored.lower(), (secret, stored)
    assert "Client appointment" in stored
    event, _ = listed(linked.outside, external_id)
    assert (event.title, event.description, event.location, event.attendees) == (
        "Client appointment",
        "",
        "",
        (),
    )
    assert event.start == meeting.start and event.end == meeting.end
    # The neutral title and empty fields coming back are no edit here, and nothing is written
    # again (no echo, QUALITY I5/I6).
    assert run_link(linked.link.pk).counts == {}
    assert run_link(linked.link.pk).counts == {}
    meeting.refresh_from_db()
    assert meeting.title == "Intake Marit Jansen"
    assert meeting.description == "First session: anxiety, referred by GP"
    assert meeting.other_attendees == ["marit@client.example"]


def test_a_redacted_copy_moved_outside_moves_the_meeting_and_a_rename_is_not_taken(
    staff: User, side: Callable[[], Side]
) -> None:
    meeting = client_appointment(staff)
    linked = side()
    set_levels(linked.link, client="busy")
    assert run_link(linked.link.pk).counts == {"created_there": 1}
    external_id = copy_of(meeting, linked.link).external_id

    # Moved outside: the meeting moves here, and keeps every detail (PRODUCT 15).
    event, etag = listed(linked.outside, external_id)
    later = timedelta(hours=2)
    linked.outside.update(
        external_id, replace(event, start=event.start + later, end=event.end + later), etag=etag
    )
    assert run_link(linked.link.pk).counts == {"updated_here": 1}
    moved = Meeting.objects.get(pk=meeting.pk)
    assert moved.start == meeting.start + later
    assert (moved.title, moved.description, moved.location) == (
        meeting.title,
        meeting.description,
        meeting.location,
    )
    assert moved.other_attendees == meeting.other_attendees
    assert list(moved.resources.all()) == list(meeting.resources.all())
    # Its history says what moved, and nothing of the redaction it was not given ("Busy").
    change = SyncChange.objects.get(meeting=meeting, direction="here")
    assert set(change.fields) == {"start", "end"}
    assert run_link(linked.link.pk).counts == {}  # no echo of the move

    # Renamed and described outside: not read back; the copy goes back to the redaction.
    event, etag = listed(linked.outside, external_id)
    linked.outside.update(
        external_id, replace(event, title="Marit J.", description="notes"), etag=etag
    )
    assert run_link(linked.link.pk).counts == {"updated_there": 1}
    assert Meeting.objects.get(pk=meeting.pk).title == "Intake Marit Jansen"
    event, _ = listed(linked.outside, external_id)
    assert (event.title, event.description) == ("Client appointment", "")
    assert run_link(linked.link.pk).counts == {}

    # Cancelled outside: cancelled here.
    linked.outside.delete(external_id, etag=None)
    assert run_link(linked.link.pk).counts == {"deleted_here": 1}
    assert not Meeting.objects.filter(pk=meeting.pk).exists()


def test_title_and_time_sends_the_title_and_reads_its_rename_back(
    staff: User, side: Callable[[], Side]
) -> None:
    """*Title and time* for other meetings: the title goes out and an outside rename comes
    back; description, location and attendees do neither."""
    meeting = make_meeting(
        staff,
        title="Team review",
        start=future(4),
        description="budget figures",
        location="Kerkstraat 1",
        other_attendees=("guest@elsewhere.example",),
    )
    linked = side()
    set_levels(linked.link, other="title")
    assert run_link(linked.link.pk).counts == {"created_there": 1}
    external_id = copy_of(meeting, linked.link).external_id
    stored = linked.stored(external_id)
    assert "Team review" in stored
    for secret in ("budget", "Kerkstraat", "guest@elsewhere.example"):
        assert secret not in stored, secret

    event, etag = listed(linked.outside, external_id)
    linked.outside.update(
        external_id, replace(event, title="Team review (moved room)", location="Annex"), etag=etag
    )
    # The title is taken; the location typed outside is not, and goes again.
    assert run_link(linked.link.pk).counts == {"updated_here": 1, "updated_there": 1}
    meeting.refresh_from_db()
    assert (meeting.title, meeting.location, meeting.description) == (
        "Team review (moved room)",
        "Kerkstraat 1",
        "budget figures",
    )
    event, _ = listed(linked.outside, external_id)
    assert (event.title, event.location) == ("Team review (moved room)", "")
    assert run_link(linked.link.pk).counts == {}

    # An edit here to a field the level does not send writes nothing.
    meeting_update(meeting=meeting, data=data_of(meeting, description="new figures"))
    assert run_link(linked.link.pk).counts == {}


def test_changing_the_level_rewrites_every_copy_in_one_run_both_ways(
    staff: User, side: Callable[[], Side]
) -> None:
    meetings = [
        make_meeting(
            staff,
            title=f"Consult {n} Marit Jansen",
            start=future(2 + n),
            client=ClientFactory(tenant=staff.tenant, name=f"Client {n}"),
            description="anxiety",
        )
        for n in range(3)
    ]
    linked = side()
    assert run_link(linked.link.pk).counts == {"created_there": 3}
    ids = [copy_of(m, linked.link).external_id for m in meetings]
    assert all("Marit Jansen" in linked.stored(i) for i in ids)

    set_levels(linked.link, client="busy")  # tightening: the details sent are taken out
    outcome = run_link(linked.link.pk)
    assert outcome.counts == {"updated_there": 3}, outcome.counts
    for external_id in ids:
        stored = linked.stored(external_id)
        assert "Marit" not in stored and "anxiety" not in stored, stored
    assert run_link(linked.link.pk).counts == {}

    set_levels(linked.link, client="title")  # loosening: the title comes back, no more
    assert run_link(linked.link.pk).counts == {"updated_there": 3}
    for meeting, external_id in zip(meetings, ids, strict=True):
        event, _ = listed(linked.outside, external_id)
        assert (event.title, event.description) == (meeting.title, "")

    set_levels(linked.link, client="full")
    assert run_link(linked.link.pk).counts == {"updated_there": 3}
    for external_id in ids:
        assert "anxiety" in linked.stored(external_id)
    assert run_link(linked.link.pk).counts == {}
    assert [Meeting.objects.get(pk=m.pk).title for m in meetings] == [m.title for m in meetings]


def test_an_event_made_outside_keeps_full_two_way_sync_at_any_level(
    staff: User, side: Callable[[], Side]
) -> None:
    linked = side()
    start = future(5)
    linked.outside.create(
        EventData(
            uid="",
            title="Dentist",
            start=start,
            end=start + timedelta(hours=1),
            time_zone="Europe/Amsterdam",
            description="bring the card",
        ),
        idempotency_key=f"outside{linked.link.pk}",
    )
    assert run_link(linked.link.pk).counts == {"created_here": 1}
    meeting = Meeting.objects.get(owner=staff, title="Dentist")
    assert meeting.kind == MeetingKind.PERSONAL
    set_levels(linked.link, personal="busy", other="busy")
    # The user's own event is not redacted (that would overwrite what they wrote there) ...
    assert run_link(linked.link.pk).counts == {}
    external_id = copy_of(meeting, linked.link).external_id
    assert "bring the card" in linked.stored(external_id)
    # ... and edits go both ways as before.
    meeting_update(meeting=meeting, data=data_of(meeting, description="and the letter"))
    assert run_link(linked.link.pk).counts == {"updated_there": 1}
    assert "and the letter" in linked.stored(external_id)
    event, etag = listed(linked.outside, external_id)
    linked.outside.update(external_id, replace(event, title="Dentist (moved)"), etag=etag)
    assert run_link(linked.link.pk).counts == {"updated_here": 1}
    assert Meeting.objects.get(pk=meeting.pk).title == "Dentist (moved)"


def test_the_history_of_a_move_merged_with_an_edit_here_names_only_what_came_back(
    staff: User, side: Callable[[], Side]
) -> None:
    """Both sides changed a busy copy: the merge takes the move, and the history row of the
    change here lists the times only, not the neutral title the copy holds instead of the
    meeting's (which the meeting kept)."""
    meeting = client_appointment(staff)
    linked = side()
    set_levels(linked.link, client="busy")
    run_link(linked.link.pk)
    external_id = copy_of(meeting, linked.link).external_id
    event, etag = listed(linked.outside, external_id)
    later = timedelta(hours=1)
    linked.outside.update(
        external_id, replace(event, start=event.start + later, end=event.end + later), etag=etag
    )
    meeting_update(meeting=meeting, data=data_of(meeting, description="new figures"))
    run_link(linked.link.pk)
    moved = Meeting.objects.get(pk=meeting.pk)
    assert moved.start == meeting.start + later
    assert (moved.title, moved.description) == (meeting.title, "new figures")
    change = SyncChange.objects.get(meeting=meeting, direction="here", action="updated")
    assert set(change.fields) == {"start", "end"}
