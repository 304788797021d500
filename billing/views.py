"""*Settings > Integrations*: the Calendar Integration section, buying, activating and
cancelling calendar synchronisation. Administrators only; tenant data only through
``accounts.access``."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import admin_required, current_user, get_object_for_tenant, tenant_of
from accounts.busy import BUSY_MESSAGE
from billing.forms import PurchaseForm
from billing.models import Subscription, SubscriptionState
from billing.selectors import (
    balance_of,
    ledger_of,
    live_tenant_wide,
    plan_for,
    staff_of,
    staff_without_subscription,
    subscriptions_of,
)
from billing.services import subscription_cancel, subscription_purchase, tenant_activate


def _day(moment: datetime) -> str:
    """A date in the user's zone (UserTimeZoneMiddleware activates it), e.g. 21 December 2026."""
    return date_format(timezone.localtime(moment), "j F Y")


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
            "can_buy": staff_without_subscription(tenant).exists(),
            "ledger": ledger_of(tenant, limit=settings.BILLING_LEDGER_PAGE_SIZE),
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def buy(request: HttpRequest) -> HttpResponse:
    """Choose a practitioner, click *Purchase*."""
    tenant = tenant_of(request)
    plan = plan_for(tenant)
    if plan.tenant_wide:
        messages.info(request, "This practice activates CalendarSync once for all staff.")
        return redirect("billing:integrations")
    form = PurchaseForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        user = form.cleaned_data["user"]
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
                    f"Calendar synchronisation is bought for {name}: the first "
                    f"{plan.trial_days} days are free, until {_day(sub.period_end)}. {name} can "
                    "now Add Calendar Synchronisation on their CalendarSync page "
                    "(My Account › CalendarSync).",
                )
            else:
                messages.success(
                    request,
                    f"Calendar synchronisation is bought for {name}: {plan.price_credits} "
                    f"credits were charged for the first month (the free trial was used "
                    f"before); it renews on {_day(sub.period_end)}. {name} can now Add Calendar "
                    "Synchronisation on their CalendarSync page (My Account › CalendarSync).",
                )
            return redirect("billing:integrations")
    return render(
        request,
        "billing/buy.html",
        {"form": form, "plan": plan, "balance": balance_of(tenant)},
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
                f"CalendarSync is active for all staff: free until {_day(sub.period_end)}, then "
                "charged monthly for every staff user. Staff can now Add Calendar "
                "Synchronisation on their CalendarSync page.",
            )
        else:
            messages.success(
                request,
                f"CalendarSync is active for all staff; the first month is charged and it "
                f"renews on {_day(sub.period_end)}.",
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
                    request, f"Cancelled: calendar synchronisation for {sub.covers} stopped now."
                )
            else:
                messages.success(
                    request,
                    f"Cancelled: calendar synchronisation for {sub.covers} keeps running until "
                    f"the paid month ends on {_day(sub.ends_at)}, and is not renewed.",
                )
        return redirect("billing:integrations")
    return render(request, "billing/cancel.html", {"sub": sub})
