from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calsync.engine.run import run_link
from calsync.models import CalendarLink
from calsync.scheduler import after_run


class Command(BaseCommand):
    help = (
        "Sync one calendar link now, in this process, as a worker would (back-off and the "
        "reconnect notice included); --queue sends it to the interactive queue instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("link_id", type=int)
        parser.add_argument("--queue", action="store_true", help="enqueue instead of running")

    def handle(self, *args: Any, link_id: int, queue: bool, **options: Any) -> None:
        if not CalendarLink.objects.filter(pk=link_id).exists():
            raise CommandError(f"No live link {link_id}.")
        if queue:
            from calsync.tasks import sync_link

            sync_link.apply_async((link_id,), queue="interactive")
            self.stdout.write(f"link {link_id}: queued")
            return
        outcome = run_link(link_id)
        after_run(link_id, outcome)
        counts = ", ".join(f"{k} {v}" for k, v in sorted((outcome.counts or {}).items()))
        self.stdout.write(
            f"link {link_id}: {outcome.status}. {counts or 'nothing to do'}"
            f"{'. ' + outcome.detail if outcome.detail else ''}"
        )
