"""One truthful status line per link, for the CalendarSync page and its script alike.

The page renders it and ``sync_status`` (the Synchronize button's polling) returns the same
HTML, so what the page says after a run is what it says after a reload: "Up to date · synced
2 min ago · next in about 3 min", "First synchronisation: 120 of 1,000 meetings…", or what is
wrong together with the one action that fixes it (``action``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from calsync.models import CalendarLink, LinkState, RunStatus, SyncRun

# Actions the page offers next to the line (the Synchronize button is there whenever the link
# syncs; these are the ones a problem needs).
RECONNECT = "reconnect"
ALLOW_DELETIONS = "allow_deletions"


def exact(moment: datetime) -> str:
    """A moment as people read it, in the active zone and language: "1 Dec 2026, 21:47"
    (the locale's SHORT_DATETIME_FORMAT, calsync/formats/)."""
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def ago(moment: datetime, now: datetime) -> SafeString:
    """ "2 min ago" with the exact time on hover (and for screen readers, as ``datetime``)."""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        words = "just now"
    elif seconds < 3600:
        words = f"{_minutes(seconds)} min ago"
    elif seconds < 86400:
        words = f"{round(seconds / 3600)} h ago"
    else:
        words = f"on {exact(moment)}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment), words
    )


def ahead(moment: datetime | None, now: datetime) -> SafeString:
    """ "next in about 3 min" (the scheduler adds jitter, so "about")."""
    if moment is None or moment <= now:
        return format_html("{}", "next in a moment")
    seconds = (moment - now).total_seconds()
    if seconds < 3600:
        words = f"next in about {_minutes(seconds)} min"
    else:
        words = f"next at {date_format(timezone.localtime(moment), 'TIME_FORMAT')}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment), words
    )


def count(n: int) -> str:
    """1,000 (grouped as the active locale groups)."""
    return number_format(n, force_grouping=True)


@dataclass(frozen=True)
class StatusLine:
    html: SafeString
    # "ok", "busy", "warning" or "error": the line's colour, never its only sign (the words say it).
    tone: str
    # RECONNECT, ALLOW_DELETIONS or "" (nothing to fix).
    action: str = ""


def status_line(
    link: CalendarLink, now: datetime, *, last_run: SyncRun | None, queued: bool
) -> StatusLine:
    """What is true of ``link`` now, in one sentence. ``last_run``: its latest recorded run
    (runs that changed nothing leave no row, so "synced" comes from ``last_success_at``)."""
    provider = link.provider_label
    if link.state == LinkState.NEEDS_RECONNECT:
        return StatusLine(
            format_html(
                "Needs reconnecting: {} ({}) no longer accepts CalSync's access, so nothing "
                "synchronises. Reconnect to continue where it stopped.",
                provider,
                link.account,
            ),
            "error",
            RECONNECT,
        )
    if link.state == LinkState.REVOKED:
        return StatusLine(format_html("{}", "Revoked: this calendar no longer syncs."), "warning")
    if link.billing_paused:
        return StatusLine(
            format_html(
                "{}",
                "Paused: calendar synchronisation is not paid for at the moment. Nothing was "
                "deleted; your administrator can renew it on Settings > Integrations.",
            ),
            "warning",
        )
    first = not link.cursor
    label = "First synchronisation" if first else "Synchronising"
    progress = link.progress(now)
    if progress:
        return StatusLine(
            format_html(
                "{}: {} of {} meetings…", label, count(progress["done"]), count(progress["total"])
            ),
            "busy",
        )
    if link.is_running(now):
        return StatusLine(format_html("{}: reading both calendars…", label), "busy")
    if queued:
        return StatusLine(format_html("{}: waiting for a worker…", label), "busy")
    if (
        last_run is not None
        and last_run.status == RunStatus.STOPPED
        and not link.allow_mass_delete
        and (link.last_success_at is None or link.last_success_at < last_run.started_at)
    ):
        return StatusLine(
            format_html("Stopped, waiting for your decision: {}", last_run.error),
            "error",
            ALLOW_DELETIONS,
        )
    if link.failure_count:
        attempts = (
            "The last attempt"
            if link.failure_count == 1
            else f"The last {link.failure_count} attempts"
        )
        return StatusLine(
            format_html(
                "{} failed: {} CalSync tries again by itself ({}), or press Synchronise.",
                attempts,
                link.last_error.rstrip(".") + ".",
                ahead(link.next_sync_at, now),
            ),
            "error",
        )
    if link.last_success_at is None:
        return StatusLine(
            format_html("{}", "The first synchronisation starts in a moment."), "busy"
        )
    return StatusLine(
        format_html(
            "Up to date · synced {} · {}",
            ago(link.last_success_at, now),
            ahead(link.next_sync_at, now),
        ),
        "ok",
    )


def last_changes(run: SyncRun | None) -> SafeString:
    """The latest run that changed something, with its time: a Synchronize that finds nothing
    to do leaves this line as it was, and the status line says "synced just now"."""
    if run is None or run.status != RunStatus.OK or not (run.counts or run.conflicts):
        return SafeString("")
    merged = ""
    if run.conflicts:
        n = len(run.conflicts)
        merged = f" {n} conflict{'s' if n != 1 else ''} merged."
    return format_html(
        "Last changes, {}: {}{}",
        format_html(
            '<time datetime="{}">{}</time>', run.started_at.isoformat(), exact(run.started_at)
        ),
        run.summary(),
        merged,
    )
