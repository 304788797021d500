from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class CalDAVSetupForm(forms.Form):
    """Step 1 of *Set up iCloud or CalDAV*: where and who. The password is never shown again."""

    server_url = forms.CharField(
        label=_("Server address"),
        max_length=500,
        help_text=_(
            "For iCloud: https://caldav.icloud.com/. For other servers, the address their "
            "help pages give for CalDAV."
        ),
    )
    username = forms.CharField(
        label=_("User name"), max_length=320, help_text=_("For iCloud: your Apple Account e-mail.")
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "For iCloud: an app-specific password, made at appleid.apple.com under "
            "Sign-In and Security > App-Specific Passwords (two-factor authentication must be on). "
            "Your Apple Account password does not work here."
        ),
    )
    target = forms.ChoiceField(
        label=_("Calendar"),
        choices=[
            ("dedicated", _("Create a calendar for CalSync (recommended)")),
            ("existing", _("Use one of my existing calendars")),
        ],
        initial="dedicated",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, icloud: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if icloud and not self.is_bound:
            self.initial.setdefault("server_url", settings.CALSYNC_ICLOUD_URL)


class CalDAVReconnectForm(forms.Form):
    """*Reconnect* a CalDAV link: the server and user are the link's, prefilled; a new
    (app-specific) password is what the server now wants."""

    server_url = forms.CharField(
        label=_("Server address"),
        max_length=500,
        help_text=_("The server this calendar is on. Change it only if your provider moved it."),
    )
    username = forms.CharField(label=_("User name"), max_length=320)
    password = forms.CharField(
        label=_("New password"),
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "For iCloud: a new app-specific password from appleid.apple.com "
            "(Sign-In and Security > App-Specific Passwords)."
        ),
    )


class ChooseCalendarForm(forms.Form):
    """Step 2 when the user links an existing calendar: the calendars the server listed."""

    calendar = forms.ChoiceField(label=_("Calendar"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, calendars: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].choices = calendars  # type: ignore[attr-defined]


class GoogleSetupForm(forms.Form):
    target = forms.ChoiceField(
        label=_("Calendar"),
        choices=[
            ("dedicated", _("Create a calendar for CalSync in my Google account (recommended)")),
            ("primary", _("Use my primary Google calendar")),
        ],
        initial="dedicated",
        widget=forms.RadioSelect,
        help_text=_(
            "A dedicated calendar keeps practice meetings apart and needs the narrowest "
            "permission: Google lets us see only the calendars CalSync created."
        ),
    )


class MicrosoftSetupForm(forms.Form):
    target = forms.ChoiceField(
        label=_("Calendar"),
        choices=[
            ("dedicated", _("Create a calendar for CalSync in my Outlook mailbox (recommended)")),
            ("primary", _("Use my default Outlook calendar")),
        ],
        initial="dedicated",
        widget=forms.RadioSelect,
        help_text=_(
            "A dedicated calendar keeps practice meetings apart from your other "
            "appointments. Microsoft asks for access to your calendars either way."
        ),
    )
