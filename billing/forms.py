from __future__ import annotations

from typing import Any

from django import forms

from accounts.fields import IdChoiceField
from accounts.models import Tenant, User
from billing.selectors import staff_without_subscription


class PractitionerChoiceField(IdChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.get_full_name()} ({obj.email})" if obj.full_name else obj.email


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
        field.queryset = staff_without_subscription(tenant)
