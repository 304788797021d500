"""Receivers of Django's signals for accounts (connected in ``AccountsConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from accounts.models import User
from accounts.services import user_remember_browser_language


def remember_browser_language(
    sender: Any, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """At login, note the browser's language (LocaleMiddleware read it from Accept-Language):
    e-mails to a user who never chose a language are written in it."""
    if request is None:
        return
    code = translation.get_language_from_request(request)
    if code in {c for c, _name in settings.LANGUAGES}:
        user_remember_browser_language(user=user, language=code)
