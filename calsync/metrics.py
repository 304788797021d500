"""Prometheus metrics of the sync (issue 17 §6; README "Metrics").

Two kinds, because they live in different places:

* **Events**, counted by the process they happen in (prometheus-client's default registry):
  runs by provider and outcome, their duration, the sync lag, provider requests by status
  (``connectors/net.py``, where every client library sends), requests the quota governor held
  back and for how long (``connectors/quota.py``). A worker serves its own on
  ``CALSYNC_METRICS_PORT`` (``calsync/celery.py``): with the threads pool every task runs in the
  worker's process, so one port shows all of its runs. (A prefork worker's children count in
  processes of their own: run it with ``PROMETHEUS_MULTIPROC_DIR`` set, which this module then
  reads through prometheus-client's multiprocess collector.)
* **State**, read when scraped, from PostgreSQL, the broker and the quota governor's Redis
  (``StateCollector``): queue depth, links by state and how stale their last success is, push
  channels by state and how many are unhealthy, how full the Google project's bucket is and how
  many accounts' buckets are empty. Any process would read the same numbers, so only the web's
  ``/metrics`` (``metrics_view``) serves them, once, behind ``CALSYNC_METRICS_TOKEN``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from connectors import quota
from connectors.net import PROVIDER_REQUESTS
from connectors.quota import QUOTA_WAIT_SECONDS, QUOTA_WAITS

__all__ = [
    "PROVIDER_REQUESTS",
    "QUOTA_WAITS",
    "QUOTA_WAIT_SECONDS",
    "RUNS",
    "RUN_SECONDS",
    "SYNC_LAG",
    "observe_run",
]

RUNS = Counter(
    "calsync_runs",
    "Sync runs (polls, pushes, button presses) by provider and outcome: ok, failed, "
    "needs-reconnect, lease-lost, stopped (mass-delete guard), skipped (busy).",
    ["provider", "outcome"],
)
RUN_SECONDS = Histogram(
    "calsync_run_duration_seconds",
    "Wall time of a sync run, from taking the lease to its end.",
    ["provider", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SYNC_LAG = Histogram(
    "calsync_sync_lag_seconds",
    "At each successful run, the time since the link's previous success: how old the "
    "freshest copy of its calendar was (a 3-minute poll cadence is about 180 s).",
    ["provider"],
    buckets=(5, 30, 60, 120, 180, 240, 300, 600, 1200, 1800, 3000, 3600, 7200, 21600, 86400),
)


def observe_run(
    provider: str, outcome: str, seconds: float, previous_success: datetime | None, end: datetime
) -> None:
    RUNS.labels(provider=provider, outcome=outcome).inc()
    RUN_SECONDS.labels(provider=provider, outcome=outcome).observe(seconds)
    if outcome == "ok" and previous_success is not None:
        SYNC_LAG.labels(provider=provider).observe(
            max(0.0, (end - previous_success).total_seconds())
        )


# --- state, read when scraped -------------------------------------------------------------------

QUEUES = ("interactive", "background")
# kombu's Redis transport keeps a queue's priorities in lists of their own: the name, then
# the name + "\x06\x16" + the step (celery's default steps 0, 3, 6, 9; step 0 is the bare name).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

# Staleness of the last success, for the links that sync (``calsync_links_stale``).
STALE_AFTER = (600, 3600, 6 * 3600, 86400)


def queue_depths() -> dict[str, int] | None:
    """Messages waiting per queue; None when the broker is not Redis (the demo's files)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    step = len(_PRIORITY_SUFFIXES)
    return {q: sum(lengths[i * step : (i + 1) * step]) for i, q in enumerate(QUEUES)}


def quota_gauges() -> Iterator[GaugeMetricFamily]:
    """The quota governor's levels now. ``Governor.levels`` reads only the buckets taken from
    within their refill time (an index the governor keeps, not a scan of Redis: see
    ``RedisGovernor.__init__``); every other bucket is full."""
    levels = {level.key: level for level in quota.governor().levels()}
    project = GaugeMetricFamily(
        "calsync_quota_project_level",
        "How full the provider project's request bucket is now (1: full, 0: spent; every "
        "account's requests need tokens from it). Google only: Graph's quotas are per mailbox.",
        labels=["provider"],
    )
    bucket = levels.get(quota.google_project_key())
    share = 1.0 if bucket is None else bucket.tokens / bucket.capacity
    project.add_metric(["google"], max(0.0, min(1.0, share)))
    yield project

    limited = GaugeMetricFamily(
        "calsync_quota_accounts_limited",
        "Accounts (Google users, Graph mailboxes) whose request bucket is empty now (not a "
        "token for one request): their requests wait, or their runs are rescheduled.",
        labels=["provider"],
    )
    for provider, prefix in quota.ACCOUNT_BUCKETS.items():
        empty = sum(1 for key, b in levels.items() if key.startswith(prefix) and b.tokens < 1)
        limited.add_metric([provider], empty)
    yield limited


class StateCollector(Collector):
    """Gauges read from PostgreSQL, the broker and the quota governor at each scrape (a handful
    of aggregate queries, whatever the number of links)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from calsync.models import CalendarLink, ChannelState, LinkState, PushChannel

        now = timezone.now()
        depths = queue_depths()
        if depths is not None:
            queue = GaugeMetricFamily(
                "calsync_queue_depth",
                "Messages waiting in the broker, per queue.",
                labels=["queue"],
            )
            for name, depth in depths.items():
                queue.add_metric([name], depth)
            yield queue

        links = GaugeMetricFamily(
            "calsync_links",
            "Live calendar links by provider and state (billing-paused apart).",
            labels=["provider", "state"],
        )
        for row in (
            CalendarLink.objects.values("provider", "state", "billing_paused")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            state = "billing-paused" if row["billing_paused"] else row["state"]
            links.add_metric([row["provider"], state], row["n"])
        yield links

        stale = GaugeMetricFamily(
            "calsync_links_stale",
            "Syncing links whose last success is older than the given seconds (or that never "
            "succeeded).",
            labels=["provider", "older_than"],
        )
        syncing = CalendarLink.objects.filter(state=LinkState.ACTIVE, billing_paused=False)
        aggregates = {
            f"s{seconds}": Count(
                "pk",
                filter=Q(last_success_at__isnull=True)
                | Q(last_success_at__lt=now - timedelta(seconds=seconds)),
            )
            for seconds in STALE_AFTER
        }
        for row in syncing.values("provider").annotate(**aggregates).order_by():
            for seconds in STALE_AFTER:
                stale.add_metric([row["provider"], str(seconds)], row[f"s{seconds}"])
        yield stale

        channels = GaugeMetricFamily(
            "calsync_push_channels",
            "Push channels (Google watch channels, Graph subscriptions) by provider and state.",
            labels=["provider", "state"],
        )
        for row in (
            PushChannel.objects.values("link__provider", "state").annotate(n=Count("pk")).order_by()
        ):
            channels.add_metric([row["link__provider"], row["state"]], row["n"])
        yield channels

        unhealthy = GaugeMetricFamily(
            "calsync_push_channels_unhealthy",
            "Active push channels that expired or are suspected of having died silently "
            "(PushChannel.healthy is false): their links rely on polling.",
            labels=["provider"],
        )
        for row in (
            PushChannel.objects.filter(state=ChannelState.ACTIVE)
            .filter(
                Q(expires_at__isnull=True) | Q(expires_at__lte=now) | Q(suspect_since__isnull=False)
            )
            .values("link__provider")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            unhealthy.add_metric([row["link__provider"]], row["n"])
        yield unhealthy

        yield from quota_gauges()


def events_registry() -> CollectorRegistry:
    """This process's counters, or every process's under ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


_STATE = CollectorRegistry(auto_describe=False)
_STATE.register(StateCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: 404 unless ``CALSYNC_METRICS_TOKEN`` is set, 401 without it as a
    bearer token (compared in constant time)."""
    token = settings.CALSYNC_METRICS_TOKEN
    if not token:
        return HttpResponse(status=404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return HttpResponse(
            _("A bearer token is required."),
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = generate_latest(events_registry()) + generate_latest(_STATE)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics() -> int | None:
    """Start the worker's metrics server (its own events; a thread of this process) on
    ``CALSYNC_METRICS_PORT`` at ``CALSYNC_METRICS_ADDRESS``. Returns the port, or None when off."""
    port = settings.CALSYNC_METRICS_PORT
    if not port:
        return None
    from prometheus_client import start_http_server

    start_http_server(port, addr=settings.CALSYNC_METRICS_ADDRESS, registry=events_registry())
    return int(port)
