"""The provider protocol (STYLE 2): a handful of methods every connector implements.

Vocabulary:

* **item**: one event or series on the provider, named by its ``external_id`` (Google event id,
  Graph event id, CalDAV href) and versioned by its ``etag``.
* **cursor**: an opaque string from the provider (Google ``syncToken``, Graph ``deltaLink``,
  CalDAV ``sync-token``) that lists what changed since it was issued.
* **idempotency key**: a string we choose per meeting, so a create that is retried after a crash
  makes no second event (Google: a client-chosen event id; Graph: ``transactionId``; CalDAV: a PUT
  to a deterministic href with ``If-None-Match: *``).
* **push channel**: the provider calls an https address of ours when the calendar changes
  (Google watch channel, Graph subscription; PROTOCOLS.md §1.9, §2.6), with a secret we chose
  echoed back so the notification can be told from a forgery. A notification only says "something
  changed"; the next ``changes`` call reads what. Connectors whose capabilities say ``push`` make,
  renew and stop channels (``watch``, ``renew``, ``stop``); the sync core keeps the records.

Every method raises only ``connectors.errors`` types. Capabilities are data, not methods.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.errors import AuthRevoked, RateLimited, Unavailable
from connectors.events import ALL_FIELDS, EventData, RemoteItem


@dataclass(frozen=True)
class Capabilities:
    push: bool = False  # the provider can notify us of changes (webhooks): ``watch``/``stop``
    batch: bool = False  # several writes per request
    # How many creates one ``create_many`` call takes: the provider's batch size (Google 50,
    # Graph 20) or, for CalDAV, what one bounded pool of concurrent PUTs is given at a time.
    batch_size: int = 1
    revoke: bool = False  # the provider can revoke our grant on request
    # A push channel's life can be extended in place (``renew``). Without it (Google) the
    # caller makes an overlapping channel before the old one expires, then stops the old one.
    push_renew: bool = False


@dataclass(frozen=True)
class Changes:
    """One complete answer to ``changes``: every page already followed."""

    items: tuple[RemoteItem, ...]
    cursor: str
    # The span of time a full listing covers, when it does not cover the whole calendar
    # (Outlook's calendarView delta is read over a window): a mapped item outside it is not
    # listed, and must not be taken for deleted. None: every item of the calendar is listed.
    window: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class Watch:
    """A push channel as the provider made it (see the module docstring)."""

    # The provider's name for it: Google's channel id (the ``key`` we chose), Graph's
    # subscription id (Graph chooses it).
    channel_id: str
    # What else the provider needs to stop it: Google's ``resourceId``; Graph: the resource.
    resource_id: str
    # When the provider will stop calling; it may give less than was asked.
    expires_at: datetime


@dataclass(frozen=True)
class Written:
    external_id: str
    etag: str


@dataclass(frozen=True)
class NewItem:
    """One create of a ``create_many`` call: what ``create`` takes."""

    event: EventData
    idempotency_key: str


# One answer per item of ``create_many``: what landed, or what that item met (a
# ``ConnectorError``; any other exception is a bug the caller fails the run with).
ItemResult = Written | Exception


@dataclass(frozen=True)
class CalendarRef:
    calendar_id: str
    name: str


class Connector(abc.ABC):
    """One linked external calendar of one user."""

    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def changes(self, cursor: str | None) -> Changes:
        """Items changed since ``cursor`` (all pages), and the cursor to store *after* they are
        applied. ``None`` starts from scratch. Raises ``CursorExpired`` when the cursor is no
        longer valid; the caller then uses ``full_listing``."""

    @abc.abstractmethod
    def full_listing(self) -> Changes:
        """Every live item of the calendar and a fresh cursor (for resyncs after expiry)."""

    @abc.abstractmethod
    def create(self, event: EventData, *, idempotency_key: str) -> Written:
        """Create ``event``. Calling it again with the same key makes no second item: it returns
        the item the first call made (or raises ``EtagMismatch`` if that item changed since)."""

    def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
        """Create each of ``items`` exactly as ``create`` would (the same idempotency keys, so a
        retried call makes no second copy), in as few requests as the provider allows (at most
        ``capabilities.batch_size`` items per call). Never raises: the answer holds, in order,
        one entry per item, its ``Written`` or the exception that item met, so a caller records
        what landed before it acts on a failure. An error of the whole call (``AuthRevoked``,
        ``RateLimited``, ``Unavailable``) is the entry of every item it left unwritten. This
        default makes the creates one by one and stops at such an error."""
        results: list[ItemResult] = []
        for index, item in enumerate(items):
            try:
                results.append(self.create(item.event, idempotency_key=item.idempotency_key))
            except (AuthRevoked, RateLimited, Unavailable) as exc:
                return results + [exc] * (len(items) - index)
            except Exception as exc:
                results.append(exc)
        return results

    @abc.abstractmethod
    def update(
        self,
        external_id: str,
        event: EventData,
        *,
        etag: str,
        fields: frozenset[str] = ALL_FIELDS,
    ) -> Written:
        """Write the ``fields`` of ``event`` (names from ``connectors.events.EVENT_FIELDS``) to
        the item if it still has ``etag``; ``EtagMismatch`` otherwise, ``NotFound`` if it is gone.

        Everything else the provider's copy holds is kept as it is: the synced fields not named,
        and every property we do not sync (colours, categories, URLs, free/busy, other
        applications' data, per-attendee details, alarms and exceptions we did not write), so an
        item that someone else made loses nothing when we change one of its fields (STYLE 14).
        Naming any of ``TIME_FIELDS`` writes all four; the engine names ``rule`` as well
        whenever a repeating event's times change, since a rule's lines depend on its start.
        Our meeting id (``event.meeting_id``) is written whenever it is set."""

    @abc.abstractmethod
    def delete(self, external_id: str, *, etag: str | None) -> None:
        """Delete the item (if it still has ``etag``, when given). Deleting what is already gone
        succeeds: deletes are idempotent."""

    @abc.abstractmethod
    def get(self, external_id: str) -> RemoteItem:
        """One item by id; ``NotFound`` if it does not exist."""

    def final_cursor(self, cursor: str) -> str:
        """The cursor to store after this connector's writes. Most cursors are the provider's
        opaque token and stay as they are; a connector whose cursor carries state of its own
        (Microsoft's known series) adds what its writes created."""
        return cursor

    # -- push (only where ``capabilities.push``) ---------------------------------------------

    def watch(self, *, address: str, key: str, secret: str, expires_at: datetime) -> Watch:
        """Ask the provider to POST to ``address`` whenever the linked calendar changes, until
        ``expires_at`` at the latest, naming the channel by ``key`` (ours, at most 64 characters
        of ``[0-9a-f-]``) and echoing ``secret`` (at most 64 characters) in every notification.
        The provider may check ``address`` before it answers (Graph's validation handshake), so
        the endpoint must already be serving. Raises ``connectors.errors`` types; ``InvalidData``
        when the provider refuses the channel (an address it cannot reach, say)."""
        raise NotImplementedError(f"{type(self).__name__} has no push channels")

    def renew(self, watch: Watch, *, expires_at: datetime) -> Watch:
        """Extend ``watch`` to ``expires_at`` (``capabilities.push_renew`` only); the answer
        carries the expiry the provider granted. ``NotFound`` when the provider no longer has
        the channel (it expired or was removed): the caller makes a new one."""
        raise NotImplementedError(f"{type(self).__name__} cannot renew push channels")

    def stop(self, watch: Watch) -> None:
        """Stop the channel: the provider calls no more. Stopping what is already gone (expired,
        stopped before, removed by the provider) succeeds: stops are idempotent."""
        raise NotImplementedError(f"{type(self).__name__} has no push channels")

    def updated_secrets(self) -> dict[str, Any] | None:
        """New credentials to store when the connector refreshed or rotated tokens during its
        life (None otherwise). The caller encrypts and stores them, so the next run needs no
        refresh request and a rotated refresh token is not lost."""
        return None


class Account(abc.ABC):
    """The external account behind a link, before a calendar is chosen (setup time)."""

    @abc.abstractmethod
    def calendars(self) -> list[CalendarRef]:
        """The calendars the credentials can write to."""

    @abc.abstractmethod
    def ensure_calendar(self, name: str) -> CalendarRef:
        """The dedicated calendar called ``name``: created if missing, reused if this account
        already has one of that name (a retried setup makes no second calendar)."""


class LinkLike(Protocol):
    """What a provider needs of a stored link (``calsync.models.CalendarLink``) to build its
    connector; a protocol so that connectors never import the sync core."""

    provider: str
    account: str
    server_url: str
    calendar_id: str
    credentials: str


class Provider(abc.ABC):
    """Provider metadata and factories (STYLE 4: apart from any one tenant's installation)."""

    slug: str
    name: str
    capabilities: Capabilities

    @abc.abstractmethod
    def connector(self, link: LinkLike, *, default_zone: str) -> Connector:
        """The connector for one stored link."""

    @abc.abstractmethod
    def revoke(self, link: LinkLike) -> None:
        """Give up the link's grant at the provider where it supports that; must not raise for
        a grant that is already gone (revoking is idempotent)."""
