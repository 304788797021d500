"""The agenda's change sequence: a monotonic number stamped on every meeting write.

Sync keeps, per link, the highest number it has pushed and asks for meetings with a higher one
(``agenda.selectors.meetings_changed_since``): one index range scan, tombstones included.

PostgreSQL: a real sequence (``agenda_change_seq``, created by migration 0002), so concurrent
writers never wait on each other. Other databases (SQLite, the embedded default): a one-row
counter incremented inside the writing transaction; SQLite serialises writers anyway.

A sequence value is taken when a transaction writes but becomes visible when it commits, so a
smaller number can appear after a larger one was read, and a reader that moved its watermark past
it would never push that change. ``committed_high_water`` closes that gap: writers hold a shared
transaction-level advisory lock from the moment they take a number until they commit; the reader
takes the same lock exclusively for an instant, so every number handed out before that instant
belongs to a finished transaction. Readers sync up to that number and no further.

The lock is per owner (a two-key advisory lock: ``WRITERS_LOCK`` and the owner's key), because a
link syncs one owner's meetings and its watermark only has to be right for them: numbers other
owners' transactions hold open may stay uncommitted below it, they are never this link's. With
one lock for everyone, one tenant's long write held every other tenant's poll at the exclusive
lock and, queued behind that poll, every other tenant's save (issue 17: 2 s and 1.7 s). A run
first asks, without any lock, whether its owner has a visible change past its watermark (one
probe of the ``meeting_owner_seq`` index, folded into the lease statement: calsync/engine/run.py)
and takes the owner's lock only then.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

SEQUENCE_NAME = "agenda_change_seq"
# First key of the two-key pg_advisory_xact_lock held by an owner's writers (shared mode) and
# that owner's high-water reader (exclusive); the second key is ``owner_lock_key(owner_id)``.
WRITERS_LOCK = 0x43534551  # "CSEQ"


def owner_lock_key(owner_id: int) -> int:
    """The owner's second advisory-lock key (an int4). Two owners that share a key only wait for
    each other now and then; correctness needs only that one owner always maps to one key."""
    return owner_id % 2_147_483_647


def next_change_seq(owner_id: int) -> int:
    """A new, never reused, increasing change number for a meeting of ``owner_id``. Call inside
    the writing transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock_shared(%s, %s)",
                [WRITERS_LOCK, owner_lock_key(owner_id)],
            )
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


def committed_high_water(owner_id: int) -> int:
    """A change number such that every meeting of ``owner_id`` with a number at or below it is
    visible to a query made after this call (its transaction finished). Waits only for that
    owner's open writes. Must not be called inside a transaction that itself wrote meetings of
    the owner (it would wait for itself)."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [WRITERS_LOCK, owner_lock_key(owner_id)]
            )
            cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE_NAME}")  # noqa: S608
            row = cursor.fetchone()
        assert row is not None
        return int(row[0]) if row[1] else 0
    from agenda.models import ChangeCounter

    # SQLite serialises writers: whatever is visible is committed.
    return ChangeCounter.objects.values_list("value", flat=True).filter(pk=1).first() or 0


def peek_change_seq() -> int:
    """The last number handed out, committed or not (no lock). Cheap: a run compares it with its
    watermark to learn that nothing was written since."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE_NAME}")  # noqa: S608
            row = cursor.fetchone()
        assert row is not None
        return int(row[0]) if row[1] else 0
    from agenda.models import ChangeCounter

    return ChangeCounter.objects.values_list("value", flat=True).filter(pk=1).first() or 0
