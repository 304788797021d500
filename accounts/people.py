"""Writes to a practice's people that reach into other apps: changing a role, deactivating and
reactivating a person (docs/features.md, 40). Views call these; the plain user and invitation
writes are in ``accounts.services``.

A practice always keeps an active administrator: every check of that runs under the tenant's
row lock (the same lock billing takes first), so two administrators demoting or deactivating
each other at once cannot both succeed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, Tenant, User
from accounts.services import audit_record, record_label
from billing.models import LIVE_STATES, Scope, Subscription
from billing.services import subscription_cancel
from calsync.models import CalendarLink
from calsync.services import link_revoke, links_set_billing_pause

logger = logging.getLogger(__name__)

LAST_ADMIN = _(
    "A practice needs at least one active administrator: make someone else an administrator first."
)


@dataclass
class CalendarsEnded:
    """What ending a person's calendar synchronisation did, for the administrator's message."""

    links_revoked: int = 0
    # Links whose provider could not be reached to give up the grant (credentials are deleted
    # all the same; the person can remove the access at the provider).
    links_unconfirmed: int = 0
    subscriptions: list[Subscription] = field(default_factory=list)


def _check_admin(actor: User, tenant: Tenant) -> None:
    if not actor.is_practice_admin or actor.tenant_id != tenant.pk or not actor.is_active:
        raise ValidationError(gettext("Only an administrator of this practice may do this."))


def _locked(user: User) -> tuple[Tenant, User]:
    assert user.tenant_id is not None
    tenant = Tenant.objects.select_for_update().get(pk=user.tenant_id)
    return tenant, User.objects.select_for_update().get(pk=user.pk)


def _other_active_admins(user: User) -> int:
    return (
        User.objects.filter(tenant=user.tenant, role=Role.ADMIN, is_active=True)
        .exclude(pk=user.pk)
        .count()
    )


def _cancel_subscriptions(user: User, actor: User, now: datetime) -> list[Subscription]:
    """Cancel ``user``'s own live subscriptions (inside the caller's transaction): a trial ends
    now, a paid month runs out and is not renewed (feature 29), so the practice stops paying."""
    return [
        subscription_cancel(subscription=sub, actor=actor, now=now)
        for sub in Subscription.objects.filter(
            user=user, scope=Scope.PRACTITIONER, state__in=LIVE_STATES
        )
    ]


def _revoke_links(user: User, ended: CalendarsEnded) -> None:
    """Revoke every live link of ``user`` as *Revoke access* does (feature 5). Called after the
    commit: each revocation calls the provider, which must not hold the tenant lock. The links
    were paused in the transaction, so no sync runs in between."""
    for link in CalendarLink.objects.filter(user=user):
        confirmed = link_revoke(link=link)
        ended.links_revoked += 1
        ended.links_unconfirmed += 0 if confirmed else 1


def _end_calendar(user: User, actor: User, now: datetime, ended: CalendarsEnded) -> None:
    ended.subscriptions = _cancel_subscriptions(user, actor, now)
    # Sync stops with this commit, even if a revocation below fails or the process dies.
    links_set_billing_pause(user=user, paused=True)


def user_set_role(
    *, user: User, role: Role | str, actor: User, now: datetime | None = None
) -> CalendarsEnded:
    """Make ``user`` staff or an administrator. Administrators have no calendar, so a staff
    member made administrator has their links revoked and their subscription cancelled (their
    meetings stay)."""
    now = now or timezone.now()
    role = str(role)
    if role not in Role.values:
        raise ValidationError({"role": gettext("Choose staff or administrator.")})
    assert user.tenant is not None
    _check_admin(actor, user.tenant)
    ended = CalendarsEnded()
    with transaction.atomic():
        tenant, locked = _locked(user)
        _check_admin(actor, tenant)
        before = locked.role
        if before == role:
            return ended
        if before == Role.ADMIN and locked.is_active and _other_active_admins(locked) == 0:
            raise ValidationError(LAST_ADMIN)
        locked.role = role
        locked.full_clean(exclude=["password"])
        locked.save(update_fields=["role"])
        if before == Role.STAFF:
            _end_calendar(locked, actor, now, ended)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="accounts.role",
            target=f"{locked.email}: {record_label(before)} -> {record_label(role)}",
            details={"user": locked.pk, "from": before, "to": role},
        )
    if before == Role.STAFF:
        _revoke_links(locked, ended)
    user.refresh_from_db()
    return ended


def user_deactivate(*, user: User, actor: User, now: datetime | None = None) -> CalendarsEnded:
    """Deactivate ``user``: they can no longer log in (their sessions end: Django's backend
    refuses inactive users), their links are revoked as *Revoke access* does, their
    subscription is cancelled (a trial ends now, a paid month runs out). Their meetings stay."""
    now = now or timezone.now()
    assert user.tenant is not None
    _check_admin(actor, user.tenant)
    if user.pk == actor.pk:
        raise ValidationError(
            gettext("You cannot deactivate yourself: another administrator of the practice can.")
        )
    ended = CalendarsEnded()
    with transaction.atomic():
        tenant, locked = _locked(user)
        _check_admin(actor, tenant)
        if not locked.is_active:
            raise ValidationError(
                gettext("%(name)s is deactivated already.") % {"name": locked.get_full_name()}
            )
        if locked.role == Role.ADMIN and _other_active_admins(locked) == 0:
            raise ValidationError(LAST_ADMIN)
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        _end_calendar(locked, actor, now, ended)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="accounts.deactivate",
            target=locked.email,
            details={
                "user": locked.pk,
                "subscriptions_cancelled": [s.pk for s in ended.subscriptions],
            },
        )
    _revoke_links(locked, ended)
    user.refresh_from_db()
    return ended


def user_reactivate(*, user: User, actor: User) -> User:
    """Let a deactivated person log in again. Their old links stay revoked (they set up sync
    again) and their subscription stays cancelled (an administrator buys it again)."""
    assert user.tenant is not None
    _check_admin(actor, user.tenant)
    with transaction.atomic():
        tenant, locked = _locked(user)
        _check_admin(actor, tenant)
        if locked.is_active:
            raise ValidationError(
                gettext("%(name)s is active already.") % {"name": locked.get_full_name()}
            )
        locked.is_active = True
        locked.save(update_fields=["is_active"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="accounts.reactivate",
            target=locked.email,
            details={"user": locked.pk},
        )
    user.refresh_from_db()
    return locked
