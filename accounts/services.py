"""Writes to tenants and users. Views, commands and tasks call these; nothing else writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts.models import AuditEntry, Role, Tenant, User


def user_mark_seen(*, user: User, now: datetime) -> bool:
    """Set ``last_seen_at`` to ``now`` unless another request did so within the resolution.

    One conditional UPDATE: concurrent requests of one user write at most once. Returns whether
    this call wrote.
    """
    resolution = timedelta(seconds=settings.ACCOUNTS_ACTIVITY_RESOLUTION_SECONDS)

    updated = (
        User.objects.filter(pk=user.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=now - resolution))
        .update(last_seen_at=now)
    )
    user.last_seen_at = now
    return bool(updated)


@transaction.atomic
def tenant_create(*, name: str, slug: str, time_zone: str = "Europe/Amsterdam") -> Tenant:
    tenant = Tenant(name=name, slug=slug, time_zone=time_zone)
    tenant.full_clean()
    tenant.save()
    return tenant


def user_create(
    *,
    tenant: Tenant,
    email: str,
    role: Role | str,
    full_name: str = "",
    password: str | None = None,
    time_zone: str | None = None,
) -> User:
    """A user of ``tenant``. Without a password the account cannot log in until the user sets one
    through the password-reset e-mail."""
    return User.objects.create_user(
        email,
        password,
        tenant=tenant,
        role=str(role),
        full_name=full_name,
        time_zone=time_zone or tenant.time_zone,
    )


def user_update_profile(*, user: User, full_name: str, time_zone: str) -> User:
    user.full_name = full_name
    user.time_zone = time_zone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "time_zone"])
    return user


def audit_record(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (billing: purchase, cancel, grant; later linking). Call it inside the
    transaction of the change it records, so both land or neither does."""
    entry = AuditEntry(
        tenant=tenant,
        actor=actor,
        actor_label=actor.email if actor is not None else "",
        action=action,
        target=target[:300],
        details=details or {},
    )
    entry.full_clean()
    entry.save()
    return entry
