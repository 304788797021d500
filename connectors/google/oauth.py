"""Google OAuth 2: the authorization-code flow with ``state`` and PKCE, token refresh, revoke
(PROTOCOLS.md §1.2, §1.3).

google-auth-oauthlib's ``Flow`` always uses PKCE; the callback runs in a new ``Flow``, so the
``code_verifier`` and ``state`` are kept in the user's session between the two requests, and the
pending flow is removed when the callback reads it: a callback is accepted once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext as _
from google.auth import jwt
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from connectors.errors import SetupError, Unavailable

SCOPE_APP_CREATED = "https://www.googleapis.com/auth/calendar.app.created"
SCOPE_CALENDAR = "https://www.googleapis.com/auth/calendar"
# The account's address, shown on the CalendarSync page.
SCOPES_IDENTITY = ["openid", "https://www.googleapis.com/auth/userinfo.email"]
SESSION_KEY = "calsync:google-flow"


def enabled() -> bool:
    return bool(settings.CALSYNC_GOOGLE_CLIENT_ID)


def scopes_for(target: str) -> list[str]:
    """The narrowest scope that does the job (§1.3): a dedicated calendar needs only
    ``calendar.app.created``; syncing the primary calendar needs ``calendar``."""
    return [SCOPE_APP_CREATED if target == "dedicated" else SCOPE_CALENDAR, *SCOPES_IDENTITY]


def _client_config(redirect_uri: str) -> dict[str, Any]:
    return {
        "web": {
            "client_id": settings.CALSYNC_GOOGLE_CLIENT_ID,
            "client_secret": settings.CALSYNC_GOOGLE_CLIENT_SECRET,
            "auth_uri": settings.CALSYNC_GOOGLE_AUTH_URI,
            "token_uri": settings.CALSYNC_GOOGLE_TOKEN_URI,
            "redirect_uris": [redirect_uri],
        }
    }


def start(
    session: SessionBase, *, redirect_uri: str, target: str, reconnect: int | None = None
) -> str:
    """Begin linking: remember the flow in the session and return the consent page's URL.
    ``reconnect``: the id of the link this grant is for (a new grant for an existing link),
    kept with the flow so the callback cannot mistake one flow for the other."""
    scopes = scopes_for(target)
    flow = Flow.from_client_config(
        _client_config(redirect_uri), scopes=scopes, redirect_uri=redirect_uri
    )
    state = secrets.token_urlsafe(32)
    url, _state = flow.authorization_url(
        state=state,
        access_type="offline",
        # Ask again each time so Google issues a refresh token even for a returning user.
        prompt="consent",
        include_granted_scopes="false",
    )
    session[SESSION_KEY] = {
        "state": state,
        "code_verifier": flow.code_verifier,
        "redirect_uri": redirect_uri,
        "target": target,
        "scopes": scopes,
        "reconnect": reconnect,
    }
    return str(url)


@dataclass(frozen=True)
class Grant:
    target: str
    account: str
    secrets: dict[str, Any]
    credentials: Credentials
    # The link this grant reconnects (None: a new link).
    reconnect: int | None = None


def finish(session: SessionBase, *, callback_url: str, state: str, error: str = "") -> Grant:
    """Complete linking from the callback. The pending flow is taken out of the session first,
    so a replayed callback finds nothing. Raises ``SetupError`` with a message for the user."""
    pending: dict[str, Any] | None = session.pop(SESSION_KEY, None)
    if not pending or not secrets.compare_digest(str(pending.get("state")), state or ""):
        raise SetupError(
            _(
                "This Google sign-in is not the one we started, or it was used already. "
                "Start the setup again."
            )
        )
    if error:
        raise SetupError(_("Google access was not granted, so nothing was linked."))
    flow = Flow.from_client_config(
        _client_config(pending["redirect_uri"]),
        scopes=pending["scopes"],
        redirect_uri=pending["redirect_uri"],
        state=pending["state"],
        code_verifier=pending["code_verifier"],
    )
    try:
        flow.fetch_token(authorization_response=callback_url)
    except OAuth2Error as exc:
        raise SetupError(
            _("Google did not accept the sign-in (%(error)s). Start again.") % {"error": exc.error}
        ) from exc
    except requests.RequestException as exc:
        raise SetupError(_("Google could not be reached. Try again in a moment.")) from exc
    creds = flow.credentials
    granted = set(creds.granted_scopes or pending["scopes"])
    needed = scopes_for(pending["target"])[0]
    if needed not in granted:
        raise SetupError(
            _(
                "Calendar access was not granted. Tick the calendar permission on "
                "Google's page and try again."
            )
        )
    return Grant(
        target=pending["target"],
        account=_email_from(flow.oauth2session.token) or "Google account",
        secrets=secrets_of(creds),
        credentials=creds,
        reconnect=pending.get("reconnect"),
    )


def _email_from(token: dict[str, Any]) -> str:
    """The address in the id_token. It came straight from Google's token endpoint over TLS, so
    its signature need not be checked (OpenID Connect Core §3.1.3.7)."""
    raw = token.get("id_token")
    if not raw:
        return ""
    try:
        claims = jwt.decode(raw, verify=False)  # type: ignore[no-untyped-call]
    except ValueError:
        return ""
    return str(claims.get("email", ""))


def secrets_of(creds: Credentials) -> dict[str, Any]:
    """What is stored (encrypted) for a Google link."""
    return {
        "token": creds.token,
        "refresh_token": creds.refresh_token,
        "expiry": creds.expiry.isoformat() if creds.expiry else None,
        "scopes": sorted(creds.granted_scopes or creds.scopes or []),
    }


def credentials_from(stored: dict[str, Any]) -> Credentials:
    expiry = stored.get("expiry")
    return Credentials(  # type: ignore[no-untyped-call]
        token=stored.get("token"),
        refresh_token=stored.get("refresh_token"),
        token_uri=settings.CALSYNC_GOOGLE_TOKEN_URI,
        client_id=settings.CALSYNC_GOOGLE_CLIENT_ID,
        client_secret=settings.CALSYNC_GOOGLE_CLIENT_SECRET,
        scopes=stored.get("scopes"),
        # google-auth compares expiry with a naive UTC "now".
        expiry=datetime.fromisoformat(expiry).replace(tzinfo=None) if expiry else None,
    )


def revoke(stored: dict[str, Any]) -> None:
    """Revoke the grant at Google (§1.2): revoking the refresh token revokes its access tokens.
    A token Google no longer knows (400) counts as revoked."""
    token = stored.get("refresh_token") or stored.get("token")
    if not token:
        return
    try:
        response = requests.post(
            settings.CALSYNC_GOOGLE_REVOKE_URI,
            params={"token": token},
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise Unavailable("Google could not be reached to revoke access.") from exc
    if response.status_code >= 500:
        raise Unavailable(f"Google answered {response.status_code} to the revoke request.")
