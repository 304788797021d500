from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant
from billing.selectors import balance_of
from billing.services import credits_grant


class Command(BaseCommand):
    help = (
        "Grant credits to a practice (PRODUCT 28). With --key the grant is idempotent: running "
        "the same command again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The practice's slug.")
        parser.add_argument("amount", type=int, help="Credits to add (a positive number).")
        parser.add_argument("--reason", required=True, help="Why (shown in the ledger).")
        parser.add_argument(
            "--key", help="An idempotency key, e.g. an invoice number: the grant happens once."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = Tenant.objects.get(slug=options["tenant"])
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"No practice with the slug {options['tenant']!r}.") from exc
        try:
            entry, created = credits_grant(
                tenant=tenant,
                amount=options["amount"],
                reason=options["reason"],
                key=options["key"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if created:
            self.stdout.write(self.style.SUCCESS(f"Granted {entry.amount} credits to {tenant}."))
        else:
            self.stdout.write(f"Already granted with key {options['key']!r}; nothing changed.")
        self.stdout.write(
            f"Balance: {balance_of(tenant)} credits. Lapsed subscriptions resume at the next "
            "renewal run (every 15 minutes)."
        )
