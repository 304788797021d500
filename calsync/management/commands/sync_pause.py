from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from calsync.scheduler import set_sync_paused


class Command(BaseCommand):
    help = (
        "Pause all sync: the dispatcher claims no link and queued runs return without syncing, "
        "until manage.py sync_resume."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        set_sync_paused(True)
        self.stdout.write("All sync paused.")
