"""The sync history's blocks on existing pages (issue 16 §2): the include templates load these,
so the pages' views need no change (templates/agenda/_history.html, templates/calsync/_history.html,
templates/calsync/_message_actions.html)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from agenda.models import Meeting
from calsync import conversion, history
from calsync.models import CalendarLink, SyncChange, SyncMessage

register = template.Library()

FIELD_LABELS = {
    "title": _("Title"),
    "description": _("Description"),
    "location": _("Location"),
    "start": _("Start"),
    "end": _("End"),
    "time_zone": _("Time zone"),
    "all_day": _("All day"),
    "rule": _("Repetition"),
    "reminder": _("Reminder"),
    "attendees": _("Attendees"),
    "status": _("Status"),
}


@register.simple_tag
def meeting_sync_history(meeting: Meeting) -> list[SyncChange]:
    return history.meeting_history(meeting)


@register.simple_tag
def link_review(link: CalendarLink) -> dict[str, Any]:
    """What the CalendarSync page offers per link: conflicts to review, meetings sync deleted
    (to restore), and the last run's changes (to undo at once)."""
    run, undoable = history.last_run_changes(link)
    return {
        "conflicts": list(history.open_conflicts(link)[:20]),
        "deletions": history.sync_deletions(link),
        "last_run": run,
        "undoable": len(undoable),
    }


@register.filter
def offers_conversion(message: SyncMessage) -> bool:
    return conversion.offers_conversion(message)


@register.filter
def field_label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name.replace("_", " ").capitalize()))


@register.filter
def sync_value(value: Any) -> str:
    """A snapshot value in a few words: what the engine compared and sent."""
    if value is None or value == "" or value == []:
        return gettext("(none)")
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return _repetition(value)
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _repetition(value: dict[str, Any]) -> str:
    every = value.get("interval", 1)
    frequency = str(value.get("frequency"))
    words = {"n": every, "until": value.get("until")}
    if frequency == "weekly":
        return (
            ngettext("every week until %(until)s", "every %(n)s weeks until %(until)s", every)
            % words
        )
    if frequency == "monthly":
        return (
            ngettext("every month until %(until)s", "every %(n)s months until %(until)s", every)
            % words
        )
    if frequency == "yearly":
        return (
            ngettext("every year until %(until)s", "every %(n)s years until %(until)s", every)
            % words
        )
    period = frequency if every == 1 else f"{every} {frequency}s"
    return f"every {period} until {value.get('until')}"
