"""The contract every connector passes (STYLE 11, like vdirsyncer's ``StorageTests``).

A provider's test module subclasses ``ConnectorContract`` and provides two fixtures:

* ``connector``: a ``Connector`` on a fresh, empty calendar;
* ``outside``: an ``Outside`` that changes that calendar the way another client would (a phone,
  the provider's web UI), without going through our connector.
"""

from __future__ import annotations

import abc
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import Connector
from connectors.errors import CursorExpired, EtagMismatch, NotFound
from connectors.events import ALL_FIELDS, Attendee, EventData
from recurrence import Flag, Frequency, Rule, Weekday

AMS = ZoneInfo("Europe/Amsterdam")


def sample(**changes: object) -> EventData:
    start = datetime(2026, 12, 7, 9, 30, tzinfo=AMS)
    event = EventData(
        uid="",
        title="Intake: Ms. Example",
        start=start,
        end=start + timedelta(minutes=45),
        time_zone="Europe/Amsterdam",
        description="First appointment.\nBring the referral.",
        location="Treatment room 1",
        attendees=(Attendee("colleague@practice.example", "A. Colleague"),),
        reminder_minutes=15,
        meeting_id=4711,
    )
    return replace(event, **changes)  # type: ignore[arg-type]


class Outside(abc.ABC):
    """Changes made on the provider by someone else."""

    @abc.abstractmethod
    def edit_title(self, external_id: str, title: str) -> None: ...

    @abc.abstractmethod
    def delete(self, external_id: str) -> None: ...

    @abc.abstractmethod
    def create_single(self, title: str) -> str:
        """A one-off event; returns its external id."""

    @abc.abstractmethod
    def create_series_with_exceptions(self) -> str:
        """A weekly series (Mondays from 2026-12-07, 5 times) whose 2nd occurrence was moved and
        3rd cancelled; returns the series' external id."""

    @abc.abstractmethod
    def create_rich(self) -> str:
        """A one-off event another client made, on 2026-12-09 from 13:00 to 14:00 UTC, titled
        "Made elsewhere", described "Their notes" (two lines: "Their notes\nsecond line"),
        at "Room Blue; Building A", with the attendee ``guest@elsewhere.example`` and with
        properties we do not sync (the provider's own kinds: categories, a colour, free/busy,
        a URL, other applications' data, per-attendee details); returns its external id."""

    @abc.abstractmethod
    def foreign(self, external_id: str) -> object:
        """What ``create_rich`` set that we do not sync, read from the provider as it is now
        (tests compare it before and after our writes: it must not change)."""

    @abc.abstractmethod
    def bogus_cursor(self) -> str:
        """A cursor of the provider's form that it no longer accepts."""

    @abc.abstractmethod
    def missing_id(self) -> str:
        """An external id of the provider's form that names no event."""


class ConnectorContract:
    @pytest.fixture
    def connector(self) -> Connector:
        raise NotImplementedError

    @pytest.fixture
    def outside(self) -> Outside:
        raise NotImplementedError

    def test_create_then_list_returns_the_same_content(self, connector: Connector) -> None:
        written = connector.create(sample(), idempotency_key="calsync-4711")
        assert written.etag
        listing = connector.full_listing()
        assert [i.external_id for i in listing.items] == [written.external_id]
        got = listing.items[0].event
        assert got is not None
        want = sample()
        assert (got.title, got.description, got.location) == (
            want.title,
            want.description,
            want.location,
        )
        assert (got.start, got.end, got.time_zone, got.all_day) == (
            want.start,
            want.end,
            want.time_zone,
            False,
        )
        assert got.reminder_minutes == 15 and got.meeting_id == 4711
        assert [a.email for a in got.attendees] == ["colleague@practice.example"]

    def test_all_day_and_repeating_events_round_trip(self, connector: Connector) -> None:
        start = datetime(2026, 12, 8, tzinfo=AMS)
        rule = Rule(Frequency.WEEKLY, until=date(2027, 2, 23), weekdays=frozenset({Weekday.TU}))
        event = sample(
            start=start,
            end=start + timedelta(days=1),
            all_day=True,
            rule=rule,
            attendees=(),
            reminder_minutes=None,
        )
        written = connector.create(event, idempotency_key="calsync-allday")
        got = connector.get(written.external_id).event
        assert got is not None
        assert (got.all_day, got.start, got.end, got.rule, got.flags) == (
            True,
            start,
            start + timedelta(days=1),
            rule,
            frozenset(),
        )

    def test_a_retried_create_makes_no_duplicate(self, connector: Connector) -> None:
        first = connector.create(sample(), idempotency_key="calsync-retry")
        again = connector.create(sample(), idempotency_key="calsync-retry")
        assert again.external_id == first.external_id
        assert len(connector.full_listing().items) == 1

    def test_update_needs_the_current_etag(self, connector: Connector) -> None:
        written = connector.create(sample(), idempotency_key="calsync-upd")
        updated = connector.update(written.external_id, sample(title="Renamed"), etag=written.etag)
        assert updated.etag != written.etag
        item = connector.get(written.external_id)
        assert item.event is not None and item.event.title == "Renamed"
        with pytest.raises(EtagMismatch):
            connector.update(written.external_id, sample(title="Stale"), etag=written.etag)

    def test_delete_is_conditional_and_idempotent(self, connector: Connector) -> None:
        written = connector.create(sample(), idempotency_key="calsync-del")
        updated = connector.update(written.external_id, sample(title="v2"), etag=written.etag)
        with pytest.raises(EtagMismatch):
            connector.delete(written.external_id, etag=written.etag)
        connector.delete(written.external_id, etag=updated.etag)
        connector.delete(written.external_id, etag=None)  # already gone: no error
        with pytest.raises(NotFound):
            connector.get(written.external_id)

    def test_changes_report_outside_edits_creates_and_deletions(
        self, connector: Connector, outside: Outside
    ) -> None:
        kept = connector.create(sample(), idempotency_key="calsync-kept")
        gone = connector.create(sample(title="To delete"), idempotency_key="calsync-gone")
        cursor = connector.changes(None).cursor
        assert connector.changes(cursor).items == ()  # nothing changed: nothing listed

        outside.edit_title(kept.external_id, "Edited on the phone")
        outside.delete(gone.external_id)
        new_id = outside.create_single("Made on the phone")
        changes = connector.changes(cursor)
        by_id = {i.external_id: i for i in changes.items}
        assert by_id[kept.external_id].event is not None
        assert by_id[kept.external_id].event.title == "Edited on the phone"  # type: ignore[union-attr]
        assert by_id[gone.external_id].deleted
        assert by_id[new_id].event is not None
        assert changes.cursor != cursor
        assert connector.changes(changes.cursor).items == ()

    def test_expired_cursor_then_full_listing(self, connector: Connector, outside: Outside) -> None:
        connector.create(sample(), idempotency_key="calsync-exp")
        with pytest.raises(CursorExpired):
            connector.changes(outside.bogus_cursor())
        listing = connector.full_listing()
        assert len(listing.items) == 1 and listing.cursor
        assert connector.changes(listing.cursor).items == ()

    def test_series_with_a_moved_and_a_cancelled_occurrence_is_flagged(
        self, connector: Connector, outside: Outside
    ) -> None:
        series_id = outside.create_series_with_exceptions()
        items = [i for i in connector.full_listing().items if i.external_id == series_id]
        assert len(items) == 1
        event = items[0].event
        assert event is not None and event.rule is not None
        assert Flag.EXCEPTION in event.flags
        assert len(event.exceptions) == 2
        assert any("exception" in m.lower() or "moved" in m.lower() for m in event.messages)

    def test_missing_items_are_not_found(self, connector: Connector, outside: Outside) -> None:
        with pytest.raises(NotFound):
            connector.get(outside.missing_id())

    # -- what is not ours survives our writes (STYLE 14, QUALITY "real servers differ") -----------

    def test_an_update_writes_only_the_named_fields(
        self, connector: Connector, outside: Outside
    ) -> None:
        external_id = outside.create_rich()
        before = outside.foreign(external_id)
        item = connector.get(external_id)
        assert item.event is not None
        ours = replace(
            item.event,
            title="Renamed here",
            description="NOT TO BE WRITTEN",
            location="NOT TO BE WRITTEN",
            reminder_minutes=30,
            meeting_id=4711,
        )
        written = connector.update(external_id, ours, etag=item.etag, fields=frozenset({"title"}))
        assert written.external_id == external_id
        after = connector.get(external_id)
        assert after.etag == written.etag
        assert after.event is not None
        assert after.event.title == "Renamed here"
        assert (after.event.description, after.event.location) == (
            "Their notes\nsecond line",
            "Room Blue; Building A",
        )
        assert after.event.reminder_minutes == item.event.reminder_minutes
        assert (after.event.start, after.event.end) == (item.event.start, item.event.end)
        assert [a.email for a in after.event.attendees] == ["guest@elsewhere.example"]
        assert after.event.meeting_id == 4711  # our id, for recovering a lost mapping
        assert outside.foreign(external_id) == before

    def test_rewriting_every_field_as_read_keeps_the_outside_event_as_it_was(
        self, connector: Connector, outside: Outside
    ) -> None:
        """A value we read round-trips to the same value, and nothing we do not sync is lost,
        even when every synced field is written."""
        external_id = outside.create_rich()
        before = outside.foreign(external_id)
        item = connector.get(external_id)
        assert item.event is not None
        connector.update(external_id, item.event, etag=item.etag, fields=ALL_FIELDS)
        after = connector.get(external_id).event
        assert after is not None
        for name in ("title", "description", "location", "start", "end", "all_day"):
            assert getattr(after, name) == getattr(item.event, name), name
        assert after.reminder_minutes == item.event.reminder_minutes
        assert [a.email for a in after.attendees] == [a.email for a in item.event.attendees]
        assert outside.foreign(external_id) == before

    def test_moving_an_outside_event_keeps_its_other_fields(
        self, connector: Connector, outside: Outside
    ) -> None:
        external_id = outside.create_rich()
        before = outside.foreign(external_id)
        item = connector.get(external_id)
        assert item.event is not None
        later = timedelta(hours=2)
        moved = replace(
            item.event,
            title="NOT TO BE WRITTEN",
            start=item.event.start + later,
            end=item.event.end + later,
        )
        connector.update(external_id, moved, etag=item.etag, fields=frozenset({"start", "end"}))
        after = connector.get(external_id).event
        assert after is not None
        assert (after.start, after.end) == (item.event.start + later, item.event.end + later)
        assert (after.title, after.description, after.location) == (
            "Made elsewhere",
            "Their notes\nsecond line",
            "Room Blue; Building A",
        )
        assert outside.foreign(external_id) == before
