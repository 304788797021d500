from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts import throttle
from accounts.models import Tenant, User, available_time_zones
from accounts.validators import validate_name


class ThrottledLoginMixin(AuthenticationForm):
    """Login throttled per account and per client address (``accounts.throttle``): the app's
    login form and the Django admin's both use it."""

    def clean(self) -> dict[str, Any]:
        email = (self.data.get("username") or "").strip().lower()
        attempt = throttle.LoginAttempt.of(self.request, email)
        if throttle.login_blocked(attempt):
            raise ValidationError(
                "Too many failed attempts. Wait a few minutes, or reset your password.",
                code="throttled",
            )
        try:
            data = super().clean()
        except ValidationError:
            throttle.login_failed(attempt)
            raise
        throttle.login_succeeded(attempt)
        if self.request is not None:
            throttle.trust_this_device(self.request, email)
        return data


class EmailAuthenticationForm(ThrottledLoginMixin):
    """Login by e-mail address, throttled per account and per client (QUALITY.md, Security)."""

    username = forms.EmailField(
        label="E-mail address", widget=forms.EmailInput(attrs={"autofocus": True})
    )


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The Django admin's login (``/admin/login/``), throttled like the app's."""


class ThrottledPasswordResetForm(PasswordResetForm):
    """Password reset by e-mail, rate-limited per address asked for and per client, that also
    reaches accounts created without a password.

    Operators create accounts in the Django admin without a password, for the user to choose one
    through this form; Django's own form skips users without a usable password (it assumes they
    log in elsewhere, which no CalSync user does), so they were told "sent" and got nothing.
    """

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if not throttle.reset_allowed(self.request, email):
            raise ValidationError(
                "Too many password reset requests. Check your mailbox (and its spam folder) "
                "for the e-mail already sent, or try again in an hour.",
                code="throttled",
            )
        return email

    def get_users(self, email: str) -> Iterator[User]:
        # Active users with this address, with or without a usable password (see above).
        yield from User.objects.filter(email=email.strip().lower(), is_active=True)


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
