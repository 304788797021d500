from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from calsync.scheduler import set_sync_paused


class Command(BaseCommand):
    help = "Resume all sync after manage.py sync_pause; links that fell due run at the next beat."

    def handle(self, *args: Any, **options: Any) -> None:
        set_sync_paused(False)
        self.stdout.write("All sync resumed.")
