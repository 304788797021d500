"""Writes to calendar links: linking, revoking, and the billing pause."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from billing.entitlement import sync_entitlement
from calsync.models import CalendarLink, LinkState, Provider, Target
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
) -> CalendarLink:
    """Store a new link with its credentials encrypted. ``ValidationError`` if this calendar is
    linked already."""
    if not user.is_practice_staff or user.tenant is None:
        raise ValidationError("Only staff members have a calendar to link.")
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
        raise ValidationError("This calendar is linked to your account already.") from exc
    return link


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
    Returns how many links changed."""
    return (
        CalendarLink.objects.filter(user=user)
        .exclude(billing_paused=paused)
        .update(billing_paused=paused)
    )
