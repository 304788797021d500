"""No echo (QUALITY I5, I6; issue 12 §3): whatever an outside event holds, importing it leaves
nothing that the next run would take for an edit here and write back. Checked as a property over
titles, locations (with and without the practice's resources, in any order and spelling),
descriptions, attendees and reminders, against real Radicale and Cyrus and the Google and Graph
fakes: after the import the next run writes nothing, and the provider's copy keeps its version
(etag)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from accounts.models import Role, User
from agenda.models import Meeting
from calsync.engine.run import run_link
from connectors.errors import InvalidData
from connectors.events import Attendee, EventData
from tests.engine.helpers import (
    google_reader,
    graph_reader,
    link_caldav,
    link_google,
    link_microsoft,
)
from tests.factories import ResourceFactory, TenantFactory, UserFactory, entitle, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
PARTS = st.sampled_from(["Room Blue", "room blue", "Building A", "Floor 2", "Annex", "Bus stop 3"])
SEPARATORS = st.sampled_from([";", "; ", " ; ", " ;"])


@st.composite
def locations(draw: st.DrawFn) -> str:
    parts = draw(st.lists(PARTS, max_size=4))
    text = ""
    for i, part in enumerate(parts):
        text += (draw(SEPARATORS) if i else "") + part
    return draw(st.sampled_from(["", " "])) + text


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(["\n", "\t"]),
    max_size=40,
)


@st.composite
def outside_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "title": draw(st.sampled_from(["", "Plain", " Spaced ", "Ünïcødé ✓"]) | TEXT),
        "location": draw(locations()),
        "description": draw(st.sampled_from(["", "line one\nline two", "trailing  "]) | TEXT),
        "attendees": draw(
            st.lists(
                st.sampled_from(
                    ["Guest@Elsewhere.example", "guest@elsewhere.example", "other@x.example"]
                ),
                max_size=3,
            )
        ),
        "owner_attends": draw(st.booleans()),
        "colleague_attends": draw(st.booleans()),
        "reminder": draw(st.none() | st.integers(0, 3000)),
        "minutes": draw(st.sampled_from([0, 1, 30, 61])),
    }


@pytest.fixture(params=["radicale", "cyrus", "google", "microsoft"])
def provider(request: pytest.FixtureRequest) -> Any:
    if request.param in ("radicale", "cyrus"):
        server = request.getfixturevalue(request.param)
        return lambda user: link_caldav(user, server)
    if request.param == "microsoft":
        fake = request.getfixturevalue("microsoft_fake")
        for name, value in {
            "CALSYNC_MICROSOFT_CLIENT_ID": fake.client_id,
            "CALSYNC_MICROSOFT_CLIENT_SECRET": fake.client_secret,
            "CALSYNC_MICROSOFT_AUTHORITY": fake.authority,
            "CALSYNC_MICROSOFT_GRAPH_ENDPOINT": fake.graph_endpoint,
        }.items():
            setattr(request.getfixturevalue("settings"), name, value)

        def to_outlook(user: User) -> Any:
            link, _ = link_microsoft(user, fake)
            return link, graph_reader(fake, link)

        return to_outlook
    fake = request.getfixturevalue("google_fake")
    settings_ = request.getfixturevalue("settings")
    for name, value in fake.django_settings().items():
        setattr(settings_, name, value)

    def to_google(user: User) -> Any:
        link, _ = link_google(user, fake)
        return link, google_reader(fake, link)

    return to_google


@pytest.mark.django_db
def test_importing_an_outside_event_never_echoes(provider: Any) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(values=outside_events())
    # The audit's case: a resource named after free text came back first ("Building A; Room
    # Blue") and was written back on the next run.
    @example(
        values={
            "title": "Walk-in",
            "location": "Room Blue; Building A",
            "description": "",
            "attendees": [],
            "owner_attends": False,
            "colleague_attends": False,
            "reminder": None,
            "minutes": 30,
        }
    )
    def check(values: dict[str, Any]) -> None:
        tenant = TenantFactory()
        ResourceFactory(tenant=tenant, name="Room Blue")
        ResourceFactory(tenant=tenant, name="Annex")
        user = entitle(UserFactory(tenant=tenant, role=Role.STAFF))
        colleague = UserFactory(tenant=tenant, role=Role.STAFF)
        link, outside = provider(user)
        start = (
            (timezone.now() + timedelta(days=3))
            .astimezone(AMS)
            .replace(minute=0, second=0, microsecond=0)
        )
        emails = list(values["attendees"])
        if values["owner_attends"]:
            emails.append(user.email.upper())
        if values["colleague_attends"]:
            emails.append(colleague.email)
        try:
            written = outside.create(
                EventData(
                    uid="",
                    title=values["title"],
                    start=start,
                    end=start + timedelta(minutes=values["minutes"]),
                    time_zone="Europe/Amsterdam",
                    location=values["location"],
                    description=values["description"],
                    attendees=tuple(Attendee(e) for e in emails),
                    reminder_minutes=values["reminder"],
                ),
                idempotency_key=f"outside{link.pk}",
            )
        except InvalidData:
            # A server may refuse what the outside client wrote (Cyrus: an end that is not after
            # the start breaks RFC 5545 §3.8.2.2): then there is nothing to import.
            reject()
        before = outside.get(written.external_id)
        imported = run_link(link.pk)
        assert imported.status == "ok", imported.detail
        assert imported.counts == {"created_here": 1}, imported.counts
        assert Meeting.objects.filter(owner=user).count() == 1
        quiet = run_link(link.pk)
        assert quiet.status == "ok" and quiet.counts == {}, (values, quiet.counts)
        after = outside.get(written.external_id)
        assert after.etag == before.etag, values  # nothing was written to the provider
        assert after.event is not None and before.event is not None
        assert after.event.location == before.event.location

    check()


@pytest.mark.django_db
def test_a_description_typed_in_a_browser_is_not_rewritten_after_a_provider_gives_it_back(
    provider: Any,
) -> None:
    """A textarea sends CRLF; iCalendar cannot hold a CR and gives LF back. The same text: no
    update in either direction."""
    from agenda.services import MeetingData, meeting_create

    tenant = TenantFactory()
    user = entitle(UserFactory(tenant=tenant, role=Role.STAFF))
    start = (
        (timezone.now() + timedelta(days=3))
        .astimezone(AMS)
        .replace(minute=0, second=0, microsecond=0)
    )
    meeting_create(
        owner=user,
        data=MeetingData(
            title="Typed",
            start=start,
            end=start + timedelta(hours=1),
            time_zone="Europe/Amsterdam",
            description="First line\r\nsecond line\r\n",
        ),
    )
    link, _ = provider(user)
    assert run_link(link.pk).counts == {"created_there": 1}
    quiet = run_link(link.pk)
    assert quiet.status == "ok" and quiet.counts == {}, quiet.counts


@pytest.mark.django_db
def test_a_meeting_whose_times_carry_fractions_of_a_second_is_not_read_back_as_moved(
    provider: Any,
) -> None:
    """No provider holds less than a second (iCalendar, Google and Graph write whole seconds):
    a meeting saved with microseconds (a service call, an import) gives its copy back in whole
    seconds, which is the same time, not an outside move to take here."""
    tenant = TenantFactory()
    user = entitle(UserFactory(tenant=tenant, role=Role.STAFF))
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=349171)
    meeting = make_meeting(user, title="Fractional", start=start)
    link, _ = provider(user)
    assert run_link(link.pk).counts == {"created_there": 1}
    quiet = run_link(link.pk)
    assert quiet.status == "ok" and quiet.counts == {}, quiet.counts
    meeting.refresh_from_db()
    assert meeting.start == start  # the meeting here keeps its own value
