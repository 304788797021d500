from __future__ import annotations

from django import template
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from agenda.models import Occurrence

register = template.Library()


@register.filter
def category(occurrence: Occurrence) -> str:
    """The week view tells three kinds apart: client appointments, meetings, personal."""
    meeting = occurrence.meeting
    if meeting.kind == "personal":
        return "personal"
    if meeting.client_id is not None:
        return "client"
    return "meeting"


CATEGORY_LABELS: dict[str, Promise] = {
    "client": _("Client appointment"),
    "meeting": _("Meeting"),
    "personal": _("Personal"),
}


@register.filter
def category_label(occurrence: Occurrence) -> str:
    """The category in words (the legend's), for those who cannot tell the colours apart, in the
    reader's language."""
    return str(CATEGORY_LABELS[category(occurrence)])
