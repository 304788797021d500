"""CalDAV and iCloud through the caldav library (PROTOCOLS.md §3).

Authentication: Basic is sent with the first request (``auth_type="basic"``) where the scheme is
https or the operator allows http (``CALSYNC_ALLOW_HTTP``). Without it every poll starts with an
unauthenticated request and its 401 challenge; Cyrus answers an anonymous ``PROPFIND /`` with 207
(no principal, so setup found no calendar), and its challenge offers Digest ``md5-sess`` first,
which the library picks and cannot complete. Only a 401 to a request that carried our
credentials means a wrong or revoked password.

Reads: RFC 6578 sync-collection with ``disable_fallback=True`` (without it caldav silently lists
everything under a fake token and deletions are lost, §3.3 gotcha 3); an expired token (Radicale
and Cyrus 403, Xandikos 412, all with ``DAV:valid-sync-token``) raises ``CursorExpired``. A quiet
poll is that one REPORT. Changed hrefs are fetched with calendar-multiget REPORTs; a reply that
cannot be parsed (a server that returns control characters raw inside its XML, an event whose
text is beyond the XML parser's limits) is read again item by item with plain GETs, so that only
the bad item is lost. Every item that cannot be read (too large, malformed, dates out of range)
comes back as ``unreadable(...)``, never as a deletion; the rest of the listing is read.

Writes: PUT through the library's client with explicit preconditions, never the library's own
``save()`` defaults (which send ``If-Schedule-Tag-Match`` where a server has Schedule-Tags, and bump
SEQUENCE on every save, §3.3 gotchas 1 and 2):
* create: a PUT to ``<calendar>/<idempotency key>.ics`` with ``If-None-Match: *``; a 412 means an
  earlier try already created it, so we return that item (no duplicate);
* update: GET the resource, check its etag, edit the fetched text (``mapping.edit_ical``: only the
  named fields change, the UID is the one we read), PUT with ``If-Match``; delete: ``If-Match``.
  A 412 without a precondition is ``EtagMismatch``; a 403/409/412 naming a CalDAV precondition
  (``no-uid-conflict``, ``valid-calendar-data``, ...) is the server refusing that one write:
  ``InvalidData`` for that item.

Writes are sent with urllib3 (a pool per connector, ``connectors.net.guarded_pool_manager``: the
same address check on every connection, plain http refused) rather than through the library's
niquests session: each request there cost about 2 ms of client CPU against urllib3's 1 ms, so a
first sync of many events spent more than vdirsyncer (issue 17 §3). Where the environment names
a proxy for the server, or no credentials go up front, writes keep the library's session.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import caldav
import niquests
import urllib3
from caldav.collection import Principal
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as dav_error
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from lxml import etree  # type: ignore[import-untyped]

from connectors.base import (
    Account,
    CalendarRef,
    Capabilities,
    Changes,
    Connector,
    ItemResult,
    NewItem,
    Written,
)
from connectors.caldav.hosts import is_icloud_url
from connectors.caldav.mapping import edit_ical, from_ical, to_ical
from connectors.errors import (
    CREATING,
    DELETING,
    READING,
    UPDATING,
    AuthRevoked,
    ConnectorError,
    CursorExpired,
    EtagMismatch,
    InvalidData,
    NotFound,
    RateLimited,
    SetupError,
    Unavailable,
)
from connectors.events import ALL_FIELDS, EventData, RemoteItem, unreadable
from connectors.net import (
    count_request,
    environment_proxy,
    guard_niquests,
    guarded_pool_manager,
    refuse_plain_http,
)
from recurrence import Text

log = logging.getLogger(__name__)

VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"  # noqa: S105 - a DAV precondition name
ICAL_TYPE = "text/calendar; charset=utf-8"
USER_AGENT = f"python-caldav/{caldav.__version__} (CalSync)"
# Generous: real events are a few kB; a 20 MB one is an attachment or an attack.
MAX_ITEM_BYTES = 4_000_000
# Hrefs per calendar-multiget: a bad reply costs at most this many single GETs.
MULTIGET_BATCH = 50
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
# What a server's refusal of one write means, by the precondition it names (RFC 4791 §5.3.2.1,
# RFC 4918 §16, RFC 6638 §3.2.4.1).
UID_TAKEN = gettext_noop("another event in this calendar already has its UID")
REFUSALS = {
    f"{CALDAV}no-uid-conflict": UID_TAKEN,
    f"{CALDAV}unique-scheduling-object-resource": UID_TAKEN,
    f"{CALDAV}valid-calendar-data": gettext_noop("it found the event data invalid"),
    f"{CALDAV}valid-calendar-object-resource": gettext_noop(
        "it does not accept the event's structure"
    ),
    f"{CALDAV}supported-calendar-data": gettext_noop(
        "it does not accept this kind of calendar data"
    ),
    f"{CALDAV}supported-calendar-component": gettext_noop("this calendar does not accept events"),
    f"{CALDAV}max-resource-size": gettext_noop("the event is larger than it accepts"),
    f"{CALDAV}min-date-time": gettext_noop("the event's dates are earlier than it accepts"),
    f"{CALDAV}max-date-time": gettext_noop("the event's dates are later than it accepts"),
    f"{CALDAV}max-instances": gettext_noop("the series has more occurrences than it accepts"),
    f"{CALDAV}max-attendees-per-instance": gettext_noop(
        "the event has more attendees than it accepts"
    ),
    "{DAV:}need-privileges": gettext_noop("this account may not change this calendar"),
}
# Failures of parsing a multiget reply: the items are then read one by one.
UNPARSABLE_REPLY = (etree.LxmlError, dav_error.ResponseError, ValueError)


def _retry_seconds(header: str | None) -> float | None:
    """A Retry-After header as seconds (a number or an HTTP date), as caldav reads it."""
    return dav_error.parse_retry_after(header) if header else None


def _retry_after(exc: Exception) -> float | None:
    value = getattr(exc, "retry_after", None) or getattr(exc, "retry_after_seconds", None)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _is_bad_credentials(exc: dav_error.AuthorizationError) -> bool:
    # The library raises AuthorizationError for 401 and 403 alike; only 401 is the password.
    return getattr(exc, "status", None) in (401, None)


@contextmanager
def provider_errors(*, setup: bool = False) -> Iterator[None]:
    """Translate caldav and HTTP failures into the connector vocabulary. At setup time every
    failure is a ``SetupError`` with a sentence for the form (never a 500), and an authorisation
    failure is the user's wrong password, not a revoked grant."""
    try:
        yield
    except ConnectorError:
        raise
    except dav_error.RateLimitError as exc:
        if setup:
            raise SetupError(_("The server asks us to slow down. Try again in a minute.")) from exc
        raise RateLimited("The CalDAV server asks us to slow down.", _retry_after(exc)) from exc
    except dav_error.AuthorizationError as exc:
        if VALID_SYNC_TOKEN in (getattr(exc, "preconditions", None) or ()):
            raise CursorExpired("The CalDAV sync token expired.") from exc
        if not _is_bad_credentials(exc):
            if setup:
                raise SetupError(
                    _(
                        "The server refused this account access to that address. Check the server "
                        "address, or ask the server's administrator."
                    )
                ) from exc
            raise Unavailable(
                f"The CalDAV server refused access to the calendar ({exc.status})."
            ) from exc
        if setup:
            raise SetupError(
                _(
                    "The server refused the user name or password. For iCloud, use an app-specific "
                    "password, not your Apple Account password."
                )
            ) from exc
        raise AuthRevoked(REVOKED, text=Text(REVOKED)) from exc
    except dav_error.NotFoundError as exc:
        if setup:
            raise SetupError(_("No CalDAV calendar was found at that address.")) from exc
        raise NotFound("The calendar or event no longer exists on the CalDAV server.") from exc
    except dav_error.ReportError as exc:
        if VALID_SYNC_TOKEN in (getattr(exc, "preconditions", None) or ()):
            raise CursorExpired("The CalDAV sync token expired.") from exc
        if setup:
            raise SetupError(_(_NOT_CALDAV)) from exc
        raise Unavailable(f"The CalDAV server failed a report: {exc.reason}") from exc
    except dav_error.DAVError as exc:
        if setup:
            raise SetupError(_(_NOT_CALDAV)) from exc
        raise Unavailable(f"The CalDAV server answered with an error: {exc.reason}") from exc
    except (niquests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if setup:
            raise SetupError(
                _("The server could not be reached. Check the server address.")
            ) from exc
        raise Unavailable("The CalDAV server could not be reached.") from exc
    except Exception as exc:
        # The library's own errors (a URL it cannot join, XML it cannot parse, ...). At setup the
        # form says so; in sync the run fails with back-off and this message.
        log.warning("CalDAV library error: %r", exc, exc_info=True)
        if setup:
            raise SetupError(_(_NOT_CALDAV)) from exc
        raise Unavailable(f"The CalDAV server sent a reply we cannot use ({exc}).") from exc


REVOKED = gettext_noop("The CalDAV server no longer accepts the stored password.")
_NOT_CALDAV = gettext_noop(
    "That address did not answer as a CalDAV server. Check the server address."
)


def _client(url: str, username: str, password: str, timeout: int) -> DAVClient:
    # caldav's own DNS discovery (RFC 6764) is off: it makes its requests outside the client's
    # session, where the address check below would not see them; discovery runs through the
    # session instead (``CalDAVAccount``).
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    if is_icloud_url(url):
        # iCloud's quirks, as caldav's compatibility profile knows them (PROTOCOLS.md §3.4).
        options["features"] = "icloud"
    if parts.scheme == "https" or settings.CALSYNC_ALLOW_HTTP:
        # Credentials on the first request: one request per quiet poll instead of a 401
        # challenge and a retry, and Basic rather than the Digest a Cyrus challenge offers first.
        options["auth_type"] = "basic"
    client = DAVClient(
        url=url,
        username=username,
        password=password,
        timeout=timeout,
        enable_rfc6764=False,
        **options,
    )
    # Every connection the client makes, to a redirect's target or a discovered URL too, is
    # checked when it is made, on the resolved address (SSRF, connectors/net.py).
    guard_niquests(client.session)
    return client


def _preconditions(body: Any) -> list[str]:
    # The elements of a DAV:error body, less the server's free text (Xandikos adds one).
    return [p for p in dav_error.parse_preconditions(body) if p != "{DAV:}responsedescription"]


def _refusal(item_id: str, what: str, status: int, preconditions: list[str]) -> InvalidData:
    reasons = [REFUSALS.get(p, p.rsplit("}", 1)[-1]) for p in preconditions]
    why = f": {'; '.join(reasons)}" if reasons else ""
    names = ", ".join(p.rsplit("}", 1)[-1] for p in preconditions)
    detail = f"{status}, {names}" if names else str(status)
    # The words the sync message shows, translated when it is read (a precondition we have no
    # words for is the server's own name for it, shown as it is).
    if reasons:
        joined = Text(reasons[0])
        for reason in reasons[1:]:
            joined = Text.of("%(first)s; %(next)s", first=joined, next=Text(reason))
        text = Text.of(
            gettext_noop("%(what)s: the CalDAV server refused this event: %(why)s (%(detail)s)."),
            what=Text(what),
            why=joined,
            detail=detail,
        )
    else:
        text = Text.of(
            gettext_noop("%(what)s: the CalDAV server refused this event (%(detail)s)."),
            what=Text(what),
            detail=detail,
        )
    return InvalidData(
        f"{what}: the CalDAV server refused this event{why} ({detail}).", item_id, text=text
    )


@dataclass(frozen=True)
class _Answer:
    """A write's answer, whichever client sent it."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# A write's answer is a status and a few headers; more than this of body is not read (a server
# cannot make us hold more), the connection is then dropped instead of reused.
WRITE_REPLY_BYTES = 64 * 1024
# Redirects a write follows (niquests' sessions follow them too); each hop is checked.
WRITE_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5)


def _check(response: _Answer, *, allowed: tuple[int, ...], what: str, item_id: str) -> None:
    status = response.status
    if status in allowed:
        return
    preconditions = _preconditions(response.body)
    if status == 412 and not preconditions:
        raise EtagMismatch(f"{what}: the event changed on the CalDAV server.")
    if status in (404, 410):
        raise NotFound(f"{what}: the event no longer exists.")
    if status == 401:
        raise AuthRevoked(REVOKED, text=Text(REVOKED))
    if status in (400, 403, 409, 412, 413, 415, 422) or preconditions:
        raise _refusal(item_id, what, status, preconditions)
    raise Unavailable(f"{what}: the CalDAV server answered {status}.")


def _same_etag(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        return value.strip().removeprefix("W/").strip('"')

    return norm(a) == norm(b)


class _TooLarge(Exception):
    pass


# Concurrent PUTs per CalDAV server (host and port), shared by every connector of the process:
# a first sync of several links on one small server (a self-hosted Radicale) must not open a
# request per event at once. CALSYNC_CALDAV_PUT_CONCURRENCY sets the size (settings).
_SERVER_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _server_slots(url: str, size: int) -> threading.BoundedSemaphore:
    parts = urlsplit(url)
    key = f"{parts.scheme}://{parts.netloc}"
    with _SLOTS_LOCK:
        slots = _SERVER_SLOTS.get(key)
        if slots is None:
            slots = _SERVER_SLOTS[key] = threading.BoundedSemaphore(size)
        return slots


class CalDAVConnector(Connector):
    # CalDAV has no batch request (RFC 4791 writes one resource per PUT): ``create_many`` runs
    # its PUTs over a bounded pool of concurrent requests instead, so a first sync waits one
    # round trip per ``put_concurrency`` events rather than per event.
    capabilities = Capabilities(push=False, batch=False, revoke=False, batch_size=50)

    def __init__(
        self,
        *,
        calendar_url: str,
        username: str,
        password: str,
        default_zone: str = "UTC",
        account_email: str | None = None,
        timeout: int = 30,
        max_item_bytes: int = MAX_ITEM_BYTES,
        put_concurrency: int = 4,
    ) -> None:
        self.put_concurrency = max(1, put_concurrency)
        self.calendar_url = calendar_url if calendar_url.endswith("/") else calendar_url + "/"
        self.default_zone = default_zone
        self.account_email = account_email
        self.timeout = timeout
        self.max_item_bytes = max_item_bytes
        self.client = _client(self.calendar_url, username, password, timeout)
        self.calendar = self.client.calendar(url=self.calendar_url)  # type: ignore[no-untyped-call]
        # The direct write path (module docstring): the library's own Authorization header,
        # made once, and a pool of as many connections as PUTs run at once.
        self._writer: urllib3.PoolManager | None = None
        self._write_headers: dict[str, str] = {}
        if self.client.auth is not None and environment_proxy(self.calendar_url) is None:
            made = niquests.Request("PUT", self.calendar_url, auth=self.client.auth).prepare()
            assert made.headers is not None  # a prepared request always has its headers
            self._write_headers = {
                "Authorization": str(made.headers["Authorization"]),
                "User-Agent": USER_AGENT,
            }
            self._writer = guarded_pool_manager(maxsize=self.put_concurrency)
        # Hrefs this connector created or changed (for ``final_cursor``).
        self._written: set[str] = set()

    # -- cursor -----------------------------------------------------------------------------

    def final_cursor(self, cursor: str) -> str:
        """The sync token of this run's listing, with the hrefs written after it. RFC 6578 lets
        a server leave out a member that did not exist at the token and is gone now (Xandikos
        does; Radicale and Cyrus report it as removed), so a copy we made after the listing and
        someone deleted before the next one would never be reported. Each of those hrefs exists
        only after the token: if the next listing does not name it, it is gone."""
        if not self._written:
            return cursor
        return json.dumps({"token": cursor, "written": sorted(self._written)})

    @staticmethod
    def _read_cursor(cursor: str | None) -> tuple[str | None, frozenset[str]]:
        # A sync token is a URI (RFC 6578 §6.2), so it never starts with "{".
        if not cursor or not cursor.startswith("{"):
            return cursor, frozenset()
        try:
            state = json.loads(cursor)
            return str(state["token"]), frozenset(str(h) for h in state["written"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CursorExpired("The stored CalDAV cursor is not one we wrote.") from exc

    # -- reads ------------------------------------------------------------------------------

    def changes(self, cursor: str | None) -> Changes:
        token, written = self._read_cursor(cursor)
        with provider_errors():
            collection = self.calendar.get_objects_by_sync_token(
                sync_token=token, load_objects=False, disable_fallback=True
            )
            deleted = {str(url) for url in collection.deleted_urls}
            changed = [
                obj
                for obj in collection.objects
                # iCloud lists the collection itself as a changed member (§3.4).
                if str(obj.url).rstrip("/") != self.calendar_url.rstrip("/")
                and str(obj.url) not in deleted
            ]
            items = list(self._load(changed))
            # Radicale may report deletions of hrefs we never held (§3.1); the engine ignores a
            # deletion of an unknown id, so they are passed on as they are.
            items += [RemoteItem(self._href(url), "", None) for url in sorted(deleted)]
            named = {i.external_id for i in items}
            items += [RemoteItem(href, "", None) for href in sorted(written - named)]
            return Changes(items=tuple(items), cursor=str(collection.sync_token))

    def full_listing(self) -> Changes:
        listing = self.changes(None)
        return Changes(tuple(i for i in listing.items if not i.deleted), listing.cursor)

    def get(self, external_id: str) -> RemoteItem:
        with provider_errors():
            try:
                etag, data = self._fetch(external_id)
            except _TooLarge as exc:
                return unreadable(external_id, "", exc)
            return self._read(external_id, etag, data)

    def _fetch(self, href: str) -> tuple[str, bytes]:
        """One resource's etag and bytes by GET, read no further than the size limit (a server
        cannot make us hold more). Raises ``_TooLarge`` beyond it."""
        if self.client.auth is None:
            # No credentials to send up front (plain http that the operator does not allow):
            # the library's own request answers the server's challenge.
            dav_response = self.client.request(self._url(href), "GET")
            raw = dav_response.raw.encode()
            answer = _Answer(int(dav_response.status), dav_response.headers, raw)
            _check(answer, allowed=(200,), what=READING, item_id=href)
            if len(raw) > self.max_item_bytes:
                raise _TooLarge(self._too_large())
            return str(dav_response.headers.get("ETag") or ""), raw
        response = self.client.session.request(
            "GET",
            self._url(href),
            # Uncompressed: a server that compresses calls the ETag weak (Cyrus: W/"..."), and
            # If-Match needs the strong one (RFC 9110 §13.1.1).
            headers={
                "Accept": "text/calendar",
                "Accept-Encoding": "identity",
                "User-Agent": USER_AGENT,
            },
            auth=self.client.auth,
            timeout=self.timeout,
            stream=True,
        )
        try:
            status = int(response.status_code or 0)
            if status == 401:
                raise AuthRevoked(REVOKED, text=Text(REVOKED))
            if status in (404, 410):
                raise NotFound("The event no longer exists on the CalDAV server.")
            if status != 200:
                raise Unavailable(f"Reading an event: the CalDAV server answered {status}.")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_item_bytes:
                    raise _TooLarge(self._too_large())
                chunks.append(chunk)
            return str(response.headers.get("ETag") or ""), b"".join(chunks)
        finally:
            response.close()

    def _too_large(self) -> str:
        limit = self.max_item_bytes
        size = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit // 1000} kB"
        return f"This event is larger than {size} (CALSYNC_CALDAV_MAX_ITEM_BYTES): it was not read."

    def _load(self, objects: list[Any]) -> Iterator[RemoteItem]:
        for start in range(0, len(objects), MULTIGET_BATCH):
            yield from self._load_batch(objects[start : start + MULTIGET_BATCH])

    def _load_batch(self, objects: list[Any]) -> Iterator[RemoteItem]:
        etags = {str(o.url): str(o.props.get(dav.GetEtag.tag, "")) for o in objects}
        try:
            loaded = self.calendar.multiget([o.url for o in objects], raise_notfound=False)
        except UNPARSABLE_REPLY as exc:
            # One bad item must not cost the others: read them one by one (only it is lost).
            log.info("CalDAV multiget reply unusable (%s); reading items one by one", exc)
            for url in etags:
                yield self._load_one(self._href(url), etags[url])
            return
        # Keyed by the unquoted href: servers differ in what they percent-encode (%40 or @).
        missing = {unquote(self._href(url)): (url, etag) for url, etag in etags.items()}
        for obj in loaded:
            url = str(obj.url)
            href = self._href(url)
            missing.pop(unquote(href), None)
            if obj.data is None:  # deleted between the listing and the multiget
                yield RemoteItem(href, "", None)
                continue
            etag = str(obj.props.get(dav.GetEtag.tag, "")) or etags.get(url, "")
            data = obj.data
            if len(data.encode() if isinstance(data, str) else data) > self.max_item_bytes:
                yield unreadable(href, etag, _TooLarge(self._too_large()))
                continue
            yield self._read(href, etag, data)
        # Hrefs the reply did not answer for (a server's quirk): read them by GET.
        for url, etag in missing.values():
            yield self._load_one(self._href(url), etag)

    def _load_one(self, href: str, etag: str) -> RemoteItem:
        try:
            got_etag, data = self._fetch(href)
        except NotFound:
            return RemoteItem(href, "", None)
        except _TooLarge as exc:
            return unreadable(href, etag, exc)
        return self._read(href, got_etag or etag, data)

    def _read(self, external_id: str, etag: str, data: str | bytes) -> RemoteItem:
        try:
            event = from_ical(
                data,
                item_id=external_id,
                default_zone=self.default_zone,
                account_email=self.account_email,
            )
        except InvalidData as exc:
            return unreadable(external_id, etag, exc)
        return RemoteItem(external_id, etag, event)

    # -- writes -----------------------------------------------------------------------------

    def _send(
        self, method: str, href: str, body: str, headers: dict[str, str], what: str
    ) -> _Answer:
        if self._writer is not None:
            return self._send_direct(method, self._url(href), body, headers)
        try:
            answer = self.client.request(self._url(href), method, body, headers)
        except dav_error.AuthorizationError as exc:
            if _is_bad_credentials(exc):
                raise AuthRevoked(REVOKED, text=Text(REVOKED)) from exc
            # A 403 is the server refusing this write (a precondition, a permission), not us.
            conditions = _preconditions(exc.body)
            raise _refusal(href, what, int(exc.status or 403), conditions) from exc
        raw = answer.raw
        return _Answer(int(answer.status), answer.headers, raw.encode() if raw else b"")

    def _send_direct(self, method: str, url: str, body: str, headers: dict[str, str]) -> _Answer:
        assert self._writer is not None
        refuse_plain_http(url)
        try:
            response = self._writer.request(
                method,
                url,
                body=body.encode() if body else None,
                headers={**self._write_headers, **headers},
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=WRITE_RETRIES,
                preload_content=False,
            )
        except Exception:
            count_request("caldav", 0)
            raise
        whole = False  # a reply broken off mid-body is not read whole either
        try:
            data = response.read(WRITE_REPLY_BYTES)
            whole = not response.read(1)
        except Exception:
            count_request("caldav", 0)
            raise
        finally:
            if whole:
                response.release_conn()
            else:
                response.close()
        status = int(response.status)
        count_request("caldav", status)
        if status == 429 or (status == 503 and "Retry-After" in response.headers):
            # What the library raises for the same answer (caldav.lib.error.raise_if_rate_limited).
            raise RateLimited(
                "The CalDAV server asks us to slow down.",
                _retry_seconds(response.headers.get("Retry-After")),
            )
        return _Answer(status, response.headers, data)

    def create(self, event: EventData, *, idempotency_key: str) -> Written:
        href = f"{quote(idempotency_key, safe='')}.ics"
        what = CREATING
        with provider_errors():
            try:
                body = to_ical(event, uid=idempotency_key)
            except Exception as exc:  # a value we cannot write: this item only
                raise InvalidData(f"{what}: {exc}", item_id=href) from exc
            response = self._send(
                "PUT", href, body, {"Content-Type": ICAL_TYPE, "If-None-Match": "*"}, what
            )
            if response.status == 412 and not _preconditions(response.body):
                # A retried create: the first try stored it. Return that item, not a second one.
                existing = self.get(href)
                self._written.add(href)
                return Written(href, existing.etag)
            _check(response, allowed=(200, 201, 204), what=what, item_id=href)
            self._written.add(href)
            return Written(href, self._etag_after_write(href, response))

    def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
        """Each ``create`` (the same PUT with ``If-None-Match: *``, the same retry rule) on a
        pool of at most ``put_concurrency`` requests at once to this server, shared with the
        process's other connectors to it. Every item gets its own answer; a failure of one
        (even a timeout) does not stop the others."""
        if len(items) <= 1 or self.put_concurrency == 1:
            return super().create_many(items)
        slots = _server_slots(self.calendar_url, self.put_concurrency)

        def one(item: NewItem) -> ItemResult:
            with slots:
                try:
                    return self.create(item.event, idempotency_key=item.idempotency_key)
                except Exception as exc:  # that item's answer; the caller decides
                    return exc

        workers = min(self.put_concurrency, len(items))
        with ThreadPoolExecutor(workers, thread_name_prefix="caldav-put") as pool:
            return list(pool.map(one, items))

    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        what = UPDATING
        with provider_errors():
            try:
                current_etag, data = self._fetch(external_id)
            except _TooLarge as exc:
                raise InvalidData(f"{what}: {exc}", item_id=external_id) from exc
            if current_etag and not _same_etag(current_etag, etag):
                raise EtagMismatch(f"{what}: the event changed on the CalDAV server.")
            body = edit_ical(
                data,
                event,
                fields=fields,
                item_id=external_id,
                default_zone=self.default_zone,
                account_email=self.account_email,
            )
            response = self._send(
                "PUT", external_id, body, {"Content-Type": ICAL_TYPE, "If-Match": etag}, what
            )
            _check(response, allowed=(200, 201, 204), what=what, item_id=external_id)
            self._written.add(external_id)
            return Written(external_id, self._etag_after_write(external_id, response))

    def delete(self, external_id: str, *, etag: str | None) -> None:
        headers = {"If-Match": etag} if etag else {}
        what = DELETING
        with provider_errors():
            response = self._send("DELETE", external_id, "", headers, what)
            if response.status not in (404, 410):  # already gone: deletes are idempotent
                _check(response, allowed=(200, 204), what=what, item_id=external_id)
            self._written.discard(external_id)

    def _etag_after_write(self, href: str, response: _Answer) -> str:
        # A strong ETag on PUT means the server stored our bytes as sent (RFC 4791 §5.3.4);
        # without one (or a weak one), read the item back for the etag a later If-Match needs.
        etag = str(response.headers.get("ETag") or "")
        if etag and not etag.startswith("W/"):
            return etag
        return self.get(href).etag

    # -- hrefs ------------------------------------------------------------------------------

    def _url(self, href: str) -> str:
        return urljoin(self.calendar_url, href)

    def _href(self, url: str) -> str:
        """The resource name relative to the calendar: stable and short for mapping rows."""
        text = str(url)
        return text[len(self.calendar_url) :] if text.startswith(self.calendar_url) else text


PRINCIPAL_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    "<D:current-user-principal/></D:prop></D:propfind>"
)
MAX_REDIRECTS = 5


class CalDAVAccount(Account):
    """A CalDAV account at setup time: find or create the calendar to link.

    Discovery (RFC 6764 §6, RFC 5397): ``current-user-principal`` of the address typed; where it
    names none, of ``/.well-known/caldav`` on that host (redirects followed by hand, keeping the
    PROPFIND: a 302 would turn it into a GET); then the principal's ``calendar-home-set`` and the
    calendars in it. A server without ``current-user-principal`` is taken at the address typed."""

    def __init__(self, *, server_url: str, username: str, password: str, timeout: int = 30):
        self.server_url = server_url
        self.timeout = timeout
        with provider_errors(setup=True):
            self.client = _client(server_url, username, password, timeout)

    def _principal(self) -> Any:
        with provider_errors(setup=True):
            url = self._principal_url()
            host = urlsplit(self.server_url).netloc
            if urlsplit(url).netloc != host:
                raise SetupError(
                    _(
                        "The server names another address for this account (%(url)s). Enter "
                        "that address as the server address."
                    )
                    % {"url": url}
                )
            return Principal(client=self.client, url=url)

    def _principal_url(self) -> str:
        parts = urlsplit(self.server_url)
        well_known = f"{parts.scheme}://{parts.netloc}/.well-known/caldav"
        for start in (self.server_url, well_known):
            found = self._current_user_principal(start)
            if found:
                return found
        return self.server_url

    def _current_user_principal(self, url: str) -> str | None:
        for _redirect in range(MAX_REDIRECTS):
            response = self.client.session.request(
                "PROPFIND",
                url,
                data=PRINCIPAL_QUERY.encode(),
                headers={
                    "Depth": "0",
                    "Content-Type": "application/xml; charset=utf-8",
                    "User-Agent": USER_AGENT,
                },
                auth=self.client.auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
            status = int(response.status_code or 0)
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                url = urljoin(url, str(response.headers["Location"]))
                continue
            if status == 401:
                raise SetupError(
                    _(
                        "The server refused the user name or password. For iCloud, use an "
                        "app-specific password, not your Apple Account password."
                    )
                )
            if status != 207 or not response.content:
                return None
            try:
                root = etree.fromstring(
                    response.content,
                    parser=etree.XMLParser(resolve_entities=False, no_network=True),
                )
            except etree.LxmlError as exc:
                # A 207 Multi-Status must be XML (RFC 4918 §13): this is no WebDAV server.
                raise SetupError(_(_NOT_CALDAV)) from exc
            if root.tag != "{DAV:}multistatus":
                raise SetupError(_(_NOT_CALDAV))
            href = root.find(".//{DAV:}current-user-principal/{DAV:}href")
            text = str(href.text or "").strip() if href is not None else ""
            return urljoin(url, text) if text else None
        return None

    def calendars(self) -> list[CalendarRef]:
        principal = self._principal()
        with provider_errors(setup=True):
            found = principal.calendars()
            return [CalendarRef(str(c.url), str(c.get_display_name() or c.url)) for c in found]

    def ensure_calendar(self, name: str) -> CalendarRef:
        for ref in self.calendars():
            if ref.name == name:
                return ref
        principal = self._principal()
        # A deterministic collection name: a retried setup finds it instead of making a second.
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "calendar"
        cal_id = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        with provider_errors(setup=True):
            try:
                created = principal.make_calendar(
                    name=name, cal_id=cal_id, supported_calendar_component_set=["VEVENT"]
                )
            except dav_error.MkcalendarError:
                # Radicale 409 / Xandikos 403: it exists already (a retried setup).
                for ref in self.calendars():
                    if ref.calendar_id.rstrip("/").endswith(cal_id):
                        return ref
                raise
            return CalendarRef(str(created.url), name)
