"""Reads: the effective plan of a tenant, its balance, ledger and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from accounts.models import Role, Tenant, User
from billing.models import (
    LIVE_STATES,
    BillingMode,
    BillingPlan,
    LedgerEntry,
    Scope,
    Subscription,
)


@dataclass(frozen=True)
class Plan:
    price_credits: int
    trial_days: int
    mode: str

    @property
    def tenant_wide(self) -> bool:
        return self.mode == BillingMode.TENANT_WIDE


def default_plan() -> Plan:
    mode = settings.BILLING_DEFAULT_MODE
    if mode not in BillingMode.values:
        raise ValueError(f"BILLING_DEFAULT_MODE must be one of {BillingMode.values}, not {mode!r}")
    return Plan(
        price_credits=settings.BILLING_PRICE_CREDITS,
        trial_days=settings.BILLING_TRIAL_DAYS,
        mode=mode,
    )


def plan_for(tenant: Tenant) -> Plan:
    """The installation defaults, overridden field by field by the tenant's ``BillingPlan``."""
    plan = default_plan()
    row = BillingPlan.objects.filter(tenant=tenant).first()
    if row is None:
        return plan
    return Plan(
        price_credits=row.price_credits if row.price_credits is not None else plan.price_credits,
        trial_days=row.trial_days if row.trial_days is not None else plan.trial_days,
        mode=row.mode or plan.mode,
    )


def balance_of(tenant: Tenant | int) -> int:
    """The tenant's credits: the sum of its ledger (one indexed aggregate)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    total = LedgerEntry.objects.filter(tenant_id=tenant_id).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def ledger_of(tenant: Tenant, *, limit: int | None = None) -> list[LedgerEntry]:
    entries = LedgerEntry.objects.filter(tenant=tenant).order_by("-created_at", "-id")
    return list(entries[:limit] if limit else entries)


def subscriptions_of(tenant: Tenant) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(tenant=tenant)
        .select_related("user")
        .order_by("-started_at", "-id")
    )


def staff_of(tenant: Tenant | int) -> QuerySet[User]:
    """The users a subscription may cover: active staff (administrators have no calendar)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return User.objects.filter(tenant_id=tenant_id, role=Role.STAFF, is_active=True).order_by(
        "full_name", "email"
    )


def staff_without_subscription(tenant: Tenant) -> QuerySet[User]:
    """Staff for whom *Purchase* makes sense: no live subscription of their own."""
    covered = Subscription.objects.filter(
        tenant=tenant, scope=Scope.PRACTITIONER, state__in=LIVE_STATES
    ).values("user_id")
    return staff_of(tenant).exclude(pk__in=covered)


def live_tenant_wide(tenant: Tenant) -> Subscription | None:
    return Subscription.objects.filter(
        tenant=tenant, scope=Scope.TENANT, state__in=LIVE_STATES
    ).first()


def had_subscription(*, tenant: Tenant, user: User | None) -> bool:
    """Whether the trial is used up: once per practitioner (or once per tenant, tenant-wide)."""
    if user is None:
        return Subscription.objects.filter(tenant=tenant, scope=Scope.TENANT).exists()
    return Subscription.objects.filter(Q(user=user) & Q(scope=Scope.PRACTITIONER)).exists()
