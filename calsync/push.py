"""Provider push (PRODUCT 36): Google watch channels and Graph subscriptions tell us that a
linked calendar changed, so an outside edit reaches the practice calendar in seconds. Polling
stays the safety net (a lost notification waits for the next poll) and every link reads its
whole calendar at least daily (calsync/engine/run.py).

* **Records**: one ``PushChannel`` per channel the provider holds for a link, with our ``key``
  (the Google channel id, the first part of a Graph ``clientState``) and the SHA-256 of the
  secret the provider echoes. The row is written (``creating``) *before* the provider is asked,
  so a notification that arrives before the provider's answer (Google's ``sync`` message, Graph's
  first change) is recognised, and a crash never leaves a channel we cannot name.
* **Receiving** (``receive_google``, ``receive_microsoft``, called by ``calsync/webhooks.py``):
  look up the key, compare the secret's digest in constant time, and for a live channel of a
  syncing link ask for one debounced interactive run (``scheduler.request_sync``: a burst makes
  one run). Nothing else happens in the request; provider calls go to tasks.
* **Lifecycle**: a channel is made when a link is set up or comes back (billing resumed), and
  by beat's ``maintain`` for any syncing link that lacks one (after a failure, every
  ``CALSYNC_PUSH_RETRY_MINUTES``); renewed before expiry (Graph: PATCH; Google has no renew
  call: an overlapping channel is made, then the old one stopped); stopped on revoke, billing
  pause and account deletion. Notifications on a channel that is not live are ignored.
* Push is off without ``CALSYNC_PUBLIC_URL``: no channel is made, and live ones are stopped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from calsync import scheduler
from calsync.models import (
    LIVE_CHANNEL_STATES,
    CalendarLink,
    ChannelState,
    LinkState,
    PushChannel,
)
from connectors import credentials, registry
from connectors.base import Connector, Watch
from connectors.credentials import CredentialError
from connectors.errors import ConnectorError, NotFound

log = logging.getLogger(__name__)

# A channel left in ``creating`` this long was abandoned (its task died): it is failed.
STALE_CREATING = timedelta(minutes=10)
# Stopped and failed channel rows are kept this long for operators, then deleted.
KEEP_ENDED = timedelta(days=30)
# One queued task per kind and channel or link: beat's maintenance round does not pile them up.
TASK_MARK = "calsync:push-task:{}:{}"
# A notification on a channel we do not keep (or no longer want) asks for one stop per hour.
STRAY_MARK = "calsync:push-stray:{}"


def enabled() -> bool:
    """Push is on when the providers have an address to call."""
    return bool(settings.CALSYNC_PUBLIC_URL)


def address(provider: str) -> str:
    """The webhook address of ``provider`` (``calsync/webhooks.py``)."""
    return settings.CALSYNC_PUBLIC_URL + reverse(f"push_{provider}")


@lru_cache(maxsize=8)
def supports(provider: str) -> bool:
    """Whether the provider's connectors have push channels (``Capabilities.push``)."""
    try:
        return registry.get(provider).capabilities.push
    except KeyError:
        return False


def push_providers() -> list[str]:
    return [slug for slug in registry.PROVIDERS if supports(slug)]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with the stored digest (QUALITY,
    Security): the time taken says nothing about how much of it was right."""
    return hmac.compare_digest(digest(secret).encode(), stored_digest.encode())


def _lifetime(provider: str) -> timedelta:
    if provider == "microsoft":
        return timedelta(minutes=settings.CALSYNC_GRAPH_SUBSCRIPTION_MINUTES)
    return timedelta(days=settings.CALSYNC_GOOGLE_CHANNEL_DAYS)


def _watch(channel: PushChannel) -> Watch:
    return Watch(
        channel_id=channel.provider_id or channel.key,
        resource_id=channel.resource_id,
        expires_at=channel.expires_at or timezone.now(),
    )


def _connector(link: CalendarLink) -> Connector:
    return registry.get(link.provider).connector(link, default_zone=link.user.time_zone)


def _keep_secrets(link: CalendarLink, connector: Connector) -> None:
    """Tokens the connector refreshed are stored, as a run stores them, unless the link was
    revoked meanwhile (its credentials are gone and must stay gone)."""
    fresh = connector.updated_secrets()
    if fresh is not None:
        CalendarLink.objects.filter(pk=link.pk).exclude(credentials="").update(
            credentials=credentials.encrypt(fresh)
        )


def _mark_once(kind: str, ident: object, seconds: float) -> bool:
    return bool(cache.add(TASK_MARK.format(kind, ident), 1, timeout=max(1, int(seconds))))


def task_done(kind: str, ident: object) -> None:
    cache.delete(TASK_MARK.format(kind, ident))


def enqueue_on_commit(
    task: Any, args: tuple[Any, ...], *, queue: str, kwargs: dict[str, Any] | None = None
) -> None:
    """Send ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task.apply_async(args, kwargs=kwargs or {}, queue=queue))


# --- making, renewing, stopping ----------------------------------------------------------------


def channel_open(*, link_id: int, now: datetime | None = None) -> PushChannel | None:
    """Make the link's channel if push is on, the link syncs, its provider pushes and it has
    no current channel. Returns the new row (``active``, or ``failed`` with the reason), or None
    when there was nothing to do (another task may be making it)."""
    if not enabled():
        return None
    link = CalendarLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or not link.syncs or not supports(link.provider) or not link.credentials:
        return None
    if PushChannel.objects.filter(
        link=link, state__in=[ChannelState.CREATING, ChannelState.ACTIVE]
    ).exists():
        return None
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            channel = PushChannel.objects.create(
                link=link, key=uuid.uuid4().hex, secret_hash=digest(secret)
            )
    except IntegrityError:
        return None  # a concurrent task made one (one current channel per link)
    return _ask_provider(link, channel, secret, now or timezone.now())


def _ask_provider(
    link: CalendarLink, channel: PushChannel, secret: str, now: datetime
) -> PushChannel:
    try:
        connector = _connector(link)
    except (CredentialError, ConnectorError, ValueError) as exc:
        return _failed(channel, f"The stored credentials cannot be used: {exc}")
    try:
        watch = connector.watch(
            address=address(link.provider),
            key=channel.key,
            secret=secret,
            expires_at=now + _lifetime(link.provider),
        )
    except ConnectorError as exc:
        log.warning("push channel not made for link %s: %s", link.pk, exc)
        return _failed(channel, str(exc))
    finally:
        _keep_secrets(link, connector)
    made = PushChannel.objects.filter(pk=channel.pk, state=ChannelState.CREATING).update(
        state=ChannelState.ACTIVE,
        provider_id=watch.channel_id,
        resource_id=watch.resource_id,
        expires_at=watch.expires_at,
    )
    syncs = CalendarLink.objects.filter(
        pk=link.pk, state=LinkState.ACTIVE, billing_paused=False
    ).exists()
    if not made or not syncs:
        # Revoked, paused or stopped while the provider was being asked: the stop could not
        # reach a channel the provider had not made yet, so it is stopped now.
        PushChannel.objects.filter(pk=channel.pk).update(
            provider_id=watch.channel_id, resource_id=watch.resource_id, expires_at=watch.expires_at
        )
        channel.refresh_from_db()
        channel_stop(
            channel, reason=channel.reason or "stopped while being made", connector=connector
        )
        channel.refresh_from_db()
        return channel
    channel.refresh_from_db()
    log.info(
        "push channel %s made for link %s, until %s",
        channel.key[:8],
        link.pk,
        watch.expires_at.isoformat(),
        extra={"link_id": link.pk},
    )
    return channel


def _failed(channel: PushChannel, error: str) -> PushChannel:
    PushChannel.objects.filter(pk=channel.pk).update(
        state=ChannelState.FAILED, last_error=error[:2000], stopped_at=timezone.now()
    )
    channel.refresh_from_db()
    return channel


def channel_stop(channel: PushChannel, *, reason: str, connector: Connector | None = None) -> bool:
    """Stop the channel: from now on its notifications are ignored, and the provider is asked
    to stop calling. Returns whether the provider confirmed (``stopped``); otherwise the row is
    ``stopping`` and beat's maintenance tries again while the channel could still call."""
    now = timezone.now()
    marked = PushChannel.objects.filter(pk=channel.pk).exclude(
        state__in=[ChannelState.STOPPED, ChannelState.FAILED]
    )
    if channel.state == ChannelState.CREATING and not channel.resource_id:
        # The provider has not answered yet: the task making it stops it when it does.
        marked.update(state=ChannelState.STOPPING, reason=reason, stopped_at=now)
        return False
    if not marked.update(state=ChannelState.STOPPING, reason=reason, stopped_at=now):
        return True  # stopped already
    link = CalendarLink.all_objects.select_related("user").get(pk=channel.link_id)
    try:
        connector = connector or _connector(link)
        connector.stop(_watch(channel))
    except (ConnectorError, CredentialError, ValueError) as exc:
        PushChannel.objects.filter(pk=channel.pk).update(last_error=str(exc)[:2000])
        log.warning("push channel %s of link %s not stopped: %s", channel.key[:8], link.pk, exc)
        return False
    finally:
        if connector is not None:
            _keep_secrets(link, connector)
    PushChannel.objects.filter(pk=channel.pk).update(state=ChannelState.STOPPED)
    return True


def link_channels_stop(link: CalendarLink, *, reason: str) -> int:
    """Stop every channel of the link that could still call (revoke, billing pause). Needs the
    link's credentials: call it before they are deleted. Returns how many were stopped."""
    channels = list(
        PushChannel.objects.filter(
            link_id=link.pk, state__in=[*LIVE_CHANNEL_STATES, ChannelState.STOPPING]
        )
    )
    if not channels:
        return 0
    connector: Connector | None = None
    try:
        connector = _connector(CalendarLink.all_objects.select_related("user").get(pk=link.pk))
    except (ConnectorError, CredentialError, ValueError) as exc:
        log.warning("push channels of link %s cannot be stopped: %s", link.pk, exc)
    stopped = 0
    for channel in channels:
        if connector is None:
            PushChannel.objects.filter(pk=channel.pk).update(
                state=ChannelState.STOPPING, reason=reason, stopped_at=timezone.now()
            )
            continue
        stopped += channel_stop(channel, reason=reason, connector=connector)
    return stopped


def channel_renew(channel_id: int, *, now: datetime | None = None) -> PushChannel | None:
    """Extend an active channel before it expires: Graph renews in place (which also answers
    a ``reauthorizationRequired`` challenge); Google cannot, so the channel is replaced. A
    channel the provider no longer has is replaced, and the link syncs (changes may have been
    missed meanwhile). Returns the channel that now carries the link's notifications."""
    now = now or timezone.now()
    channel = PushChannel.objects.filter(pk=channel_id, state=ChannelState.ACTIVE).first()
    if channel is None:
        return None
    link = CalendarLink.objects.select_related("user").filter(pk=channel.link_id).first()
    if link is None or not link.syncs:
        return None
    try:
        connector = _connector(link)
    except (ConnectorError, CredentialError, ValueError) as exc:
        PushChannel.objects.filter(pk=channel.pk).update(last_error=str(exc)[:2000])
        return channel
    if not connector.capabilities.push_renew:
        return channel_replace(channel_id, reason="renewed")
    try:
        watch = connector.renew(_watch(channel), expires_at=now + _lifetime(link.provider))
    except NotFound:
        log.info("push channel %s of link %s is gone at the provider", channel.key[:8], link.pk)
        PushChannel.objects.filter(pk=channel.pk).update(
            state=ChannelState.STOPPED, reason="gone at the provider", stopped_at=now
        )
        fresh = channel_open(link_id=link.pk, now=now)
        scheduler.request_sync(link.pk)
        return fresh
    except (ConnectorError, CredentialError, ValueError) as exc:
        PushChannel.objects.filter(pk=channel.pk).update(last_error=str(exc)[:2000])
        log.warning("push channel %s of link %s not renewed: %s", channel.key[:8], link.pk, exc)
        return channel
    else:
        _keep_secrets(link, connector)
    PushChannel.objects.filter(pk=channel.pk).update(
        expires_at=watch.expires_at, renewed_at=now, last_error="", suspect_since=None
    )
    channel.refresh_from_db()
    return channel


def channel_replace(channel_id: int, *, reason: str) -> PushChannel | None:
    """Make a new channel for the link, then stop this one (Google's renewal; a channel
    suspected of having died silently; the operators' ``push_channels --recreate``). If the
    new one cannot be made the old one stays active while it lasts."""
    channel = PushChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        return None
    if not PushChannel.objects.filter(pk=channel.pk, state=ChannelState.ACTIVE).update(
        state=ChannelState.RETIRING
    ):
        return None
    fresh = channel_open(link_id=channel.link_id)
    if fresh is None or fresh.state != ChannelState.ACTIVE:
        PushChannel.objects.filter(pk=channel.pk, state=ChannelState.RETIRING).update(
            state=ChannelState.ACTIVE,
            last_error=fresh.last_error if fresh is not None else "",
        )
        return fresh
    channel.refresh_from_db()
    channel_stop(channel, reason=reason)
    return fresh


def stop_stray(*, link_id: int, channel_id: str, resource_id: str) -> bool:
    """Stop a Google channel that calls us but is not one we keep live (left over from a
    crash, stopped without the provider confirming), with the credentials of the link whose
    calendar it watches."""
    link = CalendarLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or not link.credentials:
        return False
    try:
        connector = _connector(link)
        connector.stop(Watch(channel_id, resource_id, timezone.now()))
    except (ConnectorError, CredentialError, ValueError) as exc:
        log.warning("stray push channel %s not stopped: %s", channel_id[:8], exc)
        return False
    _keep_secrets(link, connector)
    PushChannel.objects.filter(key=channel_id, state=ChannelState.STOPPING).update(
        state=ChannelState.STOPPED
    )
    return True


def before_link_deleted(link: CalendarLink) -> None:
    """A link is being deleted with its user or tenant (an account deleted in the Django admin,
    say; revoked links are kept, so this is the only way one goes): its channels could call on.
    The connector is built now, while the credentials exist, and the channels are stopped once
    the deletion commits (a deletion that rolls back stops nothing)."""
    watches = [
        _watch(c)
        for c in PushChannel.objects.filter(
            link_id=link.pk, state__in=[*LIVE_CHANNEL_STATES, ChannelState.STOPPING]
        ).exclude(resource_id="")
    ]
    if not watches or not link.credentials:
        return
    try:
        connector = _connector(CalendarLink.all_objects.select_related("user").get(pk=link.pk))
    except (ConnectorError, CredentialError, ValueError, CalendarLink.DoesNotExist) as exc:
        log.warning("push channels of deleted link %s cannot be stopped: %s", link.pk, exc)
        return

    def stop_all() -> None:
        for watch in watches:
            try:
                connector.stop(watch)
            except ConnectorError as exc:
                log.warning("push channel of a deleted link not stopped: %s", exc)

    transaction.on_commit(stop_all)


# --- beat: looking after channels --------------------------------------------------------------


def maintain(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """One round of beat's channel care; enqueues a task per channel or link that needs a
    provider call (never calls a provider itself) and returns the counts."""
    from calsync import tasks

    now = now or timezone.now()
    counts: dict[str, int] = {}
    mark_for = settings.CALSYNC_PUSH_MAINTAIN_SECONDS * 5

    def count(name: str, n: int = 1) -> None:
        if n:
            counts[name] = counts.get(name, 0) + n

    # Ended on the provider's side: expired channels, and creations abandoned by a dead task.
    count(
        "expired",
        PushChannel.objects.filter(
            state__in=[ChannelState.ACTIVE, ChannelState.RETIRING], expires_at__lte=now
        ).update(state=ChannelState.STOPPED, reason="expired", stopped_at=now),
    )
    count(
        "abandoned",
        PushChannel.objects.filter(
            state=ChannelState.CREATING, created_at__lte=now - STALE_CREATING
        ).update(
            state=ChannelState.FAILED, last_error="The channel was never confirmed.", stopped_at=now
        ),
    )
    # Stops still owed: channels of links that no longer sync (or all of them, push being
    # off), and stops the provider did not confirm while the channel could still call.
    not_syncing = ~Q(link__state=LinkState.ACTIVE) | Q(link__billing_paused=True)
    owed = PushChannel.objects.filter(
        Q(state__in=LIVE_CHANNEL_STATES, resource_id__gt="") & (not_syncing if enabled() else Q())
        | Q(state=ChannelState.STOPPING, resource_id__gt="")
    ).exclude(link__credentials="")
    for pk in owed.values_list("pk", flat=True)[:batch]:
        if _mark_once("stop", pk, settings.CALSYNC_PUSH_RETRY_MINUTES * 60):
            tasks.push_stop.apply_async((pk, "no longer syncing"), queue="background")
            count("stop")
    # Stops that can no longer be made (credentials deleted) or are moot (expired).
    count(
        "given_up",
        PushChannel.objects.filter(state=ChannelState.STOPPING)
        .filter(Q(link__credentials="") | Q(expires_at__lte=now) | Q(resource_id=""))
        .exclude(created_at__gt=now - STALE_CREATING, resource_id="")
        .update(state=ChannelState.STOPPED),
    )
    if not enabled():
        return counts
    renew_before = now + timedelta(hours=settings.CALSYNC_PUSH_RENEW_HOURS)
    due = PushChannel.objects.filter(
        state=ChannelState.ACTIVE,
        expires_at__lte=renew_before,
        link__state=LinkState.ACTIVE,
        link__billing_paused=False,
    )
    for pk in due.values_list("pk", flat=True)[:batch]:
        if _mark_once("renew", pk, mark_for):
            tasks.push_renew.apply_async((pk,), queue="background")
            count("renew")
    # A suspect channel that stayed silent is replaced: it died without telling (a notification
    # clears the suspicion, see _touch).
    window = now - timedelta(minutes=settings.CALSYNC_PUSH_SUSPECT_MINUTES)
    silent = PushChannel.objects.filter(
        state=ChannelState.ACTIVE, suspect_since__lte=window, link__state=LinkState.ACTIVE
    )
    for pk in silent.values_list("pk", flat=True)[:batch]:
        if _mark_once("replace", pk, mark_for):
            tasks.push_replace.apply_async((pk, "silent"), queue="background")
            count("replace")
    # Syncing links of push providers without a live channel (set up, resumed, reconnected,
    # expired, failed a while ago).
    recent_failure = PushChannel.objects.filter(
        link=OuterRef("pk"),
        state=ChannelState.FAILED,
        created_at__gt=now - timedelta(minutes=settings.CALSYNC_PUSH_RETRY_MINUTES),
    )
    live = PushChannel.objects.filter(link=OuterRef("pk"), state__in=LIVE_CHANNEL_STATES)
    missing = (
        CalendarLink.objects.filter(
            state=LinkState.ACTIVE, billing_paused=False, provider__in=push_providers()
        )
        .exclude(credentials="")
        .exclude(Exists(live))
        .exclude(Exists(recent_failure))
    )
    for pk in missing.values_list("pk", flat=True)[:batch]:
        if _mark_once("open", pk, mark_for):
            tasks.push_open.apply_async((pk,), queue="background")
            count("open")
    PushChannel.objects.filter(
        state__in=[ChannelState.STOPPED, ChannelState.FAILED], stopped_at__lt=now - KEEP_ENDED
    ).delete()
    if counts:
        log.info("push channels looked after: %s", counts, extra={"counts": counts})
    return counts


def after_poll(link_id: int, counts: dict[str, int] | None, started: datetime) -> None:
    """A poll (not a push-triggered run) brought outside changes in: had the channel said
    nothing about them, it may have died silently. It is suspect from now; a notification
    clears it, silence replaces it (``maintain``)."""
    if not counts or not any(
        counts.get(k) for k in ("created_here", "updated_here", "deleted_here")
    ):
        return
    grace = started - timedelta(seconds=settings.CALSYNC_PUSH_DEBOUNCE_SECONDS + 60)
    PushChannel.objects.filter(
        link_id=link_id,
        state=ChannelState.ACTIVE,
        suspect_since__isnull=True,
        created_at__lt=grace,
    ).filter(Q(last_notification_at__isnull=True) | Q(last_notification_at__lt=grace)).update(
        suspect_since=timezone.now()
    )


# --- receiving ---------------------------------------------------------------------------------


def _channel(key: str, provider: str) -> PushChannel | None:
    if not key or len(key) > 64:
        return None
    return (
        PushChannel.objects.select_related("link")
        .only(
            "pk",
            "key",
            "state",
            "secret_hash",
            "provider_id",
            "resource_id",
            "link__id",
            "link__provider",
            "link__state",
            "link__billing_paused",
        )
        .filter(key=key, link__provider=provider)
        .first()
    )


def _counts(channel: PushChannel) -> bool:
    """Whether a notification on this (authenticated) channel asks for a run."""
    link = channel.link
    return channel.live and link.state == LinkState.ACTIVE and not link.billing_paused


def _touch(channel_pk: int, now: datetime, count: int = 1) -> None:
    PushChannel.objects.filter(pk=channel_pk).update(
        last_notification_at=now, notifications=F("notifications") + count, suspect_since=None
    )


def _stray(link_id: int, channel_id: str, resource_id: str) -> None:
    from calsync import tasks

    # At most one stop per channel an hour and per link a minute: a stream of made-up channel
    # ids cannot turn into a stream of provider calls.
    if (
        channel_id
        and resource_id
        and cache.add(STRAY_MARK.format(f"link:{link_id}"), 1, timeout=60)
        and cache.add(STRAY_MARK.format(channel_id), 1, timeout=3600)
    ):
        enqueue_on_commit(
            tasks.push_stop_stray, (link_id, channel_id, resource_id), queue="background"
        )


def receive_google(
    *, channel_id: str, token: str, state: str, resource_id: str, now: datetime | None = None
) -> int:
    """One Google notification (§1.9): the answer's status code. 404 for a channel we do not
    know (and, when its calendar is one of ours, a stop of it), 403 for a wrong token, 200 for
    everything authenticated (``sync`` and notifications on channels we no longer want are
    acknowledged and otherwise ignored)."""
    now = now or timezone.now()
    channel = _channel(channel_id, "google")
    if channel is None:
        known = (
            PushChannel.objects.filter(resource_id=resource_id, link__provider="google")
            .exclude(resource_id="")
            .order_by("-created_at")
            .values_list("link_id", flat=True)
            .first()
        )
        if known is not None:
            _stray(known, channel_id, resource_id)
        log.info("push notification for an unknown Google channel refused")
        return 404
    if not _matches(token, channel.secret_hash):
        log.warning(
            "push notification with a wrong token refused", extra={"link_id": channel.link_id}
        )
        return 403
    if not _counts(channel):
        if channel.state in (ChannelState.STOPPING, ChannelState.STOPPED, ChannelState.FAILED):
            _stray(channel.link_id, channel.provider_id or channel.key, resource_id)
        return 200
    _touch(channel.pk, now)
    if state in ("exists", "not_exists"):
        scheduler.request_sync(channel.link_id, countdown=settings.CALSYNC_PUSH_DEBOUNCE_SECONDS)
    return 200


@dataclass
class _Batch:
    """What one Graph POST asks of us, decided item by item."""

    sync: set[int] = field(default_factory=set)
    renew: set[int] = field(default_factory=set)
    reopen: set[int] = field(default_factory=set)
    stop: set[int] = field(default_factory=set)
    accepted: int = 0
    refused: int = 0
    unknown: int = 0


def receive_microsoft(items: Iterable[Any], *, now: datetime | None = None) -> int:
    """One Graph POST (§2.6): a batch of change and lifecycle notifications, possibly for
    several subscriptions. Each item is checked on its own (its ``clientState`` names our row and
    proves the sender); valid change notifications ask for a run, ``missed`` too,
    ``reauthorizationRequired`` renews (a PATCH reauthorizes), ``subscriptionRemoved`` makes a new
    subscription and syncs. 202 when any item was ours (Graph retries a batch answered with
    anything else for hours), 403 when all were refused, 404 when none named a subscription of
    ours."""
    from calsync import tasks
    from connectors.microsoft.connector import parse_client_state

    now = now or timezone.now()
    batch = _Batch()
    touched: dict[int, int] = {}
    for item in items:
        if not isinstance(item, dict):
            batch.refused += 1
            continue
        key, secret = parse_client_state(item.get("clientState"))
        channel = _channel(key, "microsoft")
        if channel is None:
            batch.unknown += 1
            continue
        if not _matches(secret, channel.secret_hash) or (
            channel.provider_id and str(item.get("subscriptionId")) != channel.provider_id
        ):
            batch.refused += 1
            continue
        batch.accepted += 1
        if not _counts(channel):
            if channel.state == ChannelState.STOPPING:
                batch.stop.add(channel.pk)
            continue
        touched[channel.pk] = touched.get(channel.pk, 0) + 1
        event = item.get("lifecycleEvent")
        if event == "reauthorizationRequired":
            batch.renew.add(channel.pk)
        elif event == "subscriptionRemoved":
            PushChannel.objects.filter(pk=channel.pk).update(
                state=ChannelState.STOPPED, reason="removed by the provider", stopped_at=now
            )
            batch.reopen.add(channel.link_id)
        else:  # a change, or "missed": either way the link reads what changed
            batch.sync.add(channel.link_id)
    for channel_pk, count in touched.items():
        _touch(channel_pk, now, count)
    for link_id in batch.sync:
        scheduler.request_sync(link_id, countdown=settings.CALSYNC_PUSH_DEBOUNCE_SECONDS)
    for pk in batch.renew:
        if _mark_once("renew", pk, 300):
            enqueue_on_commit(tasks.push_renew, (pk,), queue="interactive")
    for link_id in batch.reopen:
        enqueue_on_commit(
            tasks.push_open, (link_id,), kwargs={"then_sync": True}, queue="interactive"
        )
    for pk in batch.stop:
        if _mark_once("stop", pk, settings.CALSYNC_PUSH_RETRY_MINUTES * 60):
            enqueue_on_commit(tasks.push_stop, (pk, "not wanted"), queue="background")
    if batch.refused or batch.unknown:
        log.warning(
            "push notifications refused: %d with a wrong clientState, %d unknown",
            batch.refused,
            batch.unknown,
        )
    if batch.accepted:
        return 202
    return 403 if batch.refused else 404


# --- for the page and the operators -------------------------------------------------------------


def current_channel(link: CalendarLink) -> PushChannel | None:
    """The channel that carries the link's notifications now, if any."""
    return (
        PushChannel.objects.filter(link=link, state__in=LIVE_CHANNEL_STATES)
        .order_by("-created_at")
        .first()
    )


def describe(link: CalendarLink, channels: Iterable[PushChannel], now: datetime) -> str:
    """One line for the CalendarSync page about instant updates on this link."""
    if not supports(link.provider):
        return _("Instant updates are not available for this calendar: it syncs every few minutes.")
    if not enabled():
        return _(
            "Instant updates are off on this installation: the calendar syncs every few minutes."
        )
    if not link.syncs:
        return ""
    live = [c for c in channels if c.state in LIVE_CHANNEL_STATES]
    if any(c.healthy(now) for c in live):
        return _("Instant updates on: changes made there arrive within seconds.")
    if live:
        return _("Instant updates are starting; until then the calendar syncs every few minutes.")
    return _("Instant updates are not working right now; the calendar syncs every few minutes.")
