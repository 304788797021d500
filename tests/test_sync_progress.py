"""What a run tells the page while it works (PRODUCT 23: the first sync shows "n of m meetings"),
the first sync queued at setup, run ids, and a run's own imports not pushed back to its link."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calsync.engine import run as engine
from calsync.engine.run import run_link
from calsync.models import CalendarLink, SyncRun
from connectors.base import Capabilities
from connectors.caldav.connector import CalDAVConnector
from tests.caldav_servers import CalDAVServer
from tests.conftest import login
from tests.engine.helpers import link_caldav
from tests.factories import entitle, make_meeting
from tests.test_calendarsync import setup
from tests.test_scheduler import make_link, sent  # noqa: F401 (fixture)

JSON = {"HTTP_ACCEPT": "application/json"}


def progress_of(link: CalendarLink) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        CalendarLink.objects.values_list("progress_done", "progress_total").get(pk=link.pk)
    )


@pytest.mark.django_db
def test_a_run_stores_its_progress_as_it_writes_and_clears_it_at_the_end(
    staff: User, radicale: CalDAVServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entitle(staff)
    # Whole minutes, as the meeting form makes them (CalDAV keeps whole seconds only).
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    for i in range(5):
        make_meeting(staff, title=f"M{i}", start=start + timedelta(hours=i))
    link, _ = link_caldav(staff, radicale)
    # Every batch reported, not once a second, so each step is seen; batches of 2.
    monkeypatch.setattr(engine._Progress, "INTERVAL", 0.0)
    monkeypatch.setattr(CalDAVConnector, "capabilities", Capabilities(batch_size=2))
    seen: list[tuple[int, int]] = []
    create_batch = engine._Executor._create_batch

    def watching(self: engine._Executor, actions: Any) -> None:
        seen.append(progress_of(link))
        create_batch(self, actions)

    monkeypatch.setattr(engine._Executor, "_create_batch", watching)
    outcome = run_link(link.pk)

    assert outcome.counts == {"created_there": 5}
    assert seen == [(0, 5), (2, 5), (4, 5)]
    assert progress_of(link) == (0, 0)
    # The run's id in the logs names the link and its lease token; the run's row keeps both.
    link.refresh_from_db()
    assert outcome.run_id == f"{link.pk}.{link.lease_token}"
    assert SyncRun.objects.get(pk=outcome.record_id).run_id == outcome.run_id

    # A quiet run writes no progress at all.
    seen.clear()
    assert run_link(link.pk).counts == {}
    assert seen == [] and progress_of(link) == (0, 0)


@pytest.mark.django_db
def test_a_failed_run_leaves_no_progress_behind(
    staff: User, radicale: CalDAVServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.errors import Unavailable

    entitle(staff)
    for i in range(3):
        make_meeting(staff, title=f"M{i}", start=timezone.now() + timedelta(days=1, hours=i))
    link, _ = link_caldav(staff, radicale)
    monkeypatch.setattr(engine._Progress, "INTERVAL", 0.0)
    # One create at a time, so the run fails after its first write.
    monkeypatch.setattr(CalDAVConnector, "capabilities", Capabilities(batch_size=1))
    calls = 0

    def flaky(self: engine._Executor, action: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Unavailable("the server went away")
        engine._Executor._CreateThere(self, action)

    monkeypatch.setattr(engine._Executor, "apply", flaky)
    assert run_link(link.pk).status == "failed"
    assert progress_of(link) == (0, 0)


@pytest.mark.django_db
def test_status_and_page_show_the_first_sync_s_progress(staff: User) -> None:
    now = timezone.now()
    link = make_link(
        staff, lease_until=now + timedelta(minutes=5), progress_done=120, progress_total=1000
    )
    client = login(staff)
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert status["running"] is True and status["first_sync"] is True
    assert status["progress"] == {"done": 120, "total": 1000}
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "First synchronisation: 120 of 1,000 meetings…" in page
    # The script shows the very line the page renders (calsync/status.py).
    assert status["line"] == "First synchronisation: 120 of 1,000 meetings…"
    # The page follows the run from load, without a press.
    assert 'data-watch="1"' in page

    # Counts left by a run whose lease has run out (a killed worker) are not shown as progress.
    CalendarLink.objects.filter(pk=link.pk).update(lease_until=now - timedelta(seconds=1))
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert status["running"] is False and status["progress"] is None
    assert "120 of 1,000" not in client.get(reverse("calsync:calendarsync")).content.decode()


@pytest.mark.django_db
def test_a_link_that_synced_before_shows_plain_progress_and_is_not_watched(staff: User) -> None:
    link = make_link(staff, cursor="token-1", last_success_at=timezone.now())
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert 'data-watch="1"' not in page
    CalendarLink.objects.filter(pk=link.pk).update(
        lease_until=timezone.now() + timedelta(minutes=5), progress_done=2, progress_total=3
    )
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Synchronising: 2 of 3 meetings…" in page and 'data-watch="1"' in page
    assert client.get(reverse("calsync:sync_status", args=[link.pk])).json()["first_sync"] is False


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
def test_setup_queues_the_first_sync_on_the_interactive_queue(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
    sent: list[tuple[int, str, float]],  # noqa: F811
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = setup(staff_client, radicale)
    link = CalendarLink.objects.get(user=staff)
    assert sent == [(link.pk, "interactive", 0)]
    # The run is queued (not yet taken by a worker), and the page says just that.
    assert "First synchronisation: waiting for a worker…" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_run_s_imports_are_pushed_to_the_owner_s_other_links_only(
    staff: User,
    radicale: CalDAVServer,
    sent: list[tuple[int, str, float]],  # noqa: F811
) -> None:
    entitle(staff)
    first, reader = link_caldav(staff, radicale)
    second, _ = link_caldav(staff, radicale)
    start = (timezone.now() + timedelta(days=2)).astimezone(UTC).replace(microsecond=0)
    _put_event(reader, "outside-1", "Booked elsewhere", start)

    assert run_link(first.pk).counts == {"created_here": 1}
    # The meeting the run imported goes on to the second calendar; the first has it already.
    assert [(link_id, queue) for link_id, queue, _ in sent] == [(second.pk, "interactive")]


def _put_event(reader: Any, uid: str, title: str, start: datetime) -> None:
    from tests.engine.test_sync_caldav import put_outside

    stamp = "%Y%m%dT%H%M%SZ"
    put_outside(
        reader,
        f"{uid}.ics",
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:{start.strftime(stamp)}\nDTSTART:{start.strftime(stamp)}\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(stamp)}\nSUMMARY:{title}\n"
        "END:VEVENT\nEND:VCALENDAR\n",
    )


@pytest.mark.django_db
def test_a_new_run_does_not_show_a_killed_run_s_progress(
    staff: User, radicale: CalDAVServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entitle(staff)
    link, _ = link_caldav(staff, radicale)
    # A run killed half-way left its counts; its lease has run out.
    CalendarLink.objects.filter(pk=link.pk).update(
        progress_done=7, progress_total=9, lease_until=timezone.now() - timedelta(seconds=1)
    )
    at_start: list[tuple[int, int]] = []
    original = engine._run

    def observed(*args: Any) -> Any:
        at_start.append(progress_of(link))
        return original(*args)

    monkeypatch.setattr(engine, "_run", observed)
    assert run_link(link.pk).status == "ok"
    assert at_start == [(0, 0)]
