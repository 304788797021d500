"""Every billing write: grants, charges, purchase, tenant-wide activation, cancel and renewal.

Concurrency (docs/billing.md has the whole argument):

* Every write that moves credits or changes a subscription first locks the tenant's row
  (``SELECT … FOR UPDATE``), then the subscription's. One lock order everywhere, so no deadlocks;
  and because the balance check and the insert happen under the tenant lock, two charges of one
  tenant cannot both see the same balance and overdraw it.
* Every charge carries a deterministic key (``renewal:<subscription>:<YYYY-MM>``) with a unique
  constraint. A retried or concurrent renewal finds the subscription already moved on (it re-reads
  it under the lock) and, even if it did not, finds the key taken: one charge, whatever happens.

Functions are keyword-only and raise ``ValidationError`` with a message for the page when the
request makes no sense (wrong role, nothing to cancel, not enough credits).
"""

from __future__ import annotations

import logging
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Role, Tenant, User
from accounts.services import audit_record
from billing.entitlement import sync_entitlement
from billing.models import (
    LIVE_STATES,
    CreditPurchase,
    LedgerEntry,
    LowBalanceWarning,
    Scope,
    Subscription,
    SubscriptionState,
    ledger_text,
)
from billing.periods import add_days, add_months, paid_period, renewal_key
from billing.selectors import (
    RenewalShortfall,
    balance_of,
    had_subscription,
    live_tenant_wide,
    plan_for,
    renewal_shortfall,
    staff_of,
)
from calsync.services import links_set_billing_pause

logger = logging.getLogger(__name__)

# A renewal run catches up at most this many missed months of one subscription (beat down for
# that long is an outage an operator handles; the rest is charged at the following runs).
MAX_CATCH_UP_PERIODS = 3


class InsufficientCreditsError(Exception):
    def __init__(self, *, balance: int, amount: int) -> None:
        super().__init__(f"{amount} credits needed, {balance} available")
        self.balance = balance
        self.amount = amount


def _lock_tenant(tenant_id: int) -> Tenant:
    """Lock the tenant's row for the rest of the transaction: the one lock that serialises every
    balance check with its insert (and every subscription change of the tenant)."""
    return Tenant.objects.select_for_update().get(pk=tenant_id)


# --- the ledger ----------------------------------------------------------------------------------


def credits_grant(
    *,
    tenant: Tenant,
    amount: int,
    reason: str,
    key: str | None = None,
    actor: User | None = None,
    reason_args: dict[str, object] | None = None,
) -> tuple[LedgerEntry, bool]:
    """Add ``amount`` credits to ``tenant`` (an operator's grant). With a ``key``, granting again
    with the same key changes nothing and returns the first entry (``created`` False); the same
    key for another tenant or amount is an error. Records an audit entry."""
    errors: dict[str, str] = {}
    if amount <= 0:
        errors["amount"] = _("Grant a positive number of credits.")
    if not reason.strip():
        errors["reason"] = _("Say why the credits are granted.")
    if errors:
        raise ValidationError(errors)
    full_key = f"grant:{key}" if key else f"grant:{uuid.uuid4()}"
    with transaction.atomic():
        _lock_tenant(tenant.pk)
        existing = LedgerEntry.objects.filter(key=full_key).first()
        if existing is not None:
            if existing.tenant_id != tenant.pk or existing.amount != amount:
                raise ValidationError(
                    {
                        "key": _("The key %(key)s was used already for another grant.")
                        % {"key": repr(key)}
                    }
                )
            return existing, False
        entry = LedgerEntry(
            tenant=tenant,
            kind=LedgerEntry.Kind.GRANT,
            amount=amount,
            reason=reason.strip(),
            reason_args=reason_args or {},
            key=full_key,
        )
        entry.full_clean()
        entry.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="billing.grant",
            target=f"{amount} credits",
            details={"amount": amount, "reason": entry.reason, "key": full_key},
        )
    return entry, True


def ledger_charge(
    *,
    tenant_id: int,
    amount: int,
    reason: str,
    key: str,
    reason_args: dict[str, object] | None = None,
) -> tuple[LedgerEntry, bool]:
    """Take ``amount`` (> 0) credits from the tenant, once per ``key``.

    Returns ``(entry, created)``: the entry with that key if it exists already (nothing charged),
    else the new one. Raises ``InsufficientCreditsError`` when the balance is below ``amount``.
    Runs in a transaction holding the tenant lock (joining the caller's, if any).
    """
    if amount <= 0:
        raise ValueError("a charge takes a positive number of credits")
    with transaction.atomic():
        _lock_tenant(tenant_id)
        existing = LedgerEntry.objects.filter(key=key).first()
        if existing is not None:
            if existing.tenant_id != tenant_id:
                raise ValueError(f"ledger key {key!r} belongs to another tenant")
            return existing, False
        balance = balance_of(tenant_id)
        if balance < amount:
            raise InsufficientCreditsError(balance=balance, amount=amount)
        entry = LedgerEntry(
            tenant_id=tenant_id,
            kind=LedgerEntry.Kind.CHARGE,
            amount=-amount,
            reason=reason,
            reason_args=reason_args or {},
            key=key,
        )
        entry.full_clean()
        entry.save()
    return entry, True


def ledger_purge_tenant(*, tenant: Tenant) -> int:
    """Delete a tenant's whole ledger, for deleting the tenant itself (the demo's reset). The
    database trigger allows DELETE only for the tenant this transaction names in
    ``billing.ledger_purge_tenant``; nothing else ever deletes ledger rows."""
    table = LedgerEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Card purchases point at their ledger entries: they go with the tenant too.
        CreditPurchase.objects.filter(tenant=tenant).delete()
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT set_config('billing.ledger_purge_tenant', %s, true)", [str(tenant.pk)]
            )
        # The model and its queryset refuse deletes on purpose; this is the one sanctioned path.
        cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
        return int(cursor.rowcount)


# --- subscriptions -------------------------------------------------------------------------------


def _check_admin(actor: User, tenant: Tenant) -> None:
    if not actor.is_practice_admin or actor.tenant_id != tenant.pk:
        raise ValidationError(_("Only this practice's administrators may buy or cancel sync."))


def _price(sub: Subscription) -> tuple[int, dict[str, object]]:
    """Credits for one month of ``sub`` and the words for the ledger (``ledger_text``'s, without
    the month): the plan's price, times the number of active staff users for a tenant-wide
    activation (administrators are free)."""
    plan = plan_for(sub.tenant)
    if sub.scope == Scope.TENANT:
        count = staff_of(sub.tenant_id).count()
        return plan.price_credits * count, {
            "what": "renewal_tenant",
            "count": count,
            "price": plan.price_credits,
        }
    return plan.price_credits, {"what": "renewal", "user": str(sub.user)}


def _charge_period(sub: Subscription, start: datetime) -> None:
    """Charge the month of ``sub`` starting at ``start`` (idempotent by its key)."""
    amount, words = _price(sub)
    if amount == 0:
        return  # a tenant-wide activation without staff: nothing to charge this month
    zone = sub.tenant.time_zone
    words["month"] = timezone.localtime(start, timezone=zoneinfo.ZoneInfo(zone)).strftime("%Y-%m")
    # The ledger shows ``words`` in each reader's language; ``reason`` keeps the English.
    with translation.override("en"):
        reason = ledger_text(words) or ""
    ledger_charge(
        tenant_id=sub.tenant_id,
        amount=amount,
        reason=reason,
        reason_args=words,
        key=renewal_key(sub.pk, start, zone),
    )


def _start(*, tenant: Tenant, user: User | None, actor: User, now: datetime) -> Subscription:
    """Create a subscription for ``user`` (None: tenant-wide), starting a trial if the plan has
    one and this practitioner (or tenant) never had one; otherwise charge the first month now."""
    plan = plan_for(tenant)
    zone = tenant.time_zone
    sub = Subscription(
        tenant=tenant,
        scope=Scope.TENANT if user is None else Scope.PRACTITIONER,
        user=user,
        started_at=now,
        created_by=actor,
        period_start=now,
    )
    if plan.trial_days > 0 and not had_subscription(tenant=tenant, user=user):
        trial_end = add_days(now, plan.trial_days, zone)
        sub.state = SubscriptionState.TRIAL
        sub.trial_ends_at = trial_end
        sub.anchor = trial_end
        sub.period_end = trial_end
        sub.period_index = 0
    else:
        sub.state = SubscriptionState.ACTIVE
        sub.anchor = now
        sub.period_index = 0
        sub.period_end = add_months(now, 1, zone)
    sub.full_clean()
    sub.save()
    if sub.state == SubscriptionState.ACTIVE:
        try:
            _charge_period(sub, sub.period_start)
        except InsufficientCreditsError as exc:
            # Raising rolls back the subscription created above.
            raise ValidationError(
                ngettext(
                    "Not enough credits: the first month costs %(amount)s credit and the "
                    "practice has %(balance)s. Buy credits on Settings › Integrations › Credits, "
                    "or ask your CalSync operator.",
                    "Not enough credits: the first month costs %(amount)s credits and the "
                    "practice has %(balance)s. Buy credits on Settings › Integrations › Credits, "
                    "or ask your CalSync operator.",
                    exc.amount,
                )
                % {"amount": exc.amount, "balance": exc.balance}
            ) from exc
    return sub


def subscription_purchase(
    *, tenant: Tenant, user: User, actor: User, now: datetime | None = None
) -> Subscription:
    """*Buy Calendar Synchronisation* for practitioner ``user``: the first ``trial_days`` are free
    (once per practitioner), after that the plan's price each month."""
    now = now or timezone.now()
    _check_admin(actor, tenant)
    with transaction.atomic():
        _lock_tenant(tenant.pk)
        if plan_for(tenant).tenant_wide:
            raise ValidationError(
                _(
                    "This practice uses tenant-wide activation: activate CalendarSync for all "
                    "staff instead of buying it per practitioner."
                )
            )
        if user.tenant_id != tenant.pk or not user.is_practice_staff or not user.is_active:
            raise ValidationError(
                {
                    "user": _(
                        "Choose a staff member of this practice (administrators have no calendar)."
                    )
                }
            )
        mine = Subscription.objects.filter(user=user, scope=Scope.PRACTITIONER)
        if mine.filter(state__in=LIVE_STATES).exists():
            raise ValidationError(
                {"user": _("%(user)s has calendar synchronisation already.") % {"user": user}}
            )
        running = mine.filter(state=SubscriptionState.CANCELLED, ends_at__gt=now).first()
        if running is not None and running.ends_at is not None:
            last = timezone.localtime(running.ends_at, zoneinfo.ZoneInfo(tenant.time_zone))
            raise ValidationError(
                {
                    "user": _(
                        "%(user)s's cancelled subscription is paid until %(day)s; buy it again "
                        "after that day."
                    )
                    % {"user": user, "day": date_format(last, "DATE_FORMAT")}
                }
            )
        sub = _start(tenant=tenant, user=user, actor=actor, now=now)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="billing.purchase",
            target=f"CalendarSync for {user}",
            details={"subscription": sub.pk, "user": user.pk, "state": sub.state},
        )
        _apply_entitlement([user], now=now)
    return sub


def tenant_activate(*, tenant: Tenant, actor: User, now: datetime | None = None) -> Subscription:
    """*Activate CalendarSync* for every staff user (tenant-wide mode). The trial applies once per
    tenant; each month every active staff user is charged, whether they sync or not."""
    now = now or timezone.now()
    _check_admin(actor, tenant)
    with transaction.atomic():
        _lock_tenant(tenant.pk)
        if not plan_for(tenant).tenant_wide:
            raise ValidationError(
                _("This practice buys calendar synchronisation per practitioner.")
            )
        if live_tenant_wide(tenant) is not None:
            raise ValidationError(_("CalendarSync is active for this practice already."))
        running = Subscription.objects.filter(
            tenant=tenant,
            scope=Scope.TENANT,
            state=SubscriptionState.CANCELLED,
            ends_at__gt=now,
        ).exists()
        if running:
            raise ValidationError(
                _("The cancelled activation is still paid; activate again after it ends.")
            )
        sub = _start(tenant=tenant, user=None, actor=actor, now=now)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="billing.activate",
            target="CalendarSync for all staff",
            details={"subscription": sub.pk, "state": sub.state},
        )
        _apply_entitlement(staff_of(tenant), now=now)
    return sub


def subscription_cancel(
    *, subscription: Subscription, actor: User, now: datetime | None = None
) -> Subscription:
    """Cancel: a trial (or a lapsed subscription) ends at once and its links pause now; a paid
    month runs to its end (the renewal run pauses the links then and charges nothing more)."""
    now = now or timezone.now()
    _check_admin(actor, subscription.tenant)
    with transaction.atomic():
        _lock_tenant(subscription.tenant_id)
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.state == SubscriptionState.CANCELLED:
            raise ValidationError(_("This subscription is cancelled already."))
        before = sub.state
        sub.move_to(SubscriptionState.CANCELLED)
        sub.cancelled_at = now
        if before == SubscriptionState.ACTIVE and sub.period_end > now:
            sub.ends_at = sub.period_end
        else:
            sub.ends_at = now
            sub.closed_at = now
        sub.full_clean()
        sub.save()
        audit_record(
            tenant=sub.tenant,
            actor=actor,
            action="billing.cancel",
            # In English, as every audit target (``covers`` is in the reader's language).
            target="CalendarSync for all staff"
            if sub.scope == Scope.TENANT
            else f"CalendarSync for {sub.user}",
            details={
                "subscription": sub.pk,
                "was": before,
                "ends_at": sub.ends_at.isoformat() if sub.ends_at else None,
            },
        )
        _apply_entitlement(_covered_users(sub), now=now)
    subscription.refresh_from_db()
    return sub


# --- renewal -------------------------------------------------------------------------------------


class Outcome(StrEnum):
    GONE = "gone"
    NOT_DUE = "not_due"
    RENEWED = "renewed"
    LAPSED = "lapsed"
    STILL_LAPSED = "still_lapsed"
    RESUMED = "resumed"
    CLOSED = "closed"


def subscription_renew(*, subscription_id: int, now: datetime | None = None) -> Outcome:
    """Bring one subscription up to date at ``now``; safe to call any number of times, from any
    number of workers at once.

    * trial or active, period over: charge the next month (``renewal:<id>:<YYYY-MM>``) and move
      on, or lapse if credits are short (links pause; administrators and practitioner are told);
    * lapsed: charge a month starting now if credits suffice, and resume the links;
    * cancelled and past its end: pause the links (once).
    """
    now = now or timezone.now()
    tenant_id = (
        Subscription.objects.filter(pk=subscription_id).values_list("tenant_id", flat=True).first()
    )
    if tenant_id is None:
        return Outcome.GONE
    with transaction.atomic():
        _lock_tenant(tenant_id)
        sub = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("tenant", "user")
            .filter(pk=subscription_id)
            .first()
        )
        if sub is None:
            return Outcome.GONE
        if sub.state in (SubscriptionState.TRIAL, SubscriptionState.ACTIVE):
            return _renew_live(sub, now)
        if sub.state == SubscriptionState.LAPSED:
            return _try_resume(sub, now)
        if sub.ends_at is not None and sub.ends_at <= now and sub.closed_at is None:
            sub.closed_at = now
            sub.save(update_fields=["closed_at"])
            _apply_entitlement(_covered_users(sub), now=now)
            return Outcome.CLOSED
        return Outcome.NOT_DUE


def _renew_live(sub: Subscription, now: datetime) -> Outcome:
    if sub.period_end > now:
        return Outcome.NOT_DUE
    zone = sub.tenant.time_zone
    for _attempt in range(MAX_CATCH_UP_PERIODS):
        index = 0 if sub.state == SubscriptionState.TRIAL else sub.period_index + 1
        start, end = paid_period(sub.anchor, index, zone)
        try:
            _charge_period(sub, start)
        except InsufficientCreditsError as exc:
            sub.move_to(SubscriptionState.LAPSED)
            sub.lapsed_at = now
            sub.full_clean()
            sub.save()
            _apply_entitlement(_covered_users(sub), now=now)
            _notify(sub, "lapsed", amount=exc.amount, balance=exc.balance)
            logger.info("billing: subscription %s lapsed (%s)", sub.pk, exc)
            return Outcome.LAPSED
        sub.move_to(SubscriptionState.ACTIVE)
        sub.period_index = index
        sub.period_start, sub.period_end = start, end
        if end > now:
            break
    sub.full_clean()
    sub.save()
    return Outcome.RENEWED


def _try_resume(sub: Subscription, now: datetime) -> Outcome:
    zone = sub.tenant.time_zone
    try:
        _charge_period(sub, now)
    except InsufficientCreditsError:
        return Outcome.STILL_LAPSED
    # A fresh anchor: the resumed subscription renews monthly from today.
    sub.move_to(SubscriptionState.ACTIVE)
    sub.anchor = now
    sub.period_index = 0
    sub.period_start, sub.period_end = now, add_months(now, 1, zone)
    sub.lapsed_at = None
    sub.full_clean()
    sub.save()
    _apply_entitlement(_covered_users(sub), now=now)
    _notify(sub, "resumed")
    return Outcome.RESUMED


def due_subscription_ids(*, now: datetime) -> list[int]:
    """Subscriptions the renewal run must look at: live ones past their period, lapsed ones (to
    resume after a grant) and cancelled ones past their end whose links are not yet paused."""
    return list(
        Subscription.objects.filter(
            Q(state__in=[SubscriptionState.TRIAL, SubscriptionState.ACTIVE], period_end__lte=now)
            | Q(state=SubscriptionState.LAPSED)
            | Q(state=SubscriptionState.CANCELLED, closed_at__isnull=True, ends_at__lte=now)
        )
        .order_by("period_end", "pk")
        .values_list("pk", flat=True)
    )


def renewals_run(*, now: datetime | None = None) -> Counter[str]:
    """The beat task's service: renew every due subscription, each in its own transaction. One
    failing subscription is logged and does not stop the others."""
    now = now or timezone.now()
    outcomes: Counter[str] = Counter()
    for subscription_id in due_subscription_ids(now=now):
        try:
            outcomes[subscription_renew(subscription_id=subscription_id, now=now)] += 1
        except Exception:
            logger.exception("billing: renewing subscription %s failed", subscription_id)
            outcomes["failed"] += 1
    return outcomes


def low_balance_warnings_send(*, now: datetime | None = None) -> int:
    """E-mail each practice's administrators once when the balance will not cover a renewal
    due within BILLING_LOW_BALANCE_DAYS (the page's warning, ``renewal_shortfall``), so that
    they can buy credits before sync pauses. Once per practice and renewal: the
    ``LowBalanceWarning`` row is taken under the tenant's lock before the e-mail is queued
    for after the commit. Returns how many practices were warned."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.BILLING_LOW_BALANCE_DAYS)
    tenant_ids = (
        Subscription.objects.filter(
            state__in=[SubscriptionState.TRIAL, SubscriptionState.ACTIVE],
            period_end__gt=now,
            period_end__lte=horizon,
        )
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    warned = 0
    for tenant_id in sorted(set(tenant_ids)):
        try:
            with transaction.atomic():
                tenant = _lock_tenant(tenant_id)
                shortfall = renewal_shortfall(tenant, now)
                if shortfall is None:
                    continue
                _warning, created = LowBalanceWarning.objects.get_or_create(
                    tenant=tenant,
                    renewal_at=shortfall.first_renewal,
                    defaults={
                        "needed": shortfall.needed,
                        "balance": shortfall.balance,
                        "sent_at": now,
                    },
                )
                if created:
                    _notify_low_balance(tenant, shortfall)
                    warned += 1
        except Exception:
            logger.exception("billing: the low-balance warning of tenant %s failed", tenant_id)
    return warned


# --- effects on links and people -----------------------------------------------------------------


def _covered_users(sub: Subscription) -> list[User]:
    if sub.scope == Scope.TENANT:
        return list(staff_of(sub.tenant_id))
    assert sub.user is not None
    return [sub.user]


def _apply_entitlement(users: Iterable[User], *, now: datetime) -> None:
    """Pause or resume each user's links to match what billing now allows (another subscription,
    say the tenant-wide one, may still cover a user whose own one ended)."""
    for user in users:
        links_set_billing_pause(user=user, paused=not sync_entitlement(user, now=now).allowed)


@dataclass(frozen=True)
class _Mail:
    subject: str
    body: str
    to: str
    user_id: int


def _one_line(text: str) -> str:
    """``text`` fit for a header: names are validated (``accounts.validators.validate_name``),
    but one stored before that check must still not break the subject."""
    return " ".join(text.split())


def _notify_low_balance(tenant: Tenant, shortfall: RenewalShortfall) -> None:
    """The low-balance e-mail to the practice's administrators (practitioners cannot buy)."""
    admins = list(User.objects.filter(tenant=tenant, role=Role.ADMIN, is_active=True))
    zone = zoneinfo.ZoneInfo(tenant.time_zone)
    mails = []
    for person in admins:
        # Each administrator reads it in their own language, dates included.
        with translation.override(person.preferred_language()):
            first = date_format(
                timezone.localtime(shortfall.first_renewal, zone), "DATETIME_FORMAT"
            )
            subject = _("CalendarSync at %(practice)s: buy credits before %(day)s") % {
                "practice": _one_line(tenant.name),
                "day": first,
            }
            body = render_to_string(
                "billing/email_low_balance.txt",
                {
                    "person": person,
                    "tenant": tenant,
                    "shortfall": shortfall,
                    "first_renewal": first,
                    "days": settings.BILLING_LOW_BALANCE_DAYS,
                },
            )
        mails.append(_Mail(subject=subject, to=person.email, user_id=person.pk, body=body))
    _send_after_commit(mails, what=f"low-balance e-mail of tenant {tenant.pk}")


def _send_after_commit(mails: list[_Mail], *, what: str) -> None:
    def send() -> None:
        # Each mail on its own, as in ``_notify``: one refused loses no other.
        for m in mails:
            try:
                EmailMessage(m.subject, m.body, settings.DEFAULT_FROM_EMAIL, [m.to]).send()
            except Exception:
                logger.exception("billing: the %s to user %s was not sent", what, m.user_id)

    transaction.on_commit(send, robust=True)


def _notify(sub: Subscription, event: str, **extra: int) -> None:
    """E-mail the tenant's administrators and the covered practitioners, after commit."""
    admins = list(User.objects.filter(tenant_id=sub.tenant_id, role=Role.ADMIN, is_active=True))
    covered = _covered_users(sub)
    mails = []
    for person in [*admins, *covered]:
        # Each person reads it in their own language.
        with translation.override(person.preferred_language()):
            covers = _one_line(sub.covers)
            if event == "lapsed":
                subject = _("CalendarSync paused for %(covers)s: not enough credits") % {
                    "covers": covers
                }
            else:
                subject = _("CalendarSync resumed for %(covers)s") % {"covers": covers}
            body = render_to_string(
                f"billing/email_{event}.txt",
                {
                    "person": person,
                    "sub": sub,
                    "tenant": sub.tenant,
                    "is_admin": person.is_practice_admin,
                    **extra,
                },
            )
        mails.append(_Mail(subject=subject, to=person.email, user_id=person.pk, body=body))

    def send() -> None:
        # Each mail on its own: one that the mail server (or Django's header check) refuses
        # loses no other (send_mass_mail gave up on the whole batch at the first bad one).
        for m in mails:
            try:
                EmailMessage(m.subject, m.body, settings.DEFAULT_FROM_EMAIL, [m.to]).send()
            except Exception:
                logger.exception(
                    "billing: the %s e-mail of subscription %s to user %s was not sent",
                    event,
                    sub.pk,
                    m.user_id,
                )

    transaction.on_commit(send, robust=True)
