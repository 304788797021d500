"""Prometheus metrics (issue 17 §6; calsync/metrics.py, README "Metrics"): read from ``/metrics``
as Prometheus reads them, after real runs against the Google fake, a 429 from it, real push
channel rows, real messages in the Redis broker and the quota governor's real buckets in
Redis."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import User
from calsync import metrics
from calsync.celery import app
from calsync.engine.run import run_link
from calsync.models import CalendarLink, ChannelState, PushChannel
from calsync.scheduler import after_run
from connectors import quota
from tests.engine.helpers import link_google
from tests.factories import entitle
from tests.fakes.google import GoogleFake
from tests.test_scheduler import make_link

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests"


@pytest.fixture
def scrape(settings: Any) -> Iterator[Any]:
    settings.CALSYNC_METRICS_TOKEN = TOKEN
    client = HttpClient()

    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return samples(response.content.decode())

    yield read


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(read: dict[Any, float], name: str, **labels: str) -> float:
    return read.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def google_link(staff: User, google_fake: GoogleFake, settings: Any) -> CalendarLink:
    for name, val in google_fake.django_settings().items():
        setattr(settings, name, val)
    link, _ = link_google(entitle(staff), google_fake)
    return link


def test_metrics_are_off_without_a_token_and_need_it_as_a_bearer(settings: Any) -> None:
    client = HttpClient()
    settings.CALSYNC_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.CALSYNC_METRICS_TOKEN = TOKEN
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_runs_their_duration_lag_and_provider_requests_are_counted(
    google_link: CalendarLink, scrape: Any
) -> None:
    before = scrape()
    assert run_link(google_link.pk).status == "ok"  # the first sync: no previous success
    assert run_link(google_link.pk).status == "ok"  # a quiet poll: one lag observed
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("calsync_runs_total", provider="google", outcome="ok") == 2
    assert grew("calsync_run_duration_seconds_count", provider="google", outcome="ok") == 2
    assert grew("calsync_sync_lag_seconds_count", provider="google") == 1
    # The lag of a poll right after the first sync is under 5 s.
    assert grew("calsync_sync_lag_seconds_bucket", provider="google", le="5.0") == 1
    # The quiet poll's one request and the first sync's listing, all answered 200.
    assert grew("calsync_provider_requests_total", provider="google", status="200") >= 2


def test_a_429_counts_as_a_throttled_request_and_a_failed_run(
    google_link: CalendarLink, google_fake: GoogleFake, scrape: Any
) -> None:
    before = scrape()
    google_fake.rate_limit(retry_after=60, times=None)
    assert run_link(google_link.pk).status == "failed"
    after = scrape()
    throttled = value(after, "calsync_provider_requests_total", provider="google", status="429")
    assert (
        throttled
        - value(before, "calsync_provider_requests_total", provider="google", status="429")
        >= 1
    )
    failed = value(after, "calsync_runs_total", provider="google", outcome="failed")
    assert failed - value(before, "calsync_runs_total", provider="google", outcome="failed") == 1


# send_task always goes to the broker, as wanted here: real messages in the real queue.
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_state_gauges_links_staleness_push_channels_and_queue_depth(
    staff: User, scrape: Any
) -> None:
    now = timezone.now()
    fresh = make_link(staff, last_success_at=now - timedelta(minutes=2))
    make_link(staff, last_success_at=now - timedelta(hours=2))
    make_link(staff, last_success_at=None)
    make_link(staff, billing_paused=True)
    PushChannel.objects.create(
        link=fresh, key="k-ok", secret_hash="x", state=ChannelState.ACTIVE,
        expires_at=now + timedelta(days=1),
    )  # fmt: skip
    PushChannel.objects.create(
        link=fresh, key="k-old", secret_hash="x", state=ChannelState.STOPPED,
        expires_at=now - timedelta(days=1),
    )  # fmt: skip
    app.control.purge()
    try:
        for _ in range(3):
            app.send_task("calsync.tasks.heartbeat", queue="background")
        read = scrape()
    finally:
        app.control.purge()
    assert value(read, "calsync_links", provider="google", state="active") == 3
    assert value(read, "calsync_links", provider="google", state="billing-paused") == 1
    # Stale: the 2-hour-old one and the one that never synced, past 10 minutes and an hour.
    assert value(read, "calsync_links_stale", provider="google", older_than="600") == 2
    assert value(read, "calsync_links_stale", provider="google", older_than="3600") == 2
    assert value(read, "calsync_links_stale", provider="google", older_than="21600") == 1
    assert value(read, "calsync_push_channels", provider="google", state="active") == 1
    assert value(read, "calsync_push_channels", provider="google", state="stopped") == 1
    assert value(read, "calsync_push_channels_unhealthy", provider="google") == 0
    assert value(read, "calsync_queue_depth", queue="background") == 3
    assert value(read, "calsync_queue_depth", queue="interactive") == 0

    PushChannel.objects.filter(key="k-ok").update(suspect_since=now)
    assert value(scrape(), "calsync_push_channels_unhealthy", provider="google") == 1


def test_a_worker_serves_its_counters_on_its_own_port(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CALSYNC_METRICS_PORT = port
    assert metrics.serve_worker_metrics() == port
    metrics.RUNS.labels(provider="caldav", outcome="ok").inc()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        read = samples(answer.read().decode())
    assert value(read, "calsync_runs_total", provider="caldav", outcome="ok") >= 1
    settings.CALSYNC_METRICS_PORT = 0
    assert metrics.serve_worker_metrics() is None


def drain(pacer: quota.Pacer, bucket: quota.Bucket) -> None:
    """Spend the bucket's tokens but a hundredth, as other workers' requests would have."""
    level = pacer.governor.level(bucket)
    assert pacer.governor.take([bucket], level - 0.01, reserve=0) == 0


def test_quota_gauges_show_the_project_bucket_and_the_accounts_with_an_empty_one(
    scrape: Any, settings: Any
) -> None:
    assert isinstance(quota.governor(), quota.RedisGovernor)  # the real buckets, in Redis
    settings.CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE = 6.0  # 0.1 a second, a bucket of 50
    settings.CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE = 30.0  # 0.5 a second, a bucket of 50
    settings.CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES = 60.0  # 0.1 a second, a bucket of 20
    idle = scrape()
    assert value(idle, "calsync_quota_project_level", provider="google") == 1.0
    assert value(idle, "calsync_quota_accounts_limited", provider="google") == 0
    assert value(idle, "calsync_quota_accounts_limited", provider="microsoft") == 0

    busy = quota.google_pacer("busy@example.com", batch=50)
    busy.pace(25)  # half the project's bucket, half of this user's
    spent = quota.google_pacer("spent@example.com", batch=50)
    drain(spent, spent.buckets[0])  # this user's bucket only
    mailbox = quota.graph_pacer("mailbox@example.com", batch=20)
    drain(mailbox, mailbox.buckets[0])
    read = scrape()
    assert 0.49 < value(read, "calsync_quota_project_level", provider="google") < 0.52
    assert value(read, "calsync_quota_accounts_limited", provider="google") == 1
    assert value(read, "calsync_quota_accounts_limited", provider="microsoft") == 1

    # "Now": two seconds later the spent user has a token again; the mailbox (a token in ten
    # seconds) has not.
    time.sleep(2.1)
    later = scrape()
    assert value(later, "calsync_quota_accounts_limited", provider="google") == 0
    assert value(later, "calsync_quota_accounts_limited", provider="microsoft") == 1


def test_a_request_the_pacer_sleeps_for_counts_as_a_quota_wait(
    google_link: CalendarLink, scrape: Any, settings: Any
) -> None:
    settings.CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE = 120.0  # two a second: a token in 0.5 s
    pacer = quota.google_pacer(google_link.account, batch=50)
    before = scrape()
    drain(pacer, pacer.buckets[0])
    assert run_link(google_link.pk).status == "ok"  # its requests slept for their tokens
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    waits = grew("calsync_quota_waits_total", provider="google")
    assert waits >= 1
    assert grew("calsync_quota_wait_seconds_count", provider="google") == waits
    # The first slept for its token (less what came back before it asked), each other for its own.
    assert 0.25 < grew("calsync_quota_wait_seconds_sum", provider="google") <= 0.5 * waits


def test_a_link_rescheduled_over_its_budget_counts_as_a_wait_until_its_next_run(
    google_link: CalendarLink, scrape: Any, settings: Any
) -> None:
    settings.CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE = 6.0  # a token in ten seconds
    settings.CALSYNC_QUOTA_MAX_WAIT_SECONDS = 0.5
    pacer = quota.google_pacer(google_link.account, batch=50)
    before = scrape()
    drain(pacer, pacer.buckets[0])
    outcome = run_link(google_link.pk)
    assert outcome.status == "deferred" and outcome.retry_after is not None
    after_run(google_link.pk, outcome)
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("calsync_quota_waits_total", provider="google") == 1
    assert grew("calsync_quota_wait_seconds_count", provider="google") == 1
    assert (
        abs(grew("calsync_quota_wait_seconds_sum", provider="google") - outcome.retry_after) < 0.01
    )
    assert grew("calsync_quota_wait_seconds_bucket", provider="google", le="10.0") == 1
    assert grew("calsync_quota_wait_seconds_bucket", provider="google", le="5.0") == 0
    assert value(after, "calsync_quota_accounts_limited", provider="google") == 1
