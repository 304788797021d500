"""Microsoft 365 / Outlook calendars through Microsoft Graph v1.0 (PROTOCOLS.md §2).

* One ``requests.Session`` per connector, a timeout on every request, a bearer token from the
  link's msal cache (refreshed silently, once more on a 401), and never more than 4 requests in
  flight per mailbox in this process (Outlook's concurrency limit per app and mailbox, §2.7).
  Absolute next/delta links are followed only on the configured Graph host (the token goes
  with them).
* Change detection: ``calendarView/delta`` over a window from settings (v1.0 has no delta on
  ``events``, §2.2, §5.7). Delta gives occurrences and exceptions but no series masters, no
  ``$expand`` (so no extended properties) and possibly partial items; so for every single event
  it reports we GET the full event with our extended properties, and for every series it
  touches we GET the master (for ``recurrence``, read by ``recurrence.from_graph``) and its
  ``instances`` in the window: ``type: exception`` occurrences are moved or edited ones, and
  slots of the pattern missing from the instances are deleted ones (§2.3).
* A deleted occurrence shows up in delta only as ``@removed`` with an id that does not name its
  series; the cursor therefore keeps, next to the whole ``deltaLink`` (§2.2), the ids of the
  series seen in the window, and a round with removals re-reads those series.
* ``410`` (with a ``Location``) or ``syncStateNotFound`` on a delta request: ``CursorExpired``.
  429 and 503 with ``Retry-After``: ``RateLimited`` (§2.7).
* Creates carry ``transactionId`` (the idempotency key), so a retried POST makes no second event;
  ``PATCH``/``DELETE`` send ``If-Match: W/"<changeKey>"``; 412 is ``EtagMismatch`` (§2.5).
* Writes never put attendees on an event, so Exchange mails no meeting requests (see
  ``connectors.microsoft.mapping``).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from connectors.base import Account, CalendarRef, Capabilities, Changes, Connector, Written
from connectors.errors import (
    AuthRevoked,
    CursorExpired,
    EtagMismatch,
    InvalidData,
    NotFound,
    RateLimited,
    Unavailable,
)
from connectors.events import ALL_FIELDS, EventData, RemoteItem, unreadable
from connectors.microsoft.mapping import EXPAND, from_graph_event, to_graph_event
from connectors.microsoft.oauth import TokenSource
from connectors.net import guard_requests
from recurrence import RecurrenceParseError, graph_exception, graph_missing_occurrences

MAX_CONCURRENT = 4  # Outlook: 4 concurrent requests per app and mailbox (§2.7)
PAGE_SIZE = 100
CURSOR_VERSION = 1
# Bodies as plain text (Graph's documented Prefer header); mapping still strips HTML if it
# comes anyway.
TEXT_BODY = {"Prefer": 'outlook.body-content-type="text"'}
_EXPIRED_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
_gates: dict[str, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def mailbox_gate(mailbox: str) -> threading.BoundedSemaphore:
    """The process-wide semaphore of one mailbox: at most ``MAX_CONCURRENT`` requests at once."""
    with _gates_lock:
        gate = _gates.get(mailbox)
        if gate is None:
            gate = _gates[mailbox] = threading.BoundedSemaphore(MAX_CONCURRENT)
        return gate


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


class GraphClient:
    """Graph over one shared session: timeouts, the mailbox gate, tokens, error translation."""

    def __init__(
        self,
        *,
        tokens: TokenSource,
        graph_endpoint: str,
        mailbox: str,
        timeout: float = 30,
        session: requests.Session | None = None,
    ) -> None:
        self.tokens = tokens
        self.base = graph_endpoint.rstrip("/")
        self.timeout = timeout
        # SSRF: each resolved address is checked (connectors/net.py).
        self.session = session or guard_requests(requests.Session())
        self.gate = mailbox_gate(mailbox)
        self._token: str | None = None

    def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One Graph request (``url`` relative to the base, or absolute for next/delta links);
        a non-2xx answer raises the matching connector error."""
        full = url if url.startswith(("http://", "https://")) else self.base + url
        if _origin(full) != _origin(self.base):
            # next/delta links are followed verbatim: never send our token to another host.
            raise InvalidData(f"{what}: a Graph link points outside Microsoft Graph.")
        refreshed = False
        spurious_412 = 0
        while True:
            if self._token is None:
                self._token = self.tokens.token(force_refresh=refreshed)
            all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            try:
                with self.gate:
                    response = self.session.request(
                        method,
                        full,
                        params=params,
                        json=body,
                        headers=all_headers,
                        timeout=self.timeout,
                    )
            except requests.RequestException as exc:
                raise Unavailable(f"{what}: Microsoft Graph could not be reached.") from exc
            if response.status_code == 401 and not refreshed:
                # An access token the cache still thought valid: force one refresh.
                self._token, refreshed = None, True
                continue
            if response.status_code == 412 and "If-Match" not in all_headers and spurious_412 < 2:
                # 412s without a precondition are reported; retry before calling it a
                # conflict (§2.5).
                spurious_412 += 1
                continue
            break
        self._raise_for(response, what)
        return response

    @staticmethod
    def _raise_for(response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        code = _code(response)
        if code.lower() in _EXPIRED_CODES:
            raise CursorExpired("Outlook's delta token is no longer known.")
        if status in (429, 503) and (status == 429 or "Retry-After" in response.headers):
            raise RateLimited(f"{what}: Microsoft asks us to slow down.", _retry_after(response))
        if status == 401 or (status == 403 and code == "ErrorAccessDenied"):
            raise AuthRevoked(f"{what}: Microsoft refused our access ({code or status}).")
        if status == 412:
            raise EtagMismatch(f"{what}: the event changed in Outlook.")
        if status in (404, 410):
            raise NotFound(f"{what}: not found in Outlook.")
        if status >= 500:
            raise Unavailable(f"{what}: Microsoft Graph answered {status}.")
        raise InvalidData(f"{what}: Microsoft Graph refused the request ({status} {code}).")

    def json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, what, **kwargs)
        if not response.content:
            return {}
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise InvalidData(f"{what}: Microsoft Graph sent something unreadable.") from exc
        return data


class MicrosoftConnector(Connector):
    capabilities = Capabilities(push=True, batch=True, revoke=False)

    def __init__(
        self,
        *,
        tokens: TokenSource,
        calendar_id: str,
        graph_endpoint: str,
        mailbox: str,
        default_zone: str = "UTC",
        timeout: float = 30,
        window_past: timedelta = timedelta(days=30),
        window_future: timedelta = timedelta(days=730),
        now: datetime | None = None,
    ) -> None:
        self.tokens = tokens
        self.calendar_id = calendar_id
        self.default_zone = default_zone
        self.client = GraphClient(
            tokens=tokens, graph_endpoint=graph_endpoint, mailbox=mailbox, timeout=timeout
        )
        moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self.now = moment
        self.window_start = moment - window_past
        self.window_end = moment + window_future
        self.window_future = window_future
        # What this connector created, for final_cursor: series to know, and every new item to
        # re-read once next round. The deltaLink was taken before these writes, and an item
        # created and deleted again before the next round may never show up in delta at all.
        self._written_series: set[str] = set()
        self._created: set[str] = set()

    def updated_secrets(self) -> dict[str, Any] | None:
        """msal refreshed (and rotated) tokens: the whole cache must be stored again, or the
        rotated refresh token is lost and the link dies when the old one expires."""
        return self.tokens.secrets() if self.tokens.changed else None

    # -- paths ----------------------------------------------------------------------------------

    @property
    def _calendar(self) -> str:
        return f"/me/calendars/{quote(self.calendar_id, safe='')}"

    @staticmethod
    def _event(event_id: str) -> str:
        return f"/me/events/{quote(event_id, safe='')}"

    # -- reads ----------------------------------------------------------------------------------

    def _delta(self, cursor: dict[str, Any] | None) -> tuple[list[dict[str, Any]], str]:
        """All pages of one delta round; the deltaLink comes with the last page only (§2.2).

        The per-calendar form ``/me/calendars/{id}/calendarView/delta`` is the one the beta
        reference documents and that v1.0 serves in practice (§2.2, docs issue #7636)."""
        items: list[dict[str, Any]] = []
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        if cursor is None:
            url = f"{self._calendar}/calendarView/delta"
            params: dict[str, str] | None = {
                "startDateTime": self.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": self.window_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        else:
            url, params = str(cursor["delta"]), None
        while True:
            try:
                page = self.client.json(
                    "GET", url, "Listing changes", params=params, headers=headers
                )
            except NotFound as exc:
                if cursor is None:
                    raise  # the calendar itself is gone
                # 410 Gone (with a Location of a fresh initial request; we run our own initial
                # request, over our window): start over (§2.2).
                raise CursorExpired("Outlook's delta token expired.") from exc
            items.extend(page.get("value") or [])
            params = None
            if page.get("@odata.nextLink"):
                url = str(page["@odata.nextLink"])  # absolute: GET it verbatim (§2.2)
                continue
            delta_link = page.get("@odata.deltaLink")
            if not delta_link:
                raise InvalidData("Outlook ended a delta round without a deltaLink.")
            return items, str(delta_link)

    def changes(self, cursor: str | None) -> Changes:
        """Delta round from ``cursor`` (see the module docstring). A removal is reported as a
        deleted item under the id Graph gave: a single event's, or an occurrence's (which
        matches no mapping; its series is re-read and reported with the occurrence as an
        exception). ``CursorExpired`` also when the cursor's window has run half out: the
        window of a deltaLink is fixed at its first request (§2.2), so a full listing moves it
        on."""
        state = self._read_cursor(cursor) if cursor is not None else None
        if state is not None:
            until = datetime.fromisoformat(state["until"])
            if until - self.now < self.window_future / 2:
                raise CursorExpired("The Outlook sync window moved on: list everything again.")
        raw, delta_link = self._delta(state)
        known_series: set[str] = set(state["series"]) if state else set()
        latest: dict[str, dict[str, Any]] = {}
        for item in raw:  # replays and duplicates: the last one wins (§2.2)
            latest[str(item.get("id"))] = item
        removed = [i for i, item in latest.items() if "@removed" in item]
        singles: list[str] = []
        series: set[str] = set()
        for event_id, item in latest.items():
            if "@removed" in item:
                continue
            if item.get("seriesMasterId"):
                series.add(str(item["seriesMasterId"]))
            elif item.get("type") == "seriesMaster":
                series.add(event_id)
            else:
                singles.append(event_id)
        if removed:
            # A removal may be a deleted occurrence or series: re-read the series we know.
            series |= known_series
        verify = set(state.get("verify") or []) if state else set()
        out: dict[str, RemoteItem] = {}
        for event_id in removed:
            out[event_id] = RemoteItem(event_id, "", None)
        for event_id in singles:
            out[event_id] = self._readable(self._fetch_single, event_id)
        for event_id in sorted(verify - series - set(singles) - set(removed)):
            # Our own creates of the last run, checked once (see __init__).
            found = self._readable(self._fetch_series, event_id)
            out[event_id] = found
            if found.event is not None and found.event.rule is not None:
                known_series.add(event_id)
        for master_id in sorted(series):
            found = self._readable(self._fetch_series, master_id)
            out[master_id] = found
            if found.deleted:
                known_series.discard(master_id)
            else:
                known_series.add(master_id)
        return Changes(
            items=tuple(out.values()),
            cursor=self._write_cursor(
                delta_link, known_series, state["until"] if state else self.window_end.isoformat()
            ),
        )

    @staticmethod
    def _readable(fetch: Any, event_id: str) -> RemoteItem:
        try:
            item: RemoteItem = fetch(event_id)
        except InvalidData as exc:
            return unreadable(event_id, "", exc)
        return item

    def full_listing(self) -> Changes:
        changes = self.changes(None)
        return Changes(
            items=tuple(i for i in changes.items if not i.deleted), cursor=changes.cursor
        )

    def _read_cursor(self, cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(cursor)
            if state.get("v") != CURSOR_VERSION or not isinstance(state.get("delta"), str):
                raise ValueError("unknown cursor")
            datetime.fromisoformat(state["until"])
            state["series"] = [str(s) for s in state.get("series") or []]
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise CursorExpired("The stored Outlook cursor is not readable.") from exc
        result: dict[str, Any] = state
        return result

    @staticmethod
    def _write_cursor(
        delta_link: str, series: set[str], until: str, *, verify: set[str] | None = None
    ) -> str:
        state: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "delta": delta_link,
            "series": sorted(series),
            "until": until,
        }
        if verify:
            state["verify"] = sorted(verify)
        return json.dumps(state, separators=(",", ":"))

    def _get_raw(self, event_id: str, what: str = "Reading an event") -> dict[str, Any]:
        return self.client.json(
            "GET", self._event(event_id), what, params={"$expand": EXPAND}, headers=TEXT_BODY
        )

    def _fetch_single(self, event_id: str) -> RemoteItem:
        try:
            item = self._get_raw(event_id)
        except NotFound:
            return RemoteItem(event_id, "", None)
        return RemoteItem(
            event_id,
            str(item.get("@odata.etag", "")),
            from_graph_event(item, default_zone=self.default_zone),
        )

    def _instances(self, master_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str = f"{self._event(master_id)}/instances"
        params: dict[str, str] | None = {
            "startDateTime": self.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": self.window_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        while True:
            page = self.client.json(
                "GET", url, "Reading a repeating event", params=params, headers=TEXT_BODY
            )
            found.extend(page.get("value") or [])
            if not page.get("@odata.nextLink"):
                return found
            url, params = str(page["@odata.nextLink"]), None

    def _fetch_series(self, master_id: str) -> RemoteItem:
        try:
            master = self._get_raw(master_id, "Reading a repeating event")
            instances = self._instances(master_id) if master.get("recurrence") else []
        except NotFound:
            return RemoteItem(master_id, "", None)
        return RemoteItem(
            master_id, str(master.get("@odata.etag", "")), self._series_event(master, instances)
        )

    def _series_event(self, master: dict[str, Any], instances: list[dict[str, Any]]) -> EventData:
        if not master.get("recurrence"):
            return from_graph_event(master, default_zone=self.default_zone)
        first = from_graph_event(master, default_zone=self.default_zone)
        series_start = first.start.date() if first.all_day else first.start
        try:
            moved = [e.original_start for e in map(graph_exception, instances) if e is not None]
            missing = graph_missing_occurrences(
                master["recurrence"],
                series_start,
                instances,
                window_start=self.window_start,
                window_end=self.window_end,
            )
        except (RecurrenceParseError, KeyError, ValueError) as exc:
            raise InvalidData(
                f"Unreadable Outlook series: {exc}", item_id=str(master.get("id"))
            ) from exc
        return from_graph_event(
            master, exceptions=[*moved, *missing], default_zone=self.default_zone
        )

    def get(self, external_id: str) -> RemoteItem:
        master = self._get_raw(external_id)
        if master.get("type") == "seriesMaster" or master.get("recurrence"):
            instances = self._instances(external_id)
            event = self._series_event(master, instances)
        else:
            event = from_graph_event(master, default_zone=self.default_zone)
        return RemoteItem(external_id, str(master.get("@odata.etag", "")), event)

    # -- writes ---------------------------------------------------------------------------------

    def create(self, event: EventData, *, idempotency_key: str) -> Written:
        # transactionId: Graph returns the first event for a retried POST with the same key (§2.3).
        body = {**to_graph_event(event), "transactionId": idempotency_key}
        created = self.client.json(
            "POST", f"{self._calendar}/events", "Creating an event", body=body
        )
        self._created.add(str(created["id"]))
        if event.rule is not None:
            self._written_series.add(str(created["id"]))
        return Written(str(created["id"]), str(created.get("@odata.etag", "")))

    def final_cursor(self, cursor: str) -> str:
        """Series we created after the delta round must be known to the next one: their later
        deletion reaches us only as @removed occurrences that do not name the series (§2.2)."""
        if not self._created:
            return cursor
        state = self._read_cursor(cursor)
        return self._write_cursor(
            state["delta"],
            set(state["series"]) | self._written_series,
            state["until"],
            verify=self._created,
        )

    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        updated = self.client.json(
            "PATCH",
            self._event(external_id),
            "Updating an event",
            body=to_graph_event(event),
            headers={"If-Match": etag},
        )
        return Written(external_id, str(updated.get("@odata.etag", "")))

    def delete(self, external_id: str, *, etag: str | None) -> None:
        try:
            self.client.request(
                "DELETE",
                self._event(external_id),
                "Deleting an event",
                headers={"If-Match": etag} if etag else None,
            )
        except NotFound:
            return  # already gone: deletes are idempotent


class MicrosoftAccount(Account):
    """A Microsoft mailbox at setup time."""

    def __init__(
        self, *, tokens: TokenSource, graph_endpoint: str, mailbox: str, timeout: float = 30
    ) -> None:
        self.client = GraphClient(
            tokens=tokens, graph_endpoint=graph_endpoint, mailbox=mailbox, timeout=timeout
        )

    def _all(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url = "/me/calendars"
        while True:
            page = self.client.json("GET", url, "Listing calendars")
            found.extend(page.get("value") or [])
            if not page.get("@odata.nextLink"):
                return found
            url = str(page["@odata.nextLink"])

    def calendars(self) -> list[CalendarRef]:
        """The default calendar (the mailbox's primary one)."""
        primary = self.client.json("GET", "/me/calendar", "Reading the primary calendar")
        return [CalendarRef(str(primary["id"]), str(primary.get("name", "Calendar")))]

    def ensure_calendar(self, name: str) -> CalendarRef:
        """``POST /me/calendars``; a name already taken (``ErrorFolderExists``, 400 or 409,
        §2.1) means a retried setup or an earlier link: reuse that calendar."""
        try:
            created = self.client.json(
                "POST", "/me/calendars", "Creating the dedicated calendar", body={"name": name}
            )
        except InvalidData as exc:
            if "ErrorFolderExists" not in str(exc):
                raise
            for calendar in self._all():
                if str(calendar.get("name", "")).lower() == name.lower():
                    return CalendarRef(str(calendar["id"]), str(calendar["name"]))
            raise
        return CalendarRef(str(created["id"]), str(created.get("name", name)))
