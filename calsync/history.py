"""The per-meeting sync history and what the user can do with it (issue 16 §2, PRODUCT 38).

The engine's executor calls ``record_change`` inside the transaction of each change it applies
(one INSERT per applied meeting write, nothing for a quiet run). The pages read the history with
``meeting_history`` and ``open_conflicts``; the user's answers go through the services below,
which change meetings only through ``agenda.services`` so that every undo takes a new change
number and syncs out like any other edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from agenda.models import Meeting
from agenda.services import meeting_restore, meeting_update
from calsync.engine import plan as p
from calsync.engine.fields import (
    SYNCED_FIELDS,
    Directory,
    Snapshot,
    meeting_data_from_snapshot,
    resource_names,
    snapshot_of_meeting,
)
from calsync.models import (
    CalendarLink,
    ChangeDirection,
    ChangeReason,
    ConflictState,
    SyncChange,
    SyncRun,
)
from connectors.events import TIME_FIELDS

# -- recording (called by calsync/engine/run.py) -----------------------------------------------


def diff(old: Snapshot | None, new: Snapshot | None) -> dict[str, list[Any]]:
    """The synced fields whose value differs, as ``{name: [old, new]}``. A field empty on both
    sides (a create's or a deletion's missing side) is left out: the record stays compact."""
    old, new = old or {}, new or {}
    changed: dict[str, list[Any]] = {}
    for name in SYNCED_FIELDS:
        before, after = old.get(name), new.get(name)
        if before != after and (before not in (None, "", []) or after not in (None, "", [])):
            changed[name] = [before, after]
    return changed


def reason_for(action: p.Action, conflicts: list[p.Conflict], flagged: bool) -> str:
    """Why the action was taken, in the history's words. ``flagged``: the outside series came
    with a recurrence message (PRODUCT 21), which is then the reason to point the user at."""
    if isinstance(action, p.DeleteHere | p.DeleteThere):
        return ChangeReason.DELETION
    if action.reason.startswith("merged"):
        return ChangeReason.CONFLICT if conflicts else ChangeReason.MERGE
    if "recovered" in action.reason or "linked again" in action.reason:
        return ChangeReason.RECOVERED
    if isinstance(action, p.CreateHere | p.UpdateHere):
        return ChangeReason.RECURRENCE if flagged else ChangeReason.OUTSIDE_EDIT
    return ChangeReason.EDIT_HERE


def change_row(
    *,
    link: CalendarLink,
    meeting_id: int,
    action: p.Action,
    old: Snapshot | None,
    new: Snapshot | None,
    conflicts: list[p.Conflict],
    flagged: bool = False,
) -> SyncChange | None:
    """The history row of one applied action, not saved yet (``record_change`` saves one,
    ``record_changes`` a batch's in one INSERT). An update that changed no synced field has
    none."""
    if isinstance(action, p.CreateHere | p.CreateThere):
        verb = "created"
    elif isinstance(action, p.DeleteHere | p.DeleteThere):
        verb = "deleted"
    else:
        verb = "updated"
    fields = diff(old, new)
    if verb == "updated" and not fields:
        return None
    here = isinstance(action, p.CreateHere | p.UpdateHere | p.DeleteHere)
    return SyncChange(
        tenant_id=link.tenant_id,
        link=link,
        meeting_id=meeting_id,
        lease_token=link.lease_token,
        direction=ChangeDirection.HERE if here else ChangeDirection.THERE,
        action=verb,
        reason=reason_for(action, conflicts, flagged),
        detail=action.reason[:80],
        fields=fields,
        conflicts=[
            {"field": c.field, "here": c.here, "there": c.there, "winner": c.winner}
            for c in conflicts
        ],
        conflict_state=ConflictState.OPEN if conflicts else ConflictState.NONE,
    )


def record_change(**row: Any) -> SyncChange | None:
    """Insert the history row of one applied action (``change_row``'s arguments). Call inside
    the action's transaction."""
    change = change_row(**row)
    if change is not None:
        change.save()
    return change


def record_changes(rows: list[SyncChange | None]) -> None:
    """Insert the rows of a batch of applied actions in one statement (the engine's batched
    creates, issue 17 §3). Call inside their transaction."""
    SyncChange.objects.bulk_create([r for r in rows if r is not None])


def history_cleanup(*, now: datetime | None = None) -> int:
    """Remove history older than CALSYNC_HISTORY_RETENTION_DAYS; returns how many rows went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CALSYNC_HISTORY_RETENTION_DAYS)
    deleted, _by_model = SyncChange.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# -- reading ---------------------------------------------------------------------------------


def meeting_history(meeting: Meeting, *, limit: int = 50) -> list[SyncChange]:
    """The meeting's sync history, newest first (one query)."""
    return list(
        SyncChange.objects.filter(meeting=meeting, tenant_id=meeting.tenant_id)
        .select_related("link")
        .order_by("-created_at", "-pk")[:limit]
    )


def open_conflicts(link: CalendarLink) -> QuerySet[SyncChange]:
    """The link's conflicts still to review (PRODUCT 17), newest first."""
    return (
        SyncChange.objects.filter(link=link, conflict_state=ConflictState.OPEN)
        .select_related("meeting")
        .order_by("-created_at", "-pk")
    )


def sync_deletions(link: CalendarLink, *, limit: int = 20) -> list[SyncChange]:
    """The link's recent deletions of meetings that are still deleted: what *Restore* offers."""
    return list(
        SyncChange.objects.filter(
            link=link,
            action="deleted",
            undone_at__isnull=True,
            meeting__deleted_at__isnull=False,
        )
        .select_related("meeting")
        .order_by("-created_at", "-pk")[:limit]
    )


def last_run_changes(link: CalendarLink) -> tuple[SyncRun | None, list[SyncChange]]:
    """The link's last run that changed something, and its changes that can still be undone
    (updates and deletions: a meeting sync created is removed by deleting it)."""
    run = (
        SyncRun.objects.filter(link=link, status="ok")
        .exclude(counts={})
        .order_by("-started_at", "-pk")
        .first()
    )
    if run is None:
        return None, []
    changes = SyncChange.objects.filter(
        link=link,
        lease_token=run.lease_token,
        undone_at__isnull=True,
        action__in=["updated", "deleted"],
    ).select_related("meeting")
    return run, list(changes)


# -- undo --------------------------------------------------------------------------------------


class UndoError(Exception):
    """What the user asked cannot be done; the text says why, for the page."""


def _snapshot_now(meeting: Meeting) -> Snapshot:
    return snapshot_of_meeting(
        meeting,
        list(meeting.resources.all()),
        [a.user for a in meeting.attendance.select_related("user")],
        resource_names=resource_names(meeting.owner),
    )


def _set_fields(meeting: Meeting, values: dict[str, Any]) -> Meeting:
    """Give ``meeting`` these snapshot values (the rest as it is now) through the agenda's
    service: a normal edit, with a new change number, that syncs out. The four time fields go
    together (a start without its end could end before it starts)."""
    current = _snapshot_now(meeting)
    wanted = {**current, **values}
    try:
        data = meeting_data_from_snapshot(wanted, Directory.for_owner(meeting.owner), base=meeting)
        return meeting_update(meeting=meeting, data=data)
    except ValidationError as exc:
        raise UndoError(
            "The meeting cannot take those values back: " + " ".join(exc.messages)
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise UndoError(_("The recorded values cannot be applied to this meeting.")) from exc


def _complete_times(values: dict[str, Any], source: dict[str, list[Any]], side: int) -> None:
    """Where any time field is taken, take all four from the same recorded side."""
    if TIME_FIELDS & values.keys():
        for name in TIME_FIELDS:
            if name in source:
                values[name] = source[name][side]


@dataclass(frozen=True)
class Undone:
    restored: int = 0
    reverted: int = 0


def undo_change(change: SyncChange) -> Undone:
    """Undo one recorded change: a deletion brings the meeting back from its tombstone; an
    update gives the meeting the fields' old values again. Either way the meeting then syncs
    out as edited here. Raises ``UndoError`` for what cannot be undone."""
    with transaction.atomic():
        locked = SyncChange.objects.select_for_update().get(pk=change.pk)
        if locked.undone_at is not None:
            raise UndoError(_("This change was undone already."))
        meeting = Meeting.all_objects.select_related("owner", "client").get(pk=locked.meeting_id)
        done = Undone()
        if locked.action == "deleted":
            if meeting.deleted_at is None:
                raise UndoError(_("The meeting is not deleted any more."))
            try:
                meeting_restore(meeting=meeting)
            except ValidationError as exc:
                raise UndoError(
                    "The meeting cannot be restored: " + " ".join(exc.messages)
                ) from exc
            done = Undone(restored=1)
        elif locked.action == "updated":
            if meeting.deleted_at is not None:
                raise UndoError(_("The meeting was deleted since; restore it first."))
            old = {name: pair[0] for name, pair in locked.fields.items()}
            _complete_times(old, locked.fields, 0)
            _set_fields(meeting, old)
            done = Undone(reverted=1)
        else:
            raise UndoError(_("A meeting that sync created is removed by deleting it."))
        locked.undone_at = timezone.now()
        if locked.conflict_state == ConflictState.OPEN:
            locked.conflict_state = ConflictState.TAKEN
        locked.save(update_fields=["undone_at", "conflict_state"])
    return done


def undo_last_run(link: CalendarLink) -> Undone:
    """*Undo the last run* (the mass-delete case the guard let through): every meeting the run
    deleted, on either side, comes back, and every update it made is reverted. Each is an edit
    here that syncs out. What cannot be undone any more (edited or restored since) is skipped."""
    run, changes = last_run_changes(link)
    if run is None or not changes:
        raise UndoError(_("The last synchronisation changed nothing that can be undone."))
    restored = reverted = 0
    # Oldest first, so a meeting updated and then deleted in one run comes back as it was.
    for change in sorted(changes, key=lambda c: (c.created_at, c.pk)):
        try:
            done = undo_change(change)
        except UndoError:
            continue
        restored += done.restored
        reverted += done.reverted
    return Undone(restored=restored, reverted=reverted)


# -- conflict review -----------------------------------------------------------------------------


def conflict_keep(change: SyncChange) -> None:
    """The user keeps the merged result: the conflict leaves the review list."""
    updated = SyncChange.objects.filter(pk=change.pk, conflict_state=ConflictState.OPEN).update(
        conflict_state=ConflictState.KEPT
    )
    if not updated:
        raise UndoError(_("This conflict was reviewed already."))


def conflict_take_other(change: SyncChange) -> Meeting:
    """The user takes, for every field of the conflict, the value of the side that lost: the
    meeting is edited to hold it (a new change number), and sync writes it to the other side."""
    with transaction.atomic():
        locked = SyncChange.objects.select_for_update().get(pk=change.pk)
        if locked.conflict_state != ConflictState.OPEN:
            raise UndoError(_("This conflict was reviewed already."))
        meeting = Meeting.objects.select_related("owner", "client").filter(pk=locked.meeting_id)
        found = meeting.first()
        if found is None:
            raise UndoError(_("The meeting was deleted since."))
        values: dict[str, Any] = {}
        for conflict in locked.conflicts:
            loser = "there" if conflict["winner"] == "here" else "here"
            values[conflict["field"]] = conflict[loser]
        # Time fields that did not conflict were equal on both sides, so the meeting's current
        # values for them belong with the losing side's conflicting ones.
        saved = _set_fields(found, values)
        locked.conflict_state = ConflictState.TAKEN
        locked.undone_at = timezone.now()
        locked.save(update_fields=["conflict_state", "undone_at"])
    return saved
