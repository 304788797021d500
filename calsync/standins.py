"""The demo's local stand-ins for Google, Microsoft and Stripe (``scripts/run_demo.py`` serves the
fakes of ``tests/fakes/`` on local ports and points these settings at them).

Only the development settings read the two switches below; production refuses to start when
either is set, or when a provider or Stripe address is not a public https one
(``calsync/settings/prod.py``).

* ``CALSYNC_MICROSOFT_LOGIN_STANDIN``: msal refuses http authorities (PROTOCOLS.md §2.8), so
  CalSync keeps Microsoft's authority and this transport, mounted on the session msal is given
  (``connectors.microsoft.oauth.TRANSPORT_OVERRIDES``, as the tests do), sends its requests to
  the stand-in instead.
* ``CALSYNC_DEMO_STANDINS``: every page says that Google, Microsoft and card payments are local
  stand-ins, and which stand-in accounts a demo user signs in with.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.http import HttpRequest
from requests.adapters import HTTPAdapter

MICROSOFT_LOGIN = "https://login.microsoftonline.com/"
GOOGLE_DOMAIN = "gmail.example"
MICROSOFT_DOMAIN = "outlook.example"


class _ToStandIn(HTTPAdapter):
    """Sends ``https://login.microsoftonline.com/...`` to the stand-in's base URL."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def send(  # type: ignore[override]  # requests' signature, keyword arguments passed on
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


def mount_microsoft_login(base: str) -> None:
    from connectors.microsoft import oauth

    oauth.TRANSPORT_OVERRIDES[MICROSOFT_LOGIN] = _ToStandIn(base)


def standin_accounts(email: str) -> dict[str, str]:
    """The stand-in accounts of a demo user (``alice@demo.calsync.test`` signs in at the Google
    stand-in as ``alice@gmail.example`` and at the Microsoft one as ``alice@outlook.example``)."""
    local = email.split("@", 1)[0]
    return {"google": f"{local}@{GOOGLE_DOMAIN}", "microsoft": f"{local}@{MICROSOFT_DOMAIN}"}


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``standins`` when the demo's stand-ins are on (a context processor the
    development settings add)."""
    if not getattr(settings, "CALSYNC_DEMO_STANDINS", False):
        return {}
    user = getattr(request, "user", None)
    accounts = standin_accounts(user.email) if user is not None and user.is_authenticated else {}
    return {"standins": {"accounts": accounts}}
