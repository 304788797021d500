"""The *Synchronize* button and the JSON status it polls (PRODUCT 25): one press, one queued run;
repeated presses are refused for a few seconds and never queue a pile of runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calsync import scheduler
from calsync.models import LinkState, RunStatus, SyncRun
from tests.conftest import login
from tests.test_scheduler import make_link, sent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def test_synchronize_queues_one_interactive_run_after_commit(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    link = make_link(staff)
    client = login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        reply = client.post(reverse("calsync:sync_now", args=[link.pk]), **JSON)
    assert reply.status_code == 202
    assert reply.json()["queued"] is True and reply.json()["message"] == "Synchronising…"
    assert sent == [(link.pk, "interactive", 0)]
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert status["queued"] is True and status["running"] is False


def test_pressing_repeatedly_is_rate_limited_and_queues_no_pile(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    link = make_link(staff)
    client = login(staff)
    url = reverse("calsync:sync_now", args=[link.pk])
    with django_capture_on_commit_callbacks(execute=True):
        codes = [client.post(url, **JSON).status_code for _ in range(5)]
    assert codes == [202, 429, 429, 429, 429]
    # After the rate-limit window, a press while the first run is still queued adds nothing.
    from django.core.cache import cache

    cache.delete(f"calsync:sync-button:{staff.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, **JSON).status_code == 202
    assert sent == [(link.pk, "interactive", 0)]
    # Once the run has started, a new press queues a new run.
    scheduler.run_started(link.pk)
    cache.delete(f"calsync:sync-button:{staff.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, **JSON)
    assert len(sent) == 2


def test_without_javascript_the_form_posts_and_redirects_with_a_message(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
) -> None:
    link = make_link(staff)
    reply = login(staff).post(reverse("calsync:sync_now", args=[link.pk]), follow=True)
    assert reply.redirect_chain[-1][0] == reverse("calsync:calendarsync")
    assert "Synchronising" in reply.content.decode()


def test_a_link_that_needs_reconnect_or_a_paused_installation_is_refused(
    staff: User,
    sent: list[tuple[int, str, float]],  # noqa: F811
) -> None:
    broken = make_link(staff, state=LinkState.NEEDS_RECONNECT)
    client = login(staff)
    assert client.post(reverse("calsync:sync_now", args=[broken.pk]), **JSON).status_code == 409
    ok = make_link(staff)
    scheduler.set_sync_paused(True)
    assert client.post(reverse("calsync:sync_now", args=[ok.pk]), **JSON).status_code == 503
    assert sent == []


def test_status_reports_running_and_the_last_result(staff: User) -> None:
    now = timezone.now()
    link = make_link(
        staff,
        lease_until=now + timedelta(minutes=5),
        failure_count=2,
        last_error="Google is unavailable",
    )
    SyncRun.objects.create(
        link=link,
        started_at=now,
        finished_at=now,
        status=RunStatus.FAILED,
        error="Google is unavailable",
    )
    status = login(staff).get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert status["running"] is True and status["failure_count"] == 2
    assert status["last_run"]["status"] == "failed"
    assert status["last_run"]["error"] == "Google is unavailable"


def test_the_page_offers_synchronize_and_says_when_it_backs_off(staff: User) -> None:
    link = make_link(staff, failure_count=3, last_error="rate limited")
    page = login(staff).get(reverse("calsync:calendarsync")).content.decode()
    assert reverse("calsync:sync_now", args=[link.pk]) in page
    assert "js/calendarsync.js" in page
    assert "The last 3 attempts failed: rate limited. CalSync tries again by itself" in page
