"""Buying credit packs by card through Stripe Checkout (feature 41), with the ``stripe`` library.

The flow (https://docs.stripe.com/checkout/fulfillment):

1. *Buy* on the Credits page: ``checkout_start`` creates a Checkout Session in ``payment`` mode
   for the pack (price and credits from ``BILLING_CREDIT_PACKS``) and records an ``open``
   ``CreditPurchase``; the administrator is sent to the session's hosted page.
2. The administrator pays there, and Stripe sends them back to ``success_url`` (or to
   ``cancel_url`` from the page's back link: ``checkout_cancel`` expires the session, so it can
   no longer be paid).
3. Stripe POSTs the ``checkout.session.completed`` event to our webhook. ``webhook_receive``
   verifies its ``Stripe-Signature`` with the endpoint secret (the library's
   ``Webhook.construct_event``: HMAC-SHA256, compared in constant time, refused when signed more
   than ``STRIPE_WEBHOOK_TOLERANCE_SECONDS`` ago), then ``checkout_completed`` grants the credits.

Granted exactly once: under the tenant's row lock (billing's one lock order) the purchase row is
re-read; a purchase already paid grants nothing, and the ledger key
``grant:stripe-checkout:<session id>`` is unique besides. So a replayed event, Stripe's own
redelivery, two concurrent deliveries, or a second event for the same session all grant nothing
more. The key is the session rather than the event id because one session is one payment;
the event id is recorded on the purchase.

The webhook is a door (STYLE 13): it verifies, runs one short transaction and answers. Answering
2xx only after the credits are committed lets Stripe's retries cover a failure here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Tenant, User
from accounts.services import audit_record
from billing.models import CreditPurchase, PurchaseState, ledger_text
from billing.money import format_money as format_money  # also billing.checkout's, as before
from billing.services import _lock_tenant, credits_grant

logger = logging.getLogger(__name__)

UNREACHABLE = _(
    "The payment service could not be reached, so nothing was charged. Try again in a minute."
)


@dataclass(frozen=True)
class Pack:
    credits: int
    amount: int  # in the currency's smallest unit
    currency: str

    @property
    def price(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def name(self) -> str:
        """The product's name on Stripe's payment page, in the buyer's language."""
        return ngettext(
            "%(credits)s CalSync credit", "%(credits)s CalSync credits", self.credits
        ) % {"credits": self.credits}


def packs() -> list[Pack]:
    """The packs on sale (``BILLING_CREDIT_PACKS``, e.g. ``100=2500,250=5500``)."""
    currency = settings.BILLING_CURRENCY
    result: list[Pack] = []
    for entry in str(settings.BILLING_CREDIT_PACKS).split(","):
        if not entry.strip():
            continue
        try:
            credits_text, amount_text = entry.split("=")
            pack = Pack(int(credits_text), int(amount_text), currency)
        except ValueError:
            raise ImproperlyConfigured(
                f"BILLING_CREDIT_PACKS: {entry!r} is not <credits>=<price in cents>."
            ) from None
        if pack.credits <= 0 or pack.amount <= 0:
            raise ImproperlyConfigured(f"BILLING_CREDIT_PACKS: {entry!r} must be positive.")
        result.append(pack)
    return result


def card_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient:
    """A Stripe client for ``STRIPE_API_BASE`` (Stripe's API, or the stand-in), with our timeout
    and the library's retries (its POSTs carry idempotency keys, so a retry creates nothing
    twice)."""
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.CALSYNC_HTTP_TIMEOUT),
    )


def _check_admin(actor: User, tenant: Tenant) -> None:
    if not actor.is_practice_admin or actor.tenant_id != tenant.pk or not actor.is_active:
        raise ValidationError(_("Only this practice's administrators may buy credits."))


def checkout_start(
    *, tenant: Tenant, actor: User, credits: int, success_url: str, cancel_url: str
) -> tuple[CreditPurchase, str]:
    """Create the Checkout Session for the pack of ``credits`` and record the open purchase.
    Returns the purchase and the hosted page's URL. ``success_url`` and ``cancel_url`` should
    carry ``{CHECKOUT_SESSION_ID}``, which Stripe fills in."""
    _check_admin(actor, tenant)
    if not card_enabled():
        raise ValidationError(_("Buying credits by card is not set up on this installation."))
    pack = next((p for p in packs() if p.credits == credits), None)
    if pack is None:
        raise ValidationError({"pack": _("Choose one of the packs on offer.")})
    try:
        session = client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {
                            "currency": pack.currency,
                            "unit_amount": pack.amount,
                            "product_data": {"name": pack.name},
                        },
                        "quantity": 1,
                    }
                ],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "client_reference_id": f"tenant-{tenant.pk}",
                "customer_email": actor.email,
                "metadata": {"tenant": str(tenant.pk), "credits": str(pack.credits)},
            }
        )
    except stripe.StripeError as exc:
        logger.warning("billing: Stripe refused or could not create a session: %s", exc)
        raise ValidationError(UNREACHABLE) from exc
    if not session.url:
        raise ValidationError(UNREACHABLE)
    with transaction.atomic():
        purchase = CreditPurchase(
            tenant=tenant,
            credits=pack.credits,
            amount=pack.amount,
            currency=pack.currency,
            session_id=session.id,
            created_by=actor,
        )
        purchase.full_clean()
        purchase.save()
        with translation.override("en"):  # the record is the operators', in one language
            target = f"{pack.name} for {pack.price}"
        audit_record(
            tenant=tenant,
            actor=actor,
            action="billing.checkout",
            target=target,
            details={"purchase": purchase.pk, "session": session.id, "credits": pack.credits},
        )
    return purchase, session.url


class WebhookRefused(Exception):
    """The request is not a genuine, recent Stripe event: answer 400 and change nothing."""


def webhook_receive(*, payload: bytes, signature: str | None) -> str:
    """Verify and handle one webhook delivery; returns what was done (for the log and the
    answer's body). ``WebhookRefused`` for a missing, wrong or too old signature or a body that
    is not an event."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused("card payments are not set up")
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            secret,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefused("signature") from exc
    except ValueError as exc:
        raise WebhookRefused("payload") from exc
    data: dict[str, Any] = event.to_dict().get("data", {}).get("object", {})
    if event.type == "checkout.session.completed":
        return checkout_completed(event_id=event.id, session=data)
    if event.type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        closed = checkout_closed(session=data, state=PurchaseState.EXPIRED)
        return f"{data.get('id')} {'expired' if closed else 'unchanged'}"
    return f"ignored {event.type}"


def checkout_completed(
    *, event_id: str, session: dict[str, Any], now: datetime | None = None
) -> str:
    """Grant the pack of a paid Checkout Session, once (the module docstring says how)."""
    now = now or timezone.now()
    session_id = str(session.get("id", ""))
    if session.get("payment_status") != "paid":
        # A delayed payment method: the credits come with async_payment_succeeded (not offered).
        return f"{session_id} not paid yet"
    tenant_id = (
        CreditPurchase.objects.filter(session_id=session_id)
        .values_list("tenant_id", flat=True)
        .first()
    )
    if tenant_id is None:
        # Not ours (another installation on the same Stripe account): nothing to grant.
        logger.warning("billing: checkout.session.completed for unknown session %s", session_id)
        return f"{session_id} unknown"
    with transaction.atomic():
        tenant = _lock_tenant(tenant_id)
        purchase = CreditPurchase.objects.select_for_update().get(session_id=session_id)
        if purchase.state == PurchaseState.PAID:
            return f"{session_id} granted already"
        if session.get("amount_total") != purchase.amount or (
            str(session.get("currency", "")).lower() != purchase.currency
        ):
            logger.error(
                "billing: session %s paid %s %s, the purchase expected %s %s; nothing granted",
                session_id,
                session.get("amount_total"),
                session.get("currency"),
                purchase.amount,
                purchase.currency,
            )
            return f"{session_id} amount differs"
        # The ledger shows the grant in each reader's language; ``reason`` keeps it in English.
        words = {
            "what": "card",
            "credits": purchase.credits,
            "amount": purchase.amount,
            "currency": purchase.currency,
        }
        with translation.override("en"):
            reason = ledger_text(words) or ""
            price = format_money(purchase.amount, purchase.currency)
        entry, _created = credits_grant(
            tenant=tenant,
            amount=purchase.credits,
            reason=reason,
            reason_args=words,
            key=f"stripe-checkout:{session_id}",
            actor=purchase.created_by,
        )
        details = session.get("customer_details") or {}
        purchase.state = PurchaseState.PAID
        purchase.paid_at = now
        purchase.event_id = event_id
        purchase.payment_intent = str(session.get("payment_intent") or "")
        purchase.payer_email = str(details.get("email") or "")[:254]
        purchase.ledger_entry = entry
        purchase.save()
        audit_record(
            tenant=tenant,
            actor=purchase.created_by,
            action="billing.card_paid",
            target=f"{purchase.credits} credits, {price}",
            details={"purchase": purchase.pk, "session": session_id, "event": event_id},
        )
    return f"{session_id} granted {purchase.credits}"


def checkout_closed(*, session: dict[str, Any], state: str) -> bool:
    """Close an open purchase whose session can no longer be paid (expired, or cancelled by
    us). Returns whether it was open."""
    session_id = str(session.get("id", ""))
    changed = CreditPurchase.objects.filter(session_id=session_id, state=PurchaseState.OPEN).update(
        state=state
    )
    return bool(changed)


def checkout_cancel(*, purchase: CreditPurchase, actor: User) -> CreditPurchase:
    """The administrator came back through the page's back link: expire the session at Stripe
    so it cannot be paid later, and mark the purchase cancelled. A session paid meanwhile (the
    webhook may be on its way) stays as it is."""
    _check_admin(actor, purchase.tenant)
    # Cancelled first: the expiry's own webhook (checkout.session.expired) then finds nothing
    # open to change, so the purchase reads "cancelled", not "expired".
    if not checkout_closed(session={"id": purchase.session_id}, state=PurchaseState.CANCELLED):
        purchase.refresh_from_db()
        return purchase
    try:
        client().v1.checkout.sessions.expire(purchase.session_id)
    except stripe.InvalidRequestError:
        # Not open any more at Stripe: it was paid (the webhook grants whatever this says) or
        # it expired.
        pass
    except stripe.StripeError as exc:
        CreditPurchase.objects.filter(
            pk=purchase.pk, state=PurchaseState.CANCELLED, paid_at__isnull=True
        ).update(state=PurchaseState.OPEN)
        logger.warning("billing: could not expire session %s: %s", purchase.session_id, exc)
        raise ValidationError(UNREACHABLE) from exc
    purchase.refresh_from_db()
    return purchase
