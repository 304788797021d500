"""Microsoft identity platform through msal (PROTOCOLS.md §2.8).

* ``ConfidentialClientApplication`` with the auth-code flow: ``initiate_auth_code_flow`` always
  adds PKCE S256, ``state`` and ``nonce``; the flow dict is kept in the user's session and taken
  out of it when the callback reads it, so a callback is accepted once.
* The scope is asked in full URI form (``https://graph.microsoft.com/Calendars.ReadWrite``):
  msal's silent cache lookup compares the response's scope string with the request's (§2.8);
  ``openid``/``profile``/``offline_access`` are added by msal (passing them raises).
* The ``SerializableTokenCache`` is what we store (encrypted, inside the link's secrets dict):
  ``acquire_token_silent`` refreshes from it, and a refresh refused with ``invalid_grant`` (the
  AADSTS codes of a revoked or expired grant) is ``AuthRevoked``.
* msal refuses http authorities (§2.8), so the authority is always Microsoft's https URL and
  every identity request goes through one ``requests.Session`` given to msal as ``http_client``,
  with our timeout. Tests mount a transport on that session (``TRANSPORT_OVERRIDES``) that
  sends the requests to the local fake; production mounts nothing.
* Microsoft has no per-grant revoke endpoint for a delegated web app: revoking deletes the
  token cache, and the user removes the consent at https://myapps.microsoft.com (work or school
  accounts) or https://account.live.com/consent/Manage (personal accounts).
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from typing import Any

import msal  # type: ignore[import-untyped]
import requests
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext as _
from requests.adapters import BaseAdapter

from connectors.errors import AuthRevoked, SetupError, Unavailable
from connectors.net import guard_requests
from recurrence import Text, gettext_noop

SCOPE_CALENDARS = "https://graph.microsoft.com/Calendars.ReadWrite"
SCOPES = [SCOPE_CALENDARS]
SESSION_KEY = "calsync:microsoft-flow"
CONSENT_WORK = "https://myapps.microsoft.com"
CONSENT_PERSONAL = "https://account.live.com/consent/Manage"
# The tenant id Microsoft gives every personal (MSA) account.
PERSONAL_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# URL prefix -> transport adapter mounted on the identity session; tests only (see above).
TRANSPORT_OVERRIDES: dict[str, BaseAdapter] = {}
# msal's cache of identity metadata (the openid-configuration, instance discovery), shared by
# every application in this process: without it each connector would fetch the configuration
# again, and a no-change poll would cost two requests instead of one (QUALITY, performance).
HTTP_CACHE: dict[Any, Any] = {}


def enabled() -> bool:
    return bool(settings.CALSYNC_MICROSOFT_CLIENT_ID)


class TimeoutSession(requests.Session):
    """A ``requests.Session`` whose every request has a timeout (STYLE 9): msal passes none
    to an injected ``http_client``."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        guard_requests(self)  # SSRF: each resolved address is checked (connectors/net.py)
        for prefix, adapter in TRANSPORT_OVERRIDES.items():
            self.mount(prefix, adapter)

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def application(
    cache: msal.SerializableTokenCache | None = None,
) -> msal.ConfidentialClientApplication:
    try:
        return msal.ConfidentialClientApplication(
            settings.CALSYNC_MICROSOFT_CLIENT_ID,
            client_credential=settings.CALSYNC_MICROSOFT_CLIENT_SECRET,
            authority=settings.CALSYNC_MICROSOFT_AUTHORITY,
            token_cache=cache,
            http_client=TimeoutSession(settings.CALSYNC_HTTP_TIMEOUT),
            http_cache=HTTP_CACHE,
        )
    except (requests.RequestException, ValueError, msal.exceptions.MsalError) as exc:
        # msal fetches the openid-configuration here (§2.8).
        raise Unavailable("Microsoft's sign-in service could not be reached.") from exc


def start(
    session: SessionBase, *, redirect_uri: str, target: str, reconnect: int | None = None
) -> str:
    """Begin linking: keep msal's flow (state, PKCE verifier, nonce) in the session and return
    the consent page's URL.

    ``response_mode="query"``: Microsoft sends the user back with a GET, like Google. With
    ``form_post`` the callback would be a cross-site POST, which the browser sends without our
    SameSite=Lax session cookie, so the flow could not be found (and it would need CSRF
    exemption)."""
    try:
        with warnings.catch_warnings():
            # msal recommends form_post; the docstring says why this flow uses query. (A library's
            # warning matched by its words, not text for users: passed by position.)
            warnings.filterwarnings("ignore", "response_mode='form_post' is recommended")
            flow = application().initiate_auth_code_flow(
                SCOPES,
                redirect_uri=redirect_uri,
                state=secrets.token_urlsafe(32),
                prompt="select_account",
                response_mode="query",
            )
    except Unavailable as exc:
        raise SetupError(str(exc)) from exc
    # ``reconnect``: the link a new grant is for (None: a new link), kept with this flow.
    session[SESSION_KEY] = {"flow": flow, "target": target, "reconnect": reconnect}
    return str(flow["auth_uri"])


@dataclass(frozen=True)
class Grant:
    target: str
    account: str
    secrets: dict[str, Any]
    # The link this grant reconnects (None: a new link).
    reconnect: int | None = None


def finish(session: SessionBase, *, params: dict[str, str]) -> Grant:
    """Complete linking from the callback's query parameters. The pending flow is removed from
    the session first, so a replayed callback finds nothing. Raises ``SetupError``."""
    pending: dict[str, Any] | None = session.pop(SESSION_KEY, None)
    flow = (pending or {}).get("flow") or {}
    if not pending or not secrets.compare_digest(str(flow.get("state")), params.get("state", "")):
        raise SetupError(
            _(
                "This Microsoft sign-in is not the one we started, or it was used already. "
                "Start the setup again."
            )
        )
    if params.get("error"):
        raise SetupError(_("Microsoft access was not granted, so nothing was linked."))
    cache = msal.SerializableTokenCache()
    try:
        app = application(cache)
        result = app.acquire_token_by_auth_code_flow(flow, params)
    except Unavailable as exc:
        raise SetupError(str(exc)) from exc
    except (requests.RequestException, msal.exceptions.MsalError) as exc:
        raise SetupError(_("Microsoft could not be reached. Try again in a moment.")) from exc
    except (ValueError, RuntimeError) as exc:
        # msal's own state and nonce checks (§2.8).
        raise SetupError(_("Microsoft's answer did not match this sign-in. Start again.")) from exc
    if "error" in result or "access_token" not in result:
        raise SetupError(
            _("Microsoft did not accept the sign-in (%(error)s). Start again.")
            % {"error": result.get("error", "no token")}
        )
    granted = set(str(result.get("scope", "")).split())
    if not granted & {SCOPE_CALENDARS, "Calendars.ReadWrite"}:
        raise SetupError(_("Calendar access was not granted. Allow it on Microsoft's page."))
    claims = result.get("id_token_claims") or {}
    accounts = app.get_accounts()
    home = str(accounts[0]["home_account_id"]) if accounts else ""
    return Grant(
        target=str(pending["target"]),
        account=str(claims.get("preferred_username") or "Microsoft account"),
        secrets={
            "token_cache": cache.serialize(),
            "home_account_id": home,
            "tenant_id": str(claims.get("tid", "")),
        },
        reconnect=pending.get("reconnect"),
    )


class TokenSource:
    """Access tokens for one link from its stored cache, refreshed silently by msal.

    ``secrets()`` is what to store back when ``changed`` (msal rotated the refresh token)."""

    def __init__(self, stored: dict[str, Any]) -> None:
        self.stored = dict(stored)
        self.cache = msal.SerializableTokenCache()
        if stored.get("token_cache"):
            self.cache.deserialize(str(stored["token_cache"]))
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def changed(self) -> bool:
        return bool(self.cache.has_state_changed)

    def secrets(self) -> dict[str, Any]:
        return {**self.stored, "token_cache": self.cache.serialize()}

    def token(self, *, force_refresh: bool = False) -> str:
        if self._app is None:
            self._app = application(self.cache)
        accounts = self._app.get_accounts()
        wanted = self.stored.get("home_account_id")
        account = next((a for a in accounts if a.get("home_account_id") == wanted), None)
        if account is None:
            raise AuthRevoked(
                "No Microsoft sign-in is stored for this link: reconnect.",
                text=Text(gettext_noop("No Microsoft sign-in is stored for this link: reconnect.")),
            )
        try:
            result = self._app.acquire_token_silent_with_error(
                SCOPES, account=account, force_refresh=force_refresh
            )
        except (requests.RequestException, msal.exceptions.MsalError) as exc:
            raise Unavailable("Microsoft's sign-in service could not be reached.") from exc
        if result and "access_token" in result:
            return str(result["access_token"])
        error = (result or {}).get("error", "")
        if error in ("invalid_grant", "interaction_required", "invalid_client", ""):
            # AADSTS50173/70008/700082 (revoked or expired grants) come as invalid_grant;
            # no result at all means the cache has no refresh token left.
            raise AuthRevoked(
                "Microsoft no longer accepts the stored sign-in: reconnect.",
                text=Text(
                    gettext_noop("Microsoft no longer accepts the stored sign-in: reconnect.")
                ),
            )
        raise Unavailable(f"Microsoft's sign-in service answered {error}.")


def consent_page(stored: dict[str, Any]) -> str:
    """Where the user removes the app's consent: personal accounts manage it on account.live.com,
    work or school accounts on My Apps."""
    return CONSENT_PERSONAL if stored.get("tenant_id") == PERSONAL_TENANT else CONSENT_WORK
