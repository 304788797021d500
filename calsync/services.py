"""Writes to calendar links: linking, revoking, and the billing pause (each also starts or
stops the link's push channels, calsync/push.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_record
from billing.entitlement import sync_entitlement
from calsync.models import (
    LIVE_CHANNEL_STATES,
    CalendarLink,
    ChannelState,
    LinkState,
    Provider,
    PushChannel,
    Target,
)
from calsync.privacy import levels_for_new_link
from connectors import credentials, registry
from connectors.credentials import CredentialError
from connectors.errors import ConnectorError


def dedicated_calendar_name(user: User) -> str:
    """PRODUCT 4: the configurable prefix plus the user's name."""
    return f"{settings.CALSYNC_CALENDAR_PREFIX}{user.get_full_name()}"


def link_create(
    *,
    user: User,
    provider: Provider | str,
    account: str,
    calendar_id: str,
    calendar_name: str,
    target: Target | str,
    secrets: dict[str, Any],
    server_url: str = "",
    privacy: dict[str, str] | None = None,
) -> CalendarLink:
    """Store a new link with its credentials encrypted. ``privacy``: the privacy level per kind
    of meeting chosen at Setup (the practice's defaults for any not given). ``ValidationError``
    if this calendar is linked already or a level is looser than the practice allows."""
    if not user.is_practice_staff or user.tenant is None:
        raise ValidationError(_("Only staff members have a calendar to link."))
    entitlement = sync_entitlement(user)
    if not entitlement.allowed:
        raise ValidationError(entitlement.reason)
    link = CalendarLink(
        tenant=user.tenant,
        user=user,
        provider=str(provider),
        account=account,
        server_url=server_url,
        target=str(target),
        calendar_id=calendar_id,
        calendar_name=calendar_name,
        credentials=credentials.encrypt(secrets),
        next_sync_at=timezone.now(),
        # The practice's default privacy levels, or the staff member's choice within them.
        **levels_for_new_link(user.tenant, privacy or {}),
    )
    link.full_clean(exclude=["credentials"], validate_constraints=False)
    try:
        with transaction.atomic():
            link.save()
            audit_record(
                tenant=user.tenant,
                actor=user,
                action="calsync.link",
                target=str(link),
                details={"link": link.pk, "provider": link.provider, "target": link.target},
            )
    except IntegrityError as exc:
        raise ValidationError(_("This calendar is linked to your account already.")) from exc
    _open_push_channel(link)
    return link


def link_reconnect(
    *,
    link: CalendarLink,
    account: str,
    secrets: dict[str, Any],
    user: User,
) -> CalendarLink:
    """Give a live link new credentials (a new OAuth grant, a new CalDAV app password) and let it
    sync again. The link keeps its calendar, its mappings and its cursor, so sync continues
    where it stopped: nothing is imported or sent a second time.

    ``ValidationError`` when the link was revoked (it is set up again instead) or when the
    grant is for another account than the link's: the link's calendar and mappings belong to
    that account, and quietly pointing them at another would duplicate every meeting there."""
    if link.state == LinkState.REVOKED:
        raise ValidationError(
            _("This calendar link was revoked: set it up again instead of reconnecting.")
        )
    if account.casefold() != link.account.casefold():
        raise ValidationError(
            _(
                "You signed in as %(account)s, but this calendar belongs to %(owner)s. "
                "Reconnect with %(owner)s, or revoke this link and set up the other account."
            )
            % {"account": account, "owner": link.account}
        )
    with transaction.atomic():
        locked = CalendarLink.objects.select_for_update().get(pk=link.pk)
        locked.credentials = credentials.encrypt(secrets)
        locked.state = LinkState.ACTIVE
        locked.failure_count = 0
        locked.last_error = ""
        locked.next_sync_at = timezone.now()
        locked.save(
            update_fields=["credentials", "state", "failure_count", "last_error", "next_sync_at"]
        )
        # The page's "please reconnect" message is answered: it goes, so a later revoked grant
        # is reported (and mailed) again.
        locked.messages.filter(code="reconnect").delete()
        audit_record(
            tenant=locked.tenant,
            actor=user,
            action="calsync.reconnect",
            target=str(locked),
            details={"link": locked.pk, "provider": locked.provider},
        )
    if locked.syncs:
        _open_push_channel(locked)
    link.refresh_from_db()
    return link


def _open_push_channel(link: CalendarLink) -> None:
    """A link that syncs gets its push channel at once (on the interactive queue), not at beat's
    next maintenance round; push.channel_open does nothing where push does not apply."""
    from calsync import push, tasks

    if push.enabled() and push.supports(link.provider):
        push.enqueue_on_commit(tasks.push_open, (link.pk,), queue="interactive")


def link_revoke(*, link: CalendarLink) -> bool:
    """PRODUCT 5: stop sync at once, give up the grant at the provider where it can be given up,
    and delete the stored credentials. Meetings and external events stay as they are.

    The row is marked revoked first (in its own transaction), so no sync starts while the
    provider is being called. A provider that cannot be reached does not keep the credentials
    alive: they are deleted anyway. Returns whether the provider confirmed the revocation (False
    when it could not be reached: the page then tells the user where to remove access).
    """
    with transaction.atomic():
        locked = CalendarLink.all_objects.select_for_update().get(pk=link.pk)
        if locked.state == LinkState.REVOKED:
            return True
        locked.state = LinkState.REVOKED
        locked.revoked_at = timezone.now()
        locked.next_sync_at = None
        locked.save(update_fields=["state", "revoked_at", "next_sync_at"])
        audit_record(
            tenant=locked.tenant,
            actor=locked.user,
            action="calsync.revoke",
            target=str(locked),
            details={"link": locked.pk, "provider": locked.provider},
        )
    # Push channels first, while the credentials still exist (PRODUCT 5): notifications on
    # them are ignored from here on whatever the provider answers.
    from calsync import push

    push.link_channels_stop(locked, reason="revoked")
    confirmed = True
    try:
        registry.get(link.provider).revoke(locked)
    except (ConnectorError, CredentialError):
        confirmed = False
    CalendarLink.all_objects.filter(pk=link.pk).update(credentials="", cursor="")
    link.refresh_from_db()
    return confirmed


def links_set_billing_pause(*, user: User, paused: bool) -> int:
    """Pause (or resume) every live link of ``user`` for billing reasons. Nothing is deleted:
    credentials, cursors and mappings stay, so resuming continues where sync stopped.
    A paused link's push channels are stopped, a resumed one gets a new channel (both as tasks
    once this commits). Returns how many links changed."""
    from calsync import push, tasks

    changing = CalendarLink.objects.filter(user=user).exclude(billing_paused=paused)
    links = list(changing.values_list("pk", "provider"))
    changed = CalendarLink.objects.filter(pk__in=[pk for pk, _ in links]).update(
        billing_paused=paused
    )
    if paused:
        with_channels = set(
            PushChannel.objects.filter(
                link_id__in=[pk for pk, _ in links],
                state__in=[*LIVE_CHANNEL_STATES, ChannelState.STOPPING],
            ).values_list("link_id", flat=True)
        )
        for link_id in with_channels:
            push.enqueue_on_commit(
                tasks.push_stop_link, (link_id, "billing pause"), queue="background"
            )
    elif push.enabled():
        for link_id, provider in links:
            if push.supports(provider):
                push.enqueue_on_commit(tasks.push_open, (link_id,), queue="interactive")
    return changed
