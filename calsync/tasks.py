"""Celery tasks of the sync core. Thin: ids in, one service call, safe to run twice."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.core.cache import cache
from django.utils import timezone

from calsync.logcontext import bound

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


@shared_task(name="calsync.tasks.sync_link", bind=True, ignore_result=True)
def sync_link(self: Task[[int], str], link_id: int) -> str:
    """One run of one link. Safe to deliver twice (after a worker was killed, say): the engine's
    lease lets one run at a time, and a run redoes only what the mappings say is not done.

    Every log line from here down (the engine's, the connector's, the client libraries') carries
    the tenant, link and task ids, and the engine adds the run id (calsync/logcontext.py)."""
    from calsync.engine.run import run_link
    from calsync.models import CalendarLink
    from calsync.scheduler import after_run, run_started, sync_paused

    with bound(link_id=link_id, task_id=self.request.id):
        run_started(link_id)
        if sync_paused():
            log.info("sync paused by the operators; not running")
            return "paused"
        link = (
            CalendarLink.objects.filter(pk=link_id)
            .only("pk", "tenant_id", "state", "billing_paused")
            .first()
        )
        if link is None or not link.syncs:
            log.debug("link gone, paused or not active; not running")
            return "gone"
        with bound(tenant_id=link.tenant_id):
            log.debug("sync starting")
            outcome = run_link(link_id)
            with bound(run_id=outcome.run_id or None):
                after_run(link_id, outcome)
                log.info("sync finished: %s", outcome.status, extra={"status": outcome.status})
        return outcome.status
