"""CalDAV and iCloud through the caldav library (PROTOCOLS.md §3).

Reads: RFC 6578 sync-collection with ``disable_fallback=True`` (without it caldav silently lists
everything under a fake token and deletions are lost, §3.3 gotcha 3); an expired token (Radicale
403, Xandikos 412, both with ``DAV:valid-sync-token``) raises ``CursorExpired``. Changed hrefs are
fetched with one calendar-multiget REPORT.

Writes: PUT through the library's client with explicit preconditions, never the library's own
``save()`` defaults (which send ``If-Schedule-Tag-Match`` where a server has Schedule-Tags, and bump
SEQUENCE on every save, §3.3 gotchas 1 and 2):
* create: a PUT to ``<calendar>/<idempotency key>.ics`` with ``If-None-Match: *``; a 412 means an
  earlier try already created it, so we return that item (no duplicate);
* update and delete: ``If-Match: <etag>``; 412 -> ``EtagMismatch``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import niquests
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as dav_error

from connectors.base import Account, CalendarRef, Capabilities, Changes, Connector, Written
from connectors.caldav.mapping import from_ical, to_ical
from connectors.errors import (
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
from connectors.net import guard_niquests

VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"  # noqa: S105 - a DAV precondition name
ICAL_TYPE = "text/calendar; charset=utf-8"
ICLOUD_HOSTS = {"caldav.icloud.com"}


def _retry_after(exc: Exception) -> float | None:
    value = getattr(exc, "retry_after", None) or getattr(exc, "retry_after_seconds", None)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@contextmanager
def provider_errors(*, setup: bool = False) -> Iterator[None]:
    """Translate caldav and HTTP failures into the connector vocabulary. At setup time an
    authorisation failure is the user's wrong password, not a revoked grant."""
    try:
        yield
    except ConnectorError:
        raise
    except dav_error.RateLimitError as exc:
        raise RateLimited("The CalDAV server asks us to slow down.", _retry_after(exc)) from exc
    except dav_error.AuthorizationError as exc:
        if VALID_SYNC_TOKEN in (getattr(exc, "preconditions", None) or ()):
            raise CursorExpired("The CalDAV sync token expired.") from exc
        if setup:
            raise SetupError(
                "The server refused the user name or password. For iCloud, use an app-specific "
                "password, not your Apple Account password."
            ) from exc
        raise AuthRevoked("The CalDAV server no longer accepts the stored password.") from exc
    except dav_error.NotFoundError as exc:
        if setup:
            raise SetupError("No CalDAV calendar was found at that address.") from exc
        raise NotFound("The calendar or event no longer exists on the CalDAV server.") from exc
    except dav_error.ReportError as exc:
        if VALID_SYNC_TOKEN in (getattr(exc, "preconditions", None) or ()):
            raise CursorExpired("The CalDAV sync token expired.") from exc
        raise Unavailable(f"The CalDAV server failed a report: {exc.reason}") from exc
    except dav_error.DAVError as exc:
        if setup:
            raise SetupError(
                "That address did not answer as a CalDAV server. Check the server address."
            ) from exc
        raise Unavailable(f"The CalDAV server answered with an error: {exc.reason}") from exc
    except (niquests.exceptions.RequestException, OSError) as exc:
        if setup:
            raise SetupError("The server could not be reached. Check the server address.") from exc
        raise Unavailable("The CalDAV server could not be reached.") from exc


def _client(url: str, username: str, password: str, timeout: int) -> DAVClient:
    # Discovery through DNS (RFC 6764) is off: caldav makes its requests outside the client's
    # session, where the check below would not see them.
    host = urlsplit(url).hostname or ""
    options: dict[str, Any] = {}
    if host in ICLOUD_HOSTS or host.endswith("-caldav.icloud.com"):
        # iCloud's quirks, as caldav's compatibility profile knows them (PROTOCOLS.md §3.4).
        options["features"] = "icloud"
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


def _check(response: Any, *, allowed: tuple[int, ...], what: str) -> None:
    status = int(response.status)
    if status in allowed:
        return
    if status == 412:
        raise EtagMismatch(f"{what}: the event changed on the CalDAV server.")
    if status in (404, 410):
        raise NotFound(f"{what}: the event no longer exists.")
    if status in (400, 403, 409, 415, 422):
        raise InvalidData(f"{what}: the CalDAV server refused the event ({status}).")
    raise Unavailable(f"{what}: the CalDAV server answered {status}.")


class CalDAVConnector(Connector):
    capabilities = Capabilities(push=False, batch=False, revoke=False)

    def __init__(
        self,
        *,
        calendar_url: str,
        username: str,
        password: str,
        default_zone: str = "UTC",
        account_email: str | None = None,
        timeout: int = 30,
    ) -> None:
        self.calendar_url = calendar_url if calendar_url.endswith("/") else calendar_url + "/"
        self.default_zone = default_zone
        self.account_email = account_email
        self.client = _client(self.calendar_url, username, password, timeout)
        self.calendar = self.client.calendar(url=self.calendar_url)  # type: ignore[no-untyped-call]

    # -- reads ------------------------------------------------------------------------------

    def changes(self, cursor: str | None) -> Changes:
        with provider_errors():
            collection = self.calendar.get_objects_by_sync_token(
                sync_token=cursor, load_objects=False, disable_fallback=True
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
            return Changes(items=tuple(items), cursor=str(collection.sync_token))

    def full_listing(self) -> Changes:
        listing = self.changes(None)
        return Changes(tuple(i for i in listing.items if not i.deleted), listing.cursor)

    def get(self, external_id: str) -> RemoteItem:
        with provider_errors():
            response = self.client.request(self._url(external_id), "GET")
            _check(response, allowed=(200,), what="Reading an event")
            etag = response.headers.get("ETag", "")
            return self._item(external_id, etag, response.raw)

    def _load(self, objects: list[Any]) -> Iterator[RemoteItem]:
        if not objects:
            return
        etags = {str(o.url): str(o.props.get(dav.GetEtag.tag, "")) for o in objects}
        loaded = self.calendar.multiget([o.url for o in objects], raise_notfound=False)
        for obj in loaded:
            url = str(obj.url)
            if obj.data is None:  # deleted between the listing and the multiget
                yield RemoteItem(self._href(url), "", None)
                continue
            etag = str(obj.props.get(dav.GetEtag.tag, "")) or etags.get(url, "")
            try:
                yield self._item(self._href(url), etag, obj.data)
            except InvalidData as exc:
                yield unreadable(self._href(url), etag, exc)

    def _item(self, external_id: str, etag: str, data: str | bytes) -> RemoteItem:
        event = from_ical(
            data,
            item_id=external_id,
            default_zone=self.default_zone,
            account_email=self.account_email,
        )
        return RemoteItem(external_id, etag, event)

    # -- writes -----------------------------------------------------------------------------

    def create(self, event: EventData, *, idempotency_key: str) -> Written:
        href = f"{quote(idempotency_key, safe='')}.ics"
        body = to_ical(event, uid=idempotency_key)
        with provider_errors():
            response = self.client.put(
                self._url(href), body, {"Content-Type": ICAL_TYPE, "If-None-Match": "*"}
            )
            if int(response.status) == 412:
                # A retried create: the first try stored it. Return that item, not a second one.
                existing = self.get(href)
                return Written(href, existing.etag)
            _check(response, allowed=(200, 201, 204), what="Creating an event")
            return Written(href, self._etag_after_write(href, response))

    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        uid = event.uid or external_id.removesuffix(".ics")
        body = to_ical(event, uid=uid)
        with provider_errors():
            response = self.client.put(
                self._url(external_id), body, {"Content-Type": ICAL_TYPE, "If-Match": etag}
            )
            _check(response, allowed=(200, 201, 204), what="Updating an event")
            return Written(external_id, self._etag_after_write(external_id, response))

    def delete(self, external_id: str, *, etag: str | None) -> None:
        headers = {"If-Match": etag} if etag else {}
        with provider_errors():
            response = self.client.delete(self._url(external_id), headers)
            if int(response.status) in (404, 410):
                return  # already gone: deletes are idempotent
            _check(response, allowed=(200, 204), what="Deleting an event")

    def _etag_after_write(self, href: str, response: Any) -> str:
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


class CalDAVAccount(Account):
    """A CalDAV account at setup time: find or create the calendar to link."""

    def __init__(self, *, server_url: str, username: str, password: str, timeout: int = 30):
        self.server_url = server_url
        self.client = _client(server_url, username, password, timeout)

    def _principal(self) -> Any:
        with provider_errors(setup=True):
            return self.client.principal()  # type: ignore[no-untyped-call]

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
