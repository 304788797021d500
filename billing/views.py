"""*Settings > Integrations*: the Calendar Integration section, buying, activating and
cancelling calendar synchronisation. Administrators only; tenant data only through
``accounts.access``."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import admin_required, current_user, get_object_for_tenant, tenant_of
from accounts.busy import BUSY_MESSAGE
from billing import checkout
from billing.forms import PurchaseForm
from billing.models import CreditPurchase, PurchaseState, Subscription, SubscriptionState
from billing.money import format_money
from billing.periods import add_days
from billing.selectors import (
    balance_of,
    buyable_staff,
    ledger_of,
    live_tenant_wide,
    plan_for,
    purchase_quote,
    renewal_shortfall,
    staff_of,
    staff_without_subscription,
    subscriptions_of,
)
from billing.services import subscription_cancel, subscription_purchase, tenant_activate
from calsync.selectors import sync_health_of

logger = logging.getLogger(__name__)
SESSION_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def _day(moment: datetime) -> str:
    """A date in the user's zone (UserTimeZoneMiddleware activates it), e.g. 21 December 2026."""
    return date_format(timezone.localtime(moment), "DATE_FORMAT")


@admin_required
@require_GET
def integrations(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    plan = plan_for(tenant)
    subscriptions = list(subscriptions_of(tenant))
    staff_count = staff_of(tenant).count()
    return render(
        request,
        "billing/integrations.html",
        {
            "tenant": tenant,
            "plan": plan,
            "balance": balance_of(tenant),
            "subscriptions": subscriptions,
            "lapsed": [s for s in subscriptions if s.state == SubscriptionState.LAPSED],
            "tenant_wide": live_tenant_wide(tenant) if plan.tenant_wide else None,
            "staff_count": staff_count,
            "monthly_tenant_wide": staff_count * plan.price_credits,
            # Buy only where Purchase can succeed for someone; otherwise the page says why.
            "can_buy": bool(buyable_staff(tenant)),
            "waiting": staff_without_subscription(tenant).exists(),
            "shortfall": renewal_shortfall(tenant, timezone.now()),
            "ledger": ledger_of(tenant, limit=settings.BILLING_LEDGER_PAGE_SIZE),
            "sync_health": sync_health_of(tenant, timezone.now()),
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def buy(request: HttpRequest) -> HttpResponse:
    """Choose a practitioner, click *Purchase*."""
    tenant = tenant_of(request)
    plan = plan_for(tenant)
    if plan.tenant_wide:
        messages.info(request, _("This practice activates CalendarSync once for all staff."))
        return redirect("billing:integrations")
    form = PurchaseForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        user = form.cleaned_data["user"]
        if request.POST.get("confirm") != "1":
            # The confirm step: what is charged now, the balance after, and what follows.
            quote = purchase_quote(tenant=tenant, user=user)
            return render(
                request,
                "billing/buy_confirm.html",
                {
                    "quote": quote,
                    "plan": plan,
                    "trial_end": _day(add_days(timezone.now(), plan.trial_days, tenant.time_zone)),
                },
            )
        try:
            sub = subscription_purchase(tenant=tenant, user=user, actor=current_user(request))
        except ValidationError as exc:
            # None: a field-keyed error goes to its field, a plain one above the form.
            form.add_error(None, exc)
        except OperationalError:
            form.add_error(None, BUSY_MESSAGE)
        else:
            name = user.get_full_name()
            if sub.state == SubscriptionState.TRIAL:
                messages.success(
                    request,
                    _(
                        "Calendar synchronisation is bought for %(name)s: the first %(days)s "
                        "days are free, until %(day)s. %(name)s can now Add Calendar "
                        "Synchronisation on their CalendarSync page (My Account › CalendarSync)."
                    )
                    % {"name": name, "days": plan.trial_days, "day": _day(sub.period_end)},
                )
            else:
                messages.success(
                    request,
                    ngettext(
                        "Calendar synchronisation is bought for %(name)s: %(price)s credit was "
                        "charged for the first month (the free trial was used before); it renews "
                        "on %(day)s. %(name)s can now Add Calendar Synchronisation on their "
                        "CalendarSync page (My Account › CalendarSync).",
                        "Calendar synchronisation is bought for %(name)s: %(price)s credits were "
                        "charged for the first month (the free trial was used before); it renews "
                        "on %(day)s. %(name)s can now Add Calendar Synchronisation on their "
                        "CalendarSync page (My Account › CalendarSync).",
                        plan.price_credits,
                    )
                    % {"name": name, "price": plan.price_credits, "day": _day(sub.period_end)},
                )
            return redirect("billing:integrations")
    return render(
        request,
        "billing/buy.html",
        {
            "form": form,
            "plan": plan,
            "balance": balance_of(tenant),
            "waiting": staff_without_subscription(tenant).exists(),
        },
    )


@admin_required
@require_POST
def activate(request: HttpRequest) -> HttpResponse:
    """*Activate CalendarSync* for every staff user (tenant-wide mode)."""
    tenant = tenant_of(request)
    try:
        sub = tenant_activate(tenant=tenant, actor=current_user(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
    else:
        if sub.state == SubscriptionState.TRIAL:
            messages.success(
                request,
                _(
                    "CalendarSync is active for all staff: free until %(day)s, then charged "
                    "monthly for every staff user. Staff can now Add Calendar Synchronisation on "
                    "their CalendarSync page."
                )
                % {"day": _day(sub.period_end)},
            )
        else:
            messages.success(
                request,
                _(
                    "CalendarSync is active for all staff; the first month is charged and it "
                    "renews on %(day)s."
                )
                % {"day": _day(sub.period_end)},
            )
    return redirect("billing:integrations")


@admin_required
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    sub: Subscription = get_object_for_tenant(
        Subscription.objects.select_related("user"), request, pk=pk
    )
    if request.method == "POST":
        try:
            sub = subscription_cancel(subscription=sub, actor=current_user(request))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        except OperationalError:
            messages.error(request, BUSY_MESSAGE)
        else:
            assert sub.ends_at is not None
            if sub.closed_at is not None:
                messages.success(
                    request,
                    _("Cancelled: calendar synchronisation for %(covers)s stopped now.")
                    % {"covers": sub.covers},
                )
            else:
                messages.success(
                    request,
                    _(
                        "Cancelled: calendar synchronisation for %(covers)s keeps running until "
                        "the paid month ends on %(day)s, and is not renewed."
                    )
                    % {"covers": sub.covers, "day": _day(sub.ends_at)},
                )
        return redirect("billing:integrations")
    return render(request, "billing/cancel.html", {"sub": sub})


# --- Credits: buying packs by card (feature 41) ---------------------------------------------------


@admin_required
@require_GET
def credits(request: HttpRequest) -> HttpResponse:
    """The Credits page: balance, packs to buy by card, receipts, and the ledger."""
    tenant = tenant_of(request)
    purchases = list(CreditPurchase.objects.filter(tenant=tenant).order_by("-created_at", "-id"))
    return render(
        request,
        "billing/credits.html",
        {
            "balance": balance_of(tenant),
            "card_enabled": checkout.card_enabled(),
            "packs": checkout.packs() if checkout.card_enabled() else [],
            "receipts": [
                (p, format_money(p.amount, p.currency))
                for p in purchases
                if p.state == PurchaseState.PAID
            ],
            "waiting": [p for p in purchases if p.state == PurchaseState.OPEN],
            "ledger": ledger_of(tenant, limit=settings.BILLING_LEDGER_PAGE_SIZE),
            "price": plan_for(tenant).price_credits,
        },
    )


def _return_url(request: HttpRequest, name: str) -> str:
    # Stripe replaces {CHECKOUT_SESSION_ID} in the URL it sends the buyer back to.
    return request.build_absolute_uri(reverse(name)) + "?session_id={CHECKOUT_SESSION_ID}"


@admin_required
@require_POST
def credits_buy(request: HttpRequest) -> HttpResponse:
    """*Buy* one pack: to Stripe's payment page (303, so the browser GETs it)."""
    tenant = tenant_of(request)
    try:
        credits_wanted = int(request.POST.get("pack", ""))
    except ValueError:
        credits_wanted = 0
    try:
        _purchase, url = checkout.checkout_start(
            tenant=tenant,
            actor=current_user(request),
            credits=credits_wanted,
            success_url=_return_url(request, "billing:credits_return"),
            cancel_url=_return_url(request, "billing:credits_cancelled"),
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("billing:credits")
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
        return redirect("billing:credits")
    return HttpResponseRedirect(url, status=303)


def _purchase_of(request: HttpRequest) -> CreditPurchase:
    """The purchase the return URL names, within this practice (else 404)."""
    session_id = request.GET.get("session_id", "")
    # Stripe's ids are letters, digits and underscores; anything else (a NUL byte, which
    # PostgreSQL refuses in a query) names no purchase.
    if not SESSION_ID.fullmatch(session_id):
        raise Http404("No such purchase.")
    found: CreditPurchase = get_object_for_tenant(
        CreditPurchase.objects.all(), request, session_id=session_id
    )
    return found


@admin_required
@require_GET
def credits_return(request: HttpRequest) -> HttpResponse:
    """Back from Stripe after paying. The credits come from the verified webhook, which may
    arrive a moment after the buyer does."""
    purchase = _purchase_of(request)
    if purchase.state == PurchaseState.PAID:
        messages.success(
            request,
            ngettext(
                "Thank you: %(credits)s credit was added. The receipt is listed below.",
                "Thank you: %(credits)s credits were added. The receipt is listed below.",
                purchase.credits,
            )
            % {"credits": purchase.credits},
        )
    else:
        messages.info(
            request,
            ngettext(
                "Thank you: the payment for %(credits)s credit is being confirmed by Stripe. "
                "The credits appear here within a minute; reload the page to see them.",
                "Thank you: the payment for %(credits)s credits is being confirmed by Stripe. "
                "The credits appear here within a minute; reload the page to see them.",
                purchase.credits,
            )
            % {"credits": purchase.credits},
        )
    return redirect("billing:credits")


@admin_required
@require_GET
def credits_cancelled(request: HttpRequest) -> HttpResponse:
    """Back from Stripe's page without paying (its back link)."""
    purchase = _purchase_of(request)
    try:
        purchase = checkout.checkout_cancel(purchase=purchase, actor=current_user(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if purchase.state == PurchaseState.CANCELLED:
            messages.info(request, _("The payment was cancelled; nothing was charged."))
        elif purchase.state == PurchaseState.PAID:
            messages.success(
                request,
                ngettext(
                    "This payment went through: %(credits)s credit.",
                    "This payment went through: %(credits)s credits.",
                    purchase.credits,
                )
                % {"credits": purchase.credits},
            )
    return redirect("billing:credits")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events (``checkout.session.*``). Public, without CSRF (Stripe cannot send a
    token): the ``Stripe-Signature`` is what authenticates the request."""
    try:
        outcome = checkout.webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except checkout.WebhookRefused as exc:
        logger.warning("billing: refused a Stripe webhook (%s)", exc)
        # The answers here are Stripe's (shown to operators in its dashboard), not a practice's
        # page: plain English, never translated, like the log lines.
        return HttpResponse(content=f"Refused: {exc}.", status=400, content_type="text/plain")
    except OperationalError:
        # The database is busy: a 5xx makes Stripe deliver the event again later.
        return HttpResponse(content="Busy, retry.", status=503, content_type="text/plain")
    logger.info("billing: Stripe webhook: %s", outcome)
    return HttpResponse(outcome, content_type="text/plain")
