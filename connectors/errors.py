"""The whole error vocabulary the engine branches on (ARCHITECTURE.md, STYLE 8).

Connectors translate every provider and library failure into one of these at the edge; nothing
above them looks at HTTP status codes or library exception types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recurrence.translation import gettext_noop

if TYPE_CHECKING:
    from recurrence import Text

# What a connector was doing when one item failed: the start of the reason a sync message gives
# ("Creating an event: the CalDAV server refused this event ..."), translated when it is read.
READING = gettext_noop("Reading an event")
READING_SERIES = gettext_noop("Reading a repeating event")
CREATING = gettext_noop("Creating an event")
UPDATING = gettext_noop("Updating an event")
DELETING = gettext_noop("Deleting an event")


class ConnectorError(Exception):
    """Base of every connector error. ``str(error)`` is safe to show and to log: connectors never
    put credentials into messages.

    ``text``: the message in translatable form (a ``recurrence.Text`` whose template is marked
    with ``gettext_noop``), when the error is one a user reads later in a sync message; the
    engine stores it so the message shows in its reader's language (issue 18 §11)."""

    text: Text | None = None

    def __init__(self, message: str = "", *args: object, text: Text | None = None) -> None:
        super().__init__(message, *args)
        if text is not None:
            self.text = text


class AuthRevoked(ConnectorError):
    """The grant was revoked or the password changed: the user must reconnect."""


class RateLimited(ConnectorError):
    """The provider asked us to slow down; retry after ``retry_after`` seconds (None: unknown)."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, text: Text | None = None
    ) -> None:
        super().__init__(message, text=text)
        self.retry_after = retry_after


class OverQuota(RateLimited):
    """Our own quota governor (``connectors/quota.py``) holds this request back: the link's or
    the provider project's budget is spent for ``retry_after`` seconds. Nothing went wrong, so
    the run is rescheduled for then, not failed (no failure count, no back-off, no message).
    A ``RateLimited``, so code that only knows that type still waits."""


class Unavailable(ConnectorError):
    """The provider is down, timed out or answered 5xx: retry later with back-off."""


class EtagMismatch(ConnectorError):
    """A conditional write lost: the item changed on the provider since we read it."""


class NotFound(ConnectorError):
    """The item (or calendar) does not exist, or no longer does."""


class CursorExpired(ConnectorError):
    """The incremental cursor is no longer valid: do a full listing and diff against mappings."""


class InvalidData(ConnectorError):
    """The provider sent something we cannot understand, or refused what we sent as invalid.

    ``item_id`` names the one item concerned, so a run can skip it and go on."""

    def __init__(
        self, message: str, item_id: str | None = None, *, text: Text | None = None
    ) -> None:
        super().__init__(message, text=text)
        self.item_id = item_id


class SetupError(ConnectorError):
    """Linking failed for a reason the user can fix (wrong password, not a CalDAV server, an
    address refused as private). The message says what to do."""
