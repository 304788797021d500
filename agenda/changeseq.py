"""The agenda's change sequence: a monotonic number stamped on every meeting write.

Sync keeps, per link, the highest number it has pushed and asks for meetings with a higher one
(``agenda.selectors.meetings_changed_since``): one index range scan, tombstones included.

PostgreSQL: a real sequence (``agenda_change_seq``, created by migration 0002), so concurrent
writers never wait on each other. Other databases (SQLite, the embedded default): a one-row
counter incremented inside the writing transaction; SQLite serialises writers anyway.

Caveat for the sync engine: a sequence value is taken when a transaction writes, but becomes
visible when it commits, so a smaller number can appear after a larger one was read. A reader must
not move its watermark past numbers of transactions still in flight (for example by only
advancing to values older than the oldest running transaction, ``pg_snapshot_xmin``, or by
re-reading a short overlap). The engine issue owns that rule; this module only hands out numbers.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

SEQUENCE_NAME = "agenda_change_seq"


def next_change_seq() -> int:
    """A new, never reused, increasing change number. Call inside the writing transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [SEQUENCE_NAME])
            row = cursor.fetchone()
        assert row is not None
        return int(row[0])
    return _next_from_counter()


def _next_from_counter() -> int:
    from agenda.models import ChangeCounter

    with transaction.atomic():
        updated = ChangeCounter.objects.filter(pk=1).update(value=F("value") + 1)
        if not updated:
            ChangeCounter.objects.create(pk=1, value=1)
        return ChangeCounter.objects.values_list("value", flat=True).get(pk=1)
