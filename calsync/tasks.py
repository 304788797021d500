"""Celery tasks of the sync core. Thin: ids in, one service call, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "calsync:worker-heartbeat"
log = logging.getLogger(__name__)


@shared_task(name="calsync.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Beat sends this every minute; the worker stores the time it ran. /health/ shows it, so an
    operator sees at a glance that beat, the broker and a worker are all alive."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now


@shared_task(name="calsync.tasks.dispatch_due_links", ignore_result=True)
def dispatch_due_links() -> int:
    """Beat sends this every few seconds: claim due links, enqueue one ``sync_link`` each."""
    from calsync.scheduler import dispatch

    return len(dispatch())


@shared_task(name="calsync.tasks.sync_link", ignore_result=True)
def sync_link(link_id: int) -> str:
    """One run of one link. Safe to deliver twice (after a worker was killed, say): the engine's
    lease lets one run at a time, and a run redoes only what the mappings say is not done."""
    from calsync.engine.run import run_link
    from calsync.models import CalendarLink
    from calsync.scheduler import after_run, run_started, sync_paused

    run_started(link_id)
    if sync_paused():
        return "paused"
    link = CalendarLink.objects.filter(pk=link_id).only("pk", "tenant_id").first()
    if link is None or not link.syncs:
        return "gone"
    extra = {"link_id": link_id, "tenant_id": link.tenant_id}
    log.info("sync starting", extra=extra)
    outcome = run_link(link_id)
    after_run(link_id, outcome)
    log.info(
        "sync finished: %s",
        outcome.status,
        extra={**extra, "run_id": outcome.run_id, "status": outcome.status},
    )
    return outcome.status
