"""System checks of the agenda's settings (``manage.py check`` runs them at every start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from agenda import limits


@register()
def no_end_date_in_range(**kwargs: Any) -> list[CheckMessage]:
    """The end given to series without one must be a date the calendar accepts, or every such
    series imported from a provider would be refused."""
    value = settings.CALSYNC_NO_END_DATE
    if limits.date_in_range(value):
        return []
    return [
        Error(
            f"CALSYNC_NO_END_DATE is {value.isoformat()}, outside the calendar's dates "
            f"({limits.EARLIEST_DATE.isoformat()} to {limits.LATEST_DATE.isoformat()}).",
            hint="Choose a date inside that range (agenda/limits.py says why it is what it is).",
            id="agenda.E001",
        )
    ]
