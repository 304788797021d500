"""The result of reading a provider's recurrence: the internal rule, the flags and their messages.

Messages are translatable without importing Django. Every user-facing template is a literal wrapped
in ``gettext_noop`` (a name that ``xgettext`` and Django's ``makemessages`` extract by default), and
is kept as a ``Text`` (template plus parameters) so the Django layer can render it later in the
user's language: ``message.render(django.utils.translation.gettext)``. ``str(message)`` is the
rendering with Python's default ``gettext`` catalogue, which is English unless a catalogue is
installed.
"""

from __future__ import annotations

import enum
import gettext as _gettext
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from recurrence.model import Rule


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction into the catalogue; translation happens at render time."""
    return message


class Flag(enum.StrEnum):
    """What a translation could not carry over as it is (PRODUCT 21); each comes with a message."""

    DAILY = "daily"
    SUNDAY_WEEK_START = "sunday_week_start"
    EXCEPTION = "exception"
    NO_END = "no_end"
    UNSUPPORTED = "unsupported"
    EMPTY_RULE = "empty_rule"  # an empty RRULE line: read as no repetition, and said so


@dataclass(frozen=True)
class Text:
    """A translatable template (``%(name)s`` placeholders) with its parameters; a parameter may be a
    ``Text`` itself (for example the description of what is unsupported), rendered the same way."""

    template: str
    params: tuple[tuple[str, str | int | Text], ...] = ()

    @classmethod
    def of(cls, template: str, **params: str | int | Text) -> Text:
        return cls(template, tuple(sorted(params.items())))

    def render(self, gettext: Callable[[str], str] = _gettext.gettext) -> str:
        translated = gettext(self.template)
        if not self.params:
            return translated
        values = {k: v.render(gettext) if isinstance(v, Text) else v for k, v in self.params}
        return translated % values


class Message(str):
    """A user message: a ``str`` (rendered with the default catalogue) that also knows its flag and
    its translatable ``text``, so callers can both print it and render it in another language."""

    flag: Flag
    text: Text

    def __new__(cls, flag: Flag, text: Text) -> Message:
        obj = super().__new__(cls, text.render())
        obj.flag = flag
        obj.text = text
        return obj

    def render(self, gettext: Callable[[str], str]) -> str:
        return self.text.render(gettext)

    def __reduce__(self) -> tuple[type[Message], tuple[Flag, Text]]:
        # A str subclass with extra attributes would otherwise pickle as a plain str.
        return (Message, (self.flag, self.text))


class SuggestionKind(enum.StrEnum):
    WEEKLY = "weekly"  # a daily repetition that a weekly rule reproduces exactly
    SPLIT = "split"  # a week-start problem that two weekly meetings reproduce exactly


@dataclass(frozen=True)
class Meeting:
    """One meeting of a suggestion: its rule and its first occurrence (the meeting's start)."""

    rule: Rule
    start: datetime | date


@dataclass(frozen=True)
class Suggestion:
    """A one-click fix: replace the external series by ``meetings``, which reproduce its dates
    exactly. ``message`` says what the click does."""

    kind: SuggestionKind
    flag: Flag
    meetings: tuple[Meeting, ...]
    message: Message


class OccurrenceFinder(Protocol):
    """The provider's occurrences of a translated series (``recurrence._core.Occurrences``)."""

    @property
    def last(self) -> date:
        """The local date of the provider's last occurrence (or the far-future end)."""
        ...

    def find(self, values: Iterable[datetime | date]) -> list[datetime | date | None]:
        """For each value, the occurrence it names, or None."""
        ...


@dataclass(frozen=True)
class Translation:
    """What ``from_rrule`` / ``from_graph`` read.

    * ``rule``: the internal rule, or None when the series cannot be synced into the internal
      calendar (DAILY, UNSUPPORTED). When set, ``rule.check_start(start)`` holds.
    * ``start``: the first occurrence, in the series' expansion zone (for Graph this may be another
      zone than the start given, when ``recurrenceTimeZone`` names one); a ``date`` for all-day.
      Store the meeting at this start.
    * ``flags`` and ``messages``: one message per flag, in the order flags were raised.
    * ``exceptions``: starts of occurrences the external side removed or moved (EXDATE, or added
      with ``with_exceptions``); the internal series keeps them.
    * ``suggestions``: exact one-click alternatives (weekly for DAILY, a split for
      SUNDAY_WEEK_START).
    * ``occurrences``: the provider's occurrences of a synced series, which ``with_exceptions``
      checks exception starts against (not part of equality).
    """

    rule: Rule | None
    start: datetime | date
    flags: frozenset[Flag] = frozenset()
    messages: tuple[Message, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    exceptions: tuple[datetime | date, ...] = field(default=())
    occurrences: OccurrenceFinder | None = field(default=None, compare=False, repr=False)

    @property
    def exact(self) -> bool:
        """True when the internal rule gives exactly the external dates (nothing flagged but
        NO_END, whose far-future end only matters past that date)."""
        return self.rule is not None and not (self.flags - {Flag.NO_END})

    def message(self, flag: Flag) -> Message | None:
        return next((m for m in self.messages if m.flag is flag), None)

    def with_message(self, message: Message) -> Translation:
        """A copy with ``message`` added, replacing any earlier message of the same flag (one
        message per flag, PRODUCT 22)."""
        kept = tuple(m for m in self.messages if m.flag is not message.flag)
        return replace(self, flags=self.flags | {message.flag}, messages=(*kept, message))
