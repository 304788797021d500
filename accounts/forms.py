from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts import throttle
from accounts.models import Role, Tenant, User, available_time_zones
from accounts.validators import validate_name

# The choices of My Account's Language field: each language of ``settings.LANGUAGES`` by its own
# name, as language menus show them (whoever cannot read the page's language still finds theirs).
# They go through gettext all the same, so every word of the page is marked; the translations keep
# them as they are.
_OWN_NAMES = {
    "en": pgettext_lazy("a language, by its own name", "English"),
    "nl": pgettext_lazy("a language, by its own name", "Nederlands"),
}
LANGUAGE_NAMES = [(code, _OWN_NAMES.get(code, name)) for code, name in settings.LANGUAGES]


class ThrottledLoginMixin(AuthenticationForm):
    """Login throttled per account and per client address (``accounts.throttle``): the app's
    login form and the Django admin's both use it."""

    def clean(self) -> dict[str, Any]:
        email = (self.data.get("username") or "").strip().lower()
        attempt = throttle.LoginAttempt.of(self.request, email)
        if throttle.login_blocked(attempt):
            raise ValidationError(
                gettext("Too many failed attempts. Wait a few minutes, or reset your password."),
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
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True})
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
                gettext(
                    "Too many password reset requests. Check your mailbox (and its spam folder) "
                    "for the e-mail already sent, or try again in an hour."
                ),
                code="throttled",
            )
        return email

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """The e-mail in the account holder's language (their choice, else their browser's at the
        last login), whoever asked for it on the page. An account that never logged in (made by
        an operator without a password, for this very e-mail) has neither: it gets the language
        of the page that asked, not the installation's default."""
        user: User = context["user"]
        known = {code for code, _name in settings.LANGUAGES}
        has_language = user.language in known or user.browser_language in known
        language = user.preferred_language() if has_language else translation.get_language()
        with translation.override(language):
            super().send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name,
            )

    def get_users(self, email: str) -> Iterator[User]:
        # Active users with this address, with or without a usable password (see above).
        yield from User.objects.filter(email=email.strip().lower(), is_active=True)


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        max_length=200, required=False, label=_("Name"), validators=[validate_name]
    )
    time_zone = forms.CharField(
        max_length=64,
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
        label=_("Time zone"),
        help_text=_("Your calendar is shown in this zone."),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("My browser's language")), *LANGUAGE_NAMES],
        help_text=_("Pages and e-mails are in this language."),
    )

    def clean_time_zone(self) -> str:
        value: str = self.cleaned_data["time_zone"].strip()
        if value not in available_time_zones():
            raise ValidationError(gettext("Unknown time zone %(zone)s."), params={"zone": value})
        return value


class PracticeForm(forms.ModelForm[Tenant]):
    class Meta:
        model = Tenant
        fields = ["name", "time_zone"]
        widgets = {"time_zone": forms.TextInput(attrs={"list": "zones", "autocomplete": "off"})}
        labels = {"name": _("Name"), "time_zone": _("Time zone")}


class _TimeZoneField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("widget", forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text: str = super().clean(value).strip()
        if text not in available_time_zones():
            raise ValidationError(gettext("Unknown time zone %(zone)s."), params={"zone": text})
        return text


class _NewPasswordMixin(forms.Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password2(self) -> str:
        first = self.cleaned_data.get("password1")
        second: str = self.cleaned_data["password2"]
        if first and first != second:
            raise ValidationError(gettext("The two passwords differ."), code="password_mismatch")
        return second


class SignupForm(_NewPasswordMixin):
    """A new practice and its first administrator (the sign-up page)."""

    practice_name = forms.CharField(
        max_length=200, label=_("Practice name"), validators=[validate_name]
    )
    time_zone = _TimeZoneField(
        label=_("Time zone"), initial="Europe/Amsterdam", help_text=_("Where the practice is.")
    )
    full_name = forms.CharField(max_length=200, label=_("Your name"), validators=[validate_name])
    email = forms.EmailField(
        label=_("Your e-mail address"),
        help_text=_("You log in with it; we send a link to confirm it."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    field_order = ["practice_name", "time_zone", "full_name", "email", "password1", "password2"]

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if not throttle.signup_allowed(self.request, email):
            raise ValidationError(
                gettext(
                    "Too many sign-up requests. Check your mailbox (and its spam folder) for the "
                    "e-mail already sent, or try again in an hour."
                ),
                code="throttled",
            )
        return email


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.STAFF,
        label=_("Role"),
        help_text=_("Staff have a calendar and can link it; administrators run Settings."),
    )

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        return email


class AcceptInvitationForm(_NewPasswordMixin):
    full_name = forms.CharField(max_length=200, label=_("Your name"), validators=[validate_name])
    field_order = ["full_name", "password1", "password2"]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, label=_("Role"))
