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


@shared_task(name="calsync.tasks.fan_out_polls", ignore_result=True)
def fan_out_polls(link_ids: list[int]) -> int:
    """The polls of a big round that the dispatcher hands to a worker to send
    (``calsync.scheduler.dispatch``): one ``sync_link`` message per link."""
    from calsync.scheduler import enqueue_polls

    enqueue_polls(link_ids)
    return len(link_ids)


@shared_task(name="calsync.tasks.history_cleanup", ignore_result=True)
def history_cleanup() -> int:
    """Beat sends this daily: remove sync history older than the retention setting."""
    from calsync.history import history_cleanup as cleanup

    return cleanup()


@shared_task(name="calsync.tasks.sync_link", bind=True, ignore_result=True)
def sync_link(self: Task[[int, bool], str], link_id: int, poll: bool = False) -> str:
    """One run of one link. Safe to deliver twice (after a worker was killed, say): the engine's
    lease lets one run at a time, and a run redoes only what the mappings say is not done.
    ``poll``: sent by the dispatcher (not by a push, the button or an agenda save).

    A run asked for while another run of the link holds the lease is not lost: it asks again a
    moment later (``scheduler.run_again_later``), so a notification or an edit that came in
    during a run is not left for the next poll.

    Every log line from here down (the engine's, the connector's, the client libraries') carries
    the tenant, link and task ids, and the engine adds the run id (calsync/logcontext.py)."""
    from calsync.engine.run import run_link
    from calsync.scheduler import after_run, run_again_later, run_started, sync_paused

    with bound(link_id=link_id, task_id=self.request.id):
        run_started(link_id)
        if sync_paused():
            log.info("sync paused by the operators; not running")
            return "paused"
        # The link's check ("still syncing?") is folded into the engine's lease statement
        # (calsync/engine/run.py ``_ACQUIRE_SQL``): a quiet poll is that and the cursor UPDATE.
        started = timezone.now()
        outcome = run_link(link_id)
        if outcome.status == "gone":
            return "gone"
        with bound(tenant_id=outcome.tenant_id, run_id=outcome.run_id or None):
            if outcome.status == "skipped" and not poll:
                run_again_later(link_id)
            after_run(link_id, outcome)
            if poll and outcome.counts:
                from calsync.push import after_poll

                after_poll(link_id, outcome.counts, started)
            log.info("sync finished: %s", outcome.status, extra={"status": outcome.status})
        return outcome.status


# --- push channels (calsync/push.py): provider calls, never in a web request -------------------


@shared_task(name="calsync.tasks.push_maintain", ignore_result=True)
def push_maintain() -> dict[str, int]:
    """Beat, every CALSYNC_PUSH_MAINTAIN_SECONDS: make, renew, replace and stop channels."""
    from calsync.push import maintain

    return maintain()


@shared_task(name="calsync.tasks.push_open", ignore_result=True)
def push_open(link_id: int, then_sync: bool = False) -> str:
    """Make the link's channel (if it has none); ``then_sync``: run the link afterwards, for
    changes no channel announced meanwhile (Graph's ``subscriptionRemoved``)."""
    from calsync import push
    from calsync.scheduler import request_sync

    push.task_done("open", link_id)
    with bound(link_id=link_id):
        channel = push.channel_open(link_id=link_id)
        if then_sync:
            request_sync(link_id)
        return channel.state if channel is not None else "nothing to do"


@shared_task(name="calsync.tasks.push_renew", ignore_result=True)
def push_renew(channel_id: int) -> str:
    from calsync import push

    push.task_done("renew", channel_id)
    channel = push.channel_renew(channel_id)
    return channel.state if channel is not None else "nothing to do"


@shared_task(name="calsync.tasks.push_replace", ignore_result=True)
def push_replace(channel_id: int, reason: str) -> str:
    from calsync import push

    push.task_done("replace", channel_id)
    channel = push.channel_replace(channel_id, reason=reason)
    return channel.state if channel is not None else "nothing to do"


@shared_task(name="calsync.tasks.push_stop", ignore_result=True)
def push_stop(channel_id: int, reason: str) -> bool:
    from calsync import push
    from calsync.models import PushChannel

    channel = PushChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        return True
    return push.channel_stop(channel, reason=reason)


@shared_task(name="calsync.tasks.push_stop_link", ignore_result=True)
def push_stop_link(link_id: int, reason: str) -> int:
    """Stop every channel of the link (its billing paused)."""
    from calsync import push
    from calsync.models import CalendarLink

    link = CalendarLink.all_objects.filter(pk=link_id).first()
    return push.link_channels_stop(link, reason=reason) if link is not None else 0


@shared_task(name="calsync.tasks.push_stop_stray", ignore_result=True)
def push_stop_stray(link_id: int, channel_id: str, resource_id: str) -> bool:
    from calsync import push

    return push.stop_stray(link_id=link_id, channel_id=channel_id, resource_id=resource_id)
