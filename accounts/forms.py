from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts import throttle
from accounts.models import Tenant, available_time_zones
from accounts.validators import validate_name


def client_address(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it,
    # and the proxy in docker-compose.yml passes the real address in REMOTE_ADDR via gunicorn.
    return (request.META.get("REMOTE_ADDR") if request else None) or "unknown"


class EmailAuthenticationForm(AuthenticationForm):
    """Login by e-mail address, throttled per address and per client (QUALITY.md, Security)."""

    username = forms.EmailField(
        label="E-mail address", widget=forms.EmailInput(attrs={"autofocus": True})
    )

    def clean(self) -> dict[str, Any]:
        email = (self.data.get("username") or "").strip().lower()
        client = client_address(self.request)
        if throttle.login_blocked(email, client):
            raise ValidationError(
                "Too many failed attempts. Wait a few minutes, or reset your password.",
                code="throttled",
            )
        try:
            data = super().clean()
        except ValidationError:
            throttle.login_failed(email, client)
            raise
        throttle.login_succeeded(email, client)
        return data


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        max_length=200, required=False, label="Name", validators=[validate_name]
    )
    time_zone = forms.CharField(
        max_length=64,
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
        help_text="Your calendar is shown in this zone.",
    )

    def clean_time_zone(self) -> str:
        value: str = self.cleaned_data["time_zone"].strip()
        if value not in available_time_zones():
            raise ValidationError("Unknown time zone %(zone)s.", params={"zone": value})
        return value


class PracticeForm(forms.ModelForm[Tenant]):
    class Meta:
        model = Tenant
        fields = ["name", "time_zone"]
        widgets = {"time_zone": forms.TextInput(attrs={"list": "zones", "autocomplete": "off"})}
