"""``EventData``: the one normalised shape every provider payload is translated into at the edge
(ARCHITECTURE.md). The engine only ever sees this, mapping rows and agenda meetings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from recurrence import Flag, Rule, Suggestion, Text

# The fields of an event that sync owns, named as in the engine's snapshots. An update names the
# ones it changes (``Connector.update(fields=...)``); a connector writes exactly those and keeps
# everything else the provider's copy holds.
EVENT_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "location",
    "start",
    "end",
    "time_zone",
    "all_day",
    "rule",
    "reminder",
    "attendees",
    "status",
)
ALL_FIELDS = frozenset(EVENT_FIELDS)
# Written together: naming any of them writes all four (a provider stores them as one value).
TIME_FIELDS = frozenset({"start", "end", "time_zone", "all_day"})


class EventStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    # "needs-action", "accepted", "declined", "tentative": the provider's answer, lower-cased.
    response: str = "needs-action"


@dataclass(frozen=True)
class EventData:
    """One external event or series, normalised.

    Times: ``start``/``end`` are aware datetimes in ``time_zone`` for timed events; for all-day
    events they are local midnights in ``time_zone`` with ``end`` exclusive (the iCalendar DATE
    convention, as in ``agenda``). ``rule`` is the internal repetition (None for single events or
    when the provider's rule cannot be held: then ``flags`` says why).
    """

    uid: str
    title: str
    start: datetime
    end: datetime
    time_zone: str
    all_day: bool = False
    description: str = ""
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    # Minutes before the start; None for no reminder.
    reminder_minutes: int | None = None
    status: EventStatus = EventStatus.CONFIRMED
    # False when the linked account only attends (someone else organises it, PRODUCT 16).
    is_organizer: bool = True
    rule: Rule | None = None
    flags: frozenset[Flag] = frozenset()
    # What the user is told about the repetition: ``recurrence.Message``s, each with its flag.
    messages: tuple[str, ...] = ()
    # The exact one-click alternatives ``recurrence`` offers for a flagged series (a weekly rule
    # for a daily one, a split for a Sunday week start): what the conversion button applies.
    suggestions: tuple[Suggestion, ...] = field(default=(), compare=False)
    # Our meeting id when the event is one of our copies (recovers a lost mapping).
    meeting_id: int | None = None
    # With it, the change number of the meeting's version the copy was written from: a copy
    # whose mapping was lost (a crash between the provider's write and our commit) and whose
    # meeting is still at that version differs from it only by what was changed outside.
    meeting_version: int | None = None
    # Occurrence starts removed or moved on the provider (EXDATE, cancelled or moved instances).
    exceptions: tuple[datetime | date, ...] = field(default=())
    # When the provider last changed it (for "the most recently modified side wins", PRODUCT 17).
    updated: datetime | None = None


@dataclass(frozen=True)
class RemoteItem:
    """An event as a connector lists it: its provider id, its etag, and its content (None when the
    provider reports it deleted, or when it could not be read: then ``problem`` says why, and
    the item is skipped with a message instead of being taken for a deletion)."""

    external_id: str
    etag: str
    event: EventData | None
    problem: str = ""
    # The problem in translatable form (``recurrence.Text``) when the error had one; the message
    # about the item is then shown in its reader's language.
    problem_text: Text | None = None

    @property
    def deleted(self) -> bool:
        return self.event is None and not self.problem


def unreadable(external_id: str, etag: str, error: Exception) -> RemoteItem:
    """The listing's entry for an item whose content is malformed (QUALITY: bad input from a
    provider skips that one event with a message; the rest of the run goes on)."""
    words = getattr(error, "text", None)
    return RemoteItem(
        external_id,
        etag,
        None,
        problem=str(error),
        problem_text=words if isinstance(words, Text) else None,
    )
