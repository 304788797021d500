"""One item never stops a link (issue 12 §1, QUALITY "Faults and load"): a meeting or event that
cannot be read, mapped or written is skipped with a message naming it, the rest of the run goes
on; an error nobody expected still ends the run as failed, with back-off, a message and the lease
released. Against real Radicale and the Google fake, with faults injected around the real
connectors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping, SyncMessage, SyncRun
from calsync.tasks import sync_link
from connectors.base import ItemResult, NewItem
from connectors.errors import InvalidData
from connectors.events import EventData, RemoteItem
from recurrence import Frequency, Rule, Weekday
from tests.engine.helpers import (
    create_many_checking,
    google_reader,
    inject,
    link_caldav,
    link_google,
)
from tests.factories import make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


@pytest.fixture(params=["radicale", "google"])
def linked(request: pytest.FixtureRequest, staff: User):  # type: ignore[no-untyped-def]
    if request.param == "radicale":
        return link_caldav(staff, request.getfixturevalue("radicale"))
    fake = request.getfixturevalue("google_fake")
    settings = request.getfixturevalue("settings")
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)
    link, _ = link_google(staff, fake)
    return link, google_reader(fake, link)


def titles_there(reader: Any) -> list[str]:
    return sorted(i.event.title for i in reader.full_listing().items if i.event is not None)


def test_an_unexpected_error_fails_the_run_with_back_off_a_message_and_the_lease_released(
    staff: User,
    linked: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, _ = linked
    make_meeting(staff, title="Waiting", start=future(2))

    class Broken:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def create(self, *args: Any, **kwargs: Any) -> Any:
            raise ZeroDivisionError("a bug in a library")

        def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
            return [ZeroDivisionError("a bug in a library") for _ in items]

    inject(monkeypatch, Broken)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_link.run(link.pk) == "failed"
    link.refresh_from_db()
    # Released, counted (the scheduler backs off by it), told.
    assert link.lease_until is None and link.failure_count == 1
    assert link.next_sync_at is not None and link.next_sync_at >= before + timedelta(seconds=30)
    assert "unexpected error" in link.last_error
    assert SyncRun.objects.get(link=link).status == "failed"
    message = SyncMessage.objects.get(link=link, code="run_error")
    assert "ZeroDivisionError" in message.text
    assert len(mail.outbox) == 1
    # The same failure again: counted again, backed off further, but told only once.
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_link.run(link.pk) == "failed"
    link.refresh_from_db()
    assert link.failure_count == 2 and link.lease_until is None
    assert SyncMessage.objects.filter(link=link).count() == 1 and len(mail.outbox) == 1


def test_a_write_the_provider_refuses_skips_that_meeting_and_the_rest_sync(
    staff: User, linked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, reader = linked
    refused = make_meeting(staff, title="Refused", start=future(2))
    for n in range(3):
        make_meeting(staff, title=f"Fine {n}", start=future(3 + n))

    class Refusing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        @staticmethod
        def check(event: EventData) -> None:
            if event.title == "Refused":
                raise InvalidData("The server refused the event (403 valid-calendar-data).")

        def create(self, event: EventData, **kwargs: Any) -> Any:
            self.check(event)
            return self.inner.create(event, **kwargs)

        def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
            return create_many_checking(self.inner, items, self.check)

    inject(monkeypatch, Refusing)
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 3, "skipped": 1}
    assert titles_there(reader) == ["Fine 0", "Fine 1", "Fine 2"]
    message = SyncMessage.objects.get(link=link, subject=str(refused.pk))
    assert "“Refused”" in message.text and "403 valid-calendar-data" in message.text
    assert future(2).date().isoformat() in message.text
    link.refresh_from_db()
    assert link.lease_until is None and link.failure_count == 0
    # Reported once: the next runs are quiet until the meeting changes.
    assert run_link(link.pk).counts == {}
    assert SyncMessage.objects.filter(link=link).count() == 1


def test_a_mapping_failure_of_one_meeting_skips_it_and_the_rest_sync(
    staff: User, linked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value the mapping cannot turn into the provider's form (an overflow near year 9999 in
    a zone, say) is that meeting's problem, not the run's."""
    link, reader = linked
    make_meeting(staff, title="Overflowing", start=future(2))
    make_meeting(staff, title="Fine", start=future(3))

    class Overflowing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        @staticmethod
        def check(event: EventData) -> None:
            if event.title == "Overflowing":
                raise OverflowError("date value out of range")

        def create(self, event: EventData, **kwargs: Any) -> Any:
            self.check(event)
            return self.inner.create(event, **kwargs)

        def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
            return create_many_checking(self.inner, items, self.check)

    inject(monkeypatch, Overflowing)
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1, "skipped": 1}
    assert titles_there(reader) == ["Fine"]
    assert SyncMessage.objects.filter(link=link, text__contains="“Overflowing”").exists()


def test_events_whose_dates_cannot_be_held_are_skipped_with_a_message(
    staff: User, linked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Provider events on 9999-12-31 22:00 in Los Angeles (next year in UTC) or in year 1 in
    Tokyo, as a connector may hand them over: the snapshot overflows; only they are skipped."""
    link, reader = linked
    reader.create(
        EventData(uid="", title="Fine", start=future(4), end=future(4, 10), time_zone=AMS.key),
        idempotency_key="outsidefine1",
    )
    la, tokyo = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo")
    hostile = [
        EventData(
            uid="a",
            title="End of time",
            start=datetime(9999, 12, 31, 22, tzinfo=la),
            end=datetime(9999, 12, 31, 23, tzinfo=la),
            time_zone=la.key,
        ),
        EventData(
            uid="b",
            title="Year one",
            start=datetime(1, 1, 1, 0, 30, tzinfo=tokyo),
            end=datetime(1, 1, 1, 1, 30, tzinfo=tokyo),
            time_zone=tokyo.key,
        ),
    ]

    class Hostile:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def full_listing(self) -> Any:
            listing = self.inner.full_listing()
            extra = tuple(RemoteItem(f"hostile-{e.uid}", "1", e) for e in hostile)
            return replace(listing, items=listing.items + extra)

    inject(monkeypatch, Hostile)
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_here": 1}
    assert list(Meeting.objects.filter(owner=staff).values_list("title", flat=True)) == ["Fine"]
    texts = list(SyncMessage.objects.filter(link=link).values_list("text", flat=True))
    assert any("“End of time”" in t for t in texts) and any("“Year one”" in t for t in texts)
    assert not EventMapping.objects.filter(external_id__startswith="hostile").exists()


def test_a_meeting_repeating_every_day_of_the_week_until_9999_syncs_in_bounded_time(
    staff: User, linked: Any
) -> None:
    """It took 14 s of CPU and then failed with "year 10000" in the snapshot, stopping every
    run of the link (issue 12). Stored before the agenda had date limits: made here directly."""
    link, reader = linked
    start = future(1)
    meeting = make_meeting(
        staff,
        title="Forever",
        start=start,
        rule=Rule(Frequency.WEEKLY, until=date(2030, 1, 1), weekdays=frozenset(Weekday)),
    )
    Meeting.objects.filter(pk=meeting.pk).update(repeat_until=date(9999, 12, 31))
    make_meeting(staff, title="Fine", start=future(2))
    began = time.process_time()
    outcome = run_link(link.pk)
    assert time.process_time() - began < 10
    assert outcome.status == "ok", outcome.detail
    there = titles_there(reader)
    assert "Fine" in there
    # Either the provider holds the long series, or the meeting is named in a message.
    assert (
        "Forever" in there
        or SyncMessage.objects.filter(
            link=link, subject=str(meeting.pk), text__contains="“Forever”"
        ).exists()
    )


def test_each_recurrence_message_is_stored_under_its_own_flag(staff: User, radicale: Any) -> None:
    """A series without end and with a deleted occurrence gets two messages; each is stored
    under its own problem code (they were paired with the flags by position, which swapped them
    when the flags' sorted order differed from the order the messages were raised in)."""
    from tests.engine.test_sync_caldav import put_outside

    link, reader = link_caldav(staff, radicale)
    start = future(7).astimezone(ZoneInfo("UTC"))
    removed = start + timedelta(weeks=1)
    put_outside(
        reader,
        "open-series.ics",
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\nUID:open-series\n"
        "DTSTAMP:20261201T080000Z\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\n"
        f"RRULE:FREQ=WEEKLY\nEXDATE:{removed:%Y%m%dT%H%M%SZ}\nSUMMARY:Open series\n"
        "END:VEVENT\nEND:VCALENDAR\n",
    )
    assert run_link(link.pk).status == "ok"
    codes = dict(SyncMessage.objects.filter(link=link).values_list("code", "text"))
    assert set(codes) == {"no_end", "exception"}, codes
    assert "no end date" in codes["no_end"]
    assert removed.date().isoformat() in codes["exception"]
