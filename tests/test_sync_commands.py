"""Operators' commands: sync one link now, list link health, pause and resume all sync."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from calsync import scheduler
from calsync.engine.run import Outcome
from calsync.management.commands import sync_now
from calsync.models import LinkState
from tests.test_scheduler import NOW, make_link, sent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sync_now_runs_the_engine_and_applies_the_backoff(
    staff: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = make_link(staff, failure_count=1)
    monkeypatch.setattr(
        sync_now, "run_link", lambda pk: Outcome("failed", detail="429", retry_after=600)
    )
    before = timezone.now()
    assert run("sync_now", str(link.pk)).strip() == f"link {link.pk}: failed. nothing to do. 429"
    link.refresh_from_db()
    assert link.next_sync_at is not None
    assert link.next_sync_at >= before + timedelta(seconds=600)


def test_sync_now_can_queue_and_refuses_unknown_links(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
) -> None:
    link = make_link(staff)
    assert "queued" in run("sync_now", str(link.pk), "--queue")
    assert sent == [(link.pk, "interactive", 0)]
    with pytest.raises(CommandError):
        run("sync_now", "999999")


def test_sync_health_lists_state_last_success_failures_and_next_run(staff: User) -> None:
    good = make_link(staff, last_success_at=NOW, due=NOW + timedelta(minutes=3))
    bad = make_link(
        staff, state=LinkState.NEEDS_RECONNECT, failure_count=0, last_error="invalid_grant"
    )
    flaky = make_link(staff, failure_count=4, last_error="Google is unavailable")
    busy = make_link(
        staff,
        lease_until=timezone.now() + timedelta(minutes=5),
        progress_done=120,
        progress_total=1000,
    )
    out = run("sync_health")
    lines = {int(line.split()[0]): line for line in out.splitlines()[1:-1]}
    assert "running 120/1000" in lines[busy.pk]
    assert "active" in lines[good.pk] and "2026-03-02 09:00:00" in lines[good.pk]
    assert "2026-03-02 09:03:00" in lines[good.pk]
    assert "needs_reconnect" in lines[bad.pk] and "invalid_grant" in lines[bad.pk]
    assert " 4 " in lines[flaky.pk]
    problems = run("sync_health", "--problems")
    assert str(good.pk) not in [line.split()[0] for line in problems.splitlines()[1:]]
    assert len(problems.splitlines()) == 4  # the header, two links, the lag line


def test_sync_health_shows_the_lag_percentiles_of_the_syncing_links(staff: User) -> None:
    now = timezone.now()
    # Lags of 1..100 minutes; a paused link and one that never synced are not in them.
    for minutes in range(1, 101):
        make_link(staff, last_success_at=now - timedelta(minutes=minutes))
    make_link(staff, last_success_at=now - timedelta(days=30), billing_paused=True)
    make_link(staff, last_success_at=None)
    last = run("sync_health").splitlines()[-1]
    # percentile_cont over 1..100 minutes: p50 50.5 min, p90 90.1, p99 99.01; max 100.
    assert last.startswith("Sync lag (time since the last success) of 100 syncing links: "), last
    assert "p50 50.5 min, p90 90.1 min, p99 99.0 min, max 100.0 min; never synced: 1" in last


def test_sync_health_says_so_when_nothing_synced_yet(staff: User) -> None:
    make_link(staff, last_success_at=None)
    assert run("sync_health").splitlines()[-1] == (
        "Sync lag: no syncing link has synced yet; never synced: 1"
    )


def test_pause_and_resume(staff: User) -> None:
    assert "paused" in run("sync_pause")
    assert scheduler.sync_paused()
    assert run("sync_health").startswith("ALL SYNC IS PAUSED")
    assert "resumed" in run("sync_resume")
    assert not scheduler.sync_paused()


def test_the_admin_lists_link_health_and_syncs_pauses_and_resumes(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.test import Client as HttpClient

    User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = HttpClient()
    assert client.login(username="ops@example.test", password="ops-password-123")
    link = make_link(staff, failure_count=2, last_error="Google is unavailable")
    page = client.get("/admin/calsync/calendarlink/")
    assert page.status_code == 200 and b"Google is unavailable" in page.content
    url = "/admin/calsync/calendarlink/"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "sync_now", "_selected_action": [link.pk]})
    assert sent == [(link.pk, "interactive", 0)]
    client.post(url, {"action": "pause_all_sync", "_selected_action": [link.pk]})
    assert scheduler.sync_paused()
    assert b"All sync is paused" in client.get(url).content
    client.post(url, {"action": "resume_all_sync", "_selected_action": [link.pk]})
    assert not scheduler.sync_paused()
    # The runs, with the run id their log lines carry.
    from calsync.models import RunStatus, SyncRun

    SyncRun.objects.create(link=link, lease_token=17, status=RunStatus.FAILED, error="Timed out")
    runs = client.get("/admin/calsync/syncrun/").content.decode()
    assert f"{link.pk}.17" in runs and "Timed out" in runs
