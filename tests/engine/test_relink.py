"""Revoke, then *Setup* again with the same calendar (issue 12 §2): the new link adopts every pair
the earlier one had (our copies and the events imported before), on every provider, and merges
what changed on either side while no link was live. Nothing is imported or sent twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting, MeetingKind
from agenda.services import meeting_delete, meeting_update
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping, LinkState
from calsync.services import link_revoke
from connectors.base import Connector
from connectors.events import EventData
from tests.agenda.test_services import data_of
from tests.engine.helpers import (
    google_reader,
    google_secrets,
    graph_reader,
    link_again,
    link_caldav,
    link_google,
    link_microsoft,
)
from tests.factories import make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


@dataclass
class Provider:
    """One provider's calendar for ``staff``: the first link, an outside client on the same
    calendar, and fresh credentials for the second setup."""

    link: CalendarLink
    outside: Connector
    fresh_secrets: Callable[[], dict[str, Any]]


@pytest.fixture(params=["radicale", "google", "microsoft"])
def provider(request: pytest.FixtureRequest, staff: User) -> Iterator[Provider]:
    if request.param == "radicale":
        server = request.getfixturevalue("radicale")
        link, reader = link_caldav(staff, server)
        yield Provider(link, reader, lambda: {"password": server.password})
        return
    if request.param == "google":
        fake = request.getfixturevalue("google_fake")
        settings = request.getfixturevalue("settings")
        for name, value in fake.django_settings().items():
            setattr(settings, name, value)
        link, _ = link_google(staff, fake)
        yield Provider(link, google_reader(fake, link), lambda: google_secrets(fake, link.account))
        return
    fake = request.getfixturevalue("microsoft_fake")
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=fake.graph_endpoint,
    ):
        link, _ = link_microsoft(staff, fake)
        yield Provider(link, graph_reader(fake, link), lambda: fake.sign_in(link.account))


def _outside_event(title: str, start: datetime) -> EventData:
    return EventData(
        uid="",
        title=title,
        start=start,
        end=start + timedelta(hours=1),
        time_zone="Europe/Amsterdam",
    )


def _titles(outside: Connector) -> list[str]:
    return sorted(i.event.title for i in outside.full_listing().items if i.event is not None)


def test_setup_again_after_a_revoke_adopts_every_copy_and_duplicates_nothing(
    staff: User, provider: Provider
) -> None:
    kept = make_meeting(staff, title="Kept", start=future(2))
    edited_here = make_meeting(staff, title="Edited here", start=future(3))
    deleted_here = make_meeting(staff, title="Deleted here", start=future(4))
    provider.outside.create(_outside_event("Dentist", future(5)), idempotency_key="outside1")
    assert run_link(provider.link.pk).status == "ok"
    # The event from outside was imported as a personal meeting; our three went out.
    assert _titles(provider.outside) == ["Deleted here", "Dentist", "Edited here", "Kept"]
    dentist = Meeting.objects.get(owner=staff, title="Dentist")
    assert dentist.kind == MeetingKind.PERSONAL

    link_revoke(link=provider.link)
    # While no link is live: edits and a deletion on both sides.
    meeting_update(meeting=edited_here, data=data_of(edited_here, description="New notes"))
    meeting_delete(meeting=deleted_here)
    by_title = {i.event.title: i for i in provider.outside.full_listing().items if i.event}
    dentist_item = by_title["Dentist"]
    assert dentist_item.event is not None
    provider.outside.update(
        dentist_item.external_id,
        replace(
            dentist_item.event,
            title="Dentist (moved)",
            start=dentist_item.event.start + timedelta(hours=2),
            end=dentist_item.event.end + timedelta(hours=2),
        ),
        etag=dentist_item.etag,
    )

    again = link_again(provider.link, provider.fresh_secrets())
    outcome = run_link(again.pk)
    assert outcome.status == "ok", outcome.detail
    counts = outcome.counts or {}
    assert counts.get("created_here", 0) == 0 and counts.get("created_there", 0) == 0, counts
    assert counts["recovered"] == 4
    # One copy of everything on both sides, with the changes made meanwhile merged.
    assert _titles(provider.outside) == ["Dentist (moved)", "Edited here", "Kept"]
    assert sorted(Meeting.objects.filter(owner=staff).values_list("title", flat=True)) == [
        "Dentist (moved)",
        "Edited here",
        "Kept",
    ]
    assert Meeting.objects.get(pk=dentist.pk).title == "Dentist (moved)"
    there = {i.event.title: i.event for i in provider.outside.full_listing().items if i.event}
    assert there["Edited here"].description == "New notes"
    assert set(EventMapping.objects.filter(link=again).values_list("meeting_id", flat=True)) == {
        kept.pk,
        edited_here.pk,
        dentist.pk,
    }
    # And the next run is quiet (no echo of the adoption).
    quiet = run_link(again.pk)
    assert quiet.status == "ok" and quiet.counts == {}, quiet.counts


def test_a_copy_with_our_id_is_adopted_even_without_the_earlier_pairs(
    staff: User, provider: Provider
) -> None:
    """The earlier link's mappings are gone (an operator deleted the revoked link, say): our
    copies still carry our meeting id, so they are recognised, never imported as personal."""
    meeting = make_meeting(staff, title="Ours", start=future(2))
    assert run_link(provider.link.pk).status == "ok"
    link_revoke(link=provider.link)
    secrets = provider.fresh_secrets()
    EventMapping.objects.filter(link=provider.link).delete()
    CalendarLink.all_objects.filter(pk=provider.link.pk).update(state=LinkState.REVOKED)
    again = link_again(provider.link, secrets)
    outcome = run_link(again.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"recovered": 1}, outcome.counts
    assert list(Meeting.objects.filter(owner=staff).values_list("pk", flat=True)) == [meeting.pk]
    assert _titles(provider.outside) == ["Ours"]


def test_a_revoked_link_of_another_user_is_never_adopted(
    staff: User, colleague: User, provider: Provider
) -> None:
    """Adoption is per user: a colleague linking the same calendar (a shared account) gets no
    pair of ours, and our meeting ids on the copies name no meeting of theirs."""
    from tests.factories import entitle

    make_meeting(staff, title="Ours", start=future(2))
    assert run_link(provider.link.pk).status == "ok"
    link_revoke(link=provider.link)
    entitle(colleague)
    theirs = CalendarLink.all_objects.get(pk=provider.link.pk)
    theirs.user = colleague
    other = link_again(theirs, provider.fresh_secrets())
    outcome = run_link(other.pk)
    assert outcome.status == "ok", outcome.detail
    assert (outcome.counts or {}).get("recovered", 0) == 0
    assert not EventMapping.objects.filter(link=other, meeting__owner=staff).exists()
