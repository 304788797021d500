"""The sync history's blocks on existing pages (issue 16 §2): the include templates load these,
so the pages' views need no change (templates/agenda/_history.html, templates/calsync/_history.html,
templates/calsync/_message_actions.html)."""

from __future__ import annotations

from typing import Any

from django import template

from agenda.models import Meeting
from calsync import conversion, history
from calsync.models import CalendarLink, SyncChange, SyncMessage

register = template.Library()

FIELD_LABELS = {
    "title": "Title",
    "description": "Description",
    "location": "Location",
    "start": "Start",
    "end": "End",
    "time_zone": "Time zone",
    "all_day": "All day",
    "rule": "Repetition",
    "reminder": "Reminder",
    "attendees": "Attendees",
    "status": "Status",
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
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def sync_value(value: Any) -> str:
    """A snapshot value in a few words: what the engine compared and sent."""
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        every = value.get("interval", 1)
        unit = {"weekly": "week", "monthly": "month", "yearly": "year"}.get(
            str(value.get("frequency")), str(value.get("frequency"))
        )
        period = unit if every == 1 else f"{every} {unit}s"
        return f"every {period} until {value.get('until')}"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"
