from __future__ import annotations

from typing import Any

from django import forms

from accounts.fields import IdChoiceField
from accounts.models import Tenant, User
from billing.selectors import Quote, buyable_staff


class PractitionerChoiceField(IdChoiceField):
    # The price of each choice, by user id (set by the form): the list says what Purchase costs.
    quotes: dict[int, Quote]

    def label_from_instance(self, obj: User) -> str:
        name = f"{obj.get_full_name()} ({obj.email})" if obj.full_name else obj.email
        quote = getattr(self, "quotes", {}).get(obj.pk)
        if quote is None:
            return name
        if quote.trial:
            return f"{name}: free for {quote.trial_days} days, then {quote.price} credits a month"
        return f"{name}: {quote.price} credits now (free trial used), then monthly"


class PurchaseForm(forms.Form):
    """*Buy Calendar Synchronisation*: the practitioner to buy it for. Only this tenant's staff
    without a live subscription are choices, so another tenant's user id is simply invalid."""

    user = PractitionerChoiceField(
        queryset=User.objects.none(),
        label="Practitioner",
        empty_label="Choose a practitioner…",
        error_messages={"invalid_choice": "Choose one of the practitioners in the list."},
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, PractitionerChoiceField)
        # Only practitioners for whom Purchase can succeed now (no live subscription; the trial
        # or enough credits), each with its price.
        quotes = buyable_staff(tenant)
        field.quotes = {q.user.pk: q for q in quotes}
        field.queryset = User.objects.filter(pk__in=[q.user.pk for q in quotes]).order_by(
            "full_name", "email"
        )
