"""Billing records: the credit ledger, per-tenant plan settings and subscriptions.

The ledger is append-only twice over: the model refuses to save an existing row or delete one, and
on PostgreSQL a trigger (migration 0002) refuses ``UPDATE`` and ``DELETE`` whatever the client is.
A tenant's balance is never stored: it is ``SUM(amount)`` of its entries (``selectors``).

State changes live in ``billing.services``; docs/billing.md draws the subscription state machine.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from billing.money import format_money


def ledger_text(args: dict[str, Any]) -> str | None:
    """What a ledger entry says, in the active language, from its ``reason_args``: a renewal
    (``{"what": "renewal", "user": …, "month": "2026-12"}``), a tenant-wide renewal (``"count"``
    staff times ``"price"``) or a card purchase (``"credits"``, ``"amount"``, ``"currency"``).
    None for anything else (an operator's grant)."""
    what = args.get("what")
    if what in ("renewal", "renewal_tenant"):
        year, month = (int(part) for part in str(args["month"]).split("-"))
        when = date_format(date(year, month, 1), "YEAR_MONTH_FORMAT")
        if what == "renewal":
            return gettext("CalendarSync for %(user)s, %(month)s") % {
                "user": args["user"],
                "month": when,
            }
        return ngettext(
            "CalendarSync for all staff: %(count)s × %(price)s credit, %(month)s",
            "CalendarSync for all staff: %(count)s × %(price)s credits, %(month)s",
            int(args["price"]),
        ) % {"count": args["count"], "price": args["price"], "month": when}
    if what == "card":
        return ngettext(
            "%(credits)s credit bought by card (%(price)s)",
            "%(credits)s credits bought by card (%(price)s)",
            int(args["credits"]),
        ) % {
            "credits": args["credits"],
            "price": format_money(int(args["amount"]), str(args["currency"])),
        }
    return None


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a ledger entry."""


class LedgerQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Ledger entries are never updated; add a correcting entry.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Ledger entries are never deleted; add a correcting entry.")


class LedgerEntry(models.Model):
    """One movement of a tenant's credits: a grant (positive) or a charge (negative).

    ``key`` is the idempotency key. Charges use deterministic keys (``renewal:<subscription>:
    <YYYY-MM>``), grants a key the operator chose or a random one; the unique constraint makes a
    second insert of the same key fail, so a retry can never move credits twice.
    """

    class Kind(models.TextChoices):
        GRANT = "grant", _("Grant")
        CHARGE = "charge", _("Charge")

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.IntegerField(help_text=_("Credits: positive for grants, negative for charges."))
    reason = models.CharField(max_length=300)
    # What a charge or a card grant says, as data (``ledger_text``): the ledger shows it in the
    # reader's language, while ``reason`` keeps the English for operators. Empty for an
    # operator's grant, whose reason is the operator's own words.
    reason_args = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[LedgerEntry]] = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="grant", amount__gt=0) | models.Q(kind="charge", amount__lt=0)
                ),
                name="ledgerentry_sign_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="ledger_tenant_created")]

    def __str__(self) -> str:
        return f"{self.amount:+d} · {self.reason}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Ledger entries are never updated; add a correcting entry.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Ledger entries are never deleted; add a correcting entry.")

    @property
    def description(self) -> str:
        """The entry in the active language: the words of a charge or a card grant, or the
        operator's own reason for a grant."""
        return ledger_text(self.reason_args) or self.reason


class BillingMode(models.TextChoices):
    PER_PRACTITIONER = "per_practitioner", _("Per practitioner (subscriptions)")
    TENANT_WIDE = "tenant_wide", _("Tenant-wide activation (every staff user)")


class BillingPlan(models.Model):
    """An operator's per-tenant overrides. A blank field means the installation default
    (``BILLING_PRICE_CREDITS``, ``BILLING_TRIAL_DAYS``, ``BILLING_DEFAULT_MODE``); a tenant
    without a row uses the defaults throughout. ``selectors.plan_for`` resolves them."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="billing_plan")
    price_credits = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Credits per practitioner per month. Blank: default.")
    )
    trial_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Free days at the start. Blank: default; 0: no trial.")
    )
    mode = models.CharField(
        max_length=20, choices=BillingMode.choices, blank=True, help_text=_("Blank: default.")
    )

    class Meta:
        verbose_name = _("billing plan")
        verbose_name_plural = _("billing plans")

    def __str__(self) -> str:
        return f"Billing plan of {self.tenant}"


class SubscriptionState(models.TextChoices):
    TRIAL = "trial", _("Free trial")
    ACTIVE = "active", _("Active")
    LAPSED = "lapsed", _("Lapsed (credits ran out)")
    CANCELLED = "cancelled", _("Cancelled")


class Scope(models.TextChoices):
    PRACTITIONER = "practitioner", _("One practitioner")
    TENANT = "tenant", _("Every staff user")


LIVE_STATES = (SubscriptionState.TRIAL, SubscriptionState.ACTIVE, SubscriptionState.LAPSED)

# The state machine (docs/billing.md draws it). A new subscription starts in TRIAL or ACTIVE;
# CANCELLED is final. ACTIVE -> ACTIVE is a renewal.
TRANSITIONS: dict[str, frozenset[str]] = {
    SubscriptionState.TRIAL: frozenset(
        {SubscriptionState.ACTIVE, SubscriptionState.LAPSED, SubscriptionState.CANCELLED}
    ),
    SubscriptionState.ACTIVE: frozenset(
        {SubscriptionState.ACTIVE, SubscriptionState.LAPSED, SubscriptionState.CANCELLED}
    ),
    SubscriptionState.LAPSED: frozenset({SubscriptionState.ACTIVE, SubscriptionState.CANCELLED}),
    SubscriptionState.CANCELLED: frozenset(),
}
INITIAL_STATES = frozenset({SubscriptionState.TRIAL, SubscriptionState.ACTIVE})


class InvalidTransitionError(Exception):
    pass


class Subscription(models.Model):
    """CalendarSync for one practitioner (scope ``practitioner``) or for every staff user of the
    tenant (scope ``tenant``, tenant-wide activation).

    Dates (all aware, UTC in the database):

    * ``period_start``/``period_end``: the current period, a free trial or a paid month. While
      the subscription is live, ``period_end`` is the next renewal.
    * ``anchor``: where paid months are counted from; month ``n`` runs from
      ``anchor + n months`` (relativedelta), so a subscription anchored on 31 January renews on
      28/29 February and again on 31 March, not on the 28th for ever.
    * ``ends_at``: set on cancel; sync is allowed until then. ``closed_at``: when the renewal run
      (or the cancel itself) paused the links after the end.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscriptions")
    scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.PRACTITIONER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sync_subscriptions",
    )
    state = models.CharField(max_length=10, choices=SubscriptionState.choices)
    started_at = models.DateTimeField()
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    anchor = models.DateTimeField()
    period_index = models.PositiveIntegerField(
        default=0, help_text=_("Paid months counted from the anchor (0 = the first).")
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    lapsed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="practitioner", user__isnull=False)
                    | models.Q(scope="tenant", user__isnull=True)
                ),
                name="subscription_scope_matches_user",
            ),
            # At most one live subscription per practitioner and one tenant-wide per tenant: a
            # double-clicked Purchase cannot buy twice.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state__in=["trial", "active", "lapsed"], scope="practitioner"),
                name="subscription_one_live_per_user",
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(state__in=["trial", "active", "lapsed"], scope="tenant"),
                name="subscription_one_live_tenant_wide",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "period_end"], name="subscription_due"),
            models.Index(fields=["tenant", "state"], name="subscription_tenant_state"),
        ]

    def __str__(self) -> str:
        return f"CalendarSync for {self.covers} ({self.get_state_display()})"

    @property
    def covers(self) -> str:
        return gettext("every staff user") if self.scope == Scope.TENANT else str(self.user)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def next_renewal(self) -> datetime | None:
        """When the renewal run next charges (or ends a trial); None once cancelled."""
        return self.period_end if self.state in LIVE_STATES else None

    def move_to(self, state: str) -> None:
        """Change ``state`` along the state machine; anything else is a programming error. The
        services call this (under the row lock) and save; it sets no dates itself."""
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransitionError(f"subscription {self.pk}: {self.state} -> {state}")
        self.state = state

    def runs_at(self, now: datetime) -> bool:
        """Whether sync is paid for at ``now``: a trial or a paid month, or a cancelled
        subscription whose paid month has not ended yet."""
        if self.state in (SubscriptionState.TRIAL, SubscriptionState.ACTIVE):
            return True
        if self.state == SubscriptionState.CANCELLED:
            return self.ends_at is not None and now < self.ends_at
        return False


class PurchaseState(models.TextChoices):
    OPEN = "open", _("Waiting for payment")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class CreditPurchase(models.Model):
    """A credit pack bought by card through a Stripe Checkout Session (feature 41).

    Made when the administrator starts the purchase (``open``); the credits are granted only by
    the verified ``checkout.session.completed`` webhook, once: the ledger key is
    ``grant:stripe-checkout:<session id>`` (unique), and the webhook locks the tenant and this
    row before it grants. A paid purchase is the receipt the Credits page lists.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="credit_purchases")
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text=_("In the currency's smallest unit (cents)."))
    currency = models.CharField(max_length=3)
    session_id = models.CharField(max_length=255, unique=True)
    state = models.CharField(
        max_length=10, choices=PurchaseState.choices, default=PurchaseState.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    # What Stripe reported with the payment: the event that granted, the PaymentIntent (the
    # reference on the card statement's receipt) and the payer's e-mail.
    event_id = models.CharField(max_length=255, blank=True)
    payment_intent = models.CharField(max_length=255, blank=True)
    payer_email = models.EmailField(blank=True)
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="purchase"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "state"], name="purchase_tenant_state")]

    def __str__(self) -> str:
        return f"{self.credits} credits for {self.tenant} ({self.get_state_display()})"


class LowBalanceWarning(models.Model):
    """That the administrators were e-mailed about a shortfall before the renewal at
    ``renewal_at`` (issue 18 §5). The unique pair is what makes the e-mail go at most once per
    practice and renewal: a second run, or two workers at once, find the row taken. The next
    renewal moves ``period_end`` on, so the next period may warn again."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="low_balance_warnings"
    )
    # The earliest renewal the balance does not cover, when the warning went out.
    renewal_at = models.DateTimeField()
    needed = models.PositiveIntegerField()
    balance = models.IntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "renewal_at"], name="low_balance_warning_once_per_renewal"
            )
        ]

    def __str__(self) -> str:
        return f"Low-balance warning for {self.tenant} before {self.renewal_at:%Y-%m-%d}"
