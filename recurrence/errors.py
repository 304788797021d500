"""The error types of the translation module.

Connectors catch exactly these: a provider's malformed recurrence raises ``RecurrenceParseError``
(never a bare exception from dateutil or icalendar), and an internal rule that a provider cannot
express raises ``NotExpressibleError``. Both are ``ValueError`` subclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recurrence.translation import Text


class RecurrenceParseError(ValueError):
    """A provider's recurrence is malformed: an RRULE line without FREQ, with both COUNT and UNTIL,
    with an unknown part or an out-of-range value; an EXDATE that is not a date; a Graph
    ``patternedRecurrence`` with a missing or unknown field; a naive start.

    The message is for logs and support, not for the user: the sync skips that one event and tells
    the user the event could not be read.
    """


class NotExpressibleError(ValueError):
    """An internal rule that the provider cannot express exactly (for example "the fifth Tuesday"
    in Outlook, which has no "fifth"). Nothing approximate is written.

    ``str(error)`` is a user message (already translated with the default catalogue); ``text``
    holds the translatable form for rendering in the user's language.
    """

    def __init__(self, message: str, text: Text | None = None) -> None:
        super().__init__(message)
        self.text = text
