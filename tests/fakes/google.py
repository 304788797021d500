"""A protocol-faithful fake of Google's OAuth endpoints and Calendar API v3.

Specification: ../shared/PROTOCOLS.md §1 (cited per behaviour below as §1.x) and §5. The fake
follows the documented Google behaviour, not our connector, so the real client libraries run
unmodified: googleapiclient (static discovery, ``api_endpoint`` = :attr:`GoogleFake.api_endpoint`),
google-auth-oauthlib ``Flow`` (PKCE S256, HTTP Basic client auth), google-auth
``Credentials.refresh`` (form client auth) and ``requests.post(revoke_uri, params={"token": ...})``.

State lives in memory and is guarded by the server lock (one request at a time).
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr

from tests.fakes import google_schema
from tests.fakes.server import (
    Courier,
    FakeServer,
    Headers,
    HttpProblem,
    JsonBody,
    Outgoing,
    Request,
    Response,
    empty,
    html_response,
    json_response,
    redirect,
)

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
SCOPE_CALENDAR = SCOPE_PREFIX + "calendar"
SCOPE_EVENTS = SCOPE_PREFIX + "calendar.events"
SCOPE_APP_CREATED = SCOPE_PREFIX + "calendar.app.created"
SCOPE_SETTINGS_READONLY = SCOPE_PREFIX + "calendar.settings.readonly"

ACCESS_TOKEN_LIFETIME = 3599  # §1.2: "expires_in":3599
AUTH_CODE_LIFETIME = timedelta(minutes=10)
DEFAULT_CHANNEL_TTL = 604800  # §1.9: 7 days
MAX_RESULTS_DEFAULT, MAX_RESULTS_MAX = 250, 2500  # §1.5
EXPANSION_CAP = 730  # instances generated per series when no bound is given
EXPANSION_HORIZON = timedelta(days=2 * 366)

# §1.6: ids are base32hex (a-v, 0-9), 5-1024 characters.
EVENT_ID_RE = re.compile(r"[a-v0-9]{5,1024}")
INSTANCE_ID_RE = re.compile(r"(?P<master>[a-v0-9]{5,1024})_(?P<stamp>\d{8}(?:T\d{6}Z)?)")
BASE32HEX = "0123456789abcdefghijklmnopqrstuv"

# §1.5 point 3: not allowed together with syncToken.
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
# Parameters that do not make a different query (paging must repeat "the exact same query", §1.5).
NON_QUERY_PARAMS = {"pageToken", "maxResults", "alt", "fields", "prettyPrint", "key", "quotaUser"}
# Event fields the server owns; a client cannot set them (§1.6).
READ_ONLY_EVENT_FIELDS = {
    "kind",
    "etag",
    "created",
    "updated",
    "htmlLink",
    "creator",
    "organizer",
    "recurringEventId",
    "originalStartTime",
    "hangoutLink",
    "privateCopy",
    "locked",
}
EXTENDED_KEY_MAX, EXTENDED_VALUE_MAX = 44, 1024  # §1.6 / §5.5


# --------------------------------------------------------------------------------------------------
# Error shapes (§1.8)
# --------------------------------------------------------------------------------------------------

ERROR_DEFAULTS: dict[int, tuple[str, str, str]] = {
    400: ("global", "badRequest", "Bad Request"),
    401: ("global", "authError", "Invalid Credentials"),
    403: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    404: ("global", "notFound", "Not Found"),
    405: ("global", "httpMethodNotAllowed", "Method Not Allowed"),
    409: ("global", "duplicate", "The requested identifier already exists."),
    410: (
        "calendar",
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
    ),
    412: ("global", "conditionNotMet", "Precondition Failed"),
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    502: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "Backend Error"),
    504: ("global", "backendError", "Backend Error"),
}
ERROR_LOCATIONS: dict[str, tuple[str, str]] = {
    "authError": ("header", "Authorization"),
    "required": ("header", "Authorization"),
    "fullSyncRequired": ("parameter", "syncToken"),
    "updatedMinTooLongAgo": ("parameter", "updatedMin"),
    "conditionNotMet": ("header", "If-Match"),
    "timeRangeEmpty": ("parameter", "timeMax"),
}


_STATUSES = {s.value for s in HTTPStatus}


def _split_head(text: str) -> tuple[str, str]:
    """An HTTP message's header block and body: googleapiclient writes ``\\n`` line ends,
    other clients ``\\r\\n``."""
    for separator in ("\r\n\r\n", "\n\n"):
        if separator in text:
            head, _, body = text.partition(separator)
            return head, body
    return text, ""


def google_error_body(
    status: int,
    reason: str | None = None,
    message: str | None = None,
    domain: str | None = None,
    location: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Google's error JSON (§1.8).

    ``{"error":{"errors":[{domain,reason,message,(locationType,location)}],"code","message"}}``
    """
    d_domain, d_reason, d_message = ERROR_DEFAULTS.get(status, ("global", "unknown", "Error"))
    reason = reason or d_reason
    if message is None:
        message = d_message if reason == d_reason else reason
    item: dict[str, Any] = {"domain": domain or d_domain, "reason": reason, "message": message}
    where = location or ERROR_LOCATIONS.get(reason)
    if where is not None:
        item["locationType"], item["location"] = where
    return {"error": {"errors": [item], "code": status, "message": message}}


def google_error(
    status: int,
    reason: str | None = None,
    message: str | None = None,
    domain: str | None = None,
    location: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpProblem:
    body = google_error_body(status, reason, message, domain, location)
    return HttpProblem(json_response(status, body, headers))


def oauth_error(status: int, error: str, description: str) -> HttpProblem:
    """OAuth endpoint errors are flat: ``{"error","error_description"}`` (§1.2)."""
    return HttpProblem(json_response(status, {"error": error, "error_description": description}))


def bad_request(message: str, reason: str = "invalid", domain: str = "global") -> HttpProblem:
    return google_error(400, reason, message, domain)


def not_found() -> HttpProblem:
    return google_error(404)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def random_base32hex(length: int = 26) -> str:
    return "".join(secrets.choice(BASE32HEX) for _ in range(length))


def rfc3339(moment: datetime) -> str:
    """Google's timestamp style: UTC with milliseconds, ``2026-11-21T05:21:00.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str, parameter: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise bad_request(f"Invalid value for: {parameter}") from None
    if parsed.tzinfo is None:
        raise bad_request(f"Invalid value for: {parameter}")
    return parsed


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"Invalid time zone definition: {name}") from None


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def unb64(token: str) -> dict[str, Any] | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


@cache
def discovery_scopes() -> dict[str, frozenset[str]]:
    """Per-method scopes from the discovery document googleapiclient ships (§1.3)."""
    return {mid: frozenset(m.get("scopes", [])) for mid, m in google_schema.methods().items()}


def schema_problem(error: google_schema.SchemaError) -> HttpProblem:
    """A request the discovery document refuses: Google's 400 shape (§1.8)."""
    return bad_request(error.message, reason=error.reason)


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Google patch semantics: given fields replace, objects merge, arrays replace, null clears."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def without_nulls(value: Any) -> Any:
    """A body with its ``null`` members dropped: outside a patch, null means absent."""
    if isinstance(value, Mapping):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def clean_extended_properties(resource: dict[str, Any]) -> None:
    """§1.6/§5.5: keys over 44 characters silently dropped, values over 1024 silently truncated."""
    props = resource.get("extendedProperties")
    if not isinstance(props, dict):
        return
    for kind in ("private", "shared"):
        values = props.get(kind)
        if not isinstance(values, dict):
            continue
        props[kind] = {
            str(k): str(v)[:EXTENDED_VALUE_MAX]
            for k, v in values.items()
            if v is not None and len(str(k)) <= EXTENDED_KEY_MAX
        }


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: set[str] = field(default_factory=set)
    name: str = "CalSync"


@dataclass
class Account:
    email: str
    time_zone: str = "UTC"
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class PendingConsent:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: str
    include_granted_scopes: bool
    login_hint: str | None


@dataclass
class AuthCode:
    code: str
    email: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    force_refresh_token: bool
    expires_at: datetime
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    email: str
    client_id: str
    scopes: list[str]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    email: str
    client_id: str
    scopes: list[str]
    expires_at: datetime
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class IssuedTokens:
    """What :meth:`GoogleFake.issue_tokens` hands out (a token response without the browser)."""

    fake: GoogleFake
    email: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    scopes: list[str]
    expiry: datetime  # naive UTC, as google-auth keeps it

    def credentials(self) -> Any:
        """A real ``google.oauth2.credentials.Credentials`` pointed at the fake's token endpoint."""
        from google.oauth2.credentials import Credentials

        return Credentials(  # type: ignore[no-untyped-call]
            token=self.access_token,
            refresh_token=self.refresh_token,
            token_uri=self.fake.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=self.scopes,
            expiry=self.expiry,
        )


@dataclass
class StoredEvent:
    resource: dict[str, Any]
    seq: int  # §1.10 item 1: the calendar's change counter at the last write


@dataclass
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    created_by_client: str | None  # §1.3: calendar.app.created reaches only these
    description: str | None = None
    etag: str = ""
    primary: bool = False
    deleted: bool = False
    seq: int = 0
    sync_generation: int = 0  # bumping it expires every outstanding sync token (§1.10 item 2)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    # The account's default reminders for this calendar (``Events.defaultReminders``, the
    # calendar list entry's ``defaultReminders``): what ``reminders.useDefault`` means.
    default_reminders: list[dict[str, Any]] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "calendar#calendar",
            "etag": self.etag,
            "id": self.id,
            "summary": self.summary,
            "timeZone": self.time_zone,
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
        if self.description is not None:
            body["description"] = self.description
        return body


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    address: str
    token: str | None
    expiration_ms: int
    calendar_id: str
    email: str
    message_number: int = 0
    stopped: bool = False


# The request a real channel sends (§1.9): ``POST address`` with an empty body and X-Goog-*
# headers (``.url``, ``.headers``, ``.body``; ``.deliver()`` sends it once).
PushNotification = Outgoing


@dataclass
class _PageState:
    signature: tuple[Any, ...]
    items: list[dict[str, Any]]
    final: dict[str, Any]
    envelope: dict[str, Any]


@dataclass
class _Auth:
    token: AccessToken
    matched: frozenset[str]  # the token's scopes that authorise the method


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------


class GoogleFake(FakeServer):
    """Google OAuth (authorize/token/revoke) and Calendar API v3 on a local port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.clients: dict[str, OAuthClient] = {}
        self.accounts: dict[str, Account] = {}
        self.calendars: dict[str, Calendar] = {}
        self.channels: dict[str, Channel] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.pending_consents: dict[str, PendingConsent] = {}
        self.grants: dict[tuple[str, str], set[str]] = {}  # (email, client_id) -> granted scopes
        self.consent_requests: list[PendingConsent] = []  # every authorize request, for assertions
        # §1.4 sendUpdates: (method, calendarId, eventId, value or None) for each event write.
        self.send_updates_log: list[tuple[str, str, str, str | None]] = []
        self.invitations_sent: list[
            tuple[str, str]
        ] = []  # (eventId, attendee e-mail) Google mailed
        # What real channels send (§1.9): queued in ``outbox`` for a test to deliver by hand,
        # or sent from the courier's thread after ``start_push()``. Google retries a receiver's
        # 500/502/503/504 with exponential back-off (the push guide); here 4 attempts from 0.5 s.
        self.courier = Courier(
            retry=lambda status: status in (0, 500, 502, 503, 504), attempts=4, backoff=0.5
        )
        self.invalid_sync_tokens: set[str] = set()
        # Batch requests: the calls they held (each counts against quota as one request), and
        # the most calls one batch may hold (the Calendar guide's 1000).
        self.batch_calls: list[Request] = []
        self.batch_limit = 1000
        # How far back updatedMin may reach before 410 updatedMinTooLongAgo; Google does not
        # document the limit, so the default is no limit.
        self.updated_min_horizon: timedelta | None = None
        self.token_padding = 0  # lengthen sync/page tokens to push GET URLs past 2048 chars (§1.1)
        self._pages: dict[str, _PageState] = {}
        self._etag_clock = 0
        client = self.add_client("fake-client-id.apps.googleusercontent.com", "fake-client-secret")
        self.client_id, self.client_secret = client.client_id, client.client_secret
        self._register_routes()

    # -- public URLs -------------------------------------------------------------------------------

    @property
    def auth_uri(self) -> str:
        return f"{self.url}/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.url}/revoke"

    @property
    def api_endpoint(self) -> str:
        """For ``client_options={"api_endpoint": ...}``; includes ``/calendar/v3/`` (§1.1)."""
        return f"{self.url}/calendar/v3/"

    # -- test helpers: clients, accounts, tokens ---------------------------------------------------

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
    ) -> OAuthClient:
        with self.lock:
            client = OAuthClient(
                client_id or f"{secrets.token_hex(6)}.apps.googleusercontent.com",
                client_secret or secrets.token_urlsafe(18),
                set(redirect_uris),
            )
            self.clients[client.client_id] = client
            return client

    def django_settings(self) -> dict[str, str]:
        """The ``CALSYNC_GOOGLE_*`` settings that point CalSync's Google code at this fake."""
        return {
            "CALSYNC_GOOGLE_CLIENT_ID": self.client_id,
            "CALSYNC_GOOGLE_CLIENT_SECRET": self.client_secret,
            "CALSYNC_GOOGLE_AUTH_URI": self.auth_uri,
            "CALSYNC_GOOGLE_TOKEN_URI": self.token_uri,
            "CALSYNC_GOOGLE_REVOKE_URI": self.revoke_uri,
            "CALSYNC_GOOGLE_API_ENDPOINT": self.api_endpoint,
        }

    def client_config(self, redirect_uri: str, client_id: str | None = None) -> dict[str, Any]:
        """The dict for ``Flow.from_client_config(...)``; registers ``redirect_uri`` (§1.2)."""
        client = self.clients[client_id or self.client_id]
        with self.lock:
            client.redirect_uris.add(redirect_uri)
        return {
            "web": {
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": sorted(client.redirect_uris),
            }
        }

    def add_account(self, email: str, time_zone: str = "UTC", week_start: str = "0") -> Account:
        """A Google account with its primary calendar (id = e-mail, alias ``primary``, §1.4)."""
        with self.lock:
            if email in self.accounts:
                return self.accounts[email]
            account = Account(email, time_zone, {"weekStart": week_start, "timezone": time_zone})
            self.accounts[email] = account
            self.calendars[email] = Calendar(
                id=email,
                owner=email,
                summary=email,
                time_zone=time_zone,
                created_by_client=None,
                etag=self._new_etag(),
                primary=True,
                # Google gives a new account's primary calendar a 10-minute pop-up by default;
                # calendars made by calendars.insert start without defaults.
                default_reminders=[{"method": "popup", "minutes": 10}],
            )
            return account

    def issue_tokens(
        self, email: str, scopes: Iterable[str], client_id: str | None = None
    ) -> IssuedTokens:
        """Tokens as if ``email`` had consented to ``scopes`` (no browser); adds the account."""
        with self.lock:
            self.add_account(email)
            client = self.clients[client_id or self.client_id]
            scope_list = list(dict.fromkeys(scopes))
            self.grants.setdefault((email, client.client_id), set()).update(scope_list)
            refresh = self._new_refresh_token(email, client.client_id, scope_list)
            access = self._new_access_token(email, client.client_id, scope_list, refresh.token)
            expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(
                seconds=ACCESS_TOKEN_LIFETIME
            )
            return IssuedTokens(
                self,
                email,
                client.client_id,
                client.client_secret,
                access.token,
                refresh.token,
                scope_list,
                expiry,
            )

    def revoke_all(self, email: str) -> None:
        """The user removes the app's access at Google: every grant and token of ``email`` dies."""
        with self.lock:
            tokens: list[AccessToken | RefreshToken] = [
                *self.access_tokens.values(),
                *self.refresh_tokens.values(),
            ]
            for token in tokens:
                if token.email == email:
                    token.revoked = True
            for key in [k for k in self.grants if k[0] == email]:
                del self.grants[key]

    def expire_access_tokens(self, email: str | None = None) -> None:
        """Make current access tokens expired now, so the next API call gets 401 (§1.8)."""
        with self.lock:
            for token in self.access_tokens.values():
                if email is None or token.email == email:
                    token.expires_at = self.now - timedelta(seconds=1)

    def calendar_service(self, credentials: Any) -> Any:
        """``googleapiclient.discovery.build`` exactly as production does it, aimed at the fake."""
        from googleapiclient.discovery import build

        return build(
            "calendar",
            "v3",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.api_endpoint},
        )

    def browser_consent(
        self, authorization_url: str, email: str | None = None, allow: bool = True
    ) -> str:
        """The browser hop over real HTTP: load the consent page, submit Allow or Deny.

        Returns the redirect ``Location`` (the callback URL with ``code``/``state`` or ``error``).
        """
        import requests

        page = requests.get(authorization_url, timeout=10)
        if page.status_code != 200:
            raise AssertionError(f"consent page answered {page.status_code}: {page.text[:300]}")
        action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        assert action is not None, "no form on the consent page"
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        fields = {k: html.unescape(v) for k, v in fields.items()}
        prefilled = re.search(r'<input type="email" name="email"[^>]*value="([^"]*)"', page.text)
        fields["email"] = email or (html.unescape(prefilled.group(1)) if prefilled else "")
        fields["action"] = "allow" if allow else "deny"
        target = html.unescape(action.group(1))
        answer = requests.post(
            target if target.startswith("http") else self.url + target,
            data=fields,
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code != 302:
            raise AssertionError(
                f"consent submit answered {answer.status_code}: {answer.text[:300]}"
            )
        return str(answer.headers["Location"])

    # -- test helpers: calendars and events as the user (or another app) changes them at Google ----

    def create_calendar(
        self, email: str, summary: str, client_id: str | None = None, time_zone: str = "UTC"
    ) -> str:
        """A secondary calendar of ``email``; ``client_id`` marks it as that app's (§1.3)."""
        with self.lock:
            self.add_account(email)
            calendar = Calendar(
                id=f"{random_base32hex(26)}@group.calendar.google.com",
                owner=email,
                summary=summary,
                time_zone=time_zone,
                created_by_client=client_id,
                etag=self._new_etag(),
            )
            self.calendars[calendar.id] = calendar
            return calendar.id

    @staticmethod
    def _helper_body(method_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A test helper's body, held to the same schema as a request's (a typo in a test is
        an error, not a silently different event)."""
        try:
            google_schema.check_body(method_id, body)
        except google_schema.SchemaError as error:
            raise ValueError(f"{method_id}: {error.message}") from None
        return copy.deepcopy(dict(body))

    def user_insert(self, calendar_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        checked = self._helper_body("calendar.events.insert", body)
        with self.lock:
            return self._insert_event(self._calendar_by_id(calendar_id), checked, importing=False)

    def user_import(self, calendar_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """An invitation landing in this calendar: like events.import, the body's ``organizer``
        (someone else) is kept, which an insert would replace by the calendar (§1.4). Without an
        ``iCalUID`` (required by import) the organiser's is made up."""
        body = {"iCalUID": f"{random_base32hex(20)}@elsewhere.example", **body}
        checked = self._helper_body("calendar.events.import", body)
        with self.lock:
            return self._insert_event(self._calendar_by_id(calendar_id), checked, importing=True)

    def user_patch(
        self, calendar_id: str, event_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        checked = self._helper_body("calendar.events.patch", changes)
        with self.lock:
            calendar = self._calendar_by_id(calendar_id)
            return self._write_event(calendar, event_id, checked, replace=False, if_match=None)

    def user_respond(
        self, calendar_id: str, event_id: str, email: str, response: str, comment: str = ""
    ) -> dict[str, Any]:
        """The attendee ``email`` answers the invitation (only they can set their
        ``responseStatus``): the calendar's copy changes, with a new etag."""
        if response not in ("needsAction", "declined", "tentative", "accepted"):
            raise ValueError(f"not a responseStatus: {response}")
        with self.lock:
            calendar = self._calendar_by_id(calendar_id)
            resource = copy.deepcopy(calendar.events[event_id].resource)
            for attendee in resource.get("attendees") or []:
                if str(attendee.get("email", "")).lower() == email.lower():
                    attendee["responseStatus"] = response
                    if comment:
                        attendee["comment"] = comment
                    break
            else:
                raise KeyError(email)
            self._bump(calendar, resource)
            return resource

    def set_default_reminders(self, calendar_id: str, reminders: list[dict[str, Any]]) -> None:
        """The user's default reminders for the calendar (Google Calendar's settings page)."""
        with self.lock:
            self._calendar_by_id(calendar_id).default_reminders = copy.deepcopy(reminders)

    def user_delete(self, calendar_id: str, event_id: str) -> None:
        with self.lock:
            self._delete_event(self._calendar_by_id(calendar_id), event_id, if_match=None)

    def event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """The stored resource (a copy), cancelled or not; KeyError when unknown."""
        with self.lock:
            calendar = self._calendar_by_id(calendar_id)
            return copy.deepcopy(calendar.events[event_id].resource)

    def primary_id(self, email: str) -> str:
        return email

    # -- test helpers: sync tokens, notifications --------------------------------------------------

    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Every sync token issued so far (for one calendar or all) now gets 410 (§1.5, §1.10)."""
        with self.lock:
            for calendar in self.calendars.values():
                if calendar_id is None or calendar.id == calendar_id:
                    calendar.sync_generation += 1

    def invalidate_sync_token(self, token: str) -> None:
        with self.lock:
            self.invalid_sync_tokens.add(token)

    def notification(self, channel_id: str, state: str = "exists") -> PushNotification:
        """The notification a real channel would POST now (§1.9); message numbers increase."""
        with self.lock:
            return self._notification(self.channels[channel_id], state)

    @property
    def outbox(self) -> list[PushNotification]:
        """Notifications queued and not sent yet (by hand: pop and ``deliver()`` them)."""
        return self.courier.outbox

    def start_push(self) -> None:
        """From now on notifications are POSTed as Google sends them: from a thread of their
        own, as soon as the change is made (the ``sync`` one possibly before the watch answer),
        retried on 5xx; ``courier.faults`` drops, duplicates or delays the next ones."""
        self.courier.start()

    def stray_notification(
        self,
        address: str,
        *,
        channel_id: str = "0f0e0d0c-unknown-channel",
        resource_id: str = "unknownresourceid000000000",
        token: str | None = "not-a-token-of-yours",  # noqa: S107 - a forgery, on purpose
        state: str = "exists",
    ) -> PushNotification:
        """A notification for a channel the receiver does not know (a channel left over from
        a crash, another installation's, or a forgery); not queued: ``deliver()`` it."""
        headers = {
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Message-Number": str(secrets.randbelow(10_000) + 2),
            "X-Goog-Resource-ID": resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
        }
        if token is not None:
            headers["X-Goog-Channel-Token"] = token
        return PushNotification(address, headers, courier=self.courier)

    def expire_channel(self, channel_id: str) -> None:
        """The channel's expiration passes (as its TTL would): Google sends nothing more."""
        with self.lock:
            self.channels[channel_id].expiration_ms = int(self.now.timestamp() * 1000) - 1

    def live_channels(self, calendar_id: str | None = None) -> list[Channel]:
        """Channels that still send (not stopped, not expired)."""
        now_ms = int(self.now.timestamp() * 1000)
        with self.lock:
            return [
                c
                for c in self.channels.values()
                if not c.stopped
                and c.expiration_ms > now_ms
                and (calendar_id is None or c.calendar_id == calendar_id)
            ]

    # -- fault helpers (§1.8, §1.10 item 9) --------------------------------------------------------

    def rate_limit(
        self,
        *,
        status: int = 429,
        reason: str = "rateLimitExceeded",
        times: int | None = 1,
        retry_after: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Any:
        """403 ``rateLimitExceeded``/``userRateLimitExceeded`` or 429, maybe with Retry-After."""
        message = {
            "rateLimitExceeded": "Rate Limit Exceeded",
            "userRateLimitExceeded": "User Rate Limit Exceeded",
            "quotaExceeded": "Calendar usage limits exceeded.",
        }.get(reason, reason)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        body = google_error_body(status, reason, message, "usageLimits")
        return self.faults.add(
            status=status,
            method=method,
            path=path or r"/calendar/v3/.*",
            headers=headers,
            body=body,
            times=times,
        )

    def server_error(
        self,
        *,
        status: int = 500,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Any:
        return self.faults.add(
            status=status, method=method, path=path or r"/calendar/v3/.*", times=times
        )

    # -- plumbing hooks ----------------------------------------------------------------------------

    def error_body(self, status: int) -> JsonBody:
        return google_error_body(status)

    def rewrite(self, request: Request) -> Request:
        # §1.1: a GET longer than 2048 characters arrives as POST with x-http-method-override: GET
        # and the query string as a form body.
        override = request.headers.get("X-HTTP-Method-Override")
        if request.method != "POST" or not override:
            return request
        query = {k: list(v) for k, v in request.query.items()}
        content_type = request.headers.get("Content-Type") or ""
        if content_type.startswith("application/x-www-form-urlencoded"):
            for key, values in request.form().items():
                query.setdefault(key, []).extend(values)
            body = b""
        else:
            body = request.body
        return Request(override.upper(), request.path, query, request.headers, body, request.time)

    # -- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        api = r"/calendar/v3"
        seg = r"([^/]+)"
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/o/oauth2/auth", self._authorize),
            ("GET", r"/o/oauth2/v2/auth", self._authorize),
            ("POST", r"/o/oauth2/consent", self._consent),
            ("POST", r"/token", self._token),
            ("POST", r"/revoke", self._revoke),
            ("POST", rf"{api}/calendars", self._calendars_insert),
            ("GET", rf"{api}/calendars/{seg}", self._calendars_get),
            ("PATCH", rf"{api}/calendars/{seg}", self._calendars_patch),
            ("PUT", rf"{api}/calendars/{seg}", self._calendars_update),
            ("DELETE", rf"{api}/calendars/{seg}", self._calendars_delete),
            ("GET", rf"{api}/users/me/calendarList", self._calendar_list_list),
            ("GET", rf"{api}/users/me/calendarList/{seg}", self._calendar_list_get),
            ("GET", rf"{api}/users/me/settings/{seg}", self._settings_get),
            ("POST", rf"{api}/channels/stop", self._channels_stop),
            ("POST", rf"{api}/calendars/{seg}/events/import", self._events_import),
            ("POST", rf"{api}/calendars/{seg}/events/watch", self._events_watch),
            ("GET", rf"{api}/calendars/{seg}/events", self._events_list),
            ("POST", rf"{api}/calendars/{seg}/events", self._events_insert),
            ("GET", rf"{api}/calendars/{seg}/events/{seg}/instances", self._events_instances),
            ("GET", rf"{api}/calendars/{seg}/events/{seg}", self._events_get),
            ("PATCH", rf"{api}/calendars/{seg}/events/{seg}", self._events_patch),
            ("PUT", rf"{api}/calendars/{seg}/events/{seg}", self._events_update),
            ("DELETE", rf"{api}/calendars/{seg}/events/{seg}", self._events_delete),
            ("POST", r"/batch/calendar/v3", self._batch),
        ]
        for method, pattern, handler in routes:
            self.add_route(method, pattern, handler)

    # ==============================================================================================
    # Batch requests (https://developers.google.com/calendar/api/guides/batch)
    # ==============================================================================================

    def _batch(self, request: Request, match: re.Match[str]) -> Response:
        """``POST /batch/calendar/v3`` (the discovery document's ``batchPath``): a
        ``multipart/mixed`` body, each part ``Content-Type: application/http`` holding one whole
        HTTP request with a path-only URL. As documented: the outer request's headers apply to
        every call except its ``Content-`` headers, a call's own header wins over the outer one;
        each call is answered as if it came alone (its own status, faults and auth included)
        in a ``multipart/mixed`` reply, one part per call in the order asked, each with
        ``Content-ID: <response-ID>`` for the call's ``Content-ID: <ID>``; at most
        ``batch_limit`` (1000) calls, else 400. Each call counts as one request against quota
        (``batch_calls``), the batch as one HTTP request (``requests``)."""
        content_type = request.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("multipart/mixed"):
            raise google_error(400, "badContent", "A batch request must be multipart/mixed.")
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        if not parsed.is_multipart():
            raise google_error(400, "badContent", "The batch body has no parts.")
        parts = list(parsed.iter_parts())
        if not parts or len(parts) > self.batch_limit:
            raise google_error(
                400, "tooManyRequests" if parts else "badContent",
                f"A batch holds 1 to {self.batch_limit} calls.",
            )  # fmt: skip
        outer = [
            (k, v)
            for k, v in request.headers.items()
            if not k.lower().startswith("content-")
            and k.lower() not in ("host", "content-length", "transfer-encoding", "connection")
        ]
        answers = []
        for part in parts:
            if part.get_content_type() != "application/http":
                raise google_error(400, "badContent", "Each batch part must be application/http.")
            inner = self._inner_request(part.get_payload(decode=True) or b"", outer, request.time)
            self.batch_calls.append(inner)
            answer = self.route(inner)
            answers.append((str(part.get("Content-ID") or ""), answer))
        boundary = f"batch_{secrets.token_hex(12)}"
        chunks = []
        for content_id, answer in answers:
            reason = HTTPStatus(answer.status).phrase if answer.status in _STATUSES else ""
            head = [f"HTTP/1.1 {answer.status} {reason}"]
            head += [f"{k}: {v}" for k, v in answer.headers.items()]
            head.append(f"Content-Length: {len(answer.body)}")
            part_id = f"<response-{content_id.strip('<>')}>" if content_id else ""
            chunks.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                + (f"Content-ID: {part_id}\r\n" if part_id else "")
                + "\r\n"
                + "\r\n".join(head)
                + "\r\n\r\n"
                + answer.body.decode("utf-8")
                + "\r\n"
            )
        body = "".join(chunks) + f"--{boundary}--\r\n"
        return Response(
            200, body.encode("utf-8"), {"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )

    @staticmethod
    def _inner_request(raw: bytes, outer: list[tuple[str, str]], when: datetime) -> Request:
        text = raw.decode("utf-8")
        request_line, _, rest = text.partition("\n")
        try:
            method, target, _version = request_line.strip().split(" ", 2)
        except ValueError:
            raise google_error(400, "badContent", "A batch part is not an HTTP request.") from None
        if "://" in target:
            raise google_error(400, "badContent", "A batch call takes a path, not a whole URL.")
        head, body = _split_head(rest)
        own = email.parser.Parser(policy=email.policy.HTTP).parsestr(head, headersonly=True)
        named = {k.lower() for k in own}
        headers = [(k, v) for k, v in outer if k.lower() not in named]
        headers += [(k, str(v)) for k, v in own.items() if k.lower() not in ("mime-version",)]
        parts = urlsplit(target)
        return Request(
            method=method.upper(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(headers),
            body=body.encode("utf-8"),
            time=when,
        )

    # ==============================================================================================
    # OAuth (§1.2)
    # ==============================================================================================

    def _error_page(self, status: int, error: str, detail: str) -> Response:
        return html_response(
            status,
            f"<!doctype html><html><head><title>Error {status}: {html.escape(error)}</title></head>"
            f"<body><h1>Access blocked: authorisation error</h1><p>Error {status}: "
            f"{html.escape(error)}</p><p>{html.escape(detail)}</p></body></html>",
        )

    def _authorize(self, request: Request, match: re.Match[str]) -> Response:
        client = self.clients.get(request.arg("client_id") or "")
        if client is None:
            return self._error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = request.arg("redirect_uri") or ""
        if redirect_uri not in client.redirect_uris:
            return self._error_page(
                400,
                "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
                f"policy. redirect_uri={redirect_uri}",
            )
        if request.arg("response_type") != "code":
            return self._error_page(400, "unsupported_response_type", "Only 'code' is supported.")
        scopes = (request.arg("scope") or "").split()
        if not scopes:
            return self._error_page(400, "invalid_request", "Missing required parameter: scope")
        challenge = request.arg("code_challenge")
        method = request.arg("code_challenge_method") or ("plain" if challenge else None)
        if challenge and method not in ("S256", "plain"):
            return self._error_page(400, "invalid_request", "Invalid code_challenge_method.")
        pending = PendingConsent(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=request.arg("state"),
            code_challenge=challenge,
            code_challenge_method=method,
            access_type=request.arg("access_type") or "online",
            prompt=request.arg("prompt") or "",
            include_granted_scopes=request.arg("include_granted_scopes") == "true",
            login_hint=request.arg("login_hint"),
        )
        consent_id = secrets.token_urlsafe(16)
        self.pending_consents[consent_id] = pending
        self.consent_requests.append(pending)
        prefill = pending.login_hint or next(iter(self.accounts), "")
        options = "".join(f'<option value="{html.escape(e)}">' for e in self.accounts)
        scope_items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Google Accounts</title></head>
<body>
<main>
<h1>Sign in with Google (fake)</h1>
<p><strong>{html.escape(client.name)}</strong> wants to access your Google Account</p>
<form method="post" action="/o/oauth2/consent">
<input type="hidden" name="consent_id" value="{consent_id}">
<label for="email">Choose an account</label>
<input type="email" name="email" id="email" list="accounts" value="{html.escape(prefill)}" required>
<datalist id="accounts">{options}</datalist>
<p>This will allow {html.escape(client.name)} to:</p>
<ul id="scopes">{scope_items}</ul>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
<button type="submit" name="action" value="allow" id="allow">Allow</button>
</form>
</main>
</body></html>"""
        return html_response(200, page)

    def _consent(self, request: Request, match: re.Match[str]) -> Response:
        form = request.form()
        consent_id = (form.get("consent_id") or [""])[-1]
        pending = self.pending_consents.pop(consent_id, None)
        if pending is None:
            return self._error_page(400, "invalid_request", "This consent request has expired.")
        params: dict[str, str] = {}
        if (form.get("action") or [""])[-1] != "allow":
            params["error"] = "access_denied"
            if pending.state is not None:
                params["state"] = pending.state
            return redirect(self._with_query(pending.redirect_uri, params))
        email = (form.get("email") or [""])[-1].strip()
        if not email:
            return self._error_page(400, "invalid_request", "Choose an account.")
        self.add_account(email)  # signing in with an unknown address creates the account
        scopes = list(pending.scopes)
        granted = self.grants.setdefault((email, pending.client_id), set())
        first_consent = not any(
            t.email == email and t.client_id == pending.client_id and not t.revoked
            for t in self.refresh_tokens.values()
        )
        granted.update(scopes)
        if pending.include_granted_scopes:
            scopes = sorted(granted)
        code = "4/" + secrets.token_urlsafe(40)
        self.auth_codes[code] = AuthCode(
            code=code,
            email=email,
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            scopes=scopes,
            code_challenge=pending.code_challenge,
            code_challenge_method=pending.code_challenge_method,
            offline=pending.access_type == "offline",
            force_refresh_token=first_consent or "consent" in pending.prompt.split(),
            expires_at=self.now + AUTH_CODE_LIFETIME,
        )
        if pending.state is not None:
            params["state"] = pending.state
        params.update(code=code, scope=" ".join(scopes), authuser="0", prompt="consent")
        return redirect(self._with_query(pending.redirect_uri, params))

    @staticmethod
    def _with_query(url: str, params: Mapping[str, str]) -> str:
        return url + ("&" if urlsplit(url).query else "?") + urlencode(params)

    def _client_auth(self, request: Request, form: Mapping[str, list[str]]) -> OAuthClient:
        """HTTP Basic (requests-oauthlib) or form fields (google-auth refresh), §1.2."""
        header = request.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise oauth_error(401, "invalid_client", "Unauthorized") from None
            client_id, _, secret = decoded.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id = (form.get("client_id") or [""])[-1]
            secret = (form.get("client_secret") or [""])[-1]
        client = self.clients.get(client_id)
        if client is None:
            raise oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if not secrets.compare_digest(client.client_secret, secret):
            raise oauth_error(401, "invalid_client", "Unauthorized")
        return client

    def _token(self, request: Request, match: re.Match[str]) -> Response:
        form = request.form()
        grant_type = (form.get("grant_type") or [""])[-1]
        client = self._client_auth(request, form)
        if grant_type == "authorization_code":
            payload = self._exchange_code(client, form)
        elif grant_type == "refresh_token":
            payload = self._refresh(client, form)
        else:
            raise oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        return json_response(
            200, payload, {"Cache-Control": "no-cache, no-store, max-age=0", "Pragma": "no-cache"}
        )

    def _exchange_code(self, client: OAuthClient, form: Mapping[str, list[str]]) -> dict[str, Any]:
        code = self.auth_codes.get((form.get("code") or [""])[-1])
        if code is None:
            raise oauth_error(400, "invalid_grant", "Malformed auth code.")
        if code.used or code.expires_at <= self.now or code.client_id != client.client_id:
            raise oauth_error(400, "invalid_grant", "Bad Request")
        if (form.get("redirect_uri") or [""])[-1] != code.redirect_uri:
            raise oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if code.code_challenge is not None:
            verifier = (form.get("code_verifier") or [""])[-1]
            if not verifier:
                raise oauth_error(400, "invalid_grant", "Missing code verifier.")
            if code.code_challenge_method == "S256":
                digest = hashlib.sha256(verifier.encode("ascii")).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
            else:
                computed = verifier
            if not secrets.compare_digest(computed, code.code_challenge):
                raise oauth_error(400, "invalid_grant", "Invalid code verifier.")
        code.used = True  # one-time codes
        payload: dict[str, Any] = {}
        refresh: RefreshToken | None = None
        # §1.2: refresh_token only on the first consent (or prompt=consent), and only when offline.
        if code.offline and code.force_refresh_token:
            refresh = self._new_refresh_token(code.email, client.client_id, code.scopes)
            payload["refresh_token"] = refresh.token
        access = self._new_access_token(
            code.email, client.client_id, code.scopes, refresh.token if refresh else None
        )
        payload.update(
            access_token=access.token,
            expires_in=ACCESS_TOKEN_LIFETIME,
            token_type="Bearer",
            scope=" ".join(code.scopes),
        )
        if "openid" in code.scopes:
            payload["id_token"] = self._id_token(code.email, client.client_id)
        return payload

    def _refresh(self, client: OAuthClient, form: Mapping[str, list[str]]) -> dict[str, Any]:
        refresh = self.refresh_tokens.get((form.get("refresh_token") or [""])[-1])
        if refresh is None or refresh.revoked:
            raise oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if refresh.client_id != client.client_id:
            raise oauth_error(401, "unauthorized_client", "Unauthorized")
        requested = (form.get("scope") or [""])[-1].split()
        if requested and not set(requested) <= set(refresh.scopes):
            raise oauth_error(400, "invalid_scope", "Bad Request")
        scopes = requested or refresh.scopes
        access = self._new_access_token(refresh.email, client.client_id, scopes, refresh.token)
        payload: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if "openid" in scopes:
            payload["id_token"] = self._id_token(refresh.email, client.client_id)
        return payload

    def _revoke(self, request: Request, match: re.Match[str]) -> Response:
        # §1.2: token in the query or the form; revoking an access token revokes its refresh token.
        token = request.arg("token") or (request.form().get("token") or [""])[-1]
        access = self.access_tokens.get(token)
        refresh = self.refresh_tokens.get(token)
        if access is not None and access.refresh_token is not None:
            refresh = self.refresh_tokens.get(access.refresh_token)
        target = refresh or access
        if (
            target is None
            or target.revoked
            or (access is not None and access.expires_at <= self.now and refresh is None)
        ):
            raise oauth_error(400, "invalid_token", "Token expired or revoked")
        if access is not None:
            access.revoked = True
        if refresh is not None:
            refresh.revoked = True
            for other in self.access_tokens.values():
                if other.refresh_token == refresh.token:
                    other.revoked = True
        self.grants.pop((target.email, target.client_id), None)
        return Response(200, b"", {"Content-Type": "application/json; charset=utf-8"})

    def _new_refresh_token(self, email: str, client_id: str, scopes: list[str]) -> RefreshToken:
        token = RefreshToken("1//" + secrets.token_urlsafe(48), email, client_id, list(scopes))
        self.refresh_tokens[token.token] = token
        return token

    def _new_access_token(
        self, email: str, client_id: str, scopes: list[str], refresh_token: str | None
    ) -> AccessToken:
        token = AccessToken(
            "ya29." + secrets.token_urlsafe(60),
            email,
            client_id,
            list(scopes),
            self.now + timedelta(seconds=ACCESS_TOKEN_LIFETIME),
            refresh_token,
        )
        self.access_tokens[token.token] = token
        return token

    def _id_token(self, email: str, client_id: str) -> str:
        now = int(self.now.timestamp())
        parts: list[dict[str, Any]] = [
            {"alg": "none", "typ": "JWT"},
            {
                "iss": "https://accounts.google.com",
                "aud": client_id,
                "sub": hashlib.sha256(email.encode()).hexdigest()[:21],
                "email": email,
                "email_verified": True,
                "iat": now,
                "exp": now + ACCESS_TOKEN_LIFETIME,
            },
        ]
        return ".".join(b64(p).rstrip("=") for p in parts) + "."

    # ==============================================================================================
    # Calendar API: authorisation (§1.3, §1.8)
    # ==============================================================================================

    def _auth(self, request: Request, method_id: str) -> _Auth:
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            raise google_error(
                401,
                "required",
                "Login Required.",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        token = self.access_tokens.get(header[7:].strip())
        if token is None or token.revoked or token.expires_at <= self.now:
            # §1.8: 401 authError makes google-auth refresh and retry.
            raise google_error(
                401,
                headers={
                    "WWW-Authenticate": (
                        'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                    )
                },
            )
        matched = frozenset(token.scopes) & discovery_scopes()[method_id]
        if not matched:
            raise self._insufficient()
        try:
            google_schema.check_query(method_id, request.query)
        except google_schema.SchemaError as error:
            raise schema_problem(error) from None
        return _Auth(token, matched)

    @staticmethod
    def _body(request: Request, method_id: str) -> dict[str, Any]:
        """The JSON body, checked against the method's request schema (issue 19 item 7)."""
        try:
            body = request.json()
        except ValueError:
            raise bad_request("Parse Error", reason="parseError") from None
        body = {} if body is None else body
        try:
            google_schema.check_body(method_id, body)
        except google_schema.SchemaError as error:
            raise schema_problem(error) from None
        return cast(dict[str, Any], body)

    @staticmethod
    def _insufficient() -> HttpProblem:
        return google_error(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
            domain="global",
        )

    def _calendar(self, auth: _Auth, raw_id: str) -> Calendar:
        """Resolve ``primary`` and ids; other users' calendars are 404; app.created is confined."""
        calendar_id = unquote(raw_id)
        if calendar_id == "primary":
            calendar_id = auth.token.email
        calendar = self.calendars.get(calendar_id)
        if calendar is None or calendar.deleted or calendar.owner != auth.token.email:
            raise not_found()
        # §1.3: with only calendar.app.created, just the calendars this app created are reachable.
        if (
            auth.matched <= {SCOPE_APP_CREATED}
            and calendar.created_by_client != auth.token.client_id
        ):
            raise self._insufficient()
        return calendar

    def _calendar_by_id(self, calendar_id: str) -> Calendar:
        calendar = self.calendars.get(calendar_id)
        if calendar is None and calendar_id in self.accounts:
            calendar = self.calendars[calendar_id]
        if calendar is None:
            raise KeyError(calendar_id)
        return calendar

    # ==============================================================================================
    # calendars.*, calendarList, settings (§1.4)
    # ==============================================================================================

    def _calendars_insert(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.calendars.insert")
        body = self._body(request, "calendar.calendars.insert")
        if not body.get("summary"):
            raise bad_request("Missing title.", reason="required")
        time_zone = body.get("timeZone") or self.accounts[auth.token.email].time_zone
        zone(time_zone)
        calendar = Calendar(
            id=f"{random_base32hex(26)}@group.calendar.google.com",
            owner=auth.token.email,
            summary=body["summary"],
            time_zone=time_zone,
            created_by_client=auth.token.client_id,
            description=body.get("description"),
            etag=self._new_etag(),
        )
        self.calendars[calendar.id] = calendar
        return json_response(200, calendar.resource())

    def _calendars_get(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.calendars.get")
        return json_response(200, self._calendar(auth, match.group(1)).resource())

    def _calendars_patch(self, request: Request, match: re.Match[str]) -> Response:
        return self._calendars_write(request, match, "calendar.calendars.patch")

    def _calendars_update(self, request: Request, match: re.Match[str]) -> Response:
        return self._calendars_write(request, match, "calendar.calendars.update")

    def _calendars_write(self, request: Request, match: re.Match[str], method: str) -> Response:
        auth = self._auth(request, method)
        calendar = self._calendar(auth, match.group(1))
        body = self._body(request, method)
        if method.endswith("update") and not body.get("summary"):
            raise bad_request("Missing title.", reason="required")
        if "summary" in body:
            calendar.summary = body["summary"]
        if "description" in body:
            calendar.description = body["description"]
        if "timeZone" in body:
            zone(body["timeZone"])
            calendar.time_zone = body["timeZone"]
        calendar.etag = self._new_etag()
        return json_response(200, calendar.resource())

    def _calendars_delete(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.calendars.delete")
        calendar = self._calendar(auth, match.group(1))
        if calendar.primary:
            raise bad_request(
                "Cannot delete primary calendar.",
                reason="cannotDeletePrimaryCalendar",
                domain="calendar",
            )
        calendar.deleted = True
        return empty(204)

    def _calendar_list_entry(self, calendar: Calendar) -> dict[str, Any]:
        entry = calendar.resource()
        entry.update(
            kind="calendar#calendarListEntry",
            accessRole="owner",
            defaultReminders=copy.deepcopy(calendar.default_reminders),
        )
        if calendar.primary:
            entry["primary"] = True
        return entry

    def _calendar_list_list(self, request: Request, match: re.Match[str]) -> Response:
        # §1.3/§5.4: calendar.app.created cannot call calendarList.list (its scopes exclude it).
        auth = self._auth(request, "calendar.calendarList.list")
        items = [
            self._calendar_list_entry(c)
            for c in self.calendars.values()
            if c.owner == auth.token.email and not c.deleted
        ]
        return json_response(
            200,
            {
                "kind": "calendar#calendarList",
                "etag": self._new_etag(),
                "nextSyncToken": b64({"l": self._etag_clock}),
                "items": items,
            },
        )

    def _calendar_list_get(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.calendarList.get")
        return json_response(200, self._calendar_list_entry(self._calendar(auth, match.group(1))))

    def _settings_get(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.settings.get")  # §5.4: not with app.created
        setting = unquote(match.group(1))
        settings = self.accounts[auth.token.email].settings
        if setting not in settings:
            raise not_found()
        return json_response(
            200,
            {
                "kind": "calendar#setting",
                "etag": self._new_etag(),
                "id": setting,
                "value": settings[setting],
            },
        )

    # ==============================================================================================
    # Events: reads (§1.5)
    # ==============================================================================================

    def _events_get(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.get")
        calendar = self._calendar(auth, match.group(1))
        resource = self._find_event(calendar, unquote(match.group(2)))  # cancelled ones too (§1.4)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and if_none_match == resource["etag"]:
            return Response(304)  # §1.7
        return json_response(200, resource)

    def _events_list(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.list")
        calendar = self._calendar(auth, match.group(1))
        max_results = self._max_results(request)
        page_token = request.arg("pageToken")
        signature = self._signature(calendar, request)
        if page_token:
            return self._next_page(page_token, signature, max_results)

        sync_token = request.arg("syncToken")
        single = request.arg("singleEvents") == "true"
        show_deleted = request.arg("showDeleted") == "true"
        since: int | None = None
        if sync_token:
            # §1.5 point 3: restrictions are not allowed with a sync token.
            for name in FORBIDDEN_WITH_SYNC_TOKEN:
                if name in request.query:
                    raise bad_request(f"Parameter {name} is not allowed with syncToken.")
            if request.arg("showDeleted") == "false":
                raise bad_request("showDeleted=false is not allowed with syncToken.")
            since, single = self._check_sync_token(calendar, sync_token)
            show_deleted = True  # "The result will always contain deleted entries"
        time_min = self._time_param(request, "timeMin")
        time_max = self._time_param(request, "timeMax")
        if time_min is not None and time_max is not None and time_min >= time_max:
            raise google_error(
                400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
            )
        order_by = request.arg("orderBy")
        if order_by not in (None, "startTime", "updated"):
            raise bad_request(f"Invalid value for: orderBy ({order_by})")
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular query.")
        updated_min = self._time_param(request, "updatedMin")
        horizon = self.updated_min_horizon
        if updated_min is not None and horizon is not None and updated_min < self.now - horizon:
            # §1.5 point 4 / §1.8: 410 updatedMinTooLongAgo.
            raise google_error(
                410,
                "updatedMinTooLongAgo",
                "The requested minimum modification time lies too far in the past.",
                domain="calendar",
            )
        if updated_min is not None:
            show_deleted = True  # incremental by time also returns cancelled events (§1.5)

        rows = self._list_rows(calendar, single, since, time_min, time_max)
        items: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (stored view, wire view)
        for resource in rows:
            if not self._filters_match(
                calendar, request, resource, show_deleted, single, updated_min
            ):
                continue
            items.append((resource, self._wire_view(resource, listing=True)))
        if order_by == "startTime":
            items.sort(key=lambda pair: self._start_of(pair[0], calendar))
        elif order_by == "updated":
            items.sort(key=lambda pair: pair[0].get("updated", ""))
        envelope = self._events_envelope(calendar)
        final = {"nextSyncToken": self._sync_token(calendar, single)}
        return self._first_page(
            [wire for _, wire in items], envelope, final, signature, max_results
        )

    def _events_instances(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.instances")
        calendar = self._calendar(auth, match.group(1))
        max_results = self._max_results(request)
        signature = (*self._signature(calendar, request), unquote(match.group(2)))
        page_token = request.arg("pageToken")
        if page_token:
            return self._next_page(page_token, signature, max_results)
        stored = calendar.events.get(unquote(match.group(2)))
        if stored is None or not stored.resource.get("recurrence"):
            raise not_found()
        if stored.resource.get("status") == "cancelled":
            raise google_error(410, "deleted", "Resource has been deleted", domain="global")
        time_min = self._time_param(request, "timeMin")
        time_max = self._time_param(request, "timeMax")
        original_start = self._time_param(request, "originalStart")
        show_deleted = request.arg("showDeleted") == "true"
        items = []
        for instance in self._instances(calendar, stored.resource, time_min, time_max):
            if instance.get("status") == "cancelled" and not show_deleted:
                continue
            if original_start is not None and self._original_start_of(instance) != original_start:
                continue
            items.append(self._wire_view(instance, listing=True))
        envelope = self._events_envelope(calendar)
        return self._first_page(items, envelope, {}, signature, max_results)

    # -- listing internals -------------------------------------------------------------------------

    def _max_results(self, request: Request) -> int:
        raw = request.arg("maxResults")
        if raw is None:
            return MAX_RESULTS_DEFAULT
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(
                f"Invalid value '{raw}'. Values must match the following regular "
                "expression: '-?\\d+'"
            ) from None
        if value < 1:
            raise bad_request(f"Invalid value '{raw}'. Values must be within the range: [1, 2500]")
        return min(value, MAX_RESULTS_MAX)

    def _time_param(self, request: Request, name: str) -> datetime | None:
        raw = request.arg(name)
        return parse_rfc3339(raw, name) if raw else None

    @staticmethod
    def _signature(calendar: Calendar, request: Request) -> tuple[Any, ...]:
        query = tuple(
            sorted((k, tuple(v)) for k, v in request.query.items() if k not in NON_QUERY_PARAMS)
        )
        return (calendar.id, request.path.rsplit("/", 1)[-1], query)

    def _first_page(
        self,
        items: list[dict[str, Any]],
        envelope: dict[str, Any],
        final: dict[str, Any],
        signature: tuple[Any, ...],
        max_results: int,
    ) -> Response:
        # §1.10 item 3: the whole result is snapshotted; pages are served from the snapshot.
        state = _PageState(signature, items, final, envelope)
        return self._serve_page(state, max_results)

    def _next_page(self, token: str, signature: tuple[Any, ...], max_results: int) -> Response:
        state = self._pages.pop(token, None)
        if state is None or state.signature != signature:
            raise bad_request("Invalid page token value.")
        return self._serve_page(state, max_results)

    def _serve_page(self, state: _PageState, max_results: int) -> Response:
        page, rest = state.items[:max_results], state.items[max_results:]
        body = dict(state.envelope)
        body["items"] = page
        if rest:
            token = self._opaque_token({"p": secrets.token_hex(8)})
            self._pages[token] = _PageState(state.signature, rest, state.final, state.envelope)
            body["nextPageToken"] = token  # §1.5: exactly one of nextPageToken / nextSyncToken
        else:
            body.update(state.final)
        return json_response(200, body)

    def _events_envelope(self, calendar: Calendar) -> dict[str, Any]:
        latest = max((e.resource.get("updated", "") for e in calendar.events.values()), default="")
        return {
            "kind": "calendar#events",
            "etag": self._new_etag(),
            "summary": calendar.summary,
            "description": calendar.description or "",
            "updated": latest or rfc3339(self.now),
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
            "defaultReminders": copy.deepcopy(calendar.default_reminders),
        }

    def _opaque_token(self, payload: dict[str, Any]) -> str:
        token = b64(payload)
        if self.token_padding:
            token += "." * self.token_padding  # still opaque; decoding strips it
        return token

    def _sync_token(self, calendar: Calendar, single: bool) -> str:
        # §1.10 item 2: the token encodes (calendar, seq, singleEvents).
        return self._opaque_token(
            {"c": calendar.id, "s": calendar.seq, "e": single, "g": calendar.sync_generation}
        )

    def _check_sync_token(self, calendar: Calendar, token: str) -> tuple[int, bool]:
        payload = unb64(token.rstrip("."))
        if (
            token in self.invalid_sync_tokens
            or payload is None
            or payload.get("c") != calendar.id
            or payload.get("g") != calendar.sync_generation
            or not isinstance(payload.get("s"), int)
            or payload["s"] > calendar.seq
        ):
            # §1.5 point 4 / §1.8: 410 fullSyncRequired, location syncToken.
            raise google_error(410)
        return int(payload["s"]), bool(payload.get("e"))

    def _list_rows(
        self,
        calendar: Calendar,
        single: bool,
        since: int | None,
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> list[dict[str, Any]]:
        stored = sorted(calendar.events.values(), key=lambda e: (e.seq, e.resource["id"]))
        changed = [e for e in stored if since is None or e.seq > since]
        if not single:
            # §1.5: masters, exceptions and cancelled instances as their own items.
            return [
                e.resource
                for e in changed
                if self._in_window(calendar, e.resource, time_min, time_max)
            ]
        changed_ids = {e.resource["id"] for e in changed}
        rows: list[dict[str, Any]] = []
        for event in changed:
            resource = event.resource
            if resource.get("recurrence"):
                # §1.10 item 5: expand; masters are omitted, and so is a deleted series (§1.5).
                if resource.get("status") != "cancelled":
                    rows.extend(self._instances(calendar, resource, time_min, time_max))
            elif resource.get("recurringEventId"):
                master = calendar.events.get(resource["recurringEventId"])
                if (
                    master is not None
                    and master.resource.get("status") != "cancelled"
                    and (master.resource["id"] in changed_ids)
                ):
                    continue  # already emitted with its master's expansion
                if self._in_window(calendar, resource, time_min, time_max):
                    rows.append(resource)
            elif self._in_window(calendar, resource, time_min, time_max):
                rows.append(resource)
        return rows

    def _filters_match(
        self,
        calendar: Calendar,
        request: Request,
        resource: dict[str, Any],
        show_deleted: bool,
        single: bool,
        updated_min: datetime | None,
    ) -> bool:
        if resource.get("status") == "cancelled" and not show_deleted:
            # §1.5/§5.6: cancelled instances (not the underlying series) are still listed when
            # showDeleted and singleEvents are both false.
            if single or not resource.get("recurringEventId"):
                return False
            master = calendar.events.get(resource["recurringEventId"])
            if master is None or master.resource.get("status") == "cancelled":
                return False
        if updated_min is not None and parse_rfc3339(resource["updated"], "updated") < updated_min:
            return False
        uid = request.arg("iCalUID")
        if uid is not None and resource.get("iCalUID") != uid:
            return False
        text = request.arg("q")
        if text:
            haystack = " ".join(
                str(resource.get(k, "")) for k in ("summary", "description", "location")
            )
            if text.lower() not in haystack.lower():
                return False
        # §1.6: privateExtendedProperty / sharedExtendedProperty "name=value"; all must match here
        # (the discovery description; the guide says OR, see the README).
        for kind, param in (
            ("private", "privateExtendedProperty"),
            ("shared", "sharedExtendedProperty"),
        ):
            props = resource.get("extendedProperties", {}).get(kind, {})
            for constraint in request.args(param):
                name, _, value = constraint.partition("=")
                if props.get(name) != value:
                    return False
        event_types = request.args("eventTypes")
        return not event_types or resource.get("eventType", "default") in event_types

    def _wire_view(self, resource: dict[str, Any], *, listing: bool) -> dict[str, Any]:
        """What a list returns. Cancelled items carry only the guaranteed fields (§1.5)."""
        view = {k: v for k, v in resource.items() if not k.startswith("_")}
        if not listing or view.get("status") != "cancelled":
            return view
        keep = ["kind", "etag", "id", "status", "updated"]
        if view.get("recurringEventId"):
            keep += ["recurringEventId", "originalStartTime"]
        return {k: view[k] for k in keep if k in view}

    # -- time and recurrence -----------------------------------------------------------------------

    @staticmethod
    def _moment(value: Mapping[str, Any], default_zone: str) -> datetime:
        """An aware instant for a start/end/originalStartTime object (all-day: local midnight)."""
        if "dateTime" in value:
            parsed = datetime.fromisoformat(str(value["dateTime"]))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone(value.get("timeZone") or default_zone))
            return parsed
        day = date.fromisoformat(str(value["date"]))
        return datetime.combine(day, time(), tzinfo=zone(value.get("timeZone") or default_zone))

    def _start_of(self, resource: Mapping[str, Any], calendar: Calendar) -> datetime:
        start = resource.get("start") or resource.get("originalStartTime") or {"date": "1970-01-01"}
        return self._moment(start, calendar.time_zone)

    def _original_start_of(self, resource: Mapping[str, Any]) -> datetime | None:
        original = resource.get("originalStartTime")
        return self._moment(original, "UTC") if original else None

    def _in_window(
        self,
        calendar: Calendar,
        resource: Mapping[str, Any],
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> bool:
        """timeMin: exclusive bound on end; timeMax: exclusive bound on start (§1.5)."""
        if time_min is None and time_max is None:
            return True
        if "start" not in resource or "end" not in resource:
            return True
        if resource.get("recurrence"):
            return any(True for _ in self._occurrences(calendar, resource, time_min, time_max, 1))
        start = self._moment(resource["start"], calendar.time_zone)
        end = self._moment(resource["end"], calendar.time_zone)
        return (time_max is None or start < time_max) and (time_min is None or end > time_min)

    def _occurrences(
        self,
        calendar: Calendar,
        master: Mapping[str, Any],
        time_min: datetime | None,
        time_max: datetime | None,
        limit: int = EXPANSION_CAP,
    ) -> Iterator[datetime | date]:
        """Original starts of a series (§1.5: union of RRULE and RDATE minus EXDATE)."""
        start, end = master["start"], master["end"]
        all_day = "date" in start
        if all_day:
            dtstart = datetime.combine(date.fromisoformat(start["date"]), time())
            duration = datetime.combine(date.fromisoformat(end["date"]), time()) - dtstart
            tz = zone(start.get("timeZone") or calendar.time_zone)
        else:
            tz = zone(start.get("timeZone"))
            dtstart = datetime.fromisoformat(start["dateTime"])
            dtstart = dtstart.astimezone(tz) if dtstart.tzinfo else dtstart.replace(tzinfo=tz)
            duration = self._moment(end, start.get("timeZone") or "UTC") - dtstart
        rules = build_ruleset(master.get("recurrence") or [], dtstart, tz, all_day)
        horizon = time_max or (self.now + EXPANSION_HORIZON)
        count = 0
        for occurrence in rules:
            begin = occurrence.replace(tzinfo=tz) if all_day else occurrence
            if begin >= horizon:
                break
            if time_min is not None and begin + duration <= time_min:
                continue
            yield occurrence.date() if all_day else occurrence
            count += 1
            if count >= limit:
                break

    @staticmethod
    def _instance_suffix(original: datetime | date) -> str:
        # §1.5: "<masterId>_<YYYYMMDDTHHMMSSZ>" (UTC basic), all-day "_<YYYYMMDD>".
        if isinstance(original, datetime):
            return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return original.strftime("%Y%m%d")

    def _instances(
        self,
        calendar: Calendar,
        master: dict[str, Any],
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> list[dict[str, Any]]:
        """The series' instances, exceptions (moved or cancelled) substituted for their slots."""
        out = []
        for original in self._occurrences(calendar, master, time_min, time_max):
            instance_id = f"{master['id']}_{self._instance_suffix(original)}"
            stored = calendar.events.get(instance_id)
            out.append(stored.resource if stored else self._generate_instance(master, original))
        return out

    def _generate_instance(
        self, master: dict[str, Any], original: datetime | date
    ) -> dict[str, Any]:
        instance = {k: v for k, v in master.items() if k != "recurrence"}
        instance = copy.deepcopy(instance)
        instance["id"] = f"{master['id']}_{self._instance_suffix(original)}"
        instance["recurringEventId"] = master["id"]
        start, end = master["start"], master["end"]
        if isinstance(original, datetime):
            tz_name = start.get("timeZone")
            first = self._moment(start, tz_name or "UTC")
            duration = self._moment(end, end.get("timeZone") or tz_name or "UTC") - first
            local = original.astimezone(zone(tz_name))
            instance["originalStartTime"] = {"dateTime": local.isoformat(), "timeZone": tz_name}
            instance["start"] = {"dateTime": local.isoformat(), "timeZone": tz_name}
            local_end = (local + duration).astimezone(zone(end.get("timeZone") or tz_name))
            instance["end"] = {
                "dateTime": local_end.isoformat(),
                "timeZone": end.get("timeZone") or tz_name,
            }
        else:
            days = date.fromisoformat(end["date"]) - date.fromisoformat(start["date"])
            instance["originalStartTime"] = {"date": original.isoformat()}
            instance["start"] = {"date": original.isoformat()}
            instance["end"] = {"date": (original + days).isoformat()}
        instance["_generated"] = True
        return instance

    def _virtual_instance(self, calendar: Calendar, event_id: str) -> dict[str, Any] | None:
        """An unmodified instance addressed by its id ``<master>_<stamp>``, if the series has it."""
        parsed = INSTANCE_ID_RE.fullmatch(event_id)
        if parsed is None:
            return None
        master = calendar.events.get(parsed.group("master"))
        if master is None or not master.resource.get("recurrence"):
            return None
        for original in self._occurrences(calendar, master.resource, None, None):
            if self._instance_suffix(original) == parsed.group("stamp"):
                instance = self._generate_instance(master.resource, original)
                if master.resource.get("status") == "cancelled":
                    instance["status"] = "cancelled"
                return instance
        return None

    def _find_event(self, calendar: Calendar, event_id: str) -> dict[str, Any]:
        stored = calendar.events.get(event_id)
        if stored is not None:
            return self._wire_view(stored.resource, listing=False)
        virtual = self._virtual_instance(calendar, event_id)
        if virtual is None:
            raise not_found()
        return self._wire_view(virtual, listing=False)

    # ==============================================================================================
    # Events: writes (§1.4, §1.6, §1.7)
    # ==============================================================================================

    def _events_insert(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.insert")
        calendar = self._calendar(auth, match.group(1))
        body = self._body(request, "calendar.events.insert")
        resource = self._insert_event(calendar, body, importing=False)
        self._record_send_updates(request, "insert", calendar, resource)
        return json_response(200, self._wire_view(resource, listing=False))

    def _events_import(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.import")
        calendar = self._calendar(auth, match.group(1))
        body = self._body(request, "calendar.events.import")
        if not body.get("iCalUID"):
            raise bad_request("Missing iCalUID.", reason="required")
        existing = next(
            (
                e
                for e in calendar.events.values()
                if e.resource.get("iCalUID") == body["iCalUID"]
                and not e.resource.get("recurringEventId")
            ),
            None,
        )
        if existing is not None:
            body.pop("id", None)
            resource = self._write_event(
                calendar, existing.resource["id"], body, replace=True, if_match=None, importing=True
            )
        else:
            resource = self._insert_event(calendar, body, importing=True)
        return json_response(200, self._wire_view(resource, listing=False))

    def _events_patch(self, request: Request, match: re.Match[str]) -> Response:
        return self._events_write(request, match, replace=False)

    def _events_update(self, request: Request, match: re.Match[str]) -> Response:
        return self._events_write(request, match, replace=True)

    def _events_write(self, request: Request, match: re.Match[str], *, replace: bool) -> Response:
        method_id = "calendar.events.update" if replace else "calendar.events.patch"
        auth = self._auth(request, method_id)
        calendar = self._calendar(auth, match.group(1))
        event_id = unquote(match.group(2))
        resource = self._write_event(
            calendar,
            event_id,
            self._body(request, method_id),
            replace=replace,
            if_match=request.headers.get("If-Match"),
        )
        self._record_send_updates(request, "update" if replace else "patch", calendar, resource)
        return json_response(200, self._wire_view(resource, listing=False))

    def _events_delete(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.delete")
        calendar = self._calendar(auth, match.group(1))
        event_id = unquote(match.group(2))
        resource = self._delete_event(calendar, event_id, if_match=request.headers.get("If-Match"))
        self._record_send_updates(request, "delete", calendar, resource)
        return empty(204)

    def _record_send_updates(
        self, request: Request, method: str, calendar: Calendar, resource: Mapping[str, Any]
    ) -> None:
        value = request.arg("sendUpdates")
        self.send_updates_log.append((method, calendar.id, str(resource["id"]), value))
        if value in ("all", "externalOnly"):
            for attendee in resource.get("attendees") or []:
                if attendee.get("email") and not attendee.get("self"):
                    self.invitations_sent.append((str(resource["id"]), attendee["email"]))

    def _new_etag(self) -> str:
        # §1.6: quoted numeric etags that change on every modification (strictly increasing here).
        micros = int(self.now.timestamp() * 1_000_000)
        self._etag_clock = max(micros, self._etag_clock + 1)
        return f'"{self._etag_clock}"'

    def _bump(
        self, calendar: Calendar, resource: dict[str, Any], *, touch_updated: bool = True
    ) -> None:
        # Stored as Google answers it: defaults and empty values left out (issue 19 item 7).
        hidden = {k: v for k, v in resource.items() if k.startswith("_")}
        shaped = google_schema.sparse({k: v for k, v in resource.items() if k not in hidden})
        resource.clear()
        resource.update(shaped, **hidden)
        calendar.seq += 1
        resource["etag"] = self._new_etag()
        if touch_updated:
            resource["updated"] = rfc3339(self.now)
        calendar.events[resource["id"]] = StoredEvent(resource, calendar.seq)
        self._queue_notifications(calendar)

    def _validate_times(self, body: Mapping[str, Any], calendar: Calendar) -> None:
        start, end = body.get("start"), body.get("end")
        if not isinstance(start, Mapping) or not (start.get("dateTime") or start.get("date")):
            raise bad_request("Missing start time.", reason="required")
        if not isinstance(end, Mapping) or not (end.get("dateTime") or end.get("date")):
            raise bad_request("Missing end time.", reason="required")
        if ("date" in start) != ("date" in end):
            raise bad_request("Start and end times must either both be date or both be dateTime.")
        for which, value in (("start", start), ("end", end)):
            if "dateTime" in value:
                try:
                    parsed = datetime.fromisoformat(str(value["dateTime"]))
                except ValueError:
                    raise bad_request(f"Invalid {which} time.") from None
                if parsed.tzinfo is None and not value.get("timeZone"):
                    raise bad_request(
                        f"Missing time zone definition for {which} time.", reason="required"
                    )
            if value.get("timeZone"):
                zone(value["timeZone"])
        reminders = body.get("reminders") or {}
        overrides = reminders.get("overrides") or []
        if len(overrides) > 5:
            # §1.6: at most 5 override reminders (the exact error text is not documented).
            raise bad_request("Cannot specify more than 5 override reminders.")
        if reminders.get("useDefault") and overrides:
            # Overrides are for events that "[don't] use the default reminders" (discovery).
            raise bad_request(
                "Cannot specify both default reminders and overrides at the same time."
            )
        for override in overrides:
            # EventReminder.minutes: "Valid values are between 0 and 40320 (4 weeks in minutes)."
            if not 0 <= int(override.get("minutes", 0)) <= 40320:
                raise bad_request(f"Invalid value for: minutes ({override.get('minutes')})")
        if body.get("recurrence"):
            if "dateTime" in start and not start.get("timeZone"):
                # §1.5: start.timeZone is required for recurring events.
                raise bad_request("Missing time zone definition for start time.", reason="required")
            for line in body["recurrence"]:
                if str(line).upper().startswith(("DTSTART", "DTEND")):
                    raise bad_request("Invalid recurrence rule.")
        if self._moment(end, calendar.time_zone) < self._moment(start, calendar.time_zone):
            raise google_error(
                400,
                "timeRangeEmpty",
                "The specified time range is empty.",
                domain="calendar",
                location=("parameter", "end"),
            )

    def _check_recurrence(
        self, calendar: Calendar, resource: dict[str, Any], *, sent: Any = None
    ) -> None:
        if not resource.get("recurrence"):
            return
        try:
            next(iter(self._occurrences(calendar, resource, None, None, 1)), None)
            off = self._exdates_off_the_rule(calendar, resource) if sent else []
        except (ValueError, TypeError, KeyError):
            raise bad_request("Invalid recurrence rule.") from None
        if off:
            # Create-events guide: an EXDATE "must point to a valid instance generated by the
            # recurrence rule" (§1.5). Checked for the lines a request sends.
            raise bad_request(f"Invalid recurrence rule: EXDATE {off[0]} is not an instance.")

    def _exdates_off_the_rule(self, calendar: Calendar, master: Mapping[str, Any]) -> list[str]:
        start = master["start"]
        all_day = "date" in start
        if all_day:
            dtstart = datetime.combine(date.fromisoformat(start["date"]), time())
            tz = zone(start.get("timeZone") or calendar.time_zone)
        else:
            tz = zone(start.get("timeZone"))
            dtstart = datetime.fromisoformat(start["dateTime"])
            dtstart = dtstart.astimezone(tz) if dtstart.tzinfo else dtstart.replace(tzinfo=tz)
        lines = [str(line) for line in master.get("recurrence") or []]
        generated = build_ruleset(
            [line for line in lines if not line.upper().startswith("EXDATE")], dtstart, tz, all_day
        )
        off = []
        for line in lines:
            name, _, value = line.partition(":")
            head, *params = name.split(";")
            if head.upper() != "EXDATE":
                continue
            param_map = dict(p.split("=", 1) for p in params if "=" in p)
            for item in value.split(","):
                moment = _parse_date_value(item.strip(), param_map, tz, all_day)
                if not generated.between(moment, moment, inc=True):
                    off.append(item.strip())
        return off

    def _insert_event(
        self, calendar: Calendar, body: dict[str, Any], *, importing: bool
    ) -> dict[str, Any]:
        event_id = body.get("id")
        if event_id is not None:
            # §1.6: base32hex, 5-1024 characters; §1.7: an existing id (even deleted) gives 409.
            if not isinstance(event_id, str) or not EVENT_ID_RE.fullmatch(event_id):
                raise bad_request("Invalid resource id value.")
            if event_id in calendar.events:
                raise google_error(409)
        else:
            event_id = random_base32hex(26)
        self._validate_times(without_nulls(body), calendar)
        owner = calendar.owner
        now = rfc3339(self.now)
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            # "self": "Whether the creator corresponds to the calendar on which this copy of the
            # event appears": the account, so only on its primary calendar.
            "creator": {"email": owner, "self": calendar.primary},
            "organizer": {"email": calendar.id, "displayName": calendar.summary},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        for key, value in without_nulls(body).items():
            if key in READ_ONLY_EVENT_FIELDS and not (importing and key == "organizer"):
                continue
            resource[key] = copy.deepcopy(value)
        resource["id"] = event_id
        self._server_fields(calendar, resource, None, importing=importing)
        clean_extended_properties(resource)
        self._check_recurrence(calendar, resource, sent=body.get("recurrence"))
        self._bump(calendar, resource)
        return resource

    def _server_fields(
        self,
        calendar: Calendar,
        resource: dict[str, Any],
        before: Mapping[str, Any] | None,
        *,
        importing: bool,
    ) -> None:
        """What Google sets itself: the read-only ``self`` and ``organizer`` flags, and the
        attendees' answers, which only the attendees give."""
        own = calendar.id.lower()
        organizer = resource.get("organizer")
        organizer_email = ""
        if isinstance(organizer, dict):
            organizer_email = str(organizer.get("email", "")).lower()
            organizer.pop("self", None)  # read-only: whatever a client sent, Google decides
            if organizer_email == own:
                organizer["self"] = True
        if "attendees" not in resource:
            return
        previous = {
            str(a.get("email", "")).lower(): a
            for a in (before or {}).get("attendees") or []
            if a.get("email")
        }
        attendees = []
        for entry in resource["attendees"] or []:
            attendee = {
                k: v for k, v in entry.items() if v is not None and k not in ("self", "organizer")
            }
            email = str(attendee.get("email", "")).lower()
            earlier = previous.get(email)
            if not importing and email != own:
                # "Only the attendee may set it": a response sent by anyone else is Google's to
                # keep or reset (EventAttendee.responseStatus warns that accepted, declined
                # or tentative set for someone "might" be reset to needsAction). The fake does
                # the strict thing: a kept attendee keeps their answer, a new one has none yet.
                attendee["responseStatus"] = (earlier or {}).get("responseStatus", "needsAction")
            attendee.setdefault("responseStatus", "needsAction")
            if earlier is not None:
                # "Can only be set when the attendee is added to the event for the first time."
                attendee["resource"] = bool(earlier.get("resource"))
            if email == own:
                attendee["self"] = True
            if organizer_email and email == organizer_email:
                attendee["organizer"] = True
            attendees.append(attendee)
        resource["attendees"] = attendees

    def _materialise(self, calendar: Calendar, event_id: str) -> dict[str, Any]:
        stored = calendar.events.get(event_id)
        if stored is not None:
            return stored.resource
        virtual = self._virtual_instance(calendar, event_id)
        if virtual is None:
            raise not_found()
        virtual.pop("_generated", None)
        return virtual

    @staticmethod
    def _check_if_match(resource: Mapping[str, Any], if_match: str | None) -> None:
        # §1.7: a stale If-Match gives 412 conditionNotMet (location header If-Match).
        if if_match is not None and if_match != "*" and if_match != resource.get("etag"):
            raise google_error(412)

    def _write_event(
        self,
        calendar: Calendar,
        event_id: str,
        body: dict[str, Any],
        *,
        replace: bool,
        if_match: str | None,
        importing: bool = False,
    ) -> dict[str, Any]:
        current = self._materialise(calendar, event_id)
        self._check_if_match(current, if_match)
        if (
            "sequence" in body
            and isinstance(body["sequence"], int)
            and body["sequence"] < int(current.get("sequence", 0))
        ):
            raise bad_request(
                "Invalid sequence value. The specified sequence number is below the current "
                "sequence number of the resource. Re-fetch the resource and use its sequence "
                "number on the following request."
            )
        writable = {
            k: v
            for k, v in body.items()
            if k not in READ_ONLY_EVENT_FIELDS and k != "id" and (k != "iCalUID" or importing)
        }
        if importing and "organizer" in body:
            writable["organizer"] = body["organizer"]
        if replace:
            # events.update: a full replacement; what is not sent is gone (§1.6 extendedProperties).
            kept = {
                k: current[k] for k in (*READ_ONLY_EVENT_FIELDS, "id", "iCalUID") if k in current
            }
            updated = {
                **kept,
                "status": "confirmed",
                "sequence": current.get("sequence", 0),
                "eventType": current.get("eventType", "default"),
                "reminders": {"useDefault": True},
            }
            updated.update(without_nulls(writable))
        else:
            updated = copy.deepcopy(current)
            merge_patch(updated, writable)
        updated.pop("_generated", None)
        if "recurringEventId" in current and updated.get("recurrence"):
            raise bad_request("Invalid recurrence rule: instances cannot carry recurrence.")
        self._server_fields(calendar, updated, current, importing=importing)
        self._validate_times(updated, calendar)
        clean_extended_properties(updated)
        self._check_recurrence(calendar, updated, sent=body.get("recurrence"))
        timing = ("start", "end", "recurrence", "status")
        if "sequence" not in body and any(updated.get(k) != current.get(k) for k in timing):
            updated["sequence"] = int(current.get("sequence", 0)) + 1
        # §1.6: "Updating event reminders will not cause [updated] to change".
        significant = {
            k for k in set(updated) | set(current) if updated.get(k) != current.get(k)
        } - {"reminders", "etag", "updated"}
        self._bump(calendar, updated, touch_updated=bool(significant) or "updated" not in current)
        if updated.get("status") == "cancelled" and updated.get("recurrence"):
            self._cancel_exceptions(calendar, updated["id"])
        elif updated.get("recurrence") and any(
            updated.get(k) != current.get(k) for k in ("start", "recurrence")
        ):
            self._prune_exceptions(calendar, updated)
        return updated

    def _delete_event(
        self, calendar: Calendar, event_id: str, *, if_match: str | None
    ) -> dict[str, Any]:
        current = self._materialise(calendar, event_id)
        if current.get("status") == "cancelled":
            # §1.8: deleting an already deleted event gives 410 deleted.
            raise google_error(410, "deleted", "Resource has been deleted", domain="global")
        self._check_if_match(current, if_match)
        updated = copy.deepcopy(current)
        updated["status"] = "cancelled"  # a tombstone (§1.10 item 1); a cancelled instance (§1.5)
        self._bump(calendar, updated)
        if updated.get("recurrence"):
            self._cancel_exceptions(calendar, updated["id"])
        return updated

    def _prune_exceptions(self, calendar: Calendar, master: dict[str, Any]) -> None:
        """Exceptions whose slot left the series are reset (cancelled).

        §1.5: "Changing all following instances resets any exceptions happening after the target
        instance" (the client set UNTIL on the master); the same holds for any other change that
        removes an exception's original slot.
        """
        slots = {
            f"{master['id']}_{self._instance_suffix(o)}"
            for o in self._occurrences(calendar, master, None, None)
        }
        horizon = self.now + EXPANSION_HORIZON  # beyond it the expansion above is cut off
        for stored in list(calendar.events.values()):
            resource = stored.resource
            original = self._original_start_of(resource)
            if (
                resource.get("recurringEventId") == master["id"]
                and resource.get("status") != "cancelled"
                and resource["id"] not in slots
                and original is not None
                and original < horizon
            ):
                self._bump(calendar, dict(resource, status="cancelled"))

    def _cancel_exceptions(self, calendar: Calendar, master_id: str) -> None:
        for stored in list(calendar.events.values()):
            resource = stored.resource
            if (
                resource.get("recurringEventId") == master_id
                and resource.get("status") != "cancelled"
            ):
                resource = dict(resource, status="cancelled")
                self._bump(calendar, resource)

    # ==============================================================================================
    # Push notifications (§1.9)
    # ==============================================================================================

    def _events_watch(self, request: Request, match: re.Match[str]) -> Response:
        auth = self._auth(request, "calendar.events.watch")
        calendar = self._calendar(auth, match.group(1))
        body = self._body(request, "calendar.events.watch")
        channel_id = body.get("id")
        if not channel_id or len(str(channel_id)) > 64:
            raise bad_request("Invalid channel id.", reason="required")
        if body.get("type") not in ("web_hook", "webhook"):
            raise bad_request(
                f"Invalid value for: {body.get('type')} is not a valid value", reason="invalid"
            )
        if not body.get("address"):
            raise bad_request("WebHook callback must be specified.", reason="required")
        if str(channel_id) in self.channels:
            raise bad_request(f"Channel id {channel_id} not unique", reason="channelIdNotUnique")
        ttl = DEFAULT_CHANNEL_TTL
        params = body.get("params") or {}
        if "ttl" in params:
            ttl = int(params["ttl"])
        expiration = int((self.now + timedelta(seconds=ttl)).timestamp() * 1000)
        if body.get("expiration"):
            expiration = min(expiration, int(body["expiration"]))
        resource_id = hashlib.sha256(calendar.id.encode()).hexdigest()[:27]  # opaque, stable
        channel = Channel(
            id=str(channel_id),
            resource_id=resource_id,
            resource_uri=(
                f"https://www.googleapis.com/calendar/v3/calendars/{calendar.id}/events?alt=json"
            ),
            address=str(body["address"]),
            token=body.get("token"),
            expiration_ms=expiration,
            calendar_id=calendar.id,
            email=auth.token.email,
        )
        self.channels[channel.id] = channel
        # Queued before the answer is sent: with the courier started it may arrive first (§1.9).
        self.courier.put(self._notification(channel, "sync"))
        answer: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(channel.expiration_ms),
        }
        if channel.token is not None:
            answer["token"] = channel.token
        return json_response(200, answer)

    def _channels_stop(self, request: Request, match: re.Match[str]) -> Response:
        self._auth(request, "calendar.channels.stop")
        body = self._body(request, "calendar.channels.stop")
        channel = self.channels.get(str(body.get("id")))
        if channel is None or channel.stopped or channel.resource_id != body.get("resourceId"):
            raise not_found()
        channel.stopped = True
        return empty(204)

    def _notification(self, channel: Channel, state: str) -> PushNotification:
        # §1.9: message numbers increase but are not sequential; the sync message is 1.
        if state == "sync":
            channel.message_number = max(channel.message_number, 1)
            number = 1
        else:
            channel.message_number += secrets.randbelow(5) + 2
            number = channel.message_number
        expires = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Message-Number": str(number),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Channel-Expiration": expires.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return PushNotification(channel.address, headers, courier=self.courier)

    def _queue_notifications(self, calendar: Calendar) -> None:
        now_ms = int(self.now.timestamp() * 1000)
        for channel in self.channels.values():
            if (
                channel.calendar_id == calendar.id
                and not channel.stopped
                and channel.expiration_ms > now_ms
            ):
                self.courier.put(self._notification(channel, "exists"))


def build_ruleset(lines: Iterable[str], dtstart: datetime, tz: ZoneInfo, all_day: bool) -> rruleset:
    """RRULE/RDATE/EXDATE lines as Google stores them (§1.5) into a dateutil rruleset."""
    rules = rruleset()
    for raw in lines:
        line = str(raw).strip()
        name, _, value = line.partition(":")
        head, *params = name.split(";")
        head = head.upper()
        if head == "RRULE":
            rules.rrule(cast(rrule, rrulestr(_fix_until(value, tz, all_day), dtstart=dtstart)))
        elif head in ("RDATE", "EXDATE"):
            param_map = dict(p.split("=", 1) for p in params if "=" in p)
            for item in value.split(","):
                moment = _parse_date_value(item.strip(), param_map, tz, all_day)
                (rules.rdate if head == "RDATE" else rules.exdate)(moment)
        else:
            raise ValueError(f"unsupported recurrence line {line!r}")
    return rules


def _parse_date_value(
    value: str, params: Mapping[str, str], tz: ZoneInfo, all_day: bool
) -> datetime:
    if len(value) == 8:
        day = datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a floating date
        return (
            datetime.combine(day, time()) if all_day else datetime.combine(day, time(), tzinfo=tz)
        )
    if value.endswith("Z"):
        moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    else:
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - zone applied below
        moment = local.replace(tzinfo=ZoneInfo(params["TZID"]) if "TZID" in params else tz)
    if all_day:
        return datetime.combine(moment.astimezone(tz).date(), time())
    return moment.astimezone(tz)


def _fix_until(rule: str, tz: ZoneInfo, all_day: bool) -> str:
    """dateutil needs UNTIL in UTC for zoned starts; Google also accepts dates and local times."""
    if all_day:
        return re.sub(r"UNTIL=(\d{8})T\d{6}Z?", r"UNTIL=\1", rule)

    def fix(match: re.Match[str]) -> str:
        value = match.group(1)
        if value.endswith("Z"):
            return match.group(0)
        if len(value) == 8:
            day = datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a floating date
            local = datetime.combine(day, time(23, 59, 59), tzinfo=tz)
        else:
            local = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=tz)
        return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return re.sub(r"UNTIL=([0-9TZ]+)", fix, rule)


__all__ = [
    "SCOPE_APP_CREATED",
    "SCOPE_CALENDAR",
    "SCOPE_EVENTS",
    "SCOPE_SETTINGS_READONLY",
    "GoogleFake",
    "Headers",
    "IssuedTokens",
    "PushNotification",
    "google_error_body",
]
