"""Google Calendar through google-api-python-client (PROTOCOLS.md §1).

* The discovery document is the one bundled with the library (``static_discovery=True``); the
  base URL comes from ``CALSYNC_GOOGLE_API_ENDPOINT`` and must include ``/calendar/v3/`` (§1.1).
* Every request goes through one ``httplib2.Http`` with a timeout, wrapped by google-auth, which
  refreshes the access token on 401; a refresh refused with ``invalid_grant`` is ``AuthRevoked``.
* Listing uses ``singleEvents=false`` and ``showDeleted=true`` with ``syncToken``; a 410 is
  ``CursorExpired`` (§1.5). Exception instances are attached to their series.
* Creates use a client-chosen event id derived from the idempotency key (base32hex, §1.6): a
  retried insert gets 409 ``duplicate`` and we return the event the first try made.
* Writes send ``sendUpdates=none``: Google never e-mails attendees for us (PRODUCT 10).
* Updates are events.patch of the named fields only (issue 19 item 2): events.update would
  replace the whole event and reset what we do not sync. Attendees, recurrence lines and
  reminders are merged with the event as Google holds it, read first (one GET).
* ``reminders.useDefault`` reads as the calendar's ``defaultReminders``, which every
  events.list page carries: kept from the last page, so a quiet poll stays one request.
* Push (§1.9): ``events.watch`` with our channel id and token, the TTL asked as
  ``params.ttl``; Google has no renew call (``capabilities.push_renew`` is False), and
  ``channels.stop`` needs the ``resourceId`` the watch answer gave.
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from connectors.base import (
    Account,
    CalendarRef,
    Capabilities,
    Changes,
    Connector,
    ItemResult,
    NewItem,
    Watch,
    Written,
)
from connectors.errors import (
    AuthRevoked,
    ConnectorError,
    CursorExpired,
    EtagMismatch,
    InvalidData,
    NotFound,
    RateLimited,
    Unavailable,
)
from connectors.events import ALL_FIELDS, EventData, RemoteItem, unreadable
from connectors.google.mapping import (
    NEEDS_CURRENT,
    fields_to_write,
    from_google,
    patch_body,
    to_google,
)
from connectors.google.oauth import secrets_of
from connectors.net import CountingHttp
from connectors.quota import Pacer
from recurrence import Text, gettext_noop

PAGE_SIZE = 250
_BASE32HEX = re.compile(r"^[a-v0-9]{5,1024}$")
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}


def event_id_for(idempotency_key: str) -> str:
    """A Google event id for our key: the key itself when it is valid base32hex, otherwise the
    hex SHA-256 of it (hex is a subset of base32hex, §1.6)."""
    key = idempotency_key.lower()
    if _BASE32HEX.match(key):
        return key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def _reason(exc: HttpError) -> str:
    details = getattr(exc, "error_details", None)
    if isinstance(details, list) and details and isinstance(details[0], dict):
        return str(details[0].get("reason", ""))
    try:
        body = json.loads(exc.content)
        return str(body["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _retry_after(exc: HttpError) -> float | None:
    value = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@contextmanager
def google_errors(what: str) -> Iterator[None]:
    """Translate client-library failures into the connector vocabulary (§1.8)."""
    try:
        yield
    except ConnectorError:
        raise
    except RefreshError as exc:
        raise AuthRevoked(
            "Google no longer accepts the stored grant: reconnect.",
            text=Text(gettext_noop("Google no longer accepts the stored grant: reconnect.")),
        ) from exc
    except HttpError as exc:
        status, reason = int(exc.status_code), _reason(exc)
        if status == 429 or (status == 403 and reason in _RATE_REASONS):
            raise RateLimited(f"{what}: Google asks us to slow down.", _retry_after(exc)) from exc
        if status == 401 or (status == 403 and reason in ("insufficientPermissions", "forbidden")):
            raise AuthRevoked(
                f"{what}: Google refused our access ({reason or status}).",
                text=Text.of(
                    gettext_noop("%(what)s: Google refused our access (%(reason)s)."),
                    what=Text(what),
                    reason=str(reason or status),
                ),
            ) from exc
        if status == 410 and reason in ("fullSyncRequired", "updatedMinTooLongAgo"):
            raise CursorExpired("Google's sync token expired.") from exc
        if status == 412:
            raise EtagMismatch(f"{what}: the event changed on Google.") from exc
        if status in (404, 410):
            raise NotFound(f"{what}: not found on Google.") from exc
        if status >= 500:
            raise Unavailable(f"{what}: Google answered {status}.") from exc
        raise InvalidData(
            f"{what}: Google refused the request ({status} {reason}).",
            text=Text.of(
                gettext_noop("%(what)s: Google refused the request (%(status)s %(reason)s)."),
                what=Text(what),
                status=status,
                reason=reason,
            ),
        ) from exc
    except (TimeoutError, TransportError, httplib2.HttpLib2Error, OSError) as exc:
        raise Unavailable(f"{what}: Google could not be reached.") from exc


@lru_cache(maxsize=1)
def _discovery_document() -> dict[str, Any]:
    """The Calendar v3 discovery document the library ships (static discovery, §1.1), parsed
    once per process: parsing it again for every run was most of a quiet poll's CPU."""
    document: dict[str, Any] = json.loads(get_static_doc("calendar", "v3"))
    return document


_BATCH_PART = re.compile(rb"^Content-Type: application/http\r?$", re.MULTILINE | re.IGNORECASE)


class _PacedHttp(google_auth_httplib2.AuthorizedHttp):  # type: ignore[misc]
    """google-auth's authorized http, each request first paced by the quota governor
    (``connectors/quota.py``): one token per call, every call inside a batch request counted
    (Google counts each against the quotas). Token refreshes go through google-auth's own
    transport and are not Calendar API calls."""

    def __init__(self, credentials: Credentials, *, http: Any, pacer: Pacer) -> None:
        super().__init__(credentials, http=http)
        self.pacer = pacer

    def request(
        self, uri: str, method: str = "GET", body: Any = None, *args: Any, **kw: Any
    ) -> Any:
        calls = 1
        if isinstance(body, str | bytes) and "/batch/" in uri:
            data = body.encode() if isinstance(body, str) else body
            calls = max(1, len(_BATCH_PART.findall(data)))
        self.pacer.pace(calls)
        return super().request(uri, method, body, *args, **kw)


def authorized_http(credentials: Credentials, *, timeout: int, pacer: Pacer | None = None) -> Any:
    # CountingHttp: httplib2.Http that counts each request for the metrics (connectors/net.py).
    http = CountingHttp(timeout=timeout)
    if pacer is not None:
        return _PacedHttp(credentials, http=http, pacer=pacer)
    return google_auth_httplib2.AuthorizedHttp(credentials, http=http)


def service_for(credentials: Credentials, *, api_endpoint: str, timeout: int) -> Any:
    return build_from_document(
        _discovery_document(),
        http=authorized_http(credentials, timeout=timeout),
        client_options={"api_endpoint": api_endpoint},
    )


class _NoHttp:
    """The http of the shared ``events`` collection. Its requests are always executed with a
    connector's own http (``execute(http=...)``); one that is not fails here rather than going
    out without credentials."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("A Google request must be executed with its connector's http.")

    def close(self) -> None:
        return None


@lru_cache(maxsize=8)
def _events_collection(api_endpoint: str) -> Any:
    """The ``events`` collection, built once per process and endpoint. Building it (eleven
    methods, each with a docstring generated from the discovery schemas) took 1.3 ms, about a
    sixth of a quiet poll's CPU (bench/poll_bench.py). It holds no credentials: every request it
    makes is executed with the calling connector's http."""
    return build_from_document(
        _discovery_document(), http=_NoHttp(), client_options={"api_endpoint": api_endpoint}
    ).events()


@lru_cache(maxsize=8)
def _channels_collection(api_endpoint: str) -> Any:
    """The ``channels`` collection (``channels.stop``), built once like ``_events_collection``."""
    return build_from_document(
        _discovery_document(), http=_NoHttp(), client_options={"api_endpoint": api_endpoint}
    ).channels()


def _expiration(value: object) -> datetime:
    """A channel's ``expiration``: milliseconds since the epoch, an int64 that JSON carries as
    a string (§1.9); either form is accepted."""
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidData(
            f"Google answered a watch with an unreadable expiration: {value!r}"
        ) from exc


# Calls per batch request: Google takes up to 1000 (the batch guide) but counts each against
# the quotas as one request, and a big batch holds more work back when it fails whole; 50 is
# what issue 17 asks for and Google's own guides suggest for writes.
BATCH_SIZE = 50


def batch_uri(api_endpoint: str) -> str:
    """The batch endpoint for ``api_endpoint``: ``batchPath`` at its root. googleapiclient's
    ``new_batch_http_request()`` ignores ``api_endpoint`` and always names
    ``https://www.googleapis.com/batch/calendar/v3`` (PROTOCOLS.md §1.1), so it is built here."""
    parts = urlsplit(api_endpoint)
    return f"{parts.scheme}://{parts.netloc}/{_discovery_document()['batchPath']}"


def _as_error(exc: Exception, what: str) -> Exception:
    """What ``google_errors`` makes of ``exc``: the connector's vocabulary for one call."""
    try:
        with google_errors(what):
            raise exc
    except ConnectorError as translated:
        return translated
    except Exception as other:  # not the library's: returned as it is (a bug)
        return other


class GoogleConnector(Connector):
    capabilities = Capabilities(
        push=True, batch=True, revoke=True, push_renew=False, batch_size=BATCH_SIZE
    )

    def __init__(
        self,
        *,
        credentials: Credentials,
        calendar_id: str,
        api_endpoint: str,
        default_zone: str = "UTC",
        timeout: int = 30,
        pacer: Pacer | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if batch_size != BATCH_SIZE:
            self.capabilities = replace(self.capabilities, batch_size=max(1, batch_size))
        self.credentials = credentials
        self.calendar_id = calendar_id
        self.default_zone = default_zone
        self._initial_token = credentials.token
        # This connector's credentials live in its http only; the request builder is shared.
        # ``pacer``: the quota governor's buckets for this account (None: unpaced).
        self.http = authorized_http(credentials, timeout=timeout, pacer=pacer)
        self.events = _events_collection(api_endpoint)
        self.api_endpoint = api_endpoint
        # The calendar's default reminders (what reminders.useDefault means), from the last
        # events.list page; None until a list was read.
        self._default_reminders: list[dict[str, Any]] | None = None

    def updated_secrets(self) -> dict[str, Any] | None:
        """google-auth refreshed the access token during this connector's life: store it."""
        if self.credentials.token == self._initial_token:
            return None
        return secrets_of(self.credentials)

    # -- reads ------------------------------------------------------------------------------

    def _list(self, sync_token: str | None) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "calendarId": self.calendar_id,
                "singleEvents": False,
                "showDeleted": True,
                "maxResults": PAGE_SIZE,
            }
            if sync_token:
                params["syncToken"] = sync_token
            if page_token:
                params["pageToken"] = page_token
            with google_errors("Listing events"):
                page = self.events.list(**params).execute(http=self.http)
            self._note_defaults(page)
            items.extend(page.get("items", []))
            page_token = page.get("nextPageToken")
            if not page_token:
                # The sync token comes only with the last page (§1.5).
                return items, str(page.get("nextSyncToken", ""))

    def changes(self, cursor: str | None) -> Changes:
        raw, token = self._list(cursor)
        return Changes(
            items=tuple(self._assemble(raw, incremental=cursor is not None)), cursor=token
        )

    def full_listing(self) -> Changes:
        raw, token = self._list(None)
        items = tuple(i for i in self._assemble(raw, incremental=False) if not i.deleted)
        return Changes(items=items, cursor=token)

    def _assemble(self, raw: list[dict[str, Any]], *, incremental: bool) -> Iterator[RemoteItem]:
        """Single events and series, each series with its exception instances attached. An
        incremental page may carry an exception without its master: the master is fetched."""
        exceptions: dict[str, list[dict[str, Any]]] = {}
        tops: dict[str, dict[str, Any]] = {}
        for item in raw:
            parent = item.get("recurringEventId")
            if parent:
                exceptions.setdefault(str(parent), []).append(item)
            else:
                tops[str(item["id"])] = item
        for parent in exceptions:
            if parent not in tops:
                with google_errors("Reading a repeating event"):
                    try:
                        tops[parent] = self._get_raw(parent)
                    except NotFound:
                        continue
        for event_id, item in tops.items():
            if item.get("status") == "cancelled":
                yield RemoteItem(event_id, str(item.get("etag", "")), None)
                continue
            etag = str(item.get("etag", ""))
            try:
                event = from_google(
                    item,
                    exceptions=exceptions.get(event_id, ()),
                    default_zone=self.default_zone,
                    default_reminders=self._default_reminders or (),
                )
            except InvalidData as exc:
                yield unreadable(event_id, etag, exc)
                continue
            yield RemoteItem(event_id, etag, event)

    def _get_raw(self, event_id: str) -> dict[str, Any]:
        with google_errors("Reading an event"):
            result: dict[str, Any] = self.events.get(
                calendarId=self.calendar_id, eventId=event_id
            ).execute(http=self.http)
            return result

    def _exceptions_of(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The series' exception instances (moved or cancelled): with ``singleEvents=false`` a
        list by ``iCalUID`` returns the master and exactly those (§1.5)."""
        found: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "calendarId": self.calendar_id,
                "iCalUID": item["iCalUID"],
                "singleEvents": False,
                "showDeleted": True,
            }
            if page_token:
                params["pageToken"] = page_token
            with google_errors("Reading a repeating event"):
                page = self.events.list(**params).execute(http=self.http)
            self._note_defaults(page)
            found += [i for i in page.get("items", []) if i.get("recurringEventId") == item["id"]]
            page_token = page.get("nextPageToken")
            if not page_token:
                return found

    def get(self, external_id: str) -> RemoteItem:
        item = self._get_raw(external_id)
        if item.get("status") == "cancelled":
            # events.get returns deleted events too (§1.5); for us a deleted event is gone.
            raise NotFound("The event was deleted on Google.")
        extra = self._exceptions_of(item) if item.get("recurrence") and item.get("iCalUID") else []
        return RemoteItem(
            external_id,
            str(item.get("etag", "")),
            from_google(
                item,
                exceptions=extra,
                default_zone=self.default_zone,
                default_reminders=self._defaults_for(item),
            ),
        )

    def _note_defaults(self, page: dict[str, Any]) -> None:
        # "The default reminders on the calendar for the authenticated user" (Events); Google
        # leaves the list out when it is empty.
        self._default_reminders = list(page.get("defaultReminders") or [])

    def _defaults_for(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The calendar's default reminders when ``item`` uses them: known from a listing, or
        read with one small list request (only get() and update() of such an event need it)."""
        if self._default_reminders is None and (item.get("reminders") or {}).get("useDefault"):
            with google_errors("Reading the calendar's default reminders"):
                page = self.events.list(
                    calendarId=self.calendar_id, maxResults=1, fields="defaultReminders"
                ).execute(http=self.http)
            self._note_defaults(page)
        return self._default_reminders or []

    # -- writes -----------------------------------------------------------------------------

    # How many ids one key may take (see ``create``): each needs an earlier copy deleted at
    # Google after a crash kept us from recording it, so a handful is plenty.
    MAX_CREATE_IDS = 5

    def create(self, event: EventData, *, idempotency_key: str) -> Written:
        """A retried create finds the first try's event by its id (409 ``duplicate``) and
        returns it. Google keeps the id of a deleted event (it stays as a cancelled tombstone
        and a new insert with it is a duplicate too): when the first try's copy was deleted at
        Google, the next id of the key's chain is used, so the meeting gets a live copy (as a
        CalDAV PUT to the same name would make one) and a retry still finds it."""
        for attempt in range(self.MAX_CREATE_IDS):
            event_id = event_id_for(
                idempotency_key if not attempt else f"{idempotency_key}r{attempt}"
            )
            with _unwritable(event_id):
                body = {**to_google(event), "id": event_id}
            try:
                with google_errors("Creating an event"):
                    try:
                        created = self.events.insert(
                            calendarId=self.calendar_id, body=body, sendUpdates="none"
                        ).execute(http=self.http)
                    except HttpError as exc:
                        if int(exc.status_code) == 409 and _reason(exc) == "duplicate":
                            raise _Duplicate from exc
                        raise
            except _Duplicate:
                # A retried create: the first try made it. Return that event, not a second one.
                existing = self._get_raw(event_id)
                if existing.get("status") == "cancelled":
                    continue  # deleted at Google since: that id is spent
                return Written(event_id, str(existing.get("etag", "")))
            return Written(str(created["id"]), str(created.get("etag", "")))
        raise InvalidData(
            "Google keeps refusing to create this event: every id tried belongs to a deleted copy."
        )

    def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
        """The inserts of ``create`` in batch requests of up to ``BATCH_SIZE`` calls (one HTTP
        request each; Google still counts every call against the quotas). Each call's answer
        is read as a lone insert's: its event, or its error in our vocabulary; a 409
        ``duplicate`` (a retried create) goes through ``create`` alone, which finds the first
        try's copy. A batch that fails whole (transport, 5xx, a refused grant) is that error
        for each of its items."""
        results: list[ItemResult] = []
        size = self.capabilities.batch_size
        for start in range(0, len(items), size):
            results.extend(self._create_batch(items[start : start + size]))
        return results

    def _create_batch(self, items: Sequence[NewItem]) -> list[ItemResult]:
        what = "Creating an event"
        answers: dict[str, ItemResult] = {}
        duplicates: set[str] = set()
        batch = BatchHttpRequest(batch_uri=batch_uri(self.api_endpoint))

        def answered(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is None:
                answers[request_id] = Written(str(response["id"]), str(response.get("etag", "")))
            elif (
                isinstance(exception, HttpError)
                and int(exception.status_code) == 409
                and _reason(exception) == "duplicate"
            ):
                duplicates.add(request_id)
            else:
                answers[request_id] = _as_error(exception, what)

        for index, item in enumerate(items):
            event_id = event_id_for(item.idempotency_key)
            try:
                with _unwritable(event_id):
                    body = {**to_google(item.event), "id": event_id}
            except InvalidData as exc:
                answers[str(index)] = exc
                continue
            batch.add(
                self.events.insert(calendarId=self.calendar_id, body=body, sendUpdates="none"),
                callback=answered,
                request_id=str(index),
            )
        if len(answers) < len(items):
            try:
                batch.execute(http=self.http)
            except Exception as exc:  # the whole batch failed: each item's answer
                error = _as_error(exc, what)
                for index in range(len(items)):
                    answers.setdefault(str(index), error)
        for request_id in sorted(duplicates, key=int):
            item = items[int(request_id)]
            try:
                answers[request_id] = self.create(item.event, idempotency_key=item.idempotency_key)
            except ConnectorError as exc:
                answers[request_id] = exc
        return [
            answers.get(str(i), Unavailable(f"{what}: Google did not answer this call."))
            for i in range(len(items))
        ]

    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        """events.patch with the named fields only (``Connector.update``); lists we merge and
        reminders we compare need the event as Google holds it, read first: a stale ``etag`` is
        then ``EtagMismatch`` before anything is written."""
        named = fields_to_write(fields, event)
        current = self._current(external_id, etag) if named & NEEDS_CURRENT else None
        with _unwritable(external_id):
            body = patch_body(
                event,
                named,
                current,
                default_reminders=self._defaults_for(current) if current else (),
                default_zone=self.default_zone,
            )
        if not body:
            # Google already holds all of it: nothing to write.
            current = current or self._current(external_id, etag)
            return Written(external_id, str(current.get("etag", "")))
        request = self.events.patch(
            calendarId=self.calendar_id, eventId=external_id, body=body, sendUpdates="none"
        )
        # If-Match is a plain header, not a discovery parameter (§1.1).
        request.headers["If-Match"] = etag
        with google_errors("Updating an event"):
            updated = request.execute(http=self.http)
        return Written(external_id, str(updated.get("etag", "")))

    def _current(self, external_id: str, etag: str) -> dict[str, Any]:
        current = self._get_raw(external_id)
        if current.get("status") == "cancelled":
            raise NotFound("The event was deleted on Google.")
        if etag and current.get("etag") != etag:
            raise EtagMismatch("Updating an event: the event changed on Google.")
        return current

    def delete(self, external_id: str, *, etag: str | None) -> None:
        request = self.events.delete(
            calendarId=self.calendar_id, eventId=external_id, sendUpdates="none"
        )
        if etag:
            request.headers["If-Match"] = etag
        try:
            with google_errors("Deleting an event"):
                request.execute(http=self.http)
        except NotFound:
            return  # 404, or 410 "deleted": already gone, deletes are idempotent

    # -- push (§1.9) --------------------------------------------------------------------------

    def watch(self, *, address: str, key: str, secret: str, expires_at: datetime) -> Watch:
        """events.watch on the linked calendar: channel id ``key``, token ``secret``. Google
        takes the lifetime as ``params.ttl`` (seconds; 7 days when absent) and answers the
        expiration it granted; the first notification (``sync``) may arrive before this answer."""
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()))
        body = {
            "id": key,
            "type": "web_hook",
            "address": address,
            "token": secret,
            "params": {"ttl": str(ttl)},
        }
        with google_errors("Starting instant updates"):
            answer = self.events.watch(calendarId=self.calendar_id, body=body).execute(
                http=self.http
            )
        if not answer.get("resourceId"):
            raise InvalidData("Google answered a watch without a resourceId.")
        return Watch(
            channel_id=str(answer.get("id", key)),
            resource_id=str(answer["resourceId"]),
            expires_at=_expiration(answer.get("expiration")),
        )

    def stop(self, watch: Watch) -> None:
        """channels.stop; a 404 (stopped before, expired, never made) is success."""
        request = _channels_collection(self.api_endpoint).stop(
            body={"id": watch.channel_id, "resourceId": watch.resource_id}
        )
        try:
            with google_errors("Stopping instant updates"):
                request.execute(http=self.http)
        except NotFound:
            return


class _Duplicate(Exception):
    """Internal: an insert found its id taken (409 duplicate)."""


@contextmanager
def _unwritable(item_id: str) -> Iterator[None]:
    """An event we cannot express for Google (a rule off its start, an unknown zone) is a
    refusal of that one item (``InvalidData``), not a failed run."""
    try:
        yield
    except (ValueError, KeyError, TypeError, zoneinfo.ZoneInfoNotFoundError) as exc:
        words = getattr(exc, "text", None)
        raise InvalidData(
            f"This event cannot be written to Google: {exc}",
            item_id,
            text=Text.of(
                gettext_noop("This event cannot be written to Google: %(reason)s"),
                reason=words if isinstance(words, Text) else str(exc),
            ),
        ) from exc


class GoogleAccount(Account):
    """A Google account at setup time."""

    def __init__(self, *, credentials: Credentials, api_endpoint: str, timeout: int = 30):
        self.service = service_for(credentials, api_endpoint=api_endpoint, timeout=timeout)

    def calendars(self) -> list[CalendarRef]:
        """Only the primary calendar: ``calendar.app.created`` may not list calendars (§1.3)."""
        with google_errors("Reading the primary calendar"):
            primary = self.service.calendars().get(calendarId="primary").execute()
        return [CalendarRef(str(primary["id"]), str(primary.get("summary", primary["id"])))]

    def ensure_calendar(self, name: str, time_zone: str = "UTC") -> CalendarRef:
        """Create the dedicated calendar. With ``calendar.app.created`` we cannot list calendars
        to find an earlier one (§1.3, §5.4); the setup callback is accepted once, so one setup
        makes one calendar, and its id is stored on the link."""
        with google_errors("Creating the dedicated calendar"):
            created = (
                self.service.calendars()
                .insert(body={"summary": name, "timeZone": time_zone})
                .execute()
            )
        return CalendarRef(str(created["id"]), str(created.get("summary", name)))
