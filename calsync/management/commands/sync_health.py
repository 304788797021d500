from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from calsync import push
from calsync.models import LIVE_CHANNEL_STATES, CalendarLink, LinkState, PushChannel
from calsync.scheduler import sync_paused


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


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
