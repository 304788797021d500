"""Repetition: the internal model (``recurrence.model``) and its exact translation to and from RFC
5545 recurrence lines (Google, CalDAV) and Microsoft Graph ``patternedRecurrence``, with the flags
and user messages of PRODUCT 19-22. Pure Python: nothing here imports Django.

Reading: ``from_rrule(lines, start)`` and ``from_graph(recurrence, start)`` return a
``Translation`` (``rule``, ``start``, ``flags``, ``messages``, ``suggestions``, ``exceptions``).
Writing: ``to_rrule(rule, start)`` and ``to_graph(rule, start)``. Malformed provider input raises
``RecurrenceParseError``; a rule Outlook cannot express raises ``NotExpressibleError``.
"""

from recurrence._core import FAR_FUTURE
from recurrence.errors import NotExpressibleError, RecurrenceParseError
from recurrence.graph import from_graph, to_graph
from recurrence.instances import (
    ExceptionInstance,
    caldav_exceptions,
    calendar_zone,
    from_vevent,
    google_exception,
    graph_cancelled_occurrences,
    graph_exception,
    graph_missing_occurrences,
    with_exceptions,
)
from recurrence.model import Frequency, Rule, RuleError, Weekday
from recurrence.rfc5545 import from_rrule, to_rrule
from recurrence.translation import (
    Flag,
    Meeting,
    Message,
    Suggestion,
    SuggestionKind,
    Text,
    Translation,
    gettext_noop,
)

__all__ = [
    "FAR_FUTURE",
    "ExceptionInstance",
    "Flag",
    "Frequency",
    "Meeting",
    "Message",
    "NotExpressibleError",
    "RecurrenceParseError",
    "Rule",
    "RuleError",
    "Suggestion",
    "SuggestionKind",
    "Text",
    "Translation",
    "Weekday",
    "caldav_exceptions",
    "calendar_zone",
    "from_graph",
    "from_rrule",
    "from_vevent",
    "gettext_noop",
    "google_exception",
    "graph_cancelled_occurrences",
    "graph_exception",
    "graph_missing_occurrences",
    "to_graph",
    "to_rrule",
    "with_exceptions",
]
