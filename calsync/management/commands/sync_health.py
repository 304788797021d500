from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from calsync import push
from calsync.models import LIVE_CHANNEL_STATES, CalendarLink, LinkState, PushChannel
from calsync.scheduler import sync_paused


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


PERCENTILES = (0.5, 0.9, 0.99)


def lag_percentiles(now: datetime) -> tuple[list[float], float, int, int]:
    """Sync lag of the links that sync (``now - last_success_at``): the seconds at
    ``PERCENTILES``, the maximum, how many links had a success, and how many never had one.
    PostgreSQL computes them in one aggregate (``percentile_cont``), whatever the number of
    links; other databases (the SQLite demo) sort in Python."""
    syncing = CalendarLink.objects.filter(state=LinkState.ACTIVE, billing_paused=False)
    never = syncing.filter(last_success_at__isnull=True).count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY lag), max(lag), "
                "count(*) FROM (SELECT extract(epoch FROM %s - last_success_at)::float8 AS lag "
                "FROM calsync_calendarlink WHERE state = %s AND NOT billing_paused "
                "AND last_success_at IS NOT NULL) AS lags",
                [list(PERCENTILES), now, LinkState.ACTIVE],
            )
            row = cursor.fetchone()
        assert row is not None
        if not row[2]:
            return [], 0.0, 0, never
        return [float(v) for v in row[0]], float(row[1]), int(row[2]), never
    lags = sorted(
        (now - at).total_seconds()
        for at in syncing.values_list("last_success_at", flat=True)
        if at is not None
    )
    if not lags:
        return [], 0.0, 0, never
    # Linear interpolation between the closest ranks, as percentile_cont does.
    values = []
    for share in PERCENTILES:
        rank = share * (len(lags) - 1)
        low = int(rank)
        high = min(low + 1, len(lags) - 1)
        values.append(lags[low] + (lags[high] - lags[low]) * (rank - low))
    return values, lags[-1], len(lags), never


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Command(BaseCommand):
    help = (
        "List the health of every live calendar link: state (with a run's progress), last "
        "success, failures, next run, and its push channel's state and expiry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--problems", action="store_true", help="only links that failed or need a reconnect"
        )

    def handle(self, *args: Any, problems: bool, **options: Any) -> None:
        current = PushChannel.objects.filter(
            link=OuterRef("pk"), state__in=LIVE_CHANNEL_STATES
        ).order_by("-created_at")
        links = (
            CalendarLink.objects.select_related("tenant")
            .annotate(
                push_state=Subquery(current.values("state")[:1]),
                push_until=Subquery(current.values("expires_at")[:1]),
            )
            .order_by("pk")
        )
        if problems:
            links = links.filter(failure_count__gt=0) | links.exclude(state=LinkState.ACTIVE)
        if sync_paused():
            self.stdout.write("ALL SYNC IS PAUSED (manage.py sync_resume)")
        self.stdout.write(
            f"{'link':>6}  {'tenant':<20} {'provider':<9} {'state':<16} "
            f"{'last success':<19}  {'fail':>4}  {'next run':<19}  {'push':<9} "
            f"{'push until':<19}  last error"
        )
        now = timezone.now()
        for link in links:
            state = "billing paused" if link.billing_paused else link.state
            progress = link.progress(now)
            if progress is not None:
                state = f"running {progress['done']}/{progress['total']}"
            elif link.is_running(now):
                state = "running"
            # The current channel's state; "none" where one is missing, "off" when push is
            # off (no CALSYNC_PUBLIC_URL), "-" for providers without push.
            channel = getattr(link, "push_state", None) or (
                ("none" if push.enabled() else "off") if push.supports(link.provider) else "-"
            )
            self.stdout.write(
                f"{link.pk:>6}  {link.tenant.name[:20]:<20} {link.provider:<9} {state:<16} "
                f"{_when(link.last_success_at):<19}  {link.failure_count:>4}  "
                f"{_when(link.next_sync_at):<19}  {channel:<9} "
                f"{_when(getattr(link, 'push_until', None)):<19}  {link.last_error[:60]}"
            )
        # After the table (its first line stays the header): the lag of all syncing links.
        values, most, counted, never = lag_percentiles(timezone.now())
        if counted:
            shown = ", ".join(
                f"p{share * 100:g} {_duration(v)}"
                for share, v in zip(PERCENTILES, values, strict=True)
            )
            self.stdout.write(
                f"Sync lag (time since the last success) of {counted} syncing links: {shown}, "
                f"max {_duration(most)}; never synced: {never}"
            )
        else:
            self.stdout.write(f"Sync lag: no syncing link has synced yet; never synced: {never}")
