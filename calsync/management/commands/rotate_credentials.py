"""Re-encrypt every stored credential with the newest key (step 2 of the rotation described in
connectors/credentials.py). Safe to run twice, and while the application runs: each row is
rewritten only if it still holds the token that was read."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from calsync.models import CalendarLink
from connectors import credentials


class Command(BaseCommand):
    help = "Re-encrypt stored calendar credentials with the first key in CALSYNC_CREDENTIAL_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = failed = 0
        rows = CalendarLink.all_objects.exclude(credentials="").values_list("pk", "credentials")
        for pk, token in rows.iterator():
            try:
                new = credentials.rotate(token)
            except credentials.CredentialError:
                failed += 1
                self.stderr.write(f"link {pk}: no configured key decrypts its credentials")
                continue
            # Compare-and-set: a concurrent refresh that stored a new token wins.
            rotated += CalendarLink.all_objects.filter(pk=pk, credentials=token).update(
                credentials=new
            )
        self.stdout.write(f"Re-encrypted {rotated} credential(s); {failed} could not be read.")
