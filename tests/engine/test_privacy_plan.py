"""The privacy rules in the pure planner (issue 16 §1): what a redacted pair writes and reads, for
every level and kind, without a provider."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from calsync.engine import plan as p
from calsync.engine.fields import (
    CLIENT_APPOINTMENT_FIELDS,
    SENT_FIELDS,
    SYNCED_FIELDS,
    Kind,
    Level,
    Privacy,
    redact,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
MEETING: dict[str, Any] = {
    "title": "Intake Marit Jansen",
    "description": "anxiety",
    "location": "Kerkstraat 1; Room Blue",
    "start": "2026-12-03T09:00:00+00:00",
    "end": "2026-12-03T10:00:00+00:00",
    "time_zone": "Europe/Amsterdam",
    "all_day": False,
    "rule": None,
    "reminder": 15,
    "attendees": ["marit@client.example"],
    "status": "tentative",
}
BUSY = Privacy(client=Level.BUSY, other=Level.BUSY, personal=Level.BUSY)


def test_redaction_per_level() -> None:
    assert redact(MEETING, Level.FULL, "Busy") == MEETING
    titled = redact(MEETING, Level.TITLE, "Busy")
    assert titled == {
        **MEETING,
        "description": "",
        "location": "",
        "attendees": [],
    }
    assert redact(MEETING, Level.BUSY, "Client appointment") == {
        **MEETING,
        "title": "Client appointment",
        "description": "",
        "location": "",
        "attendees": [],
        "reminder": None,
        "status": "confirmed",
    }


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("kind", list(Kind))
def test_what_is_read_back_is_sent_as_the_meeting_holds_it(level: Level, kind: Kind) -> None:
    """The rule the no-data-loss argument rests on: a field an outside change may set is one
    the copy holds unredacted; so a redacted value can never come back into a meeting."""
    privacy = Privacy(**{str(kind): level})
    readable = privacy.readable(kind)
    sent = privacy.sent(MEETING, kind)
    assert readable <= SENT_FIELDS[level]
    assert all(sent[name] == MEETING[name] for name in readable)
    if kind == Kind.CLIENT:
        assert readable <= CLIENT_APPOINTMENT_FIELDS
    # An event made outside: full two-way whatever the level.
    assert privacy.sent(MEETING, kind, imported=True) == MEETING


def _pair(kind: Kind, base: dict[str, Any]) -> p.Mapping:
    return p.Mapping(7, "ext", "e1", base, client_appointment=kind == Kind.CLIENT, kind=str(kind))


def _plan(
    local: list[p.Local], remote: list[p.Remote], mapping: p.Mapping, privacy: Privacy
) -> p.Plan:
    return p.plan(
        link_id=1,
        local=local,
        remote=remote,
        mappings=[mapping],
        full_listing=False,
        mass_delete_share=0.5,
        mass_delete_minimum=5,
        allow_mass_delete=False,
        privacy=privacy,
    )


def test_a_new_meeting_goes_out_redacted() -> None:
    decided = p.plan(
        link_id=1,
        local=[p.Local(7, MEETING, NOW, 3, client_appointment=True, kind=Kind.CLIENT)],
        remote=[],
        mappings=[],
        full_listing=False,
        mass_delete_share=0.5,
        mass_delete_minimum=5,
        allow_mass_delete=False,
        privacy=BUSY,
    )
    [create] = decided.actions
    assert isinstance(create, p.CreateThere)
    assert create.snapshot == redact(MEETING, Level.BUSY, "Client appointment")


def test_a_busy_copy_coming_back_is_no_edit_and_an_edit_of_what_it_hides_writes_nothing() -> None:
    copy = BUSY.sent(MEETING, Kind.OTHER)
    mapping = _pair(Kind.OTHER, copy)
    assert _plan([], [p.Remote("ext", "e2", copy, NOW)], mapping, BUSY).actions == [
        p.RecordEtag("same content, new version", "ext", "e2")
    ]
    edited = {**MEETING, "description": "other notes", "title": "Renamed"}
    assert _plan([p.Local(7, edited, NOW, 4)], [], mapping, BUSY).actions == []


def test_a_move_outside_is_taken_and_a_rename_is_written_back() -> None:
    copy = BUSY.sent(MEETING, Kind.CLIENT)
    mapping = _pair(Kind.CLIENT, copy)
    moved = {
        **copy,
        "title": "Marit",
        "start": "2026-12-03T11:00:00+00:00",
        "end": "2026-12-03T12:00:00+00:00",
    }
    actions = _plan([], [p.Remote("ext", "e2", moved, NOW)], mapping, BUSY).actions
    update_here, update_there = actions
    assert isinstance(update_here, p.UpdateHere) and isinstance(update_there, p.UpdateThere)
    # Only the time is taken here; the neutral title goes back there.
    assert update_here.fields == CLIENT_APPOINTMENT_FIELDS
    assert update_here.snapshot["start"] == moved["start"]
    assert update_there.snapshot["title"] == "Client appointment"
    assert update_there.fields == {"title"}


def test_both_changed_merges_in_the_redacted_form() -> None:
    copy = BUSY.sent(MEETING, Kind.OTHER)
    mapping = _pair(Kind.OTHER, copy)
    here = {**MEETING, "description": "new", "end": "2026-12-03T10:30:00+00:00"}
    there = {**copy, "start": "2026-12-03T08:00:00+00:00", "location": "typed outside"}
    decided = _plan([p.Local(7, here, NOW, 4)], [p.Remote("ext", "e2", there, NOW)], mapping, BUSY)
    by_type = {type(a): a for a in decided.actions}
    update_here = by_type[p.UpdateHere]
    update_there = by_type[p.UpdateThere]
    assert isinstance(update_here, p.UpdateHere) and isinstance(update_there, p.UpdateThere)
    assert (update_here.snapshot["start"], update_here.snapshot["end"]) == (
        "2026-12-03T08:00:00+00:00",
        "2026-12-03T10:30:00+00:00",
    )
    assert update_here.fields == SENT_FIELDS[Level.BUSY]
    # The outside location is not taken and is cleared again; nothing of the meeting leaks.
    assert update_there.snapshot["location"] == ""
    assert update_there.snapshot["description"] == ""
    assert decided.conflicts == []


def test_a_level_change_rewrites_the_copy_in_the_changed_fields_only() -> None:
    mapping = _pair(Kind.CLIENT, MEETING)  # sent at full
    [update] = _plan([p.Local(7, MEETING, NOW, 3)], [], mapping, BUSY).actions
    assert isinstance(update, p.UpdateThere)
    assert update.fields == frozenset(
        {"title", "description", "location", "attendees", "reminder", "status"}
    )
    loosened = _plan(
        [p.Local(7, MEETING, NOW, 3)], [], _pair(Kind.CLIENT, update.snapshot), Privacy()
    )
    [back] = loosened.actions
    assert isinstance(back, p.UpdateThere) and back.snapshot == MEETING
    assert back.fields == update.fields
    assert frozenset(SYNCED_FIELDS) >= back.fields


def test_a_redacted_copy_moved_outside_does_not_bring_back_a_meeting_deleted_here() -> None:
    """It holds nothing of the meeting: the deletion made here wins (at full details the edit
    outside still does, QUALITY I3)."""
    moved = {"start": "2026-12-03T11:00:00+00:00", "end": "2026-12-03T12:00:00+00:00"}
    deleted = p.Local(7, None, NOW, 5)
    copy = BUSY.sent(MEETING, Kind.OTHER)
    [delete] = _plan(
        [deleted], [p.Remote("ext", "e2", {**copy, **moved}, NOW)], _pair(Kind.OTHER, copy), BUSY
    ).actions
    assert isinstance(delete, p.DeleteThere)
    full = _plan(
        [deleted],
        [p.Remote("ext", "e2", {**MEETING, **moved}, NOW)],
        _pair(Kind.OTHER, MEETING),
        Privacy(),
    ).actions
    assert [type(a) for a in full] == [p.Forget, p.CreateHere]
