from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calsync.engine.run import run_link
from calsync.models import CalendarLink


class Command(BaseCommand):
    help = "Run one sync of one calendar link now and print what it did."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("link_id", type=int)

    def handle(self, *args: Any, link_id: int, **options: Any) -> None:
        if not CalendarLink.objects.filter(pk=link_id).exists():
            raise CommandError(f"No live link {link_id}.")
        outcome = run_link(link_id)
        counts = ", ".join(f"{k} {v}" for k, v in sorted((outcome.counts or {}).items()))
        self.stdout.write(
            f"link {link_id}: {outcome.status}. {counts or 'nothing to do'}"
            f"{'. ' + outcome.detail if outcome.detail else ''}"
        )
