"""Writes to calendar links that other apps need (billing pauses and resumes sync)."""

from __future__ import annotations

from accounts.models import User
from calsync.models import CalendarLink


def links_set_billing_pause(*, user: User, paused: bool) -> int:
    """Pause (or resume) every live link of ``user`` for billing reasons. Nothing is deleted:
    credentials, cursors and mappings stay, so resuming continues where sync stopped.
    Returns how many links changed."""
    return (
        CalendarLink.objects.filter(user=user)
        .exclude(billing_paused=paused)
        .update(billing_paused=paused)
    )
