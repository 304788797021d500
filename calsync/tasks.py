"""Celery tasks of the sync core. Thin: ids in, one service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "calsync:worker-heartbeat"


@shared_task(name="calsync.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Beat sends this every minute; the worker stores the time it ran. /health/ shows it, so an
    operator sees at a glance that beat, the broker and a worker are all alive."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now
