"""Microsoft 365 / Outlook calendars through Microsoft Graph v1.0 (PROTOCOLS.md §2).

* One ``requests.Session`` per connector, a timeout on every request, a bearer token from the
  link's msal cache (refreshed silently, once more on a 401), and never more than 4 requests in
  flight per mailbox in this process (Outlook's concurrency limit per app and mailbox, §2.7).
  Absolute next/delta links are followed only on the configured Graph host (the token goes
  with them).
* Change detection: ``calendarView/delta`` over a window from settings (v1.0 has no delta on
  ``events``, §2.2, §5.7). Should Graph refuse the per-calendar form (documented in beta only),
  the primary calendar uses the documented ``/me/calendarView/delta`` and any other calendar a
  ``calendarView`` listing compared with the last one (``MicrosoftConnector._round``). Delta
  gives occurrences and exceptions but no series masters, no
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
  ``PATCH``/``DELETE`` send ``If-Match: W/"<changeKey>"``; 412 is ``EtagMismatch`` (§2.5). An
  update GETs the event first and PATCHes only the named fields that differ from it
  (``mapping.to_graph_patch``). A zone name Graph refuses (``TimeZoneNotSupportedException``)
  is retried with another of the same clock (``connectors.microsoft.zones``).
* Writes never put attendees on an event, so Exchange mails no meeting requests (see
  ``connectors.microsoft.mapping``).
* Push (§2.6): a subscription on ``/me/events`` (the documented event resource; it covers every
  calendar of the mailbox, so a change elsewhere costs one quiet run), with the same address for
  change and lifecycle notifications; Graph validates both before it answers 201. Renewed in
  place with a PATCH of ``expirationDateTime`` (which also reauthorizes it), stopped with DELETE.
  The ``clientState`` is ``<key>.<secret>`` (``client_state``): the key names our record, the
  secret proves the sender, even for a notification that comes before Graph's 201.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

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
from connectors.microsoft.mapping import (
    EXPAND,
    ZONE_REFUSED,
    from_graph_event,
    readable_recurrence,
    to_graph_event,
    to_graph_patch,
)
from connectors.microsoft.oauth import TokenSource
from connectors.net import guard_requests
from connectors.quota import Pacer
from recurrence import (
    RecurrenceParseError,
    Text,
    gettext_noop,
    graph_exception,
    graph_missing_occurrences,
)

MAX_CONCURRENT = 4  # Outlook: 4 concurrent requests per app and mailbox (§2.7)
PAGE_SIZE = 100
# calendarView page of the fallback listing: Graph documents no maximum $top for it and takes
# large values (microsoft-graph-docs#12653); a smaller cap only means more nextLinks.
VIEW_PAGE = 1000
CURSOR_VERSION = 1
# Bodies as plain text (Graph's documented Prefer header); mapping still strips HTML if it
# comes anyway.
TEXT_BODY = {"Prefer": 'outlook.body-content-type="text"'}
_EXPIRED_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
# The documented resource for a mailbox's events (outlook-change-notifications-overview.md):
# there is no documented per-calendar form.
SUBSCRIPTION_RESOURCE = "/me/events"
_gates: dict[str, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def mailbox_gate(mailbox: str) -> threading.BoundedSemaphore:
    """The process-wide semaphore of one mailbox: at most ``MAX_CONCURRENT`` requests at once."""
    with _gates_lock:
        gate = _gates.get(mailbox)
        if gate is None:
            gate = _gates[mailbox] = threading.BoundedSemaphore(MAX_CONCURRENT)
        return gate


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def _zone_written(body: dict[str, Any]) -> str:
    """The zone name a write body gives its times (or its recurrence) in, "" when none."""
    start = body.get("start")
    if isinstance(start, dict) and start.get("timeZone"):
        return str(start["timeZone"])
    recurrence = body.get("recurrence")
    if isinstance(recurrence, dict):
        return str((recurrence.get("range") or {}).get("recurrenceTimeZone") or "")
    return ""


def _path_refused(exc: InvalidData | NotFound) -> bool:
    """A 400 (``BadRequest``, ``ErrorInvalidUrlQuery``...), 404 or 410 for a delta request: the
    path or token is not (or no longer) served; a 403 or another refusal is not that."""
    return isinstance(exc, NotFound) or (isinstance(exc, GraphRefused) and exc.status == 400)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pack(summary: dict[str, dict[str, str]]) -> str:
    """The listing's summary for the cursor, compressed: Exchange ids of one mailbox share long
    prefixes."""
    raw = json.dumps(summary, separators=(",", ":"), sort_keys=True).encode()
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def _unpack(packed: str) -> dict[str, dict[str, str]]:
    if not packed:
        return {}
    try:
        found = json.loads(zlib.decompress(base64.b64decode(packed)))
        return {str(k): {str(i): str(d) for i, d in dict(v).items()} for k, v in found.items()}
    except (ValueError, TypeError, AttributeError, zlib.error) as exc:
        raise CursorExpired("The stored Outlook cursor is not readable.") from exc


def client_state(key: str, secret: str) -> str:
    """The ``clientState`` of a subscription (at most 128 characters, §2.6)."""
    return f"{key}.{secret}"


def parse_client_state(value: object) -> tuple[str, str]:
    """``(key, secret)`` of a notification's ``clientState``; empty strings when it is not one
    of ours."""
    if not isinstance(value, str) or "." not in value:
        return "", ""
    key, _, secret = value.partition(".")
    return key, secret


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_graph_time(value: object) -> datetime:
    try:
        text = str(value).replace("Z", "+00:00")
        # Graph writes 7 fractional digits; Python reads at most 6.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        moment = datetime.fromisoformat(text)
        # Graph's expiries are UTC, with or without the Z.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError as exc:
        raise InvalidData(f"Microsoft Graph sent an unreadable expiry: {value!r}") from exc


def _retry_alone(answer: ItemResult) -> bool:
    """A batch step's answer that a lone ``create`` handles better: a time zone the mailbox
    refused (``_write`` retries another name) or a 412 with no precondition (§2.5)."""
    if isinstance(answer, GraphRefused):
        return answer.code == ZONE_REFUSED
    return isinstance(answer, EtagMismatch)


class GraphRefused(InvalidData):
    """Graph refused a request as invalid (a 4xx with no other meaning for the engine); ``code``
    is Graph's error code (``TimeZoneNotSupportedException``, ``BadRequest``...)."""

    def __init__(self, message: str, *, status: int, code: str, text: Text | None = None) -> None:
        super().__init__(message, text=text)
        self.status = status
        self.code = code


def error_for(status: int, code: str, retry_after: str | None, what: str) -> ConnectorError | None:
    """The connector error of a Graph answer (None for a success): for a whole response and
    for each response inside a JSON batch alike."""
    if status < 400:
        return None
    if code.lower() in _EXPIRED_CODES:
        return CursorExpired("Outlook's delta token is no longer known.")
    if status in (429, 503) and (status == 429 or retry_after is not None):
        try:
            wait = float(retry_after) if retry_after is not None else None
        except ValueError:
            wait = None
        return RateLimited(f"{what}: Microsoft asks us to slow down.", wait)
    if status == 401 or (status == 403 and code == "ErrorAccessDenied"):
        return AuthRevoked(
            f"{what}: Microsoft refused our access ({code or status}).",
            text=Text.of(
                gettext_noop("%(what)s: Microsoft refused our access (%(code)s)."),
                what=Text(what),
                code=str(code or status),
            ),
        )
    if status == 412:
        return EtagMismatch(f"{what}: the event changed in Outlook.")
    if status in (404, 410):
        return NotFound(f"{what}: not found in Outlook.")
    if status >= 500:
        return Unavailable(f"{what}: Microsoft Graph answered {status}.")
    return GraphRefused(
        f"{what}: Microsoft Graph refused the request ({status} {code}).",
        status=status,
        code=code,
        text=Text.of(
            gettext_noop("%(what)s: Microsoft Graph refused the request (%(status)s %(code)s)."),
            what=Text(what),
            status=status,
            code=code,
        ),
    )


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
        pacer: Pacer | None = None,
    ) -> None:
        # The quota governor's bucket and concurrency slots of the mailbox (None: unpaced).
        self.pacer = pacer
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
            if self.pacer is not None:
                # Every request inside a JSON batch counts against the mailbox's limits.
                steps = body.get("requests") if isinstance(body, dict) else None
                self.pacer.pace(len(steps) if isinstance(steps, list) and steps else 1)
            try:
                with self.gate, self.pacer.slot() if self.pacer else contextlib.nullcontext():
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
        error = error_for(
            response.status_code, _code(response), response.headers.get("Retry-After"), what
        )
        if error is not None:
            raise error

    def json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, what, **kwargs)
        if not response.content:
            return {}
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise InvalidData(f"{what}: Microsoft Graph sent something unreadable.") from exc
        return data


# Requests per JSON batch: Graph's documented maximum (json-batching.md).
BATCH_SIZE = 20


class MicrosoftConnector(Connector):
    capabilities = Capabilities(
        push=True, batch=True, revoke=False, push_renew=True, batch_size=BATCH_SIZE
    )

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
        pacer: Pacer | None = None,
    ) -> None:
        self.tokens = tokens
        self.calendar_id = calendar_id
        self.default_zone = default_zone
        self.client = GraphClient(
            tokens=tokens,
            graph_endpoint=graph_endpoint,
            mailbox=mailbox,
            timeout=timeout,
            pacer=pacer,
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

    def _window(self) -> dict[str, str]:
        return {
            "startDateTime": self.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": self.window_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _round(self, state: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The items of one round of changes, and what the cursor keeps of it (``delta``: the
        whole deltaLink, §2.2; ``view``: the listing's summary, see ``_view_round``).

        The per-calendar form ``/me/calendars/{id}/calendarView/delta`` is the one the beta
        reference documents and the generated v1.0 description has; v1.0 serves it in practice
        but documents only ``/me/calendarView/delta``, for the primary calendar (§2.2, docs issue
        #7636). Should Graph refuse it (400 ``BadRequest`` "Resource not found for the segment",
        ``ErrorInvalidUrlQuery``, or a 404 while the calendar is there), a first round falls
        back (``_fallback_round``), and a stored deltaLink of that form is ``CursorExpired``, so
        that the engine's full listing falls back."""
        if state is None:
            try:
                items, link = self._delta_pages(f"{self._calendar}/calendarView/delta")
            except (GraphRefused, NotFound) as exc:
                if not _path_refused(exc):
                    raise
                self.client.json("GET", self._calendar, "Reading the calendar")  # gone: NotFound
                return self._fallback_round()
            return items, {"delta": link}
        if isinstance(state.get("view"), dict):
            return self._view_round(state["view"], state["until"])
        try:
            items, link = self._delta_pages(str(state["delta"]), first=False)
        except (GraphRefused, NotFound) as exc:
            if not _path_refused(exc):
                raise
            # 410 Gone (with a Location of a fresh initial request; we run our own initial
            # request, over our window), or a 400/404 for a token or a path Graph no longer
            # knows ("40X-series errors", §2.2): start over.
            raise CursorExpired("Outlook's delta token expired.") from exc
        return items, {"delta": link}

    def _delta_pages(self, url: str, *, first: bool = True) -> tuple[list[dict[str, Any]], str]:
        """All pages of one delta round; the deltaLink comes with the last page only (§2.2)."""
        items: list[dict[str, Any]] = []
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        params: dict[str, str] | None = self._window() if first else None
        while True:
            page = self.client.json("GET", url, "Listing changes", params=params, headers=headers)
            items.extend(page.get("value") or [])
            params = None
            if page.get("@odata.nextLink"):
                url = str(page["@odata.nextLink"])  # absolute: GET it verbatim (§2.2)
                continue
            delta_link = page.get("@odata.deltaLink")
            if not delta_link:
                raise InvalidData("Outlook ended a delta round without a deltaLink.")
            return items, str(delta_link)

    def _fallback_round(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Changes without the per-calendar delta: the documented ``/me/calendarView/delta``
        when the link's calendar is the mailbox's primary one (it costs what the per-calendar
        form costs), else a ``calendarView`` listing compared with the last one
        (``_view_round``)."""
        primary = self.client.json("GET", "/me/calendar", "Reading the primary calendar")
        if str(primary.get("id")) == self.calendar_id:
            try:
                items, link = self._delta_pages("/me/calendarView/delta")
            except (GraphRefused, NotFound) as exc:
                if not _path_refused(exc):
                    raise
            else:
                return items, {"delta": link}
        return self._view_round({"from": self.window_start.isoformat(), "seen": ""}, None)

    def _view_round(
        self, view: dict[str, Any], until: str | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One round from a ``calendarView`` listing of the window (documented in v1.0 for any
        calendar), only ids and change keys (``$select``), compared with the summary the cursor
        keeps: one-off events by id and change key, series by a digest of their occurrences'.
        A changed or new one is reported as delta would report it (the caller reads it in
        full), a missing one as ``@removed``. Its cost: every poll lists the whole window, one
        request per ``VIEW_PAGE`` occurrences, where a quiet delta poll is one request."""
        start = datetime.fromisoformat(str(view["from"]))
        end = datetime.fromisoformat(until) if until else self.window_end
        url: str = f"{self._calendar}/calendarView"
        params: dict[str, str] | None = {
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "$select": "id,changeKey,type,seriesMasterId",
            "$top": str(VIEW_PAGE),
        }
        singles: dict[str, str] = {}
        occurrences: dict[str, list[str]] = {}
        while True:
            page = self.client.json("GET", url, "Listing the calendar", params=params)
            for row in page.get("value") or []:
                event_id, key = str(row.get("id")), str(row.get("changeKey"))
                if row.get("seriesMasterId"):
                    occurrences.setdefault(str(row["seriesMasterId"]), []).append(
                        f"{event_id} {key}"
                    )
                else:
                    singles[event_id] = _digest(key)
            if not page.get("@odata.nextLink"):
                break
            url, params = str(page["@odata.nextLink"]), None
        series = {m: _digest("\n".join(sorted(rows))) for m, rows in occurrences.items()}
        before = _unpack(str(view.get("seen") or ""))
        old_singles, old_series = before.get("singles", {}), before.get("series", {})
        items: list[dict[str, Any]] = [
            {"id": i, "type": "singleInstance"}
            for i, d in singles.items()
            if old_singles.get(i) != d
        ]
        items += [
            {"id": m, "type": "seriesMaster"} for m, d in series.items() if old_series.get(m) != d
        ]
        items += [
            {"id": i, "@removed": {"reason": "deleted"}}
            for i in [*old_singles, *old_series]
            if i not in singles and i not in series
        ]
        summary = _pack({"singles": singles, "series": series})
        return items, {"delta": "", "view": {"from": view["from"], "seen": summary}}

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
        raw, kept = self._round(state)
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
                kept["delta"],
                known_series,
                state["until"] if state else self.window_end.isoformat(),
                view=kept.get("view"),
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
            items=tuple(i for i in changes.items if not i.deleted),
            cursor=changes.cursor,
            # Only the window is read: an item outside it is not listed, not deleted.
            window=(self.window_start, self.window_end),
        )

    def _read_cursor(self, cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(cursor)
            if state.get("v") != CURSOR_VERSION or not isinstance(state.get("delta"), str):
                raise ValueError("unknown cursor")
            datetime.fromisoformat(state["until"])
            state["series"] = [str(s) for s in state.get("series") or []]
            view = state.get("view")
            if view is not None:
                datetime.fromisoformat(view["from"])
                if not isinstance(view.get("seen"), str):
                    raise ValueError("unknown cursor")
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise CursorExpired("The stored Outlook cursor is not readable.") from exc
        result: dict[str, Any] = state
        return result

    @staticmethod
    def _write_cursor(
        delta_link: str,
        series: set[str],
        until: str,
        *,
        verify: set[str] | None = None,
        view: dict[str, Any] | None = None,
    ) -> str:
        state: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "delta": delta_link,
            "series": sorted(series),
            "until": until,
        }
        if verify:
            state["verify"] = sorted(verify)
        if view is not None:
            state["view"] = view
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
                readable_recurrence(master["recurrence"], first.time_zone),
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
        created = self._write(
            "POST",
            f"{self._calendar}/events",
            "Creating an event",
            lambda avoid: {**to_graph_event(event, avoid=avoid), "transactionId": idempotency_key},
        )
        self._created.add(str(created["id"]))
        if event.rule is not None:
            self._written_series.add(str(created["id"]))
        return Written(str(created["id"]), str(created.get("@odata.etag", "")))

    def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
        """The POSTs of ``create`` (each with its ``transactionId``) in JSON batches of up to
        ``BATCH_SIZE``, one HTTP request each; answers are paired by id (Graph does not keep
        their order) and each is read as a lone create's. A create Graph refuses for its time
        zone, or answers 412 with no precondition (§2.5), goes through ``create`` alone, which
        retries those. A batch that fails whole is that error for each of its items."""
        results: list[ItemResult] = []
        for start in range(0, len(items), BATCH_SIZE):
            results.extend(self._create_batch(items[start : start + BATCH_SIZE]))
        return results

    def _create_batch(self, items: Sequence[NewItem]) -> list[ItemResult]:
        what = "Creating an event"
        answers: dict[str, ItemResult] = {}
        steps = []
        for index, item in enumerate(items):
            try:
                body = {**to_graph_event(item.event), "transactionId": item.idempotency_key}
            except InvalidData as exc:
                answers[str(index)] = exc
                continue
            steps.append(
                {
                    "id": str(index),
                    "method": "POST",
                    "url": f"{self._calendar}/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": body,
                }
            )
        if steps:
            try:
                reply = self.client.json("POST", "/$batch", what, body={"requests": steps})
            except ConnectorError as exc:
                return [answers.get(str(i), exc) for i in range(len(items))]
            for response in reply.get("responses", []) if isinstance(reply, dict) else []:
                if isinstance(response, dict) and str(response.get("id")) not in answers:
                    answers[str(response.get("id"))] = self._step_answer(response, what)
        results: list[ItemResult] = []
        for index, item in enumerate(items):
            answer = answers.get(str(index))
            if answer is None or _retry_alone(answer):
                try:
                    answer = self.create(item.event, idempotency_key=item.idempotency_key)
                except ConnectorError as exc:
                    answer = exc
            elif isinstance(answer, Written):
                self._created.add(answer.external_id)
                if item.event.rule is not None:
                    self._written_series.add(answer.external_id)
            results.append(answer)
        return results

    @staticmethod
    def _step_answer(response: dict[str, Any], what: str) -> ItemResult:
        status = int(response.get("status") or 0)
        body = response.get("body") if isinstance(response.get("body"), dict) else {}
        assert isinstance(body, dict)
        headers = response.get("headers") if isinstance(response.get("headers"), dict) else {}
        assert isinstance(headers, dict)
        if 200 <= status < 300 and body.get("id"):
            return Written(str(body["id"]), str(body.get("@odata.etag", "")))
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        retry = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
        return error_for(status or 502, code, retry, what) or InvalidData(
            f"{what}: Microsoft Graph answered a batch step without the event."
        )

    def _write(
        self,
        method: str,
        url: str,
        what: str,
        body_for: Callable[[frozenset[str]], dict[str, Any]],
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One write, again once with another zone name if Graph refuses the one we chose: a
        mailbox "can" take a smaller set of zones than Windows has (datetimetimezone.md), and a
        Windows zone newer than the mailbox's Exchange is refused. The retry uses a Windows zone
        with the same clock, else UTC (``mapping.graph_zone``)."""
        avoid: frozenset[str] = frozenset()
        for _ in range(3):
            body = body_for(avoid)
            try:
                return self.client.json(method, url, what, body=body, headers=headers)
            except GraphRefused as exc:
                refused = _zone_written(body)
                if exc.code != ZONE_REFUSED or not refused or refused in avoid:
                    raise
                avoid = avoid | {refused}
        raise InvalidData(
            f"{what}: Outlook took none of the time zones we tried ({', '.join(sorted(avoid))})."
        )

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
            view=state.get("view"),
        )

    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        """PATCH the ``fields`` whose value differs from the event as Outlook holds it now
        (``mapping.to_graph_patch``): one GET of the event first, so that nothing we did not
        change is rewritten (issue 12 §3, issue 19 item 5); no PATCH at all when nothing
        differs. The GET also checks ``etag``; the PATCH sends it as ``If-Match``."""
        current = self._get_raw(external_id, "Updating an event")
        current_etag = str(current.get("@odata.etag", ""))
        if etag and current_etag and etag != current_etag:
            raise EtagMismatch("Updating an event: the event changed in Outlook.")

        def body_for(avoid: frozenset[str]) -> dict[str, Any]:
            return to_graph_patch(
                event, current, fields=fields, default_zone=self.default_zone, avoid=avoid
            )

        if not body_for(frozenset()):
            return Written(external_id, current_etag)
        updated = self._write(
            "PATCH",
            self._event(external_id),
            "Updating an event",
            body_for,
            headers={"If-Match": etag or current_etag},
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

    # -- push (§2.6) ---------------------------------------------------------------------------

    def watch(self, *, address: str, key: str, secret: str, expires_at: datetime) -> Watch:
        """POST /subscriptions on ``/me/events``; Graph validates ``address`` (twice: change and
        lifecycle notifications go to the same address) before it answers 201. A refused
        validation is a 400 (``InvalidData``)."""
        created = self.client.json(
            "POST",
            "/subscriptions",
            "Starting instant updates",
            body={
                "changeType": "created,updated,deleted",
                "notificationUrl": address,
                "lifecycleNotificationUrl": address,
                "resource": SUBSCRIPTION_RESOURCE,
                "expirationDateTime": _graph_time(expires_at),
                "clientState": client_state(key, secret),
            },
        )
        if not created.get("id"):
            raise InvalidData("Microsoft Graph answered a subscription without an id.")
        return Watch(
            channel_id=str(created["id"]),
            resource_id=str(created.get("resource") or SUBSCRIPTION_RESOURCE),
            expires_at=_parse_graph_time(created.get("expirationDateTime")),
        )

    def renew(self, watch: Watch, *, expires_at: datetime) -> Watch:
        """PATCH the subscription's ``expirationDateTime``: renews and reauthorizes it (the
        lifecycle-events guide). ``NotFound`` once Graph has deleted it."""
        updated = self.client.json(
            "PATCH",
            f"/subscriptions/{quote(watch.channel_id, safe='')}",
            "Renewing instant updates",
            body={"expirationDateTime": _graph_time(expires_at)},
        )
        return Watch(
            channel_id=watch.channel_id,
            resource_id=watch.resource_id,
            expires_at=_parse_graph_time(updated.get("expirationDateTime")),
        )

    def stop(self, watch: Watch) -> None:
        """DELETE the subscription (204); a 404 (expired, removed, deleted before) is success."""
        try:
            self.client.request(
                "DELETE",
                f"/subscriptions/{quote(watch.channel_id, safe='')}",
                "Stopping instant updates",
            )
        except NotFound:
            return


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
