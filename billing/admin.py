"""Operators' view of billing: plans are editable per tenant; the ledger is read-only (a grant is
added through ``credits_grant``, never edited); subscriptions are shown, changed only by the
services (administrators cancel on Settings > Integrations)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.fields import IdChoiceField
from accounts.models import Tenant, User
from billing.models import BillingPlan, LedgerEntry, Subscription
from billing.services import credits_grant


@admin.register(BillingPlan)
class BillingPlanAdmin(admin.ModelAdmin[BillingPlan]):
    list_display = ("tenant", "price_credits", "trial_days", "mode")
    search_fields = ("tenant__name", "tenant__slug")


class GrantForm(forms.ModelForm[LedgerEntry]):
    """Adding a ledger entry in the admin is granting credits, through the service."""

    tenant = IdChoiceField(queryset=Tenant.objects.order_by("name"))
    amount = forms.IntegerField(min_value=1, help_text=_("Credits to grant."))
    grant_key = forms.CharField(
        required=False,
        max_length=150,
        label=_("Idempotency key"),
        help_text=_("Optional, e.g. an invoice number: a second grant with it changes nothing."),
    )

    class Meta:
        model = LedgerEntry
        fields = ("tenant", "amount", "reason")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin[LedgerEntry]):
    list_display = ("created_at", "tenant", "kind", "amount", "reason", "key")
    list_filter = ("kind", "tenant")
    search_fields = ("tenant__name", "reason", "key")
    date_hierarchy = "created_at"
    form = GrantForm

    def get_fields(self, request: HttpRequest, obj: LedgerEntry | None = None) -> Any:
        if obj is None:
            return ("tenant", "amount", "reason", "grant_key")
        return ("created_at", "tenant", "kind", "amount", "reason", "key")

    def get_readonly_fields(self, request: HttpRequest, obj: LedgerEntry | None = None) -> Any:
        return () if obj is None else ("created_at", "tenant", "kind", "amount", "reason", "key")

    def has_change_permission(self, request: HttpRequest, obj: LedgerEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LedgerEntry | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LedgerEntry, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        entry, _created = credits_grant(
            tenant=form.cleaned_data["tenant"],
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            key=form.cleaned_data["grant_key"] or None,
            actor=actor,
        )
        obj.pk = entry.pk  # the admin's "added" message and redirect name the real entry


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("tenant", "covers", "state", "started_at", "trial_ends_at", "period_end")
    list_filter = ("state", "scope", "tenant")
    search_fields = ("tenant__name", "user__email", "user__full_name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        return False
