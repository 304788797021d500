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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from calsync.models import CalendarLink, LinkState, RunStatus, SyncMessage, SyncRun

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
        words = _("just now")
    elif seconds < 3600:
        n = _minutes(seconds)
        words = ngettext("%(n)s min ago", "%(n)s min ago", n) % {"n": n}
    elif seconds < 86400:
        n = round(seconds / 3600)
        words = ngettext("%(n)s h ago", "%(n)s h ago", n) % {"n": n}
    else:
        words = _("on %(when)s") % {"when": exact(moment)}
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment), words
    )


def ahead(moment: datetime | None, now: datetime) -> SafeString:
    """ "next in about 3 min" (the scheduler adds jitter, so "about")."""
    if moment is None or moment <= now:
        return format_html("{}", _("next in a moment"))
    seconds = (moment - now).total_seconds()
    if seconds < 3600:
        n = _minutes(seconds)
        words = ngettext("next in about %(n)s min", "next in about %(n)s min", n) % {"n": n}
    else:
        words = _("next at %(time)s") % {
            "time": date_format(timezone.localtime(moment), "TIME_FORMAT")
        }
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


def _stop_reason(link: CalendarLink, error: str) -> str:
    """Why a run stopped, in the reader's language: the run keeps the English words, the
    message it wrote about the stop (the same words) keeps their source."""
    message = (
        SyncMessage.objects.filter(link=link, code="mass_delete", text=error)
        .exclude(source=None)
        .order_by("-created_at")
        .first()
    )
    return message.rendered() if message is not None else error


def status_line(
    link: CalendarLink, now: datetime, *, last_run: SyncRun | None, queued: bool
) -> StatusLine:
    """What is true of ``link`` now, in one sentence. ``last_run``: its latest recorded run
    (runs that changed nothing leave no row, so "synced" comes from ``last_success_at``)."""
    provider = link.provider_label
    if link.state == LinkState.NEEDS_RECONNECT:
        return StatusLine(
            format_html(
                _(
                    "Needs reconnecting: {provider} ({account}) no longer accepts CalSync's "
                    "access, so nothing synchronises. Reconnect to continue where it stopped."
                ),
                provider=provider,
                account=link.account,
            ),
            "error",
            RECONNECT,
        )
    if link.state == LinkState.REVOKED:
        return StatusLine(
            format_html("{}", _("Revoked: this calendar no longer syncs.")), "warning"
        )
    if link.billing_paused:
        return StatusLine(
            format_html(
                "{}",
                _(
                    "Paused: calendar synchronisation is not paid for at the moment. Nothing "
                    "was deleted; your administrator can renew it on Settings > Integrations."
                ),
            ),
            "warning",
        )
    first = not link.cursor
    progress = link.progress(now)
    # The English says "meetings" for any total, as it always did; the plural forms are there
    # for languages whose words change with the count.
    if progress:
        total = progress["total"]
        template = (
            ngettext(
                "First synchronisation: {done} of {total} meetings…",
                "First synchronisation: {done} of {total} meetings…",
                total,
            )
            if first
            else ngettext(
                "Synchronising: {done} of {total} meetings…",
                "Synchronising: {done} of {total} meetings…",
                total,
            )
        )
        return StatusLine(
            format_html(template, done=count(progress["done"]), total=count(total)), "busy"
        )
    if link.is_running(now):
        words = (
            _("First synchronisation: reading both calendars…")
            if first
            else _("Synchronising: reading both calendars…")
        )
        return StatusLine(format_html("{}", words), "busy")
    if queued:
        words = (
            _("First synchronisation: waiting for a worker…")
            if first
            else _("Synchronising: waiting for a worker…")
        )
        return StatusLine(format_html("{}", words), "busy")
    if (
        last_run is not None
        and last_run.status == RunStatus.STOPPED
        and not link.allow_mass_delete
        and (link.last_success_at is None or link.last_success_at < last_run.started_at)
    ):
        return StatusLine(
            format_html(
                _("Stopped, waiting for your decision: {reason}"),
                reason=_stop_reason(link, last_run.error),
            ),
            "error",
            ALLOW_DELETIONS,
        )
    if link.failure_count:
        n = link.failure_count
        return StatusLine(
            format_html(
                ngettext(
                    "The last attempt failed: {error} CalSync tries again by itself ({when}), "
                    "or press Synchronise.",
                    "The last {count} attempts failed: {error} CalSync tries again by itself "
                    "({when}), or press Synchronise.",
                    n,
                ),
                count=n,
                error=link.last_error.rstrip(".") + ".",
                when=ahead(link.next_sync_at, now),
            ),
            "error",
        )
    if link.last_success_at is None:
        return StatusLine(
            format_html("{}", _("The first synchronisation starts in a moment.")), "busy"
        )
    # The words outside the <time> elements on their own: each text of the page a whole
    # translation ("Up to date · synced 2 min ago · next in about 3 min").
    return StatusLine(
        format_html(
            "{} {} · {}",
            _("Up to date · synced"),
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
    when = format_html(
        '<time datetime="{}">{}</time>', run.started_at.isoformat(), exact(run.started_at)
    )
    if not run.conflicts:
        return format_html(_("Last changes, {when}: {summary}"), when=when, summary=run.summary())
    n = len(run.conflicts)
    return format_html(
        _("Last changes, {when}: {summary} {conflicts}"),
        when=when,
        summary=run.summary(),
        conflicts=ngettext("%(n)s conflict merged.", "%(n)s conflicts merged.", n) % {"n": n},
    )
