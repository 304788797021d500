from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

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
            return ngettext(
                "%(name)s: free for %(days)s days, then %(price)s credit a month",
                "%(name)s: free for %(days)s days, then %(price)s credits a month",
                quote.price,
            ) % {"name": name, "days": quote.trial_days, "price": quote.price}
        return ngettext(
            "%(name)s: %(price)s credit now (free trial used), then monthly",
            "%(name)s: %(price)s credits now (free trial used), then monthly",
            quote.price,
        ) % {"name": name, "price": quote.price}


class PurchaseForm(forms.Form):
    """*Buy Calendar Synchronisation*: the practitioner to buy it for. Only this tenant's staff
    without a live subscription are choices, so another tenant's user id is simply invalid."""

    user = PractitionerChoiceField(
        queryset=User.objects.none(),
        label=_("Practitioner"),
        empty_label=_("Choose a practitioner…"),
        error_messages={"invalid_choice": _("Choose one of the practitioners in the list.")},
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
