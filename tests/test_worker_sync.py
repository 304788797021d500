"""The whole loop on real processes: a Celery worker process consuming from the real Redis
broker syncs a link end to end against the Google fake (which runs in this test process), and
the dispatcher, run by that worker, claims the due link and syncs it too."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync.celery import app
from calsync.engine.run import run_link
from calsync.models import CalendarLink
from tests.agenda.test_views import form
from tests.conftest import login
from tests.engine.helpers import link_google
from tests.factories import entitle, make_meeting
from tests.fakes.google import GoogleFake
from tests.workers import Worker, wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def remote_titles(fake: GoogleFake, calendar_id: str) -> list[str]:
    with fake.lock:
        events = fake.calendars[calendar_id].events.values()
        return sorted(
            e.resource.get("summary", "") for e in events if e.resource.get("status") != "cancelled"
        )


def synced_since(link: CalendarLink, moment: object) -> Callable[[], bool]:
    def check() -> bool:
        link.refresh_from_db()
        return link.last_success_at is not None and link.last_success_at > moment  # type: ignore[operator]

    return check


def test_a_worker_syncs_a_link_both_ways_from_the_redis_queue(
    staff: User, google_fake: GoogleFake, start_worker: Callable[..., Worker]
) -> None:
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    make_meeting(staff, title="Made here", start=start)
    link, calendar_id = link_google(entitle(staff), google_fake)
    google_fake.user_insert(
        calendar_id,
        {
            "summary": "Made at Google",
            "start": {"dateTime": (start + timedelta(hours=3)).isoformat()},
            "end": {"dateTime": (start + timedelta(hours=4)).isoformat()},
        },
    )
    # JSON lines, as production writes them, so the test can read each line's fields.
    worker = start_worker(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    before = timezone.now()
    # send_task always goes through the broker, even with CELERY_TASK_ALWAYS_EAGER in tests.
    app.send_task("calsync.tasks.sync_link", args=[link.pk], queue="interactive")
    wait_for(synced_since(link, before), worker, "the first sync")

    assert remote_titles(google_fake, calendar_id) == ["Made at Google", "Made here"]
    assert Meeting.objects.filter(owner=staff, title="Made at Google").count() == 1

    # Structured logs: every line of the run names its tenant, link, run and task, whichever
    # logger wrote it (ours, the Google client library's, the HTTP library's).
    worker.stop()
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    run_lines = [line for line in lines if line.get("link_id") == link.pk]
    # The solo worker runs one task at a time: nothing logged from the run's first line to its
    # last lacks the link and task ids.
    first, last = lines.index(run_lines[0]), lines.index(run_lines[-1])
    assert lines[first : last + 1] == run_lines
    assert len({line["task_id"] for line in run_lines}) == 1
    # Once the engine holds the lease (its one statement also reads the link: issue 17), the
    # tenant and the run id (``<link>.<lease token>``), on every line to the task's last, also on
    # the lines of the libraries it calls.
    leased = next(i for i, line in enumerate(run_lines) if line.get("run_id"))
    in_run = run_lines[leased:]
    assert len(in_run) > 3
    assert all(line.get("tenant_id") == staff.tenant_id for line in in_run)
    assert {line.get("run_id") for line in in_run} == {f"{link.pk}.1"}
    loggers = {line["logger"] for line in in_run}
    assert {"calsync.tasks", "calsync.engine.run"} <= loggers
    assert any(not name.startswith("calsync") for name in loggers), loggers
    assert in_run[-1]["message"] == "sync finished: ok" and in_run[-1]["status"] == "ok"


def test_beat_s_dispatcher_on_a_worker_claims_and_syncs_the_due_link(
    staff: User, google_fake: GoogleFake, start_worker: Callable[..., Worker]
) -> None:
    make_meeting(staff, title="Due", start=timezone.now() + timedelta(days=1))
    link, calendar_id = link_google(entitle(staff), google_fake)
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    worker = start_worker()
    before = timezone.now()
    app.send_task("calsync.tasks.dispatch_due_links", queue="background")
    wait_for(synced_since(link, before), worker, "the dispatched sync")
    assert remote_titles(google_fake, calendar_id) == ["Due"]
    link.refresh_from_db()
    assert link.next_sync_at is not None and link.next_sync_at > before + timedelta(minutes=2)


# The redelivery, scaled down from production (lease 600 s, visibility 3600 s) to seconds: the
# order is the same, so a redelivered run finds the killed run's lease expired.
FAST_REDELIVERY = {"CALSYNC_LEASE_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "4"}
# Creates go in batch requests; batches of 2 make a run of 12 six requests, so a kill can land
# between two of them (a batch the fake received completes there whatever happens to us).
SMALL_BATCHES = {"CALSYNC_GOOGLE_BATCH_SIZE": "2"}
KILL_ROUNDS = 3


def test_a_worker_killed_mid_run_is_redelivered_with_no_duplicate_and_no_loss(
    tenant: object,
    google_fake: GoogleFake,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.factories import UserFactory

    # Each write at the fake takes a little while, so a run of 12 pushes lasts long enough to be
    # killed in the middle.
    original = google_fake.rewrite

    def slow(request):  # type: ignore[no-untyped-def]
        if request.method == "POST":
            time.sleep(0.25)
        return original(request)

    monkeypatch.setattr(google_fake, "rewrite", slow)
    killed_mid_run = 0
    for round_ in range(KILL_ROUNDS):
        staff = entitle(UserFactory(tenant=tenant))
        first = timezone.now().replace(microsecond=0) + timedelta(days=1)
        titles = [f"R{round_} M{i:02}" for i in range(12)]
        for i, title in enumerate(titles):
            make_meeting(staff, title=title, start=first + timedelta(hours=i))
        link, calendar_id = link_google(staff, google_fake)
        victim = start_worker(**FAST_REDELIVERY, **SMALL_BATCHES)
        before = timezone.now()
        app.send_task("calsync.tasks.sync_link", args=[link.pk], queue="interactive")
        wait_for(lambda c=calendar_id: len(remote_titles(google_fake, c)) >= 3, victim, "pushes")
        if len(remote_titles(google_fake, calendar_id)) < len(titles):
            killed_mid_run += 1
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # Past the visibility timeout before the next worker starts: a starting worker restores
        # unacknowledged messages at once; a running one only every few cycles.
        time.sleep(int(FAST_REDELIVERY["CELERY_VISIBILITY_TIMEOUT"]) + 1)
        rescuer = start_worker(**FAST_REDELIVERY, **SMALL_BATCHES)
        wait_for(synced_since(link, before), rescuer, "the redelivered run")
        assert remote_titles(google_fake, calendar_id) == titles, f"round {round_}"
        assert Meeting.objects.filter(owner=staff).count() == len(titles)
        rescuer.send_signal(signal.SIGTERM)
        rescuer.wait(20)
    print(
        f"SIGKILL mid-run: {killed_mid_run} of {KILL_ROUNDS} rounds killed mid-run, all redelivered"
    )
    assert killed_mid_run == KILL_ROUNDS


def test_beat_a_worker_and_the_web_run_the_whole_loop(
    staff: User,
    google_fake: GoogleFake,
    start_worker: Callable[..., Worker],
    start_beat: Callable[..., Worker],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production's loop on real processes: beat's dispatcher brings an external change in when
    the link's slot comes and schedules the next one 3 minutes on (the owner is active); a
    meeting saved through the web reaches the external calendar within seconds, through the
    on-commit push on the interactive queue, not at the next poll."""
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    # This process (the web) enqueues on Redis, as production's web does.
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    link, calendar_id = link_google(entitle(staff), google_fake)
    assert run_link(link.pk).status == "ok"  # the first sync, here
    User.objects.filter(pk=staff.pk).update(last_seen_at=timezone.now())
    worker = start_worker()
    start_beat(CALSYNC_DISPATCH_SECONDS="1")

    # An external change, picked up when the link's slot comes.
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=3)
    google_fake.user_insert(
        calendar_id,
        {
            "summary": "Booked at Google",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        },
    )
    slot = timezone.now() + timedelta(seconds=2)
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=slot)
    wait_for(
        lambda: Meeting.objects.filter(owner=staff, title="Booked at Google").exists(),
        worker,
        "the dispatched poll",
    )
    link.refresh_from_db()
    assert link.next_sync_at is not None
    assert timedelta(minutes=2.5) < link.next_sync_at - slot < timedelta(minutes=3.5)

    # A meeting saved through the web goes out at once.
    local = (start + timedelta(days=1)).astimezone(ZoneInfo(staff.time_zone))
    saved = time.monotonic()
    response = login(staff).post(
        reverse("agenda:meeting_new"),
        form(
            title="Saved in CalSync",
            start_date=local.date().isoformat(),
            end_date=local.date().isoformat(),
            time_zone=staff.time_zone,
        ),
    )
    assert response.status_code == 302
    wait_for(
        lambda: "Saved in CalSync" in remote_titles(google_fake, calendar_id),
        worker,
        "the on-commit push",
    )
    print(
        f"web save -> Google fake: {time.monotonic() - saved:.1f} s "
        f"(debounce {settings.CALSYNC_PUSH_DEBOUNCE_SECONDS} s)"
    )
    assert remote_titles(google_fake, calendar_id) == ["Booked at Google", "Saved in CalSync"]


def test_a_worker_keeps_its_database_connection_between_tasks(
    staff: User,
    google_fake: GoogleFake,
    start_worker: Callable[..., Worker],
) -> None:
    """With production's CONN_MAX_AGE a worker reuses its PostgreSQL connection from poll to
    poll (calsync/celery.py); Celery's default would open a new backend for every task, which
    halved the polls one worker process sustains (docs/benchmarks.md)."""
    from django.db import connection

    from tests.workers import database_url

    link, _ = link_google(entitle(staff), google_fake)
    worker = start_worker(TEST_DATABASE_URL=f"{database_url()}?conn_max_age=60")

    def backends() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return {row[0] for row in cursor.fetchall()}

    seen = []
    for _ in range(3):
        before = timezone.now()
        app.send_task("calsync.tasks.sync_link", args=[link.pk], queue="background")
        wait_for(synced_since(link, before), worker, "a poll")
        time.sleep(0.3)  # the task's end (task_postrun) after its last write
        seen.append(backends())
    assert len(seen[0]) == 1 and seen[0] == seen[1] == seen[2], seen
