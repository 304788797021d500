"""The planner: pure, no I/O (STYLE 5). From what changed on each side and the mappings, it
decides every action and says why.

Inputs are plain values: ``Local`` (a changed meeting as its snapshot), ``Remote`` (a changed
external item as its snapshot), ``Mapping`` (the pair and the content both had last time). The
output is a ``Plan``: actions with reasons, conflicts, messages, or a stop (the mass-delete
guard, PRODUCT 18).

The rules, against the mapping's snapshot (the base):
* a side whose snapshot equals the base did not change: echo suppression (QUALITY I5, I6);
* one side changed: it wins; both changed: field by field, a field changed on one side comes
  from that side, a field changed on both from the most recently modified side, and every such
  field is recorded as a conflict (PRODUCT 17);
* deletions: a deleted side deletes the other unless the other was edited, in which case the
  edit wins and the item is recreated (QUALITY I3, I4);
* an unknown external item carrying one of our meeting ids re-adopts its meeting instead of
  creating a second one (a mapping lost in a crash, QUALITY I2, I10);
* privacy levels (issue 16 §1): a meeting is compared, merged and written as its redaction
  (``Privacy.sent``: what its copy may hold), and an outside change is taken only in the
  fields the pair reads back (``Privacy.readable``); the rest of the copy is written back to
  the redaction. ``Local.snapshot`` is always the meeting's own, unredacted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from calsync.engine.fields import FULL_PRIVACY, SYNCED_FIELDS, Kind, Level, Privacy, Snapshot
from connectors.events import TIME_FIELDS
from recurrence import Text
from recurrence.translation import gettext_noop


@dataclass(frozen=True)
class Local:
    meeting_id: int
    snapshot: Snapshot | None  # None: deleted (a tombstone)
    updated_at: datetime
    change_seq: int
    client_appointment: bool = False
    # False for what the first sync leaves alone (past meetings, PRODUCT 8).
    eligible: bool = True
    kind: str = Kind.OTHER  # for its privacy level (a client appointment: client_appointment)


@dataclass(frozen=True)
class Remote:
    external_id: str
    etag: str
    snapshot: Snapshot | None  # None: deleted on the provider
    updated_at: datetime | None = None
    meeting_id: int | None = None  # our id, when the event is one of our copies
    meeting_version: int | None = None  # and the meeting's version it was written from
    organizer: bool = True
    eligible: bool = True  # False: past, on a first sync
    # (code, message) for the user: a ``recurrence.Message`` (a str that keeps its ``Text``).
    problems: tuple[tuple[str, str], ...] = ()
    importable: bool = True  # False: a series the internal calendar cannot hold
    # Why its content could not be read: skipped this run, never deleted.
    unreadable: str | Text = ""


@dataclass(frozen=True)
class Mapping:
    meeting_id: int
    external_id: str
    etag: str
    snapshot: Snapshot
    organizer: bool = True
    client_appointment: bool = False
    kind: str = Kind.OTHER
    # The pair began as an event made outside: full two-way whatever the privacy level.
    imported: bool = False


def _kind(item: Local | Mapping) -> str:
    return Kind.CLIENT if item.client_appointment else item.kind


# -- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    reason: str


@dataclass(frozen=True)
class CreateHere(Action):
    remote: Remote


@dataclass(frozen=True)
class UpdateHere(Action):
    meeting_id: int
    snapshot: Snapshot
    external_id: str
    etag: str
    # The base to store once applied (what both sides hold afterwards, if nothing else changes).
    base: Snapshot
    # The fields taken from ``snapshot``; the meeting keeps its own value of every other one
    # (a client appointment's details, what a privacy level does not send).
    fields: frozenset[str] = frozenset(SYNCED_FIELDS)


@dataclass(frozen=True)
class DeleteHere(Action):
    meeting_id: int
    external_id: str


@dataclass(frozen=True)
class CreateThere(Action):
    meeting_id: int
    snapshot: Snapshot
    idempotency_key: str
    version: int | None = None  # the meeting's change number the snapshot is of


@dataclass(frozen=True)
class UpdateThere(Action):
    meeting_id: int
    external_id: str
    etag: str
    snapshot: Snapshot
    # The fields whose value the provider's copy does not hold yet: the only ones written, so
    # everything else of that copy (above all of an event someone else made) stays as it is.
    fields: frozenset[str] = frozenset(SYNCED_FIELDS)
    # The meeting's change number when ``snapshot`` is the meeting's own (not a merge).
    version: int | None = None


def update_there(
    reason: str,
    meeting_id: int,
    external_id: str,
    etag: str,
    snapshot: Snapshot,
    *,
    current: Snapshot,
    version: int | None = None,
) -> UpdateThere:
    """An ``UpdateThere`` that writes what ``snapshot`` changes against ``current`` (what the
    provider's copy holds now, as far as we know)."""
    return UpdateThere(
        reason,
        meeting_id,
        external_id,
        etag,
        snapshot,
        changed_fields(snapshot, current),
        version,
    )


def changed_fields(new: Snapshot, old: Snapshot) -> frozenset[str]:
    """The fields to write to turn ``old`` into ``new``. The times go together (providers keep
    them as one value), and a repeating event's rule goes with them: its lines (UNTIL, BYDAY)
    depend on the start."""
    changed = {name for name in SYNCED_FIELDS if new.get(name) != old.get(name)}
    if changed & TIME_FIELDS:
        changed |= TIME_FIELDS
        if new.get("rule") is not None:
            changed.add("rule")
    return frozenset(changed)


@dataclass(frozen=True)
class DeleteThere(Action):
    meeting_id: int
    external_id: str
    etag: str


@dataclass(frozen=True)
class Adopt(Action):
    """Record a mapping for a pair that exists on both sides but was not mapped."""

    meeting_id: int
    external_id: str
    etag: str
    snapshot: Snapshot


@dataclass(frozen=True)
class Forget(Action):
    """Drop a mapping whose both sides are gone."""

    meeting_id: int
    external_id: str


@dataclass(frozen=True)
class RecordEtag(Action):
    """Content equal, version changed (a provider rewrote it): keep the new etag only."""

    external_id: str
    etag: str


@dataclass(frozen=True)
class Conflict:
    meeting_id: int
    field: str
    here: Any
    there: Any
    winner: str  # "here" or "there"


@dataclass(frozen=True)
class Note:
    """A message for the user about one item."""

    subject: str
    code: str
    # A translatable ``Text`` (rendered in the reader's language when shown), a
    # ``recurrence.Message`` (which keeps one), or plain words shown as they are.
    text: str | Text
    fingerprint: str
    # What the item is called and when it starts (the snapshot's "title" and "start"), so the
    # page's card can name an event that was never imported (issue 18 §3).
    title: str = ""
    start: str = ""


def _about(snapshot: Snapshot | None) -> dict[str, str]:
    """``title`` and ``start`` of a Note about the item with ``snapshot``."""
    if not snapshot:
        return {}
    return {"title": str(snapshot.get("title", "")), "start": str(snapshot.get("start", ""))}


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    stopped: str = ""  # why the run stopped without acting (the mass-delete guard), in English
    stopped_text: Text | None = None  # the same, translatable (for the message)

    def count(self, kind: type[Action]) -> int:
        return sum(isinstance(a, kind) for a in self.actions)


def idempotency_key(link_id: int, local: Local) -> str:
    """Stable for one content version of one meeting on one link: a retried create (after a crash
    between the provider's write and our commit) reuses it and makes no duplicate."""
    return f"calsync{link_id}m{local.meeting_id}s{local.change_seq}"


def merge(
    base: Snapshot, here: Snapshot, there: Snapshot, *, here_newer: bool, meeting_id: int
) -> tuple[Snapshot, list[Conflict]]:
    """Three-way merge field by field (PRODUCT 17)."""
    merged: Snapshot = {}
    conflicts: list[Conflict] = []
    for name in SYNCED_FIELDS:
        b, h, t = base.get(name), here.get(name), there.get(name)
        if h == t or t == b:
            merged[name] = h
        elif h == b:
            merged[name] = t
        else:
            merged[name] = h if here_newer else t
            conflicts.append(Conflict(meeting_id, name, h, t, "here" if here_newer else "there"))
    return merged, conflicts


def _restrict(snap: Snapshot, base: Snapshot, allowed: frozenset[str]) -> Snapshot:
    """``snap`` with only the ``allowed`` fields taken from it, the rest from ``base``."""
    return {name: (snap[name] if name in allowed else base[name]) for name in SYNCED_FIELDS}


def _listed(snap: Snapshot, window: tuple[datetime, datetime] | None) -> bool:
    """Whether a listing over ``window`` must have listed an item with this snapshot: the item
    lies well inside it (a day of margin at each end, for all-day dates and the provider's own
    rounding). Unreadable times count as listed, as without a window."""
    if window is None:
        return True
    margin = timedelta(days=1)
    try:
        first = _moment(str(snap["start"]))
        last = _moment(str(snap["end"]))
        rule = snap.get("rule")
        if isinstance(rule, dict) and rule.get("until"):
            last = max(last, _moment(str(rule["until"])) + margin)
    except (KeyError, ValueError, TypeError):
        return True
    return last > window[0] + margin and first < window[1] - margin


def _moment(text: str) -> datetime:
    """A snapshot time (an ISO date-time in UTC, or a date for all-day items) as a UTC moment."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan(
    *,
    link_id: int,
    local: list[Local],
    remote: list[Remote],
    mappings: list[Mapping],
    full_listing: bool,
    mass_delete_share: float,
    mass_delete_minimum: int,
    allow_mass_delete: bool,
    unmapped_meetings: dict[int, Local] | None = None,
    prior: dict[str, tuple[Mapping, Local]] | None = None,
    listed_window: tuple[datetime, datetime] | None = None,
    privacy: Privacy = FULL_PRIVACY,
) -> Plan:
    """Decide what to do. ``full_listing``: ``remote`` is the whole calendar (a first sync,
    after an expired cursor, the daily reconcile), so a mapped item missing from it was deleted
    (unless ``listed_window`` says the listing covers only that span and the item lies outside
    it: then it was not listed, and stays as it is). ``unmapped_meetings``:
    our live, unmapped meetings by id, for re-adopting copies that carry our id. ``prior``: by
    external id, the pairs an earlier (revoked) link kept with this same calendar, each with its
    meeting as it is now: adopted with the earlier link's base, then merged as any mapped pair.
    ``privacy``: the link's levels (what each meeting's copy holds)."""
    result = Plan()
    by_external = {m.external_id: m for m in mappings}
    by_meeting = {m.meeting_id: m for m in mappings}
    local_by_id = {item.meeting_id: item for item in local}
    seen_meetings: set[int] = set()
    adopted: set[int] = set()
    remote_by_id = {r.external_id: r for r in remote}

    if full_listing:
        # Deletions during the gap: a mapped item that the full listing lacks is gone there.
        for known in mappings:
            if known.external_id not in remote_by_id and _listed(known.snapshot, listed_window):
                remote_by_id[known.external_id] = Remote(known.external_id, "", None)

    relinked = 0
    for there in remote_by_id.values():
        pair = by_external.get(there.external_id)
        if there.unreadable:
            subject = str(pair.meeting_id) if pair else there.external_id
            result.notes.append(
                Note(subject, "unreadable", there.unreadable, _words(there.unreadable))
            )
            if pair is not None:
                seen_meetings.add(pair.meeting_id)  # leave both sides alone until it is fixed
            continue
        earlier = (prior or {}).get(there.external_id)
        if (
            pair is None
            and earlier is not None
            and there.snapshot is not None
            and earlier[0].meeting_id not in by_meeting
            and earlier[0].meeting_id not in adopted
        ):
            known, meeting = earlier
            adopted.add(known.meeting_id)
            relinked += 1
            # Its base is what both sides held when the earlier link last synced: edits made on
            # either side meanwhile are merged, a meeting deleted here meanwhile is deleted there
            # (unless it was edited there).
            _adopt_pair(
                result,
                link_id,
                "linked again: the pair of the earlier link",
                meeting,
                there,
                known.snapshot,
                privacy,
                organizer=known.organizer,
                imported=known.imported,
            )
            continue
        if pair is None:
            _unmapped_remote(result, link_id, there, unmapped_meetings or {}, adopted, privacy)
            continue
        seen_meetings.add(pair.meeting_id)
        _mapped(result, link_id, pair, local_by_id.get(pair.meeting_id), there, privacy)

    for here in local:
        if here.meeting_id in seen_meetings or here.meeting_id in adopted:
            continue
        mapped = by_meeting.get(here.meeting_id)
        if mapped is None:
            if here.snapshot is not None and here.eligible:
                key = idempotency_key(link_id, here)
                sent = privacy.sent(here.snapshot, _kind(here))
                result.actions.append(
                    CreateThere("new here", here.meeting_id, sent, key, here.change_seq)
                )
            continue
        if here.snapshot is None:
            result.actions.append(
                DeleteThere("deleted here", here.meeting_id, mapped.external_id, mapped.etag)
            )
            continue
        sent = privacy.sent(here.snapshot, _kind(mapped), imported=mapped.imported)
        if sent != _content(mapped.snapshot) and mapped.organizer:
            # (An event we only attend keeps our edits here, PRODUCT 16.) A change of the
            # privacy level makes every copy's redaction differ from its base: this rewrites it.
            result.actions.append(
                update_there(
                    "changed here",
                    here.meeting_id,
                    mapped.external_id,
                    mapped.etag,
                    sent,
                    current=_content(mapped.snapshot),
                    version=here.change_seq,
                )
            )

    _guard(
        result, len(mappings) + relinked, mass_delete_share, mass_delete_minimum, allow_mass_delete
    )
    return result


def _unmapped_remote(
    result: Plan,
    link_id: int,
    item: Remote,
    ours: dict[int, Local],
    adopted: set[int],
    privacy: Privacy,
) -> None:
    if item.snapshot is None:
        return  # a deletion of something we never held (Radicale reports such, §3.1)
    if item.meeting_id is not None and item.meeting_id in ours and item.meeting_id not in adopted:
        # One of our copies whose mapping was lost: adopt it, then bring it up to date.
        meeting = ours[item.meeting_id]
        adopted.add(item.meeting_id)
        if meeting.snapshot is None:
            # Our copy of a meeting deleted here since a crash lost its mapping: it goes too
            # (QUALITY I4), instead of coming back as an event made outside.
            result.actions.append(
                DeleteThere(
                    "our copy of a meeting deleted here",
                    item.meeting_id,
                    item.external_id,
                    item.etag,
                )
            )
            return
        # Our copy: it holds the meeting's redaction.
        sent = None if meeting.snapshot is None else privacy.sent(meeting.snapshot, _kind(meeting))
        if (
            sent is not None
            and item.meeting_version is not None
            and item.meeting_version == meeting.change_seq
        ):
            # The copy was written from the meeting as it still is (a crash lost the mapping
            # after the provider's write): what differs was changed outside since, so the pair
            # is planned from the meeting's content as base, as if the mapping had been saved.
            _adopt_pair(
                result,
                link_id,
                "our copy of this version, mapping recovered",
                meeting,
                item,
                sent,
                privacy,
            )
            return
        for code, text in item.problems:
            result.notes.append(
                Note(
                    item.external_id,
                    code,
                    text,
                    _fingerprint(item.snapshot),
                    **_about(item.snapshot),
                )
            )
        result.actions.append(
            Adopt(
                "our copy, mapping recovered",
                item.meeting_id,
                item.external_id,
                item.etag,
                item.snapshot,
            )
        )
        if sent is not None and sent != item.snapshot:
            result.actions.append(
                update_there(
                    "recovered copy out of date",
                    item.meeting_id,
                    item.external_id,
                    item.etag,
                    sent,
                    current=item.snapshot,
                    version=meeting.change_seq,
                )
            )
        return
    for code, text in item.problems:
        result.notes.append(
            Note(item.external_id, code, text, _fingerprint(item.snapshot), **_about(item.snapshot))
        )
    if not item.importable or not item.eligible:
        return
    result.actions.append(CreateHere("new there", item))


def _adopt_pair(
    result: Plan,
    link_id: int,
    reason: str,
    meeting: Local,
    there: Remote,
    base: Snapshot,
    privacy: Privacy,
    *,
    organizer: bool = True,
    imported: bool = False,
) -> None:
    """Record a mapping for an unmapped pair whose base is known, then plan it like any mapped
    pair (a merge against ``base``)."""
    result.actions.append(Adopt(reason, meeting.meeting_id, there.external_id, there.etag, base))
    pair = Mapping(
        meeting.meeting_id,
        there.external_id,
        there.etag,
        base,
        organizer=organizer,
        client_appointment=meeting.client_appointment,
        kind=meeting.kind,
        imported=imported,
    )
    _mapped(result, link_id, pair, meeting, there, privacy)


def _content(snapshot: Snapshot) -> Snapshot:
    """A stored snapshot without bookkeeping keys (``_organizer``)."""
    return {k: v for k, v in snapshot.items() if not k.startswith("_")}


def _mapped(
    result: Plan,
    link_id: int,
    mapping: Mapping,
    here: Local | None,
    there: Remote,
    privacy: Privacy = FULL_PRIVACY,
) -> None:
    base = _content(mapping.snapshot)
    kind = _kind(mapping)
    # What the meeting's copy holds at the link's privacy level (the meeting itself at full).
    sent = (
        None
        if here is None or here.snapshot is None
        else privacy.sent(here.snapshot, kind, imported=mapping.imported)
    )
    here_changed = here is not None and sent != base
    if there.snapshot is None:  # deleted there
        if here is not None and sent is not None and here_changed:
            # QUALITY I3: an edit beats a concurrent delete: put it back there.
            result.actions.append(
                Forget("deleted there but edited here", mapping.meeting_id, mapping.external_id)
            )
            result.actions.append(
                CreateThere(
                    "edited here, recreated there",
                    mapping.meeting_id,
                    sent,
                    idempotency_key(link_id, here),
                    here.change_seq,
                )
            )
        elif here is not None and here.snapshot is None:
            result.actions.append(
                Forget("deleted on both sides", mapping.meeting_id, mapping.external_id)
            )
        else:
            result.actions.append(
                DeleteHere("deleted there", mapping.meeting_id, mapping.external_id)
            )
        return
    for code, text in there.problems:
        result.notes.append(
            Note(
                str(mapping.meeting_id),
                code,
                text,
                _fingerprint(there.snapshot),
                **_about(there.snapshot),
            )
        )
    # A field the pair does not read back is the practice's: an outside change to it is not
    # taken (PRODUCT 15 for a client appointment; the privacy level's redacted fields).
    readable = privacy.readable(kind, imported=mapping.imported)
    restricted = readable != frozenset(SYNCED_FIELDS)
    there_changed = there.snapshot != base
    if here is not None and here.snapshot is None:  # deleted here
        # An outside edit brings the meeting back (QUALITY I3) only from a copy that holds it:
        # a redacted copy would come back as "Busy" with nothing of the meeting, so there the
        # deletion made here wins, and so does it over an edit of what is not read back.
        holds_it = privacy.level(kind, imported=mapping.imported) == Level.FULL
        if there_changed and holds_it and _restrict(there.snapshot, base, readable) != base:
            result.actions.append(
                Forget("deleted here but edited there", mapping.meeting_id, mapping.external_id)
            )
            result.actions.append(CreateHere("edited there, recreated here", there))
        else:
            result.actions.append(
                DeleteThere(
                    "deleted here",
                    mapping.meeting_id,
                    mapping.external_id,
                    there.etag or mapping.etag,
                )
            )
        return
    if not there_changed and not here_changed:
        if there.etag and there.etag != mapping.etag:
            result.actions.append(
                RecordEtag("same content, new version", mapping.external_id, there.etag)
            )
        return
    if there_changed and not there.importable:
        return  # a series changed into something we cannot hold: its note says so
    if there_changed and not here_changed:
        taken = _restrict(there.snapshot, base, readable) if restricted else there.snapshot
        if taken != base:
            result.actions.append(
                UpdateHere(
                    "changed there",
                    mapping.meeting_id,
                    taken,
                    mapping.external_id,
                    there.etag,
                    taken,
                    readable,
                )
            )
        if taken != there.snapshot and mapping.organizer:
            # A client appointment's other fields, and what the privacy level does not send,
            # stay ours: write them back (PRODUCT 15, issue 16 §1).
            result.actions.append(
                update_there(
                    "details are the practice's",
                    mapping.meeting_id,
                    mapping.external_id,
                    there.etag,
                    taken,
                    current=there.snapshot,
                )
            )
        elif taken == base:
            result.actions.append(
                RecordEtag("changed only where not read", mapping.external_id, there.etag)
            )
        return
    assert here is not None and sent is not None
    if here_changed and not there_changed:
        if mapping.organizer:
            result.actions.append(
                update_there(
                    "changed here",
                    mapping.meeting_id,
                    mapping.external_id,
                    there.etag or mapping.etag,
                    sent,
                    current=there.snapshot,
                    version=here.change_seq,
                )
            )
        return
    # Both changed.
    there_snap = _restrict(there.snapshot, base, readable) if restricted else there.snapshot
    here_newer = there.updated_at is None or here.updated_at >= there.updated_at
    merged, conflicts = merge(
        base, sent, there_snap, here_newer=here_newer, meeting_id=mapping.meeting_id
    )
    result.conflicts.extend(conflicts)
    if merged != sent:
        result.actions.append(
            UpdateHere(
                "merged",
                mapping.meeting_id,
                merged,
                mapping.external_id,
                there.etag,
                merged,
                readable,
            )
        )
    if merged != there.snapshot and mapping.organizer:
        result.actions.append(
            update_there(
                "merged",
                mapping.meeting_id,
                mapping.external_id,
                there.etag,
                merged,
                current=there.snapshot,
            )
        )
    elif merged == there.snapshot and merged == sent:
        result.actions.append(RecordEtag("merged to equal", mapping.external_id, there.etag))


def _guard(result: Plan, mapped: int, share: float, minimum: int, allowed: bool) -> None:
    """PRODUCT 18 / QUALITY I7: a run that would delete most of the mapped events stops."""
    deletions = result.count(DeleteHere) + result.count(DeleteThere)
    if allowed or deletions < minimum or mapped == 0 or deletions <= share * mapped:
        return
    result.stopped_text = Text.of(
        gettext_noop(
            "This sync would delete %(deletions)s of your %(mapped)s synchronised meetings at "
            "once. That can happen when a calendar was emptied or swapped, or a provider had a "
            "fault, so nothing was deleted. If the deletions are right, allow them on the "
            "CalendarSync page."
        ),
        deletions=deletions,
        mapped=mapped,
    )
    result.stopped = _words(result.stopped_text)
    # Nothing is applied and the cursor is not stored: the same changes come back next run,
    # when the user has decided.
    result.actions = []


def _words(text: str | Text) -> str:
    """The English words of a note's text (its fingerprint, the run's error)."""
    return text.render(lambda s: s) if isinstance(text, Text) else str(text)


def _fingerprint(snapshot: Snapshot) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()
