"""First sync in batches, never cut off (issue 17 §3): creates go to the provider in batches
(Google's batch requests, Graph's ``$batch``, a pool of concurrent CalDAV PUTs), their mappings
are written per batch with one lease check, and a run that uses its time
(``CALSYNC_RUN_CHUNK_SECONDS``) commits what it did and continues in a new run, so the task's
soft time limit never fires. On Radicale, the Google fake and the Graph fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from agenda.models import Meeting
from calsync import scheduler
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping, SyncMessage, SyncRun
from connectors.base import Connector
from connectors.errors import InvalidData
from connectors.events import EventData
from tests.engine.helpers import (
    create_many_checking,
    google_reader,
    graph_reader,
    inject,
    link_caldav,
    link_google,
    link_microsoft,
)
from tests.factories import UserFactory, entitle, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]

PROVIDERS = ["radicale", "google", "microsoft"]


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


class Linked:
    """A provider's calendar for ``staff``: the link, a reader as another client, and the
    count of requests that reached the provider (None where the server is not a fake)."""

    def __init__(
        self, link: CalendarLink, reader: Connector, requests: Callable[[], int] | None
    ) -> None:
        self.link = link
        self.reader = reader
        self.requests = requests

    def titles(self) -> list[str]:
        return sorted(i.event.title for i in self.reader.full_listing().items if i.event)


@pytest.fixture(params=PROVIDERS)
def linked(request: pytest.FixtureRequest, staff: User) -> Iterator[Callable[..., Linked]]:
    """``linked(user=staff)`` links a fresh calendar of ``user`` on the provider."""
    if request.param == "radicale":
        server = request.getfixturevalue("radicale")

        def to_caldav(user: User = staff) -> Linked:
            link, reader = link_caldav(user, server)
            return Linked(link, reader, None)

        yield to_caldav
    elif request.param == "google":
        fake = request.getfixturevalue("google_fake")
        with override_settings(**fake.django_settings()):

            def to_google(user: User = staff) -> Linked:
                link, _ = link_google(user, fake)
                return Linked(link, google_reader(fake, link), lambda: len(fake.requests))

            yield to_google
    else:
        fake = request.getfixturevalue("microsoft_fake")
        with override_settings(
            CALSYNC_MICROSOFT_CLIENT_ID=fake.client_id,
            CALSYNC_MICROSOFT_CLIENT_SECRET=fake.client_secret,
            CALSYNC_MICROSOFT_AUTHORITY=fake.authority,
            CALSYNC_MICROSOFT_GRAPH_ENDPOINT=fake.graph_endpoint,
        ):

            def to_graph(user: User = staff) -> Linked:
                link, _ = link_microsoft(user, fake)
                return Linked(link, graph_reader(fake, link), lambda: len(fake.requests))

            yield to_graph


def meetings(staff: User, count: int) -> list[Meeting]:
    return [
        make_meeting(staff, title=f"Session {n:03d}", start=future(1 + n % 300, 8 + n % 9))
        for n in range(count)
    ]


def test_a_first_sync_in_chunks_continues_until_done_with_no_duplicate(
    staff: User, linked: Callable[..., Linked]
) -> None:
    """With no time per run (every run stops after its first batch), a first sync of 130
    meetings takes several runs, each committing its batch and asking for the next; the
    whole is every meeting once on the provider and one mapping each."""
    made = meetings(staff, 130)
    side = linked()
    outcomes = []
    with override_settings(CALSYNC_RUN_CHUNK_SECONDS=0):
        for _ in range(20):
            outcome = run_link(side.link.pk)
            outcomes.append(outcome)
            if outcome.status != "continues":
                break
    assert [o.status for o in outcomes[:-1]] == ["continues"] * (len(outcomes) - 1)
    assert outcomes[-1].status == "ok", outcomes[-1].detail
    assert len(outcomes) >= 3  # the batches of this provider, at least 20 meetings each
    assert sum((o.counts or {}).get("created_there", 0) for o in outcomes) == 130
    assert side.titles() == sorted(m.title for m in made)
    assert EventMapping.objects.filter(link=side.link).count() == 130
    # Each part left a finished SyncRun saying it continues; the lease is free again.
    parts = SyncRun.objects.filter(link=side.link).order_by("pk")
    assert [r.counts.get("continues", 0) for r in parts] == [1] * (len(outcomes) - 1) + [0]
    side.link.refresh_from_db()
    assert side.link.lease_until is None and side.link.cursor and side.link.failure_count == 0
    # The next run is quiet: nothing was left behind or doubled.
    assert run_link(side.link.pk).counts == {}


def test_a_run_that_continues_is_queued_again_at_once(
    staff: User, linked: Callable[..., Linked]
) -> None:
    meetings(staff, 60)
    side = linked()
    with override_settings(CALSYNC_RUN_CHUNK_SECONDS=0):
        outcome = run_link(side.link.pk)
    assert outcome.status == "continues"
    scheduler.run_started(side.link.pk)
    scheduler.after_run(side.link.pk, outcome)
    assert scheduler.is_queued(side.link.pk)
    side.link.refresh_from_db()
    assert side.link.failure_count == 0 and side.link.last_error == ""


def test_mappings_are_written_per_batch_not_per_meeting(
    staff: User, linked: Callable[..., Linked]
) -> None:
    """The SQL of a first sync grows with its batches: 40 more meetings (at most two more
    batches) cost a handful of statements, not 8-10 per meeting as before."""
    counts: list[int] = []
    for size in (40, 80):
        user = entitle(UserFactory(tenant=staff.tenant, role=Role.STAFF))
        meetings(user, size)
        side = linked(user)
        with CaptureQueriesContext(connection) as queries:
            assert run_link(side.link.pk).counts == {"created_there": size}
        counts.append(len(queries))
    assert counts[1] - counts[0] <= 12, counts


def test_an_item_refused_in_a_batch_is_skipped_and_the_rest_land(
    staff: User, linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-item results: a refused item in the middle of a batch is that meeting's message,
    the others of the batch get their mappings."""
    meetings(staff, 7)
    refused = make_meeting(staff, title="Refused", start=future(2, 12))
    meetings(staff, 17)

    def check(event: EventData) -> None:
        if event.title == "Refused":
            raise InvalidData("The provider refused this event (400 invalid).")

    class Refusing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def create_many(self, items: Any) -> Any:
            return create_many_checking(self.inner, items, check)

    side = linked()
    inject(monkeypatch, Refusing)
    outcome = run_link(side.link.pk)
    assert outcome.counts == {"created_there": 24, "skipped": 1}
    assert EventMapping.objects.filter(link=side.link).count() == 24
    assert not EventMapping.objects.filter(link=side.link, meeting=refused).exists()
    message = SyncMessage.objects.get(link=side.link, subject=str(refused.pk))
    assert "“Refused”" in message.text and "400 invalid" in message.text
