from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from agenda.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_USERS, demo_exists, seed_demo
from billing.services import ledger_purge_tenant


class Command(BaseCommand):
    help = "Create the demo practice (users, resources, clients, meetings around today)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Delete the demo practice first and seed it anew."
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        if reset:
            with transaction.atomic():
                for tenant in Tenant.objects.filter(slug=DEMO_SLUG):
                    # The ledger is append-only; deleting a whole tenant is the one exception.
                    ledger_purge_tenant(tenant=tenant)
                    tenant.delete()
        if demo_exists():
            self.stdout.write("The demo practice exists already (use --reset to recreate it).")
        else:
            seed_demo(today=timezone.localdate())
            self.stdout.write(self.style.SUCCESS("Seeded the demo practice."))
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD!r}):")
        for login in DEMO_USERS:
            self.stdout.write(f"  {login.email:28} {login.role:6} {login.name}")
