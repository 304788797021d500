"""The whole loop on real processes: a Celery worker process consuming from the real Redis
broker syncs a link end to end against the Google fake (which runs in this test process), and
the dispatcher, run by that worker, claims the due link and syncs it too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync.celery import app
from calsync.models import CalendarLink
from tests.engine.helpers import link_google
from tests.factories import entitle, make_meeting
from tests.fakes.google import GoogleFake

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def _database_url() -> str:
    """The database this test runs on (pytest-django's test database), for the worker."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(google_fake: GoogleFake) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts real worker processes on the test Redis, configured (through the environment, as
    in production) to reach the Google fake and this test's database."""
    app.control.purge()
    processes: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "calsync.settings.test",
        "TEST_DATABASE_URL": _database_url(),
        "CALSYNC_GOOGLE_CLIENT_ID": google_fake.client_id,
        "CALSYNC_GOOGLE_CLIENT_SECRET": google_fake.client_secret,
        "CALSYNC_GOOGLE_TOKEN_URI": google_fake.token_uri,
        "CALSYNC_GOOGLE_REVOKE_URI": google_fake.revoke_uri,
        "CALSYNC_GOOGLE_API_ENDPOINT": google_fake.api_endpoint,
    }

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "calsync", "worker",
             "-Q", "interactive,background", "-c", "1", "-P", "solo", "-l", "WARNING",
             "-n", f"sync-{os.getpid()}-{len(processes)}@%h"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    app.control.purge()


def wait_for(check: Callable[[], bool], worker: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if worker.poll() is not None:
            pytest.fail(
                f"the worker died: {worker.stderr.read().decode() if worker.stderr else ''}"
            )
        assert time.monotonic() < deadline, f"{what} did not happen within 60 s"
        time.sleep(0.2)


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
    staff: User, google_fake: GoogleFake, start_worker: Callable[[], subprocess.Popen[bytes]]
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
    worker = start_worker()
    before = timezone.now()
    # send_task always goes through the broker, even with CELERY_TASK_ALWAYS_EAGER in tests.
    app.send_task("calsync.tasks.sync_link", args=[link.pk], queue="interactive")
    wait_for(synced_since(link, before), worker, "the first sync")

    assert remote_titles(google_fake, calendar_id) == ["Made at Google", "Made here"]
    assert Meeting.objects.filter(owner=staff, title="Made at Google").count() == 1


def test_beat_s_dispatcher_on_a_worker_claims_and_syncs_the_due_link(
    staff: User, google_fake: GoogleFake, start_worker: Callable[[], subprocess.Popen[bytes]]
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
