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
from connectors.events import Attendee, EventData
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
