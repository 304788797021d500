from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from calsync import push
from calsync.models import LIVE_CHANNEL_STATES, CalendarLink, ChannelState, PushChannel


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


class Command(BaseCommand):
    help = (
        "Push channels (Google watch channels, Graph subscriptions) of one link or all: list "
        "them, --renew them (Graph extends in place; Google gets an overlapping new channel), or "
        "--recreate them (a new channel, then the old one stopped). A link that syncs and has no "
        "channel gets one with either action. Runs here, calling the providers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("link_ids", nargs="*", type=int, help="links (default: all)")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--renew", action="store_true", help="renew before expiry")
        action.add_argument("--recreate", action="store_true", help="replace with a new one")

    def handle(
        self, *args: Any, link_ids: list[int], renew: bool, recreate: bool, **options: Any
    ) -> None:
        links: QuerySet[CalendarLink] = CalendarLink.objects.order_by("pk")
        if link_ids:
            links = links.filter(pk__in=link_ids)
            missing = set(link_ids) - set(links.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No live link {', '.join(map(str, sorted(missing)))}.")
        if not push.enabled():
            self.stdout.write("Push is off: CALSYNC_PUBLIC_URL is not set.")
            if renew or recreate:
                raise CommandError("Set CALSYNC_PUBLIC_URL to make or renew channels.")
        if renew or recreate:
            for link in links:
                self.stdout.write(self._act(link, recreate=recreate))
            return
        self._list(links)

    def _act(self, link: CalendarLink, *, recreate: bool) -> str:
        if not push.supports(link.provider):
            return f"link {link.pk}: {link.provider} has no push; it polls"
        if not link.syncs:
            return f"link {link.pk}: not syncing ({link.display_state}); nothing done"
        current = PushChannel.objects.filter(link=link, state=ChannelState.ACTIVE).first()
        if current is None:
            channel = push.channel_open(link_id=link.pk)
        elif recreate:
            channel = push.channel_replace(current.pk, reason="recreated by an operator")
        else:
            channel = push.channel_renew(current.pk)
        if channel is None:
            return f"link {link.pk}: nothing done (a channel is being made)"
        if channel.state != ChannelState.ACTIVE:
            return f"link {link.pk}: {channel.state}: {channel.last_error or 'see the logs'}"
        return f"link {link.pk}: channel {channel.key[:8]} active until {_when(channel.expires_at)}"

    def _list(self, links: QuerySet[CalendarLink]) -> None:
        now = timezone.now()
        self.stdout.write(
            f"{'link':>6}  {'provider':<9} {'channel':<8}  {'state':<9} {'expires':<19}  "
            f"{'last notification':<19}  {'count':>5}  error"
        )
        channels = (
            PushChannel.objects.filter(link__in=links)
            .filter(state__in=[*LIVE_CHANNEL_STATES, ChannelState.STOPPING])
            .select_related("link")
            .order_by("link_id", "-created_at")
        )
        shown: set[int] = set()
        for channel in channels:
            shown.add(channel.link_id)
            state = "suspect" if channel.suspect_since else channel.state
            if channel.expires_at is not None and channel.expires_at <= now:
                state = "expired"
            self.stdout.write(
                f"{channel.link_id:>6}  {channel.link.provider:<9} {channel.key[:8]:<8}  "
                f"{state:<9} {_when(channel.expires_at):<19}  "
                f"{_when(channel.last_notification_at):<19}  {channel.notifications:>5}  "
                f"{channel.last_error[:60]}"
            )
        for link in links:
            if link.pk not in shown and push.supports(link.provider):
                self.stdout.write(f"{link.pk:>6}  {link.provider:<9} {'-':<8}  none")
