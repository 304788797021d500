"""When links sync: the cadence, claiming due links, back-off, pushes and the global pause.

The schedule lives in the database (``CalendarLink.next_sync_at``), never in Celery countdowns:
a countdown near Redis' ``visibility_timeout`` would be delivered twice, and a schedule in the
broker is lost with it. Beat runs ``dispatch_due_links`` every few seconds; it claims due links
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (so two dispatchers never claim one link), moves each
claimed link's ``next_sync_at`` to its next slot in the same statement, and enqueues one
``sync_link`` per link once that has committed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from calsync import texts
from calsync.engine.run import RUNNING_LINK, Outcome
from calsync.models import CalendarLink, LinkState, SyncMessage
from connectors import quota
from recurrence import Text

log = logging.getLogger(__name__)

PAUSE_KEY = "calsync:sync-paused"
# Set while a run of the link is queued and not yet started: a burst of edits or button presses
# then makes one run, not a pile (the task deletes it when it starts).
QUEUED_KEY = "calsync:queued:{}"
# A safety TTL for the queued marker, should the task be lost before it starts (a purged queue):
# the link is then not stuck without pushes for longer than this.
QUEUED_TTL = 120
# How often a run that found its link busy asks again (``run_again_later``), within the window.
BUSY_KEY = "calsync:busy:{}"
BUSY_RETRIES = 30
BUSY_WINDOW = 120


def is_active(last_seen_at: datetime | None, now: datetime) -> bool:
    window = timedelta(minutes=settings.CALSYNC_ACTIVE_WINDOW_MINUTES)
    return last_seen_at is not None and last_seen_at >= now - window


def user_returned(user_id: int, *, now: datetime) -> int:
    """A user came back after being away: their links polled every 50 minutes are due at once,
    so the cadence is 3 minutes from now on (the dispatcher sees them as active)."""
    return CalendarLink.objects.filter(
        user_id=user_id, state=LinkState.ACTIVE, next_sync_at__gt=now
    ).update(next_sync_at=now)


# --- the global switch ------------------------------------------------------------------------


def sync_paused() -> bool:
    return bool(cache.get(PAUSE_KEY))


def set_sync_paused(paused: bool) -> None:
    """Operators' switch: the dispatcher claims nothing and queued runs return without syncing.
    Kept in the cache (Redis, no expiry) so every web and worker process sees it at once."""
    if paused:
        cache.set(PAUSE_KEY, timezone.now().isoformat(), timeout=None)
    else:
        cache.delete(PAUSE_KEY)


# --- claiming ----------------------------------------------------------------------------------

# One statement per batch: pick due links skipping rows another dispatcher holds, and move each
# to its next slot by its owner's activity, with jitter. Claimed rows stay locked until commit, so
# a concurrent dispatcher skips them, and after commit they are no longer due.
_CLAIM = """
WITH due AS (
    SELECT l.id FROM calsync_calendarlink l
    WHERE l.state = %(state)s AND NOT l.billing_paused AND l.next_sync_at <= %(now)s
    ORDER BY l.next_sync_at
    LIMIT %(batch)s
    FOR UPDATE OF l SKIP LOCKED
)
UPDATE calsync_calendarlink l
SET next_sync_at = %(now)s + make_interval(secs => {interval}
    * (1 + %(jitter)s * (random() * 2 - 1)))
FROM due, accounts_user u
WHERE l.id = due.id AND u.id = l.user_id
RETURNING l.id
"""
_CADENCE = "(CASE WHEN u.last_seen_at >= %(active_since)s THEN %(active)s ELSE %(inactive)s END)"
# With CALSYNC_PUSH_POLL_MINUTES set, a link whose push channel is healthy (active, not expired,
# not suspected of having died) polls at that interval when it is longer than its cadence.
# Both are constants of this module: no input reaches the SQL text.
_PUSH_CADENCE = f"""GREATEST({_CADENCE}, CASE WHEN EXISTS (
    SELECT 1 FROM calsync_pushchannel c
    WHERE c.link_id = l.id AND c.state = 'active' AND c.expires_at > %(now)s
      AND c.suspect_since IS NULL
) THEN %(push)s ELSE 0 END)"""  # noqa: S608


def _claim_sql() -> str:
    push = settings.CALSYNC_PUSH_POLL_MINUTES > 0
    return _CLAIM.format(interval=_PUSH_CADENCE if push else _CADENCE)


def claim_due_links(now: datetime, batch: int) -> list[int]:
    """Claim up to ``batch`` due links and schedule their next poll; commit before returning."""
    with transaction.atomic():
        return claim_in_transaction(now, batch)


def claim_in_transaction(now: datetime, batch: int) -> list[int]:
    """The claim itself; the rows stay locked until the caller's transaction ends."""
    params = {
        "state": LinkState.ACTIVE.value,
        "now": now,
        "batch": batch,
        "active_since": now - timedelta(minutes=settings.CALSYNC_ACTIVE_WINDOW_MINUTES),
        "active": settings.CALSYNC_ACTIVE_POLL_MINUTES * 60.0,
        "inactive": settings.CALSYNC_INACTIVE_POLL_MINUTES * 60.0,
        "jitter": float(settings.CALSYNC_POLL_JITTER),
        "push": settings.CALSYNC_PUSH_POLL_MINUTES * 60.0,
    }
    if connection.vendor != "postgresql":
        return _claim_portable(now, batch, params)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        return [row[0] for row in cursor.fetchall()]


def _claim_portable(now: datetime, batch: int, params: dict[str, Any]) -> list[int]:
    """The same claim for the embedded default (SQLite, one beat): SQLite has no SKIP LOCKED
    but serialises writers, so a plain select-then-update in one transaction is enough there."""
    links = list(
        CalendarLink.objects.filter(
            state=LinkState.ACTIVE, billing_paused=False, next_sync_at__lte=now
        )
        .select_related("user")
        .order_by("next_sync_at")[:batch]
    )
    healthy: set[int] = set()
    if params["push"]:
        from calsync.models import PushChannel

        healthy = set(
            PushChannel.objects.filter(
                link__in=links, state="active", expires_at__gt=now, suspect_since__isnull=True
            ).values_list("link_id", flat=True)
        )
    for link in links:
        seen = link.user.last_seen_at
        base = (
            params["active"]
            if seen is not None and seen >= params["active_since"]
            else (params["inactive"])
        )
        if link.pk in healthy:
            base = max(base, params["push"])
        # Jitter spreads polls; it needs no cryptographic randomness.
        factor = 1 + params["jitter"] * random.uniform(-1, 1)  # noqa: S311
        CalendarLink.objects.filter(pk=link.pk).update(
            next_sync_at=now + timedelta(seconds=base * factor)
        )
    return [link.pk for link in links]


def dispatch(*, now: datetime | None = None, batch: int | None = None) -> list[int]:
    """Claim every due link in batches and enqueue a background ``sync_link`` for each.

    The first ``CALSYNC_DISPATCH_DIRECT`` links of a round get their own message from here;
    past that, one ``fan_out_polls`` message carries ``CALSYNC_DISPATCH_FANOUT_SIZE`` links and
    the worker that takes it sends their ``sync_link`` messages (issue 17 §5). Sending is the
    dispatcher's cost (about 0.5 ms a message, docs/benchmarks.md): one process sends some
    2,000 a second, so a big round would outlast the dispatch interval, while a fan-out spreads
    the sending over every worker of every host.

    Each batch commits before its tasks are sent, so a worker never sees a claim that could still
    roll back. If this process dies between the commit and the send (or a fan-out message is
    lost), those links simply wait one cadence: the schedule is in the database, not in the
    broker. A fan-out delivered twice sends its polls twice, which the run lease makes harmless."""
    from calsync.tasks import fan_out_polls

    if sync_paused():
        return []
    now = now or timezone.now()
    batch = batch or settings.CALSYNC_DISPATCH_BATCH
    size = max(1, settings.CALSYNC_DISPATCH_FANOUT_SIZE)
    claimed: list[int] = []
    while True:
        ids = claim_due_links(now, batch)
        room = max(0, settings.CALSYNC_DISPATCH_DIRECT - len(claimed))
        enqueue_polls(ids[:room])
        rest = ids[room:]
        for at in range(0, len(rest), size):
            fan_out_polls.apply_async((rest[at : at + size],), queue="background")
        claimed.extend(ids)
        if len(ids) < batch:
            return claimed


def enqueue_polls(link_ids: Sequence[int]) -> None:
    """One background ``sync_link`` poll per link (the dispatcher's, or a fan-out's)."""
    from calsync.tasks import sync_link

    for link_id in link_ids:
        sync_link.apply_async((link_id,), kwargs={"poll": True}, queue="background")


# --- after a run -------------------------------------------------------------------------------


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Exponential back-off after ``failures`` failures in a row, capped; a provider's
    ``Retry-After`` is honoured when it asks for longer."""
    base = settings.CALSYNC_BACKOFF_BASE_SECONDS
    cap = settings.CALSYNC_BACKOFF_MAX_SECONDS
    wait = min(cap, base * 2 ** max(failures - 1, 0))
    if retry_after is not None:
        wait = max(wait, retry_after)
    return float(wait)


def after_run(link_id: int, outcome: Outcome, *, now: datetime | None = None) -> None:
    """What the scheduler does with a run's outcome: back off after a failure, tell the user
    when the link needs a reconnect. A successful run keeps the slot the dispatcher gave it."""
    now = now or timezone.now()
    if outcome.status == "failed":
        link = CalendarLink.objects.filter(pk=link_id).first()
        if link is None:
            return
        wait = backoff_seconds(link.failure_count, outcome.retry_after)
        CalendarLink.objects.filter(pk=link_id).update(next_sync_at=now + timedelta(seconds=wait))
        # The task has bound the link, tenant and run ids (calsync/logcontext.py).
        log.warning(
            "sync failed %d time(s) in a row, backing off %.0f s",
            link.failure_count,
            wait,
            extra={"failures": link.failure_count, "wait_seconds": wait},
        )
    elif outcome.status == "needs-reconnect":
        _tell_reconnect(link_id, outcome.detail, outcome.detail_text)
    elif outcome.status == "continues":
        # A long run (a big first sync) used its time and committed its part: the next part
        # starts at once, on the interactive queue like the first sync itself.
        request_sync(link_id)
    elif outcome.status == "deferred":
        # Over the quota governor's budget (connectors/quota.py): not a failure. The link is
        # due again when the budget is back; a short wait is also queued directly, so a first
        # sync running at the quota's pace does not wait for the dispatcher's next round.
        wait = max(1.0, outcome.retry_after or 1.0)
        CalendarLink.objects.filter(pk=link_id).update(next_sync_at=now + timedelta(seconds=wait))
        # The request the governor held back counts as a quota wait of the time until its run.
        quota.observe_wait(outcome.provider, wait)
        if wait <= settings.CALSYNC_QUOTA_REQUEUE_SECONDS:
            request_sync(link_id, countdown=wait)


def _tell_reconnect(link_id: int, detail: str, detail_text: Text | None = None) -> None:
    """A revoked grant (PRODUCT 26): a message on the page and one e-mail saying how to
    reconnect. The message is recorded once per link and reason, so repeated runs do not mail
    again."""
    link = CalendarLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None:
        return
    source = texts.text(
        gettext_noop(
            "%(provider)s (%(account)s) no longer accepts CalSync's access (%(detail)s). Sync "
            "has stopped. To reconnect, press Reconnect next to this calendar on the "
            "CalendarSync page: the link, its meetings and where sync stopped are kept."
        ),
        provider=texts.label(link.provider_label),
        account=link.account,
        detail=detail_text or detail,
    )
    message, created = SyncMessage.objects.get_or_create(
        link=link,
        subject="",
        code="reconnect",
        fingerprint=str(link.lease_token),
        defaults={"text": texts.english(source), "source": texts.to_source(source)},
    )
    if created:
        # In the recipient's language (the task runs in a worker, with none of its own).
        with translation.override(link.user.preferred_language()):
            send_mail(
                subject=gettext("CalendarSync: please reconnect your calendar"),
                message=texts.render(texts.to_source(source)),
                from_email=None,
                recipient_list=[link.user.email],
            )
        SyncMessage.objects.filter(pk=message.pk).update(emailed_at=timezone.now())


# --- pushes and the button ---------------------------------------------------------------------


def request_sync(link_id: int, *, countdown: float = 0) -> bool:
    """Enqueue an interactive run of the link after the current transaction commits, unless one
    is already queued and not yet started. Returns whether a run was enqueued."""
    from calsync.tasks import sync_link

    if not cache.add(QUEUED_KEY.format(link_id), 1, timeout=QUEUED_TTL):
        return False
    transaction.on_commit(
        lambda: sync_link.apply_async((link_id,), queue="interactive", countdown=countdown)
    )
    return True


def push_for_owner(owner_id: int) -> None:
    """An agenda write committed: run the owner's syncing links soon. The short countdown lets a
    burst of edits (a form saving a series, a drag and a rename) collapse into the one run the
    queued marker allows. A change that a link's own run wrote (an event imported from that
    calendar) goes to the owner's other links only."""
    links = CalendarLink.objects.filter(
        user_id=owner_id, state=LinkState.ACTIVE, billing_paused=False
    )
    running = RUNNING_LINK.get()
    if running is not None:
        links = links.exclude(pk=running)
    for link_id in links.values_list("pk", flat=True):
        request_sync(link_id, countdown=settings.CALSYNC_PUSH_DEBOUNCE_SECONDS)


def run_again_later(link_id: int) -> bool:
    """A run that was asked for (a push, the button, a notification) found another run of the
    link holding the lease: that run may have listed the provider before the change it is
    about, so this one asks again after the debounce, instead of leaving the change for the
    next poll. At most ``BUSY_RETRIES`` times in ``BUSY_WINDOW`` seconds (a lease held by a
    killed worker lasts until it expires). Costs nothing to runs that were not skipped."""
    key = BUSY_KEY.format(link_id)
    cache.add(key, 0, timeout=BUSY_WINDOW)
    try:
        tries = cache.incr(key)
    except ValueError:  # expired between the two calls
        tries = 1
    if tries > BUSY_RETRIES:
        log.info("link busy for long; leaving the change to the next poll")
        return False
    return request_sync(link_id, countdown=settings.CALSYNC_PUSH_DEBOUNCE_SECONDS)


def run_started(link_id: int) -> None:
    """Called by the task as it starts: edits from now on need (and may queue) another run."""
    cache.delete(QUEUED_KEY.format(link_id))


def is_queued(link_id: int) -> bool:
    return cache.get(QUEUED_KEY.format(link_id)) is not None
