"""The Celery application.

Worker and delivery settings come from Django settings (``CELERY_*``, see
``calsync/settings/base.py`` for why each is set). The beat schedule is declared here, in code,
so there is exactly one definition of what runs periodically and ``celery beat`` needs no
database scheduler.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab
from django.conf import settings
from django.db import close_old_connections, connections
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.dev")

app = Celery("calsync")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Interactive work (a button press, a first sync, an on-commit push) has its own queue so that a
# backlog of background polls never delays it. Workers consume both; operators may run dedicated
# workers per queue (see docker-compose.yml).
app.conf.task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("interactive", "background")
)

app.conf.beat_schedule = {
    # Liveness of the whole beat -> broker -> worker path, read by /health/.
    "heartbeat": {
        "task": "calsync.tasks.heartbeat",
        "schedule": settings.CALSYNC_HEARTBEAT_SECONDS,
        # A heartbeat that could not run in time is worthless: drop it rather than pile up.
        "options": {"expires": settings.CALSYNC_HEARTBEAT_SECONDS},
    },
    # The sync scheduler (calsync/scheduler.py): claims due links and enqueues their runs. The
    # schedule itself is in the database, so a missed beat only delays polls by one interval.
    "dispatch-due-links": {
        "task": "calsync.tasks.dispatch_due_links",
        "schedule": settings.CALSYNC_DISPATCH_SECONDS,
        "options": {"expires": settings.CALSYNC_DISPATCH_SECONDS, "queue": "background"},
    },
    # Provider push (calsync/push.py): makes missing channels, renews them before they expire,
    # stops the ones no longer wanted. Only enqueues; the provider calls run as their own tasks.
    "push-maintain": {
        "task": "calsync.tasks.push_maintain",
        "schedule": settings.CALSYNC_PUSH_MAINTAIN_SECONDS,
        "options": {"expires": settings.CALSYNC_PUSH_MAINTAIN_SECONDS, "queue": "background"},
    },
    # Django does not remove expired sessions by itself.
    "clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
    # The per-meeting sync history is kept CALSYNC_HISTORY_RETENTION_DAYS (issue 16 §2).
    "sync-history-cleanup": {
        "task": "calsync.tasks.history_cleanup",
        "schedule": crontab(hour=3, minute=41),
        "options": {"queue": "background"},
    },
    # Billing (PRODUCT 29-32): ends trials, charges monthly renewals, lapses and resumes. Every
    # 15 minutes, so a period ends at most that late; the service is idempotent per period.
    "billing-renewals": {
        "task": "billing.tasks.renew_subscriptions",
        "schedule": crontab(minute="*/15"),
    },
    # Low-balance e-mail to administrators before a renewal would lapse (issue 18 §5). Hourly
    # is early enough for a warning BILLING_LOW_BALANCE_DAYS ahead; it sends once per renewal.
    "billing-low-balance": {
        "task": "billing.tasks.warn_low_balance",
        "schedule": crontab(minute=7),
    },
}

app.autodiscover_tasks()

# Workers keep their database connection between tasks as the web keeps it between requests
# (CONN_MAX_AGE, CONN_HEALTH_CHECKS). Celery's Django fixup otherwise closes every connection
# before and after each task whatever CONN_MAX_AGE says (celery/fixups/django.py; celery#9824
# reverted honouring it), so each quiet poll paid for a new PostgreSQL backend; keeping it took
# one worker process from 55-73 to 110-145 quiet polls/s (bench/poll_bench.py). A large
# CELERY_DB_REUSE_MAX turns the fixup's closing off; the handlers below close what Django would
# close after a request (too old, broken, or left in a transaction).
app.conf.update(CELERY_DB_REUSE_MAX=1_000_000_000)


# A connection that answered a task this recently is taken as healthy without Django's
# CONN_HEALTH_CHECKS "SELECT 1": on a busy worker thread (a quiet poll every ~150 ms) that check
# was a third statement per poll on top of the poll's two (issue 17). One that sat idle longer is
# checked as before. Should the database go away within the window, the task's first statement
# fails, the task fails like any unreachable-database run, and the postrun handler closes the
# broken connection (errors_occurred), so the next task reconnects.
RECENTLY_HEALTHY_SECONDS = 5.0
_last_task_end = threading.local()


@signals.task_prerun.connect
def _before_task(task: Any = None, **_: Any) -> None:
    # Not for eager tasks: they run inside the caller's transaction (a test's, say), which
    # close_old_connections would break.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
    ended = getattr(_last_task_end, "at", None)
    if ended is not None and time.monotonic() - ended < RECENTLY_HEALTHY_SECONDS:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and not conn.errors_occurred:
                conn.health_check_done = True  # type: ignore[attr-defined]  # not in the stubs


@signals.task_postrun.connect
def _after_task(task: Any = None, **_: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
    _last_task_end.at = time.monotonic()


@signals.worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    """The worker's Prometheus counters on CALSYNC_METRICS_PORT (calsync/metrics.py)."""
    from calsync.metrics import serve_worker_metrics

    serve_worker_metrics()


@signals.setup_logging.connect
def _log_as_django_does(**_: Any) -> None:
    """Workers and beat log exactly as the web does: Django's ``LOGGING`` (the level from
    LOG_LEVEL, plain or JSON lines, the run ids of calsync/logcontext.py on every line). Without
    this receiver Celery configures the root logger itself and its ``-l`` level overrides ours."""
    from logging.config import dictConfig

    dictConfig(settings.LOGGING)
