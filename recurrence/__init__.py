"""Repetition: the internal model (``recurrence.model``) and, later, its translation to and from
RRULE and Microsoft Graph patterns. Pure Python: nothing here imports Django."""

from recurrence.model import Frequency, Rule, RuleError, Weekday

__all__ = ["Frequency", "Rule", "RuleError", "Weekday"]
