"""A Microsoft identity platform + Graph v1.0 calendar fake (PROTOCOLS.md §2, checklist §2.9).

Identity (§2.8, §2.9 item 9): ``/{tenant}/v2.0/.well-known/openid-configuration``, a real HTML
consent page at ``/{tenant}/oauth2/v2.0/authorize`` (*Allow* ``#allow`` / *Deny* ``#deny``) and
``/{tenant}/oauth2/v2.0/token`` for the ``authorization_code`` (PKCE S256 checked) and
``refresh_token`` grants. The token answer echoes the requested ``scope`` string and carries an
unsigned id_token with the ``nonce`` of the authorize request, plus ``client_info``: without both,
msal's nonce check fails and its silent cache never hits (§2.8, §5.10).

msal refuses http authorities (§2.8), so the app keeps the real authority
``https://login.microsoftonline.com/<tenant>`` and the fake is reached through an injected
``http_client``: :meth:`MicrosoftFake.http_client` is a ``requests.Session`` whose transport sends
``https://login.microsoftonline.com/...`` to this server. The openid-configuration names the real
https token endpoint (reached through that session) but this server's own http address as the
``authorization_endpoint``, because that URL is opened by a browser, which nothing rewrites.

Graph (base ``{url}/v1.0``): calendars (POST with ``ErrorFolderExists``), events CRUD with
``transactionId`` idempotency, ``If-Match`` on ``W/"<changeKey>"`` (412
``ErrorIrresolvableConflict``),
``singleValueExtendedProperties`` with ``$expand``/``$filter``, series expanded into occurrences
(``firstDayOfWeek`` defaulting to Sunday, day 29-31 clamped), exceptions (PATCH on an occurrence)
and deleted occurrences (they disappear), ``instances``, ``calendarView`` and ``calendarView/delta``
with absolute ``@odata.nextLink``/``@odata.deltaLink``, ``@removed``, 400 ``syncStateNotFound``
for unknown delta tokens, and fault switches for 410 + ``Location``, 429/503 + ``Retry-After``
and a refused per-calendar delta path.

As strict as Graph (issue 19 item 7): only the zone names Graph takes (Windows names and the
reference's additional IANA names, else 400 ``TimeZoneNotSupportedException``), bodies stored as
given and answered in HTML unless ``Prefer: outlook.body-content-type="text"`` (then converted,
with ``Preference-Applied``), masters' recurrences with every property, plain collections in
pages of 10 unless ``$top``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import warnings
from collections.abc import Iterator, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from dateutil import rrule as du
from requests.adapters import HTTPAdapter
from tzlocal.windows_tz import win_tz

from tests.fakes.server import (
    Courier,
    FakeServer,
    Fault,
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

LOGIN_HOST = "login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/Calendars.ReadWrite"
DEFAULT_PAGE_SIZE = 10  # the fake's cap per page: small, so clients follow nextLink in tests
COLLECTION_PAGE = 10  # calendarView and instances without $top (Graph's default)
MAX_COLLECTION_PAGE = 1000
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
# The zone names Graph takes in dateTimeTimeZone.timeZone and recurrenceTimeZone: "any of the
# time zones currently supported by Windows, as well as the additional time zones supported by
# the calendar API", the IANA names below, as the v1.0 reference lists them
# (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0/resources/datetimetimezone.md,
# "Additional time zones"; the entries "Europe/Kyiv (Kiev)", "Asia/Toshkent (Tashkent)",
# "Asia/Astana (Almaty)" and "Asia/Yangon (Rangoon)" give both spellings). Anything else is 400
# TimeZoneNotSupportedException (microsoftgraph/microsoft-graph-docs#4758). The Windows names are
# CLDR's (tzlocal.windows_tz.win_tz, Windows zone -> its CLDR zone, used here to expand series).
GRAPH_IANA_ZONES = frozenset({
    "Etc/GMT+12", "Etc/GMT+11", "Pacific/Honolulu", "America/Anchorage", "America/Santa_Isabel",
    "America/Los_Angeles", "America/Phoenix", "America/Chihuahua", "America/Denver",
    "America/Guatemala", "America/Chicago", "America/Mexico_City", "America/Regina",
    "America/Bogota", "America/New_York", "America/Indiana/Indianapolis", "America/Caracas",
    "America/Asuncion", "America/Halifax", "America/Cuiaba", "America/La_Paz", "America/Santiago",
    "America/St_Johns", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Cayenne",
    "America/Godthab", "America/Montevideo", "America/Bahia", "Etc/GMT+2", "Atlantic/Azores",
    "Atlantic/Cape_Verde", "Africa/Casablanca", "Etc/GMT", "Europe/London", "Atlantic/Reykjavik",
    "Europe/Berlin", "Europe/Budapest", "Europe/Paris", "Europe/Warsaw", "Africa/Lagos",
    "Africa/Windhoek", "Europe/Bucharest", "Asia/Beirut", "Africa/Cairo", "Asia/Damascus",
    "Africa/Johannesburg", "Europe/Kyiv", "Europe/Kiev", "Europe/Istanbul", "Asia/Jerusalem",
    "Asia/Amman", "Asia/Baghdad", "Europe/Kaliningrad", "Asia/Riyadh", "Africa/Nairobi",
    "Asia/Tehran", "Asia/Dubai", "Asia/Baku", "Europe/Moscow", "Indian/Mauritius", "Asia/Tbilisi",
    "Asia/Yerevan", "Asia/Kabul", "Asia/Karachi", "Asia/Toshkent", "Asia/Tashkent", "Asia/Kolkata",
    "Asia/Colombo", "Asia/Kathmandu", "Asia/Astana", "Asia/Almaty", "Asia/Dhaka",
    "Asia/Yekaterinburg", "Asia/Yangon", "Asia/Rangoon", "Asia/Bangkok", "Asia/Novosibirsk",
    "Asia/Shanghai", "Asia/Krasnoyarsk", "Asia/Singapore", "Australia/Perth", "Asia/Taipei",
    "Asia/Ulaanbaatar", "Asia/Irkutsk", "Asia/Tokyo", "Asia/Seoul", "Australia/Adelaide",
    "Australia/Darwin", "Australia/Brisbane", "Australia/Sydney", "Pacific/Port_Moresby",
    "Australia/Hobart", "Asia/Yakutsk", "Pacific/Guadalcanal", "Asia/Vladivostok",
    "Pacific/Auckland", "Etc/GMT-12", "Pacific/Fiji", "Asia/Magadan", "Pacific/Tongatapu",
    "Pacific/Apia", "Pacific/Kiritimati"
})  # fmt: skip
# Subscriptions (§2.6): the lifetime cap of Outlook event subscriptions (current docs: 10,080
# minutes; older ones 4,230), the change types, the documented event resources.
MAX_SUBSCRIPTION_MINUTES = 10080
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
VALIDATION_TIMEOUT = 10.0  # the endpoint must answer the validation request within 10 s
NOTIFICATION_TIMEOUT = 3.0  # and each notification with a 2xx within 3 s
SLOW_NOTIFICATION = 2.9  # Graph counts answers slower than this against the endpoint
# "Europe/Kyiv (Kiev)" and co: the names this system's tzdata may not have under one spelling.
_ZONE_ALIASES = {"Asia/Toshkent": "Asia/Tashkent", "Asia/Astana": "Asia/Almaty"}


def graph_error(status: int, code: str, message: str) -> HttpProblem:
    """Graph's error shape (§2.7)."""
    return HttpProblem(json_response(status, _error_body(code, message)))


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": secrets.token_hex(8),
                "client-request-id": secrets.token_hex(8),
            },
        }
    }


def aad_error(error: str, code: int, description: str, status: int = 400) -> HttpProblem:
    """The identity platform's token error shape: ``error`` plus an AADSTS code (§2.9 item 9)."""
    return HttpProblem(
        json_response(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}",
                "error_codes": [code],
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                "trace_id": secrets.token_hex(8),
                "correlation_id": secrets.token_hex(8),
            },
        )
    )


def not_found() -> HttpProblem:
    return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def graph_id() -> str:
    """An opaque, case-sensitive id in Exchange's style (§2.1)."""
    return "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()


def zone_refused(name: object) -> HttpProblem:
    """Graph's answer for a zone name it does not take (microsoft-graph-docs#4758)."""
    return graph_error(
        400,
        "TimeZoneNotSupportedException",
        "A valid TimeZone value must be specified. The following TimeZone value is not "
        f"supported: '{name}'.",
    )


def zone(name: str | None, refused: frozenset[str] | set[str] = frozenset()) -> ZoneInfo:
    """The zone of a name Graph takes (a Windows name, or one of its additional IANA names);
    400 ``TimeZoneNotSupportedException`` for any other (and for ``refused``: a mailbox may take
    "a smaller subset", datetimetimezone.md)."""
    if not name:
        return ZoneInfo("UTC")
    if name in refused:
        raise zone_refused(name)
    iana = win_tz.get(name) or (name if name in GRAPH_IANA_ZONES else None)
    if iana is None:
        raise zone_refused(name)
    try:
        return ZoneInfo(_ZONE_ALIASES.get(iana, iana))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise zone_refused(name) from exc


def wire_time(moment: datetime) -> str:
    """Graph's dateTimeTimeZone text: 7 fractional digits, no offset (§2.3)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


def parse_local(value: Mapping[str, Any]) -> datetime:
    """A dateTimeTimeZone object as an aware datetime."""
    raw = str(value.get("dateTime", ""))
    head, _, frac = raw.partition(".")
    try:
        moment = datetime.fromisoformat(head.replace("Z", ""))
    except ValueError as exc:
        raise graph_error(400, "ErrorInvalidParameter", f"Invalid dateTime {raw!r}.") from exc
    if frac.rstrip("Z"):
        moment = moment.replace(microsecond=int(frac.rstrip("Z")[:6].ljust(6, "0")))
    return moment.replace(tzinfo=zone(value.get("timeZone")))


def parse_query_time(raw: str | None, name: str) -> datetime:
    if not raw:
        raise graph_error(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise graph_error(400, "ErrorInvalidParameter", f"Invalid {name}.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- identity -------------------------------------------------------------------------------------


@dataclass
class Account:
    email: str
    uid: str = field(default_factory=lambda: secrets.token_hex(16))
    tid: str = "9188040d-6c67-4c5b-b112-36a304b66dad"  # the personal-accounts tenant id
    name: str = ""


@dataclass
class PendingConsent:
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    code_challenge_method: str


@dataclass
class AuthCode:
    email: str
    consent: PendingConsent


@dataclass
class Grant:
    email: str
    client_id: str
    revoked: bool = False


@dataclass
class Calendar:
    id: str
    owner: str
    name: str
    is_default: bool = False
    change_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    seq: int = 0

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": "auto",
            "changeKey": self.change_key,
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "isDefaultCalendar": self.is_default,
            "owner": {"name": self.owner, "address": self.owner},
        }


@dataclass
class Stored:
    """A single event or a series master, with the master's exceptions and deleted slots."""

    calendar_id: str
    data: dict[str, Any]
    exceptions: dict[datetime, dict[str, Any]] = field(default_factory=dict)
    deleted_slots: set[datetime] = field(default_factory=set)


@dataclass
class DeltaState:
    calendar_id: str | None  # None: the default calendar (/me/calendarView/delta)
    owner: str
    start: datetime
    end: datetime
    seen: dict[str, str]  # instance id -> changeKey the client was given


@dataclass
class Subscription:
    """A change-notification subscription (§2.6) of one mailbox."""

    id: str
    owner: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    created: datetime
    # After a ``reauthorizationRequired`` challenge Graph may pause delivery until the app
    # reauthorizes (the lifecycle-events guide); changes meanwhile are not notified.
    paused: bool = False

    def resource_json(self, application_id: str, creator: str) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": application_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": wire_expiry(self.expiration),
            "creatorId": creator,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }


def wire_expiry(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


class _Rewrite(HTTPAdapter):
    """Sends ``https://login.microsoftonline.com/...`` to the fake over plain http."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(str(request.url))
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


class MicrosoftFake(FakeServer):
    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.client_id = "00000000-0000-4000-8000-" + secrets.token_hex(6)
        # JSON batching: the requests the batches held (each counts against the mailbox's
        # limits), and the most one batch may hold (the documented 20).
        self.batch_calls: list[Request] = []
        self.batch_limit = 20
        self.client_secret = "fake~secret~" + secrets.token_urlsafe(16)
        self.redirect_uris: set[str] = set()
        self.accounts: dict[str, Account] = {}
        self.pending: dict[str, PendingConsent] = {}
        self.consent_requests: list[PendingConsent] = []
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}  # refresh token -> grant
        self.access_tokens: dict[str, tuple[str, datetime]] = {}  # token -> (email, expiry)
        self.calendars: dict[str, Calendar] = {}
        self.events: dict[str, Stored] = {}
        self.transactions: dict[tuple[str, str], str] = {}  # (owner, transactionId) -> id
        self.delta_states: dict[str, DeltaState] = {}
        self.skip_pages: dict[str, tuple[list[dict[str, Any]], str]] = {}
        self.page_size = DEFAULT_PAGE_SIZE
        # Zone names this mailbox does not take although Graph's lists have them ("the actual
        # time zones supported ... can be a smaller subset", datetimetimezone.md).
        self.refused_zones: set[str] = set()
        self.sent_invitations: list[tuple[str, str]] = []  # (event id, attendee) Exchange mails
        self.subscriptions: dict[str, Subscription] = {}
        self.max_subscription_minutes = MAX_SUBSCRIPTION_MINUTES
        # Graph requires https notification URLs; the fake delivers to http unless this is set.
        self.require_https = False
        # What Graph sends to applications: validation requests (synchronously, inside the
        # POST /subscriptions) and notifications (queued in ``outbox``, or sent from the
        # courier's thread after ``start_push()``). A notification without a 2xx within 3 s is
        # sent again (Graph: "multiple times, for up to 4 hours"; here 4 attempts from 0.5 s).
        self.courier = Courier(
            retry=lambda status: not 200 <= status < 300,
            attempts=4,
            backoff=0.5,
            timeout=NOTIFICATION_TIMEOUT,
        )
        self._counter = itertools.count(1)
        self._register_routes()

    # -- addresses ----------

    @property
    def authority(self) -> str:
        return f"https://{LOGIN_HOST}/common"

    @property
    def graph_endpoint(self) -> str:
        return f"{self.url}/v1.0"

    def identity_adapter(self) -> HTTPAdapter:
        """A transport that sends ``https://login.microsoftonline.com/...`` here."""
        return _Rewrite(self.url)

    def http_client(self) -> requests.Session:
        """A session to give msal as ``http_client`` (§2.8, option 1)."""
        session = requests.Session()
        session.mount(f"https://{LOGIN_HOST}/", self.identity_adapter())
        return session

    def register_redirect_uri(self, uri: str) -> None:
        self.redirect_uris.add(uri)

    # -- test helpers ----------

    def add_account(self, email: str, name: str = "") -> Account:
        with self.lock:
            account = self.accounts.get(email)
            if account is None:
                account = self.accounts[email] = Account(email, name=name or email.split("@")[0])
                default = Calendar(graph_id(), email, "Calendar", is_default=True)
                self.calendars[default.id] = default
            return account

    def default_calendar(self, email: str) -> Calendar:
        self.add_account(email)
        return next(c for c in self.calendars.values() if c.owner == email and c.is_default)

    def create_calendar(self, email: str, name: str) -> str:
        with self.lock:
            self.add_account(email)
            calendar = Calendar(graph_id(), email, name)
            self.calendars[calendar.id] = calendar
            return calendar.id

    def issue_access_token(self, email: str) -> str:
        self.add_account(email)
        token = "eyJ0eXAi." + secrets.token_urlsafe(24)
        self.access_tokens[token] = (email, self.now + timedelta(seconds=3599))
        return token

    def revoke_grants(self, email: str) -> None:
        """The user removes the app's consent (myapps / account.live.com): refresh tokens and
        access tokens stop working."""
        with self.lock:
            for grant in self.grants.values():
                if grant.email == email:
                    grant.revoked = True
            for token, (owner, _) in list(self.access_tokens.items()):
                if owner == email:
                    del self.access_tokens[token]

    def user_create(self, calendar_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """An event made in Outlook itself (no attendees' mail is modelled here)."""
        with self.lock:
            return self._create(self.calendars[calendar_id], dict(body), record_mail=False)

    def user_patch(self, event_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._patch(event_id, dict(body), if_match=None)

    def user_delete(self, event_id: str) -> None:
        with self.lock:
            self._delete(event_id, if_match=None)

    # -- test helpers: change notifications (§2.6) ----------

    @property
    def outbox(self) -> list[Outgoing]:
        """Notifications queued and not sent yet (by hand: ``courier.deliver_all()``)."""
        return self.courier.outbox

    def start_push(self) -> None:
        """From now on notifications are POSTed as Graph sends them: from a thread of their own,
        batched per address, retried without a 2xx within 3 s; ``courier.faults`` drops,
        duplicates or delays the next ones."""
        self.courier.start()

    def slow_answers(self) -> list[float]:
        """Seconds of the notification answers slower than Graph tolerates (2.9 s)."""
        return [d.seconds for d in self.courier.deliveries if d.seconds > SLOW_NOTIFICATION]

    def live_subscriptions(self, owner: str | None = None) -> list[Subscription]:
        with self.lock:
            self._expire_subscriptions()
            return [s for s in self.subscriptions.values() if owner is None or s.owner == owner]

    def reauthorization_required(self, subscription_id: str, *, pause: bool = True) -> None:
        """Graph challenges the subscription (an access token about to expire, a password
        reset): a ``reauthorizationRequired`` lifecycle notification; with ``pause``, change
        notifications stop until the app reauthorizes or renews it."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            sub.paused = pause
            self._lifecycle(sub, "reauthorizationRequired")

    def remove_subscription(self, subscription_id: str) -> None:
        """Graph removes the subscription (the user's password was reset, the account revoked)
        and sends ``subscriptionRemoved``: nothing more comes until the app makes a new one."""
        with self.lock:
            sub = self.subscriptions.pop(subscription_id)
            self._lifecycle(sub, "subscriptionRemoved")

    def miss_notifications(self, subscription_id: str) -> int:
        """Graph could not deliver some notifications (throttling, say): the ones still queued
        for the subscription are lost and a ``missed`` lifecycle notification is sent instead.
        Returns how many were lost."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            lost = [m for m in self.courier.outbox if _names_subscription(m, sub.id)]
            for message in lost:
                self.courier.outbox.remove(message)
            self._lifecycle(sub, "missed")
            return len(lost)

    def stray_notification(
        self,
        address: str,
        *,
        subscription_id: str = "00000000-dead-beef-0000-000000000000",
        client_state: str | None = "not-a-client-state-of-yours",
        change_type: str = "updated",
    ) -> Outgoing:
        """A notification for a subscription the receiver does not know, or with a clientState
        that is not its own (a forgery); not queued: ``deliver()`` it."""
        item = {
            "id": secrets.token_urlsafe(9),
            "subscriptionId": subscription_id,
            "subscriptionExpirationDateTime": wire_expiry(self.now + timedelta(days=1)),
            "clientState": client_state,
            "changeType": change_type,
            "resource": f"Users/{secrets.token_hex(8)}/Events/{graph_id()}",
            "tenantId": "9188040d-6c67-4c5b-b112-36a304b66dad",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": graph_id()},
        }
        return Outgoing(
            address,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps({"value": [item]}).encode(),
            batch=True,
            courier=self.courier,
        )

    def occurrence_id(self, master_id: str, original_start: datetime) -> str:
        return _occurrence_id(master_id, original_start.astimezone(UTC))

    def expire_delta_tokens(self) -> None:
        """Graph's delta tokens live as long as its cache holds them (§2.2)."""
        with self.lock:
            self.delta_states.clear()
            self.skip_pages.clear()

    def delta_gone(self, times: int | None = 1) -> Fault:
        """410 Gone with a ``Location`` of a fresh initial delta request (§2.2)."""
        return self.faults.add(
            status=410,
            method="GET",
            path=r"/v1\.0/me/(calendars/[^/]+/)?calendarView/delta",
            query={"$deltatoken": ".+"},
            headers={"Location": f"{self.graph_endpoint}/me/calendarView/delta"},
            body=_error_body("resyncRequired", "The sync state is gone; restart the sync."),
            times=times,
        )

    def refuse_calendar_delta(self, status: int = 400, times: int | None = None) -> Fault:
        """Graph stops serving ``/me/calendars/{id}/calendarView/delta`` (documented in beta
        only, §2.2): an unknown segment is 400 ``BadRequest`` "Resource not found for the
        segment ...", as Graph answers for paths it does not route (or a 404 with ``status``)."""
        return self.faults.add(
            status=status,
            method="GET",
            path=r"/v1\.0/me/calendars/[^/]+/calendarView/delta",
            body=_error_body(
                "BadRequest" if status == 400 else "ResourceNotFound",
                "Resource not found for the segment 'delta'.",
            ),
            times=times,
        )

    def throttle(
        self,
        *,
        status: int = 429,
        retry_after: int | None = 7,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = r"/v1\.0/.*",
    ) -> Fault:
        """429 ``TooManyRequests`` (or 503 ``MailboxConcurrency``) with Retry-After (§2.7)."""
        code = "TooManyRequests" if status == 429 else "MailboxConcurrency"
        return self.faults.add(
            status=status,
            method=method,
            path=path,
            headers={"Retry-After": str(retry_after)} if retry_after is not None else {},
            body=_error_body(code, "Application is over its MailboxConcurrency limit."),
            times=times,
        )

    def error_body(self, status: int) -> JsonBody:
        codes = {400: "ErrorInvalidParameter", 401: "InvalidAuthenticationToken",
                 403: "ErrorAccessDenied", 404: "ErrorItemNotFound", 409: "ErrorFolderExists",
                 412: "ErrorIrresolvableConflict", 429: "TooManyRequests",
                 500: "InternalServerError", 503: "ServiceUnavailable"}  # fmt: skip
        return _error_body(codes.get(status, "UnknownError"), f"HTTP {status}")

    def sign_in(
        self, email: str, redirect_uri: str = "https://app.example/callback"
    ) -> dict[str, str]:
        """Run msal's real auth-code flow against the fake (consent given for ``email``) and
        return ``{"token_cache", "home_account_id", "tenant_id"}``: what a link stores."""
        import msal  # type: ignore[import-untyped]

        self.register_redirect_uri(redirect_uri)
        cache = msal.SerializableTokenCache()
        app = msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.client_secret,
            authority=self.authority,
            token_cache=cache,
            http_client=self.http_client(),
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            flow = app.initiate_auth_code_flow(
                [GRAPH_SCOPE], redirect_uri=redirect_uri, response_mode="query"
            )
        callback = self.browser_consent(str(flow["auth_uri"]), email)
        params = {k: v[-1] for k, v in parse_qs(urlsplit(callback).query).items()}
        result = app.acquire_token_by_auth_code_flow(flow, params)
        if "access_token" not in result:
            raise AssertionError(f"sign-in failed: {result}")
        account = app.get_accounts()[0]
        return {
            "token_cache": cache.serialize(),
            "home_account_id": str(account["home_account_id"]),
            "tenant_id": self.accounts[email].tid,
        }

    def browser_consent(self, authorization_url: str, email: str, allow: bool = True) -> str:
        """The browser hop over real HTTP: load the consent page, submit Allow or Deny; returns
        the redirect ``Location`` (the callback with ``code``/``state`` or ``error``)."""
        page = requests.get(authorization_url, timeout=10)
        if page.status_code != 200:
            raise AssertionError(f"consent page answered {page.status_code}: {page.text[:300]}")
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        fields = {k: html.unescape(v) for k, v in fields.items()}
        fields["email"] = email
        fields["action"] = "allow" if allow else "deny"
        answer = requests.post(
            f"{self.url}/common/oauth2/v2.0/consent", data=fields, allow_redirects=False, timeout=10
        )
        if answer.status_code != 302:
            raise AssertionError(f"consent answered {answer.status_code}: {answer.text[:300]}")
        return str(answer.headers["Location"])

    # -- routes ----------

    def _register_routes(self) -> None:
        t = r"/(?P<tenant>[^/]+)"
        self.add_route("GET", t + r"/v2\.0/\.well-known/openid-configuration", self._oidc_config)
        self.add_route("GET", r"/common/discovery/instance", self._instance_metadata)
        self.add_route("GET", t + r"/oauth2/v2\.0/authorize", self._authorize)
        self.add_route("POST", t + r"/oauth2/v2\.0/consent", self._consent)
        self.add_route("POST", t + r"/oauth2/v2\.0/token", self._token)
        subs = r"/v1\.0/subscriptions"
        self.add_route("POST", subs, self._subscription_create)
        self.add_route("GET", subs, self._subscription_list)
        self.add_route("GET", subs + r"/(?P<id>[^/]+)", self._subscription_get)
        self.add_route("PATCH", subs + r"/(?P<id>[^/]+)", self._subscription_patch)
        self.add_route("DELETE", subs + r"/(?P<id>[^/]+)", self._subscription_delete)
        self.add_route("POST", subs + r"/(?P<id>[^/]+)/reauthorize", self._subscription_reauthorize)
        self.add_route("POST", r"/v1\.0/\$batch", self._batch)
        me = r"/v1\.0/me"
        cal = me + r"/calendars/(?P<cal>[^/]+)"
        self.add_route("GET", me, self._me)
        self.add_route("GET", me + r"/calendars", self._calendars_list)
        self.add_route("POST", me + r"/calendars", self._calendars_create)
        self.add_route("GET", me + r"/calendar", self._calendar_default)
        self.add_route("GET", cal, self._calendar_get)
        self.add_route("POST", cal + r"/events", self._events_create)
        self.add_route("POST", me + r"/events", self._events_create)
        for prefix in (me, cal):
            self.add_route("GET", prefix + r"/events/(?P<id>[^/]+)", self._event_get)
            self.add_route("PATCH", prefix + r"/events/(?P<id>[^/]+)", self._event_patch)
            self.add_route("DELETE", prefix + r"/events/(?P<id>[^/]+)", self._event_delete)
            self.add_route("GET", prefix + r"/events/(?P<id>[^/]+)/instances", self._instances)
            self.add_route("GET", prefix + r"/calendarView", self._calendar_view)
            self.add_route("GET", prefix + r"/calendarView/delta", self._delta)

    # -- JSON batching (https://learn.microsoft.com/graph/json-batching) ----------

    def _batch(self, request: Request, match: re.Match[str]) -> Response:
        """``POST /v1.0/$batch``: ``{"requests": [{id, method, url, headers?, body?}]}``, at
        most ``batch_limit`` (20) with unique ids, each ``url`` relative to the version; a
        request with a body must name its ``Content-Type``. Each is answered as if it came
        alone (the batch's Authorization applies to all; faults and throttling per request)
        in ``{"responses": [{id, status, headers, body}]}``, whose order the documentation
        does not promise: the fake answers last first, so clients must pair by id. One HTTP
        request in ``requests``; each inner one in ``batch_calls`` (it counts against the
        mailbox's limits as one request)."""
        payload = request.json() if request.body else None
        steps = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(steps, list) or not steps:
            raise graph_error(400, "BadRequest", "Invalid batch payload format.")
        if len(steps) > self.batch_limit:
            raise graph_error(
                400, "BadRequest",
                f"Number of batch request steps exceeds the maximum of {self.batch_limit}.",
            )  # fmt: skip
        ids = [str(step.get("id", "")) if isinstance(step, dict) else "" for step in steps]
        if "" in ids or len(set(ids)) != len(ids):
            raise graph_error(400, "BadRequest", "Batch request ids must be present and unique.")
        outer = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "prefer", "accept")
        ]
        answers = []
        for step_id, step in zip(ids, steps, strict=True):
            answers.append(self._batch_step(step_id, step, outer, request.time))
        return json_response(200, {"responses": answers[::-1]})

    def _batch_step(
        self, step_id: str, step: dict[str, Any], outer: list[tuple[str, str]], when: datetime
    ) -> dict[str, Any]:
        url = str(step.get("url", ""))
        method = str(step.get("method", "")).upper()
        own = step.get("headers") or {}
        body = step.get("body")
        if not url or "://" in url or not method or not isinstance(own, dict):
            problem = _error_body("BadRequest", "Invalid batch request step.")
            return {"id": step_id, "status": 400, "body": problem}
        if body is not None and not any(k.lower() == "content-type" for k in own):
            problem = _error_body("BadRequest", "Content-Type header is required with a body.")
            return {"id": step_id, "status": 400, "body": problem}
        named = {k.lower() for k in own}
        headers = [(k, v) for k, v in outer if k.lower() not in named]
        headers += [(str(k), str(v)) for k, v in own.items()]
        parts = urlsplit("/v1.0/" + url.lstrip("/"))
        inner = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(headers),
            body=json.dumps(body).encode() if body is not None else b"",
            time=when,
        )
        self.batch_calls.append(inner)
        answer = self.route(inner)
        result: dict[str, Any] = {
            "id": step_id,
            "status": answer.status,
            "headers": {k: v for k, v in answer.headers.items()},
        }
        if answer.body:
            try:
                result["body"] = json.loads(answer.body)
            except ValueError:
                result["body"] = base64.b64encode(answer.body).decode()
        return result

    # -- identity endpoints ----------

    def _oidc_config(self, request: Request, match: re.Match[str]) -> Response:
        tenant = match["tenant"]
        return json_response(
            200,
            {
                # Opened by the browser: the fake's own address (nothing rewrites a browser's URL).
                "authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"https://{LOGIN_HOST}/{tenant}/oauth2/v2.0/token",
                "issuer": f"https://{LOGIN_HOST}/{{tenantid}}/v2.0",
                "jwks_uri": f"https://{LOGIN_HOST}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "code_challenge_methods_supported": ["plain", "S256"],
            },
        )

    def _instance_metadata(self, request: Request, match: re.Match[str]) -> Response:
        """Instance discovery: msal asks it for the host aliases of its cache before a refresh
        it cannot find under the authority's own host."""
        return json_response(
            200,
            {
                "tenant_discovery_endpoint": (
                    f"https://{LOGIN_HOST}/common/v2.0/.well-known/openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": LOGIN_HOST,
                        "preferred_cache": "login.windows.net",
                        "aliases": [LOGIN_HOST, "login.windows.net", "login.microsoft.com",
                                    "sts.windows.net"],
                    }
                ],
            },
        )  # fmt: skip

    def _page(self, status: int, title: str, text: str) -> Response:
        return html_response(
            status,
            f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>",
        )

    def _authorize(self, request: Request, match: re.Match[str]) -> Response:
        client_id = request.arg("client_id") or ""
        redirect_uri = request.arg("redirect_uri") or ""
        if client_id != self.client_id:
            return self._page(400, "Sign in", f"AADSTS700016: Application {client_id} not found.")
        if redirect_uri not in self.redirect_uris:
            return self._page(
                400, "Sign in", "AADSTS50011: The redirect URI does not match the app's."
            )
        if request.arg("response_type") != "code":
            return self._page(400, "Sign in", "AADSTS900144: response_type must be code.")
        consent = PendingConsent(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=request.arg("scope") or "",
            state=request.arg("state"),
            nonce=request.arg("nonce"),
            code_challenge=request.arg("code_challenge") or "",
            code_challenge_method=request.arg("code_challenge_method") or "plain",
        )
        self.consent_requests.append(consent)
        consent_id = secrets.token_urlsafe(16)
        self.pending[consent_id] = consent
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in consent.scope.split())
        hint = html.escape(request.arg("login_hint") or "")
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title></head>
<body><main>
<h1>Permissions requested</h1>
<form method="post" action="/{html.escape(match["tenant"])}/oauth2/v2.0/consent">
<input type="hidden" name="consent_id" value="{consent_id}">
<label for="email">Email, phone, or Skype</label>
<input type="email" name="email" id="email" value="{hint}" required>
<p>CalSync (unverified) wants to:</p>
<ul id="scopes">{scopes}</ul>
<button type="submit" name="action" value="deny" id="deny">Cancel</button>
<button type="submit" name="action" value="allow" id="allow">Accept</button>
</form>
</main></body></html>"""
        return html_response(200, page)

    def _consent(self, request: Request, match: re.Match[str]) -> Response:
        form = request.form()
        pending = self.pending.pop((form.get("consent_id") or [""])[-1], None)
        if pending is None:
            return self._page(400, "Sign in", "AADSTS90014: This request has expired.")
        params: dict[str, str] = {}
        if (form.get("action") or [""])[-1] != "allow":
            params["error"] = "access_denied"
            params["error_description"] = "AADSTS65004: User declined to consent to access the app."
        else:
            email = (form.get("email") or [""])[-1].strip()
            if not email:
                return self._page(400, "Sign in", "Enter an account.")
            account = self.add_account(email)
            code = "M." + secrets.token_urlsafe(32)
            self.codes[code] = AuthCode(email, pending)
            params["code"] = code
            params["client_info"] = self._client_info(account)
            params["session_state"] = secrets.token_hex(8)
        if pending.state is not None:
            params["state"] = pending.state
        joiner = "&" if "?" in pending.redirect_uri else "?"
        return redirect(pending.redirect_uri + joiner + urlencode(params))

    @staticmethod
    def _client_info(account: Account) -> str:
        return b64url(json.dumps({"uid": account.uid, "utid": account.tid}).encode())

    def _token(self, request: Request, match: re.Match[str]) -> Response:
        form = {k: v[-1] for k, v in request.form().items()}
        if form.get("client_id") != self.client_id:
            raise aad_error("unauthorized_client", 700016, "Application not found.")
        if form.get("client_secret") != self.client_secret:
            raise aad_error("invalid_client", 7000215, "Invalid client secret provided.", 401)
        grant_type = form.get("grant_type")
        scope = form.get("scope", "")
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None:
                raise aad_error(
                    "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
                )
            consent = code.consent
            if form.get("redirect_uri") != consent.redirect_uri:
                raise aad_error("invalid_grant", 50148, "The redirect_uri does not match.")
            verifier = form.get("code_verifier", "")
            if consent.code_challenge_method == "S256":
                expected = b64url(hashlib.sha256(verifier.encode()).digest())
            else:
                expected = verifier
            if not verifier or expected != consent.code_challenge:
                raise aad_error("invalid_grant", 501481, "The Code_Verifier does not match.")
            email, nonce = code.email, consent.nonce
        elif grant_type == "refresh_token":
            grant = self.grants.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                raise aad_error(
                    "invalid_grant",
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth "
                    "token is needed.",
                )
            email, nonce = grant.email, None
        else:
            raise aad_error("unsupported_grant_type", 70003, "The grant type is not supported.")
        account = self.accounts[email]
        refresh_token = "M.R3_" + secrets.token_urlsafe(32)
        self.grants[refresh_token] = Grant(email, self.client_id)
        body = {
            "token_type": "Bearer",
            # Echo the scopes as asked (full URI form): msal's cache lookup compares them (§2.8).
            "scope": " ".join(s for s in scope.split() if s not in ("openid", "profile")),
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": self.issue_access_token(email),
            "refresh_token": refresh_token,
            "client_info": self._client_info(account),
            "id_token": self._id_token(account, nonce),
        }
        return json_response(200, body, {"Cache-Control": "no-store"})

    def _id_token(self, account: Account, nonce: str | None) -> str:
        now = int(self.now.timestamp())
        claims = {
            "aud": self.client_id,
            "iss": f"https://{LOGIN_HOST}/{account.tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": account.uid,
            "sub": account.uid,
            "tid": account.tid,
            "name": account.name,
            "preferred_username": account.email,
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{b64url(json.dumps(claims).encode())}."

    # -- Graph: auth, calendars --------------------------------------------------------------

    def _owner(self, request: Request) -> str:
        auth = request.headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        found = self.access_tokens.get(token)
        if found is None or found[1] <= self.now:
            raise graph_error(
                401, "InvalidAuthenticationToken", "Access token is empty or has expired."
            )
        return found[0]

    def _me(self, request: Request, match: re.Match[str]) -> Response:
        account = self.accounts[self._owner(request)]
        return json_response(
            200,
            {"id": account.uid, "userPrincipalName": account.email, "mail": account.email,
             "displayName": account.name},
        )  # fmt: skip

    def _calendar(self, owner: str, calendar_id: str | None) -> Calendar:
        if calendar_id is None:
            return self.default_calendar(owner)
        calendar = self.calendars.get(unquote(calendar_id))
        if calendar is None or calendar.owner != owner:
            raise not_found()
        return calendar

    def _calendars_list(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        self.default_calendar(owner)
        values = [c.resource() for c in self.calendars.values() if c.owner == owner]
        return json_response(200, {"@odata.context": "…/$metadata#me/calendars", "value": values})

    def _calendars_create(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        name = str((request.json() or {}).get("name") or "").strip()
        if not name:
            raise graph_error(400, "ErrorInvalidParameter", "The calendar name is missing.")
        self.default_calendar(owner)
        if any(
            c.owner == owner and c.name.lower() == name.lower() for c in self.calendars.values()
        ):
            raise graph_error(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        calendar = Calendar(graph_id(), owner, name)
        self.calendars[calendar.id] = calendar
        return json_response(201, calendar.resource())

    def _calendar_default(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, self.default_calendar(self._owner(request)).resource())

    def _calendar_get(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, self._calendar(self._owner(request), match["cal"]).resource())

    # -- Graph: events --------------------------------------------------------------------

    def _events_create(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        calendar = self._calendar(owner, match.groupdict().get("cal"))
        body = request.json() or {}
        key = body.get("transactionId")
        if key:
            # A retried POST with the same transactionId makes no second event (§2.3).
            existing = self.transactions.get((owner, str(key)))
            if existing in self.events:
                return self._events_json(201, self._render(self.events[existing], request), request)
        created = self._create(calendar, body, record_mail=True)
        if key:
            self.transactions[(owner, str(key))] = created["id"]
        return self._events_json(201, self._render(self.events[created["id"]], request), request)

    def _check_zones(self, body: Mapping[str, Any]) -> None:
        """Every zone name a write gives must be one Graph takes (``zone``)."""
        names = [(body.get(n) or {}).get("timeZone") for n in ("start", "end")]
        recurrence = body.get("recurrence")
        if isinstance(recurrence, Mapping):
            names.append((recurrence.get("range") or {}).get("recurrenceTimeZone"))
        for name in names:
            if name is not None:
                zone(str(name), self.refused_zones)

    def _create(
        self, calendar: Calendar, body: dict[str, Any], *, record_mail: bool
    ) -> dict[str, Any]:
        for name in ("start", "end"):
            if not isinstance(body.get(name), Mapping):
                raise graph_error(400, "ErrorInvalidParameter", f"The {name} is missing.")
        self._check_zones(body)
        start, end = parse_local(body["start"]), parse_local(body["end"])
        if end < start:
            raise graph_error(400, "ErrorInvalidParameter", "The end is before the start.")
        if body.get("isAllDay") and (start.time() != time() or end.time() != time()):
            raise graph_error(
                400,
                "ErrorPropertyValidationFailure",
                "An all-day event's start and end must be midnight.",
            )
        event_id = graph_id()
        data: dict[str, Any] = {
            "subject": "",
            "body": {"contentType": "html", "content": ""},
            "isAllDay": False,
            "showAs": "busy",
            "sensitivity": "normal",
            "isCancelled": False,
            "isOrganizer": True,
            "isReminderOn": True,
            "reminderMinutesBeforeStart": 15,
            "categories": [],
            "attendees": [],
            "location": {"displayName": ""},
            "recurrence": None,
        }
        data.update(deepcopy(body))
        data["id"] = event_id
        data["iCalUId"] = "040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper()
        data["createdDateTime"] = self._stamp()
        data["originalStartTimeZone"] = body["start"].get("timeZone", "UTC")
        data["originalEndTimeZone"] = body["end"].get("timeZone", "UTC")
        data["organizer"] = {"emailAddress": {"name": calendar.owner, "address": calendar.owner}}
        if data.get("recurrence"):
            self._check_recurrence(data["recurrence"], start)
        self._extended_merge(data, body.get("singleValueExtendedProperties"), replace_all=True)
        self.events[event_id] = Stored(calendar.id, data)
        self._touch(data, calendar)
        self._notify(calendar, event_id, "created", data["changeKey"])
        if record_mail:
            # Exchange mails every attendee of a meeting the organiser creates (§2 note in README).
            for attendee in data.get("attendees") or []:
                address = (attendee.get("emailAddress") or {}).get("address")
                if address:
                    self.sent_invitations.append((event_id, str(address)))
        return data

    def _check_recurrence(self, recurrence: Mapping[str, Any], start: datetime) -> None:
        pattern, range_ = recurrence.get("pattern") or {}, recurrence.get("range") or {}
        kind = pattern.get("type")
        needed = {
            "daily": ("interval",),
            "weekly": ("interval", "daysOfWeek"),
            "absoluteMonthly": ("interval", "dayOfMonth"),
            "relativeMonthly": ("interval", "daysOfWeek"),
            "absoluteYearly": ("interval", "dayOfMonth", "month"),
            "relativeYearly": ("interval", "daysOfWeek", "month"),
        }
        if kind not in needed or any(pattern.get(f) in (None, [], 0) for f in needed[kind]):
            raise graph_error(400, "ErrorInvalidRecurrencePattern", "Invalid recurrence pattern.")
        if range_.get("type") not in ("endDate", "noEnd", "numbered") or not range_.get(
            "startDate"
        ):
            raise graph_error(400, "ErrorInvalidRecurrenceRange", "Invalid recurrence range.")
        if range_["type"] == "endDate" and not range_.get("endDate"):
            raise graph_error(400, "ErrorInvalidRecurrenceRange", "endDate is required.")
        if range_["type"] == "numbered" and not range_.get("numberOfOccurrences"):
            raise graph_error(
                400, "ErrorInvalidRecurrenceRange", "numberOfOccurrences is required."
            )

    def _stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.now.microsecond:06d}0Z"

    def _touch(self, data: dict[str, Any], calendar: Calendar) -> None:
        data["changeKey"] = f"DwAAABYAAAA{next(self._counter):06d}" + secrets.token_hex(3)
        data["lastModifiedDateTime"] = self._stamp()
        calendar.seq += 1

    @staticmethod
    def _extended_merge(data: dict[str, Any], props: Any, *, replace_all: bool = False) -> None:
        """``singleValueExtendedProperties`` (§2.4): set by id; never shown unless expanded."""
        current: dict[str, str] = {} if replace_all else dict(data.get("_extended") or {})
        for prop in props or []:
            if isinstance(prop, Mapping) and prop.get("id"):
                current[str(prop["id"])] = str(prop.get("value", ""))
        data["_extended"] = current
        data.pop("singleValueExtendedProperties", None)

    def _find(self, event_id: str) -> tuple[Stored, datetime | None]:
        """The stored item behind an id: a single/master, or (master, original start) for an
        occurrence or exception."""
        event_id = unquote(event_id)
        if event_id in self.events:
            return self.events[event_id], None
        parsed = _parse_occurrence_id(event_id)
        if parsed is not None and parsed[0] in self.events:
            master = self.events[parsed[0]]
            slot = parsed[1]
            if slot in master.deleted_slots:
                raise not_found()
            if slot in master.exceptions or slot in self._slots(master):
                return master, slot
        raise not_found()

    def _check_owner(self, stored: Stored, owner: str) -> Calendar:
        calendar = self.calendars[stored.calendar_id]
        if calendar.owner != owner:
            raise not_found()
        return calendar

    def _event_get(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        stored, slot = self._find(match["id"])
        self._check_owner(stored, owner)
        if slot is None:
            return self._events_json(200, self._render(stored, request), request)
        return self._events_json(200, self._render_instance(stored, slot, request), request)

    def _check_if_match(self, current: Mapping[str, Any], if_match: str | None) -> None:
        if if_match is None or if_match == "*":
            return
        if if_match.strip() != f'W/"{current["changeKey"]}"':
            raise graph_error(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )

    def _event_patch(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        stored, _ = self._find(match["id"])
        self._check_owner(stored, owner)
        data = self._patch(match["id"], request.json() or {}, request.headers.get("If-Match"))
        stored, slot = self._find(data["id"])
        if slot is None:
            return self._events_json(200, self._render(stored, request), request)
        return self._events_json(200, self._render_instance(stored, slot, request), request)

    def _patch(self, event_id: str, body: dict[str, Any], if_match: str | None) -> dict[str, Any]:
        stored, slot = self._find(event_id)
        calendar = self.calendars[stored.calendar_id]
        self._check_zones(body)
        props = body.pop("singleValueExtendedProperties", None)
        for frozen in ("id", "changeKey", "iCalUId", "type", "seriesMasterId", "originalStart"):
            body.pop(frozen, None)
        if slot is None:
            self._check_if_match(stored.data, if_match)
            if "start" in body:
                stored.data["originalStartTimeZone"] = body["start"].get("timeZone", "UTC")
            if stored.data.get("recurrence") and ("recurrence" in body or "start" in body):
                # Changing a series' pattern or time discards its exceptions and deleted
                # occurrences, as Outlook does.
                stored.exceptions.clear()
                stored.deleted_slots.clear()
            stored.data.update(deepcopy(body))
            if props:
                self._extended_merge(stored.data, props)
            self._touch(stored.data, calendar)
            self._notify(calendar, stored.data["id"], "updated", stored.data["changeKey"])
            return stored.data
        # PATCH on an occurrence turns it into an exception (§2.3).
        current = self._instance_data(stored, slot)
        self._check_if_match(current, if_match)
        exception = stored.exceptions.setdefault(slot, {})
        exception.update(deepcopy(body))
        if props:
            merged = {"_extended": exception.get("_extended") or {}}
            self._extended_merge(merged, props)
            exception["_extended"] = merged["_extended"]
        exception["changeKey"] = ""
        self._touch(exception, calendar)
        self._notify(calendar, unquote(event_id), "updated", exception["changeKey"])
        return self._instance_data(stored, slot)

    def _event_delete(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        stored, _ = self._find(match["id"])
        self._check_owner(stored, owner)
        self._delete(match["id"], request.headers.get("If-Match"))
        return empty(204)

    def _delete(self, event_id: str, if_match: str | None) -> None:
        stored, slot = self._find(event_id)
        calendar = self.calendars[stored.calendar_id]
        if slot is None:
            self._check_if_match(stored.data, if_match)
            del self.events[stored.data["id"]]
        else:
            # A deleted occurrence simply disappears in v1.0 (§2.3).
            self._check_if_match(self._instance_data(stored, slot), if_match)
            stored.exceptions.pop(slot, None)
            stored.deleted_slots.add(slot)
        calendar.seq += 1
        self._notify(calendar, unquote(event_id), "deleted", None)

    # -- subscriptions and change notifications (§2.6, §2.9 item 7) ----------

    def _expire_subscriptions(self) -> None:
        """Graph deletes a subscription that was not renewed in time."""
        for sub_id, sub in list(self.subscriptions.items()):
            if sub.expiration <= self.now:
                del self.subscriptions[sub_id]

    def _subscription(self, request: Request, sub_id: str) -> tuple[str, Subscription]:
        owner = self._owner(request)
        self._expire_subscriptions()
        sub = self.subscriptions.get(unquote(sub_id))
        if sub is None or sub.owner != owner:
            raise graph_error(
                404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'."
            )
        return owner, sub

    def _expiry_of(self, body: Mapping[str, Any]) -> datetime:
        raw = body.get("expirationDateTime")
        try:
            text = re.sub(r"(\.\d{6})\d+", r"\1", str(raw).replace("Z", "+00:00"))
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise graph_error(
                400, "InvalidRequest", "expirationDateTime is required and must be a date-time."
            ) from None
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        if moment <= self.now:
            raise graph_error(400, "InvalidRequest", "Subscription expiration date is in the past.")
        if moment > self.now + timedelta(minutes=self.max_subscription_minutes):
            raise graph_error(
                400,
                "ExtensionError",
                "Subscription expiration can only be "
                f"{self.max_subscription_minutes} minutes in the future.",
            )
        return moment

    def _covers(self, resource: str, owner: str) -> bool:
        """The documented event resources: ``/me/events`` and ``/users/{id}/events``."""
        path = resource.strip().strip("/").lower()
        account = self.accounts[owner]
        return path == "me/events" or path in {
            f"users/{account.uid}/events",
            f"users/{owner.lower()}/events",
        }

    def _validate_endpoint(self, url: str) -> None:
        """The validation handshake: POST ``url?validationToken=...``; the endpoint must answer
        200, ``text/plain``, the URL-decoded token, within 10 s (notificationurl-validation)."""
        token = (
            "Validation: Testing client application reachability for subscription Request-Id: "
            + secrets.token_hex(4)
            + "-"
            + secrets.token_hex(2)
            + "-4"
            + secrets.token_hex(3)
        )
        joiner = "&" if urlsplit(url).query else "?"
        request = Outgoing(
            f"{url}{joiner}validationToken={quote(token, safe='')}",
            {"Content-Type": "text/plain; charset=utf-8"},
            b"",
            courier=self.courier,
        )
        answer = self.courier.send(request, timeout=VALIDATION_TIMEOUT)
        content_type = answer.headers.get("Content-Type") or answer.headers.get("content-type")
        if answer.status != 200 or answer.seconds > VALIDATION_TIMEOUT:
            raise graph_error(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
            )
        if not (content_type or "").startswith("text/plain") or answer.body != token.encode():
            raise graph_error(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )

    def _subscription_create(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        body = request.json() or {}
        types = {t.strip() for t in str(body.get("changeType") or "").split(",") if t.strip()}
        if not types or not types <= CHANGE_TYPES:
            raise graph_error(
                400, "InvalidRequest", "changeType must be created, updated and/or deleted."
            )
        resource = str(body.get("resource") or "")
        if not self._covers(resource, owner):
            raise graph_error(400, "InvalidRequest", f"The resource '{resource}' is not supported.")
        urls = [str(body.get("notificationUrl") or "")]
        if body.get("lifecycleNotificationUrl"):
            urls.append(str(body["lifecycleNotificationUrl"]))
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise graph_error(400, "InvalidRequest", "The notification URL is not valid.")
            if self.require_https and parts.scheme != "https":
                raise graph_error(400, "InvalidRequest", "The Notification Url must be https.")
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            raise graph_error(
                400, "InvalidRequest", "clientState must be at most 128 characters long."
            )
        expiration = self._expiry_of(body)
        for url in urls:  # both URLs are validated before the subscription exists
            self._validate_endpoint(url)
        sub = Subscription(
            id=str(uuid4()),
            owner=owner,
            resource=resource,
            change_types=frozenset(types),
            notification_url=urls[0],
            lifecycle_url=urls[1] if len(urls) > 1 else None,
            client_state=None if client_state is None else str(client_state),
            expiration=expiration,
            created=self.now,
        )
        self.subscriptions[sub.id] = sub
        return json_response(201, self._sub_json(sub))

    def _sub_json(self, sub: Subscription) -> dict[str, Any]:
        return sub.resource_json(self.client_id, self.accounts[sub.owner].uid)

    def _subscription_list(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        self._expire_subscriptions()
        values = [self._sub_json(s) for s in self.subscriptions.values() if s.owner == owner]
        return json_response(200, {"@odata.context": "…/$metadata#subscriptions", "value": values})

    def _subscription_get(self, request: Request, match: re.Match[str]) -> Response:
        _, sub = self._subscription(request, match["id"])
        return json_response(200, self._sub_json(sub))

    def _subscription_patch(self, request: Request, match: re.Match[str]) -> Response:
        """Renewal: a new ``expirationDateTime`` (also reauthorizes; the lifecycle guide)."""
        _, sub = self._subscription(request, match["id"])
        body = request.json() or {}
        if "expirationDateTime" in body:
            sub.expiration = self._expiry_of(body)
        if "notificationUrl" in body:
            url = str(body["notificationUrl"])
            self._validate_endpoint(url)
            sub.notification_url = url
        sub.paused = False
        return json_response(200, self._sub_json(sub))

    def _subscription_delete(self, request: Request, match: re.Match[str]) -> Response:
        _, sub = self._subscription(request, match["id"])
        del self.subscriptions[sub.id]
        return empty(204)

    def _subscription_reauthorize(self, request: Request, match: re.Match[str]) -> Response:
        _, sub = self._subscription(request, match["id"])
        sub.paused = False
        return empty(204)

    def _notify(
        self, calendar: Calendar, event_id: str, change_type: str, change_key: str | None
    ) -> None:
        """A change notification to every live subscription of the mailbox that covers it
        (``/me/events`` covers all of the mailbox's calendars)."""
        self._expire_subscriptions()
        account = self.accounts[calendar.owner]
        for sub in self.subscriptions.values():
            if sub.owner != calendar.owner or sub.paused or change_type not in sub.change_types:
                continue
            path = f"Users/{account.uid}/Events/{event_id}"
            data: dict[str, Any] = {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": path,
                "id": event_id,
            }
            if change_key is not None:
                data["@odata.etag"] = f'W/"{change_key}"'
            item = {
                "id": secrets.token_urlsafe(9),
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": wire_expiry(sub.expiration),
                "changeType": change_type,
                "resource": path,
                "tenantId": account.tid,
                "clientState": sub.client_state,
                "resourceData": data,
            }
            self.courier.put(self._payload(sub.notification_url, item))

    def _lifecycle(self, sub: Subscription, event: str) -> None:
        """A lifecycle notification, to the lifecycle URL only (none without one)."""
        if sub.lifecycle_url is None:
            return
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": wire_expiry(sub.expiration),
            "tenantId": self.accounts[sub.owner].tid,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self.courier.put(self._payload(sub.lifecycle_url, item))

    def _payload(self, url: str, item: dict[str, Any]) -> Outgoing:
        return Outgoing(
            url,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps({"value": [item]}).encode(),
            batch=True,
            courier=self.courier,
        )

    # -- expansion ----------

    def _slots(self, stored: Stored, horizon: datetime | None = None) -> list[datetime]:
        """Original starts (UTC) of the series' pattern, up to ``horizon`` (default 5 years)."""
        data = stored.data
        recurrence = data.get("recurrence")
        if not recurrence:
            return []
        start = parse_local(data["start"])
        if data.get("isAllDay"):
            start = start.replace(tzinfo=None).replace(tzinfo=UTC)
        range_ = recurrence["range"]
        series_zone = zone(range_.get("recurrenceTimeZone") or data["start"].get("timeZone"))
        local = start.astimezone(series_zone).replace(tzinfo=None)
        rule = _outlook_rule(recurrence["pattern"], local, range_, series_zone)
        limit = (horizon or (self.now + timedelta(days=5 * 366))).astimezone(series_zone)
        slots = []
        for moment in rule:
            aware = moment.replace(tzinfo=UTC if data.get("isAllDay") else series_zone)
            if aware.replace(tzinfo=None) > limit.replace(tzinfo=None):
                break
            slots.append(aware.astimezone(UTC))
        return slots

    def _instance_data(self, stored: Stored, slot: datetime) -> dict[str, Any]:
        """The occurrence (or exception) at ``slot`` as Graph shows it."""
        master = stored.data
        start, end = parse_local(master["start"]), parse_local(master["end"])
        duration = end - start
        data = {k: deepcopy(v) for k, v in master.items() if k not in ("recurrence", "_extended")}
        if master.get("isAllDay"):
            local_start = slot.replace(tzinfo=start.tzinfo)
        else:
            local_start = slot.astimezone(start.tzinfo)
        data["start"] = {"dateTime": wire_time(local_start.replace(tzinfo=None)),
                         "timeZone": master["start"].get("timeZone", "UTC")}  # fmt: skip
        data["end"] = {"dateTime": wire_time((local_start + duration).replace(tzinfo=None)),
                       "timeZone": master["end"].get("timeZone", "UTC")}  # fmt: skip
        exception = stored.exceptions.get(slot)
        data["type"] = "occurrence"
        if exception is not None:
            data.update(deepcopy({k: v for k, v in exception.items() if k != "_extended"}))
            data["type"] = "exception"
            data["_extended"] = dict(exception.get("_extended") or {})
        else:
            data["_extended"] = {}
            data["changeKey"] = master["changeKey"]
        data["id"] = _occurrence_id(master["id"], slot)
        data["seriesMasterId"] = master["id"]
        data["originalStart"] = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
        # iCalUId differs per occurrence (§2.3).
        data["iCalUId"] = master["iCalUId"] + slot.strftime("%Y%m%d")
        return data

    def _instances_between(
        self, stored: Stored, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        out = []
        for slot in self._slots(stored, horizon=end + timedelta(days=400)):
            if slot in stored.deleted_slots:
                continue
            data = self._instance_data(stored, slot)
            s, e = self._span(data)
            if s < end and e > start:
                out.append(data)
        return out

    def _span(self, data: Mapping[str, Any]) -> tuple[datetime, datetime]:
        s, e = parse_local(data["start"]), parse_local(data["end"])
        if data.get("isAllDay"):
            # An all-day event spans its dates in the viewer's zone (UTC here, §2.1 Prefer).
            s, e = s.replace(tzinfo=UTC), e.replace(tzinfo=UTC)
        return s, e

    def _view(
        self, owner: str, calendar_id: str | None, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """calendarView: singles, occurrences and exceptions in the window, no masters (§2.2)."""
        calendar = self._calendar(owner, calendar_id)
        out: list[dict[str, Any]] = []
        for stored in self.events.values():
            if stored.calendar_id != calendar.id:
                continue
            if stored.data.get("recurrence"):
                out.extend(self._instances_between(stored, start, end))
            else:
                s, e = self._span(stored.data)
                if s < end and e > start:
                    out.append({**stored.data, "type": "singleInstance"})
        out.sort(key=lambda d: (self._span(d)[0], d["id"]))
        return out

    # -- rendering ----------

    def _render(self, stored: Stored, request: Request) -> dict[str, Any]:
        data = dict(stored.data)
        data["type"] = "seriesMaster" if data.get("recurrence") else "singleInstance"
        return self._wire(data, request)

    def _render_instance(self, stored: Stored, slot: datetime, request: Request) -> dict[str, Any]:
        return self._wire(self._instance_data(stored, slot), request)

    def _wire(self, data: Mapping[str, Any], request: Request | None) -> dict[str, Any]:
        """The JSON Graph sends: times in UTC (no ``Prefer: outlook.timezone``), the etag, the
        body in the content type asked for (HTML unless ``Prefer: outlook.body-content-type=
        "text"``), a master's ``recurrence`` with every property (Graph's are not nullable), and
        extended properties only when ``$expand``-ed with a matching ``$filter`` (§2.4).
        ``request`` None: the stored data as it is (for tests' introspection)."""
        out = {k: deepcopy(v) for k, v in data.items() if not k.startswith("_")}
        out["@odata.etag"] = f'W/"{data["changeKey"]}"'
        for name in ("start", "end"):
            value = data[name]
            if data.get("isAllDay"):
                local = parse_local(value).replace(tzinfo=None)
            else:
                local = parse_local(value).astimezone(UTC).replace(tzinfo=None)
            out[name] = {"dateTime": wire_time(local), "timeZone": "UTC"}
        if not out.get("recurrence"):
            out["recurrence"] = None
        else:
            out["recurrence"] = _full_recurrence(out["recurrence"], data["start"])
        if request is not None and isinstance(out.get("body"), Mapping):
            out["body"] = _body_as(out["body"], _body_preference(request) or "html")
        wanted = _expanded_property_ids(request.arg("$expand") if request else None)
        if wanted is not None:
            props = data.get("_extended") or {}
            out["singleValueExtendedProperties"] = [
                {"id": pid, "value": value}
                for pid, value in props.items()
                if not wanted or pid in wanted
            ]
        return out

    @staticmethod
    def _events_json(status: int, payload: JsonBody, request: Request) -> Response:
        """An answer with events: ``Preference-Applied`` confirms an
        ``outlook.body-content-type`` preference (the get-event reference)."""
        preference = _body_preference(request)
        headers = (
            {"Preference-Applied": f'outlook.body-content-type="{preference}"'}
            if preference
            else {}
        )
        return json_response(status, payload, headers)

    # -- instances, calendarView, delta ---------------------------------------------------------

    def _instances(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        start = parse_query_time(request.arg("startDateTime"), "startDateTime")
        end = parse_query_time(request.arg("endDateTime"), "endDateTime")
        stored, slot = self._find(match["id"])
        self._check_owner(stored, owner)
        if slot is not None or not stored.data.get("recurrence"):
            raise graph_error(400, "ErrorInvalidRequest", "The item is not a series master.")
        rows = self._instances_between(stored, start, end)
        return self._collection_page(request, [self._wire(d, request) for d in rows])

    def _calendar_view(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        start = parse_query_time(request.arg("startDateTime"), "startDateTime")
        end = parse_query_time(request.arg("endDateTime"), "endDateTime")
        rows = self._view(owner, match.groupdict().get("cal"), start, end)
        values = [self._wire(d, request) for d in rows]
        select = request.arg("$select")
        if select:
            keep = {f.strip() for f in select.split(",")} | {"id", "@odata.etag"}
            values = [{k: v for k, v in row.items() if k in keep} for row in values]
        return self._collection_page(request, values)

    def _collection_page(self, request: Request, values: list[dict[str, Any]]) -> Response:
        """One page of a plain collection (calendarView, instances): 10 items unless ``$top``
        says otherwise (the documented default; people meet it as "only 10 events",
        microsoft-graph-docs#6201), then an absolute ``@odata.nextLink`` with ``$skip``."""
        try:
            top = int(request.arg("$top") or COLLECTION_PAGE)
            skip = int(request.arg("$skip") or 0)
        except ValueError as exc:
            raise graph_error(400, "BadRequest", "Invalid $top or $skip.") from exc
        if top < 1 or skip < 0:
            raise graph_error(400, "BadRequest", "Invalid $top or $skip.")
        top = min(top, MAX_COLLECTION_PAGE)
        body: dict[str, Any] = {"value": values[skip : skip + top]}
        if skip + top < len(values):
            query = {k: v[-1] for k, v in request.query.items()}
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{self.url}{request.path}?{urlencode(query, safe='$:')}"
        return self._events_json(200, body, request)

    def _page_size(self, request: Request) -> int:
        prefer = request.headers.get("Prefer") or ""
        found = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        # A preference: the server may still send smaller pages (its own cap, ``page_size``).
        return max(1, min(int(found.group(1)), self.page_size)) if found else self.page_size

    def _delta(self, request: Request, match: re.Match[str]) -> Response:
        owner = self._owner(request)
        for unsupported in ("$select", "$expand", "$filter", "$orderby", "$search"):
            if request.arg(unsupported) is not None:
                raise graph_error(
                    400, "ErrorInvalidUrlQuery", f"{unsupported} is not supported with delta."
                )
        calendar_id = match.groupdict().get("cal")
        base = (
            f"{self.graph_endpoint}/me"
            + (f"/calendars/{quote(unquote(calendar_id), safe='')}" if calendar_id else "")
            + "/calendarView/delta"
        )
        skip = request.arg("$skiptoken")
        if skip is not None:
            if skip not in self.skip_pages:
                raise graph_error(400, "syncStateNotFound", "The sync state is not found.")
            rows, state_key = self.skip_pages.pop(skip)
            return self._delta_page(base, rows, state_key, self._page_size(request), request)
        token = request.arg("$deltatoken")
        if token is not None:
            state = self.delta_states.get(token)
            if state is None or state.owner != owner:
                raise graph_error(400, "syncStateNotFound", "The sync state is not found.")
            seen = state.seen
        else:
            start = parse_query_time(request.arg("startDateTime"), "startDateTime")
            end = parse_query_time(request.arg("endDateTime"), "endDateTime")
            self._calendar(owner, calendar_id)
            state = DeltaState(calendar_id, owner, start, end, {})
            seen = {}
        current = {d["id"]: d for d in self._view(owner, calendar_id, state.start, state.end)}
        rows: list[dict[str, Any]] = []
        for event_id, data in current.items():
            if seen.get(event_id) != data["changeKey"]:
                rows.append(self._wire(data, request))
        for event_id in seen:
            if event_id not in current:
                # Deleted, or moved out of the window: both are "deleted" for the view (§2.2).
                rows.append(
                    {"@odata.type": "#microsoft.graph.event", "id": event_id,
                     "@removed": {"reason": "deleted"}}
                )  # fmt: skip
        new_state = DeltaState(
            calendar_id, owner, state.start, state.end,
            {i: d["changeKey"] for i, d in current.items()},
        )  # fmt: skip
        state_key = secrets.token_urlsafe(24)
        self.delta_states[state_key] = new_state
        return self._delta_page(base, rows, state_key, self._page_size(request), request)

    def _delta_page(
        self, base: str, rows: list[dict[str, Any]], state_key: str, size: int, request: Request
    ) -> Response:
        page, rest = rows[:size], rows[size:]
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph_endpoint}/$metadata#Collection(event)"
        }
        if rest:
            skip = secrets.token_urlsafe(24)
            self.skip_pages[skip] = (rest, state_key)
            body["@odata.nextLink"] = f"{base}?$skiptoken={skip}"
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken={state_key}"
        body["value"] = page
        return self._events_json(200, body, request)

    # -- introspection for tests ----------

    def event(self, event_id: str) -> dict[str, Any]:
        stored, slot = self._find(event_id)
        data = stored.data if slot is None else self._instance_data(stored, slot)
        return self._wire(data, None) | {"_extended": dict(data.get("_extended") or {})}

    def iter_events(self, calendar_id: str) -> Iterator[dict[str, Any]]:
        for stored in list(self.events.values()):
            if stored.calendar_id == calendar_id:
                yield stored.data


def _body_preference(request: Request) -> str | None:
    """``text`` or ``html`` from ``Prefer: outlook.body-content-type="..."``, else None."""
    prefer = request.headers.get("Prefer") or ""
    found = re.search(r'outlook\.body-content-type\s*=\s*"?(text|html)"?', prefer, re.I)
    return found.group(1).lower() if found else None


def _body_as(body: Mapping[str, Any], wanted: str) -> dict[str, Any]:
    """An itemBody in the content type asked for: Graph converts on read and keeps what was
    stored (the get-event reference: "If the header is not specified, the body property is
    returned in HTML format")."""
    kind = str(body.get("contentType") or "text").lower()
    content = str(body.get("content") or "")
    if kind == wanted:
        return {"contentType": kind, "content": content}
    if wanted == "text":
        return {"contentType": "text", "content": html_to_text(content)}
    return {"contentType": "html", "content": text_to_html(content)}


class _TextOfHtml(HTMLParser):
    """Exchange-style text of an HTML body: blocks and ``<br>`` end lines with CRLF, links keep
    their address as ``text<url>`` (as Graph's ``bodyPreview`` shows them), head/style/script
    are dropped."""

    _BLOCKS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})
    _HIDDEN = frozenset({"head", "style", "script", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\r\n")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\r\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href:
                self.parts.append(f"<{href}>")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(content: str) -> str:
    parser = _TextOfHtml()
    parser.feed(content)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\r\n")]
    return "\r\n".join(lines).strip("\r\n")


def text_to_html(content: str) -> str:
    lines = content.replace("\r\n", "\n").split("\n")
    inner = "".join(f"<div>{html.escape(line) or '<br>'}</div>\r\n" for line in lines)
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        f'charset=utf-8">\r\n</head>\r\n<body>\r\n{inner}</body>\r\n</html>\r\n'
    )


def _full_recurrence(recurrence: Mapping[str, Any], start: Mapping[str, Any]) -> dict[str, Any]:
    """``patternedRecurrence`` as Graph answers it: every property of ``recurrencePattern`` and
    ``recurrenceRange`` present, the unused ones at their non-null defaults (``dayOfMonth: 0``,
    ``month: 0``, ``index: "first"``, ``firstDayOfWeek: "sunday"``, ``daysOfWeek: []``,
    ``numberOfOccurrences: 0``, ``endDate: "0001-01-01"``), as in the v1.0 reference's responses
    (microsoft-graph-docs-contrib, api-reference/v1.0/api/group-get-event.md)."""
    pattern = dict(recurrence.get("pattern") or {})
    range_ = dict(recurrence.get("range") or {})
    return {
        "pattern": {
            "type": pattern.get("type"),
            "interval": pattern.get("interval") or 1,
            "month": pattern.get("month") or 0,
            "dayOfMonth": pattern.get("dayOfMonth") or 0,
            "daysOfWeek": list(pattern.get("daysOfWeek") or []),
            "firstDayOfWeek": pattern.get("firstDayOfWeek") or "sunday",
            "index": pattern.get("index") or "first",
        },
        "range": {
            "type": range_.get("type"),
            "startDate": range_.get("startDate"),
            "endDate": range_.get("endDate") or "0001-01-01",
            "recurrenceTimeZone": range_.get("recurrenceTimeZone") or start.get("timeZone"),
            "numberOfOccurrences": range_.get("numberOfOccurrences") or 0,
        },
    }


def _occurrence_id(master_id: str, slot: datetime) -> str:
    """Occurrence ids derived from the master's id and the original start (§2.9 item 1),
    opaque to clients."""
    raw = f"{master_id}|{slot.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return "AAMkOC" + base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
    if not event_id.startswith("AAMkOC"):
        return None
    try:
        raw = base64.urlsafe_b64decode(event_id[6:].encode()).decode()
        master, _, stamp = raw.rpartition("|")
        return master, datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (ValueError, UnicodeDecodeError):
        return None


def _expanded_property_ids(expand: str | None) -> set[str] | None:
    """None: not expanded; an empty set: all of them; else the ids named in ``$filter``."""
    if not expand or "singleValueExtendedProperties" not in expand:
        return None
    return set(re.findall(r"id eq '([^']+)'", expand))


def _outlook_rule(
    pattern: Mapping[str, Any], local: datetime, range_: Mapping[str, Any], series_zone: ZoneInfo
) -> du.rrule:
    """The pattern as Outlook expands it: ``firstDayOfWeek`` defaults to Sunday, days 29-31 are
    clamped to the month's end, a relative pattern with several days is "the first day that
    satisfies" (§2.3, §4.1)."""
    weekdays = [du.weekday(_DAYS.index(str(d).lower())) for d in pattern.get("daysOfWeek") or []]
    first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
    kwargs: dict[str, Any] = {
        "dtstart": local,
        "interval": int(pattern.get("interval") or 1),
        "wkst": _DAYS.index(first),
        "cache": False,
    }
    kind = pattern["type"]
    if kind == "daily":
        freq = du.DAILY
    elif kind == "weekly":
        freq, kwargs["byweekday"] = du.WEEKLY, weekdays
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        day = int(pattern["dayOfMonth"])
        freq = du.MONTHLY if kind == "absoluteMonthly" else du.YEARLY
        if kind == "absoluteYearly":
            kwargs["bymonth"] = int(pattern["month"])
        if day >= 29:
            kwargs["bymonthday"], kwargs["bysetpos"] = (day, -1), 1
        else:
            kwargs["bymonthday"] = day
    else:
        n = _INDEX[str(pattern.get("index") or "first").lower()]
        freq = du.MONTHLY if kind == "relativeMonthly" else du.YEARLY
        if kind == "relativeYearly":
            kwargs["bymonth"] = int(pattern["month"])
        kwargs["byweekday"] = [d(n) for d in weekdays]
        if len(weekdays) > 1:
            kwargs["byweekday"], kwargs["bysetpos"] = weekdays, n
    kind_range = range_.get("type")
    if kind_range == "numbered":
        kwargs["count"] = int(range_["numberOfOccurrences"])
    elif kind_range == "endDate":
        last = date.fromisoformat(str(range_["endDate"])[:10])
        kwargs["until"] = datetime.combine(last, time(23, 59, 59))
    return du.rrule(freq, **kwargs)


def _names_subscription(message: Outgoing, subscription_id: str) -> bool:
    try:
        values = json.loads(message.body).get("value") or []
    except (ValueError, AttributeError):
        return False
    return any(v.get("subscriptionId") == subscription_id for v in values)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
