"""Reads: the effective plan of a tenant, its balance, ledger and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
    SubscriptionState,
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


@dataclass(frozen=True)
class Quote:
    """What *Purchase* for one practitioner costs, said before it is done (issue 18 §5)."""

    user: User
    trial: bool
    trial_days: int
    price: int
    balance: int

    @property
    def charge_now(self) -> int:
        return 0 if self.trial else self.price

    @property
    def balance_after(self) -> int:
        return self.balance - self.charge_now

    @property
    def affordable(self) -> bool:
        return self.balance_after >= 0


def purchase_quote(*, tenant: Tenant, user: User, balance: int | None = None) -> Quote:
    """The price of buying calendar synchronisation for ``user`` now: the free trial (once per
    practitioner, as ``billing.services._start`` decides) or the first month."""
    plan = plan_for(tenant)
    return Quote(
        user=user,
        trial=plan.trial_days > 0 and not had_subscription(tenant=tenant, user=user),
        trial_days=plan.trial_days,
        price=plan.price_credits,
        balance=balance_of(tenant) if balance is None else balance,
    )


def buyable_staff(tenant: Tenant) -> list[Quote]:
    """A quote for each practitioner *Purchase* could succeed for now: no live subscription, and
    the trial or enough credits for the first month. Two queries."""
    balance = balance_of(tenant)
    plan = plan_for(tenant)
    had = set(
        Subscription.objects.filter(tenant=tenant, scope=Scope.PRACTITIONER).values_list(
            "user_id", flat=True
        )
    )
    quotes = [
        Quote(
            user=user,
            trial=plan.trial_days > 0 and user.pk not in had,
            trial_days=plan.trial_days,
            price=plan.price_credits,
            balance=balance,
        )
        for user in staff_without_subscription(tenant)
    ]
    return [q for q in quotes if q.affordable]


@dataclass(frozen=True)
class RenewalShortfall:
    """Renewals due soon that the balance does not cover (a warning for administrators)."""

    due: int  # subscriptions renewing by ``until``
    needed: int  # credits they take
    balance: int
    until: datetime
    first_renewal: datetime  # the earliest of them: the renewal that would lapse first

    @property
    def missing(self) -> int:
        return self.needed - self.balance


def renewal_shortfall(
    tenant: Tenant, now: datetime, *, days: int | None = None
) -> RenewalShortfall | None:
    """The renewals of the next ``days`` (BILLING_LOW_BALANCE_DAYS) and whether the balance
    covers them; None when it does. A trial ending counts: its first paid month is due then."""
    horizon = now + timedelta(days=settings.BILLING_LOW_BALANCE_DAYS if days is None else days)
    plan = plan_for(tenant)
    due = list(
        Subscription.objects.filter(
            tenant=tenant,
            state__in=[SubscriptionState.TRIAL, SubscriptionState.ACTIVE],
            period_end__lte=horizon,
        ).select_related("user")
    )
    needed = 0
    for sub in due:
        needed += plan.price_credits * (
            staff_of(tenant).count() if sub.scope == Scope.TENANT else 1
        )
    balance = balance_of(tenant)
    if not due or balance >= needed:
        return None
    return RenewalShortfall(
        due=len(due),
        needed=needed,
        balance=balance,
        until=horizon,
        first_renewal=min(sub.period_end for sub in due),
    )
