"""The sync invariants (QUALITY.md I1-I10) under random interleavings, like vdirsyncer's
``SyncMachine``: a Hypothesis state machine edits, creates and deletes on both sides, syncs,
crashes mid-run, delivers a run twice, expires the cursor, revokes the link and sets it up again
with the same calendar, and plants poisoned items on either side (a meeting the provider refuses
to take, an event that cannot be read), and checks the invariants with them present: a poisoned
item never stops a run, is told to the user, and everything else converges. On the Google and
Graph fakes the link has a push channel, and the provider's notifications are delivered, dropped,
duplicated, reordered or forged, and channels expire and are made again by beat's maintenance:
a notification must ask for a run, a lost one is made up by the next sync, no provider channel
is left that we do not keep, and I1-I10 hold whatever happened to the notifications.

The machine runs once per privacy level (issue 16 §1): the practice's default for every kind of
meeting, which the link starts at; a rule changes the link's level mid-way. I1 then means "the
outside copy equals the redaction of the meeting" (an event made outside: the meeting itself),
and an outside title edit counts only where the level reads titles back. Our copies of a busy
link carry no number in their titles, so the oracles find an item's number through the meeting
id the copy carries.

CI runs a bounded number of examples; ``CALSYNC_STATEFUL_EXAMPLES`` runs more, e.g.
``CALSYNC_STATEFUL_EXAMPLES=200 scripts/test -k state_machine``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accounts.models import Role
from agenda.models import Meeting
from agenda.services import meeting_delete, meeting_update
from calsync import push, scheduler
from calsync.engine import run as engine
from calsync.engine.fields import Level, kind_of, snapshot_of_event, snapshot_of_meeting
from calsync.engine.run import run_link
from calsync.models import (
    LIVE_CHANNEL_STATES,
    CalendarLink,
    ChannelState,
    EventMapping,
    LinkState,
    PracticePrivacy,
    PushChannel,
    SyncMessage,
)
from calsync.privacy import link_privacy, link_privacy_update
from connectors.base import Changes, Connector, ItemResult, NewItem
from connectors.errors import ConnectorError, InvalidData, RateLimited
from connectors.events import EventData, unreadable
from recurrence import Frequency, Rule, Weekday
from tests.agenda.test_services import data_of
from tests.engine.helpers import create_many_checking
from tests.factories import ClientFactory, TenantFactory, UserFactory, entitle, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
EXAMPLES = int(os.environ.get("CALSYNC_STATEFUL_EXAMPLES", "40"))
STEPS = int(os.environ.get("CALSYNC_STATEFUL_STEPS", "15"))
TITLES = st.sampled_from(["Intake", "Review", "Team", "Follow-up", "Lunch"])
TOTALS = {"examples": 0, "steps": 0, "pushed_runs": 0, "channels_expired": 0}


def _start(day: int, hour: int) -> datetime:
    base = datetime.now(AMS).replace(minute=0, second=0, microsecond=0)
    return (base + timedelta(days=day)).replace(hour=hour)


class Poisoning:
    """The engine's connector, with the machine's poisoned items: writes of poisoned meetings
    are refused as invalid (as a server refuses an event it cannot store), and poisoned events
    are listed as unreadable (as malformed data is). Everything else is the real connector."""

    def __init__(self, inner: Connector, machine: SyncMachine) -> None:
        self.inner = inner
        self.machine = machine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _refuse(self, event: EventData) -> None:
        if self.machine.number_of(event) in self.machine.poisoned_here:
            raise InvalidData("The provider refused this event (poisoned by the test).")

    def create(self, event: EventData, **kwargs: Any) -> Any:
        self._refuse(event)
        return self.inner.create(event, **kwargs)

    def create_many(self, items: Sequence[NewItem]) -> list[ItemResult]:
        # The real connector's batches, with the poisoned items refused in them.
        return create_many_checking(self.inner, items, self._refuse)

    def update(self, external_id: str, event: EventData, **kwargs: Any) -> Any:
        self._refuse(event)
        return self.inner.update(external_id, event, **kwargs)

    def _poison(self, changes: Changes) -> Changes:
        items = tuple(
            unreadable(i.external_id, i.etag, InvalidData("Malformed (poisoned by the test)."))
            if i.event is not None
            and self.machine.number_of(i.event) in self.machine.poisoned_there
            else i
            for i in changes.items
        )
        return replace(changes, items=items)

    def changes(self, cursor: str | None) -> Changes:
        return self._poison(self.inner.changes(cursor))

    def full_listing(self) -> Changes:
        return self._poison(self.inner.full_listing())


class SyncMachine(RuleBasedStateMachine):
    link_factory: Any = None  # set per provider: user -> (link, outside connector)
    relink_factory: Any = None  # set per provider: revoked link -> a new link to its calendar
    level: str = Level.FULL  # the practice's default privacy level, for every kind

    def __init__(self) -> None:
        super().__init__()
        TOTALS["examples"] += 1
        if type(self).fake is not None:
            type(self).fake.now = None  # each example starts with the provider's clock right
            # and with none of an earlier example's notifications still to deliver (they would
            # ask for runs of that example's link, not this one's).
            type(self).fake.courier.outbox.clear()
        tenant = TenantFactory()
        level = type(self).level
        PracticePrivacy.objects.create(
            tenant=tenant, client_level=level, other_level=level, personal_level=level
        )
        self.user = entitle(UserFactory(tenant=tenant, role=Role.STAFF))
        self.link, self.outside = type(self).link_factory(self.user)
        self.outside: Connector
        # Items numbered here are poisoned: their writes are refused, or they cannot be read.
        self.poisoned_here: set[int] = set()
        self.poisoned_there: set[int] = set()
        self._registry_get = engine.registry.get
        engine.registry.get = lambda slug: _Wrapped(  # type: ignore[assignment]
            self._registry_get(slug), lambda inner: Poisoning(inner, self)
        )
        # Oracles. Every item created carries a number "#n" in its title that edits keep, so a
        # duplicate (two meetings or two events for one item) shows as a repeated number; and
        # an edit made on one side only must survive (QUALITY I3).
        self.counter = 0
        self.edits: dict[int, list[tuple[str, str]]] = {}
        self.expected: dict[int, str] = {}
        # Push (the Google and Graph fakes): the link's channel, and the provider's outbox.
        self._open_channel()

    @property
    def pushes(self) -> bool:
        return type(self).fake is not None and push.enabled() and push.supports(self.link.provider)

    def _open_channel(self) -> None:
        if self.pushes:
            channel = push.channel_open(link_id=self.link.pk)
            assert channel is not None and channel.state == ChannelState.ACTIVE, channel

    def _new_title(self, title: str) -> str:
        self.counter += 1
        return f"{title} #{self.counter}"

    def number_of(self, event: EventData) -> int | None:
        """The item an event is: the number in its title, or (a copy whose title the privacy
        level replaced) its meeting's."""
        found = _maybe_number(event.title)
        if found is None and event.meeting_id is not None:
            meeting = Meeting.all_objects.filter(pk=event.meeting_id).first()
            found = None if meeting is None else _maybe_number(meeting.title)
        return found

    def _titles_read_back(self, external_id: str, event: EventData) -> bool:
        """Whether an outside title edit of this item comes in: an event made outside always
        (full two-way), one of our copies where its level sends the title as it is."""
        mapping = EventMapping.objects.filter(link=self.link, external_id=external_id).first()
        if mapping is not None:
            imported = bool(mapping.snapshot.get("_imported", False))
            meeting = Meeting.all_objects.get(pk=mapping.meeting_id)
        else:
            imported = event.meeting_id is None
            meeting = Meeting.all_objects.filter(pk=event.meeting_id).first()
        if imported or meeting is None:
            return True
        return "title" in link_privacy(self.link).readable(kind_of(meeting))

    def _edit(self, side: str, number: int, title: str, *, counts: bool = True) -> str:
        new = f"{title} #{number} ({side})"
        if counts:
            self.edits.setdefault(number, []).append((side, new))
        return new

    def _deleted(self, number: int | None) -> None:
        assert number is not None
        self.expected.pop(number, None)
        self.edits.pop(number, None)

    def _level_changed(self) -> None:
        """Outside title edits not yet synced may no longer be read back: either may win."""
        for number, made in self.edits.items():
            if any(side == "there" for side, _ in made):
                self.expected.pop(number, None)
                made.append(("level", ""))

    # -- changes on our side -------------------------------------------------------------------

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17))
    def create_here(self, title: str, day: int, hour: int) -> None:
        make_meeting(self.user, title=self._new_title(title), start=_start(day, hour))

    @rule(data=st.data(), title=TITLES, field=st.sampled_from(["title", "description"]))
    def edit_here(self, data: st.DataObject, title: str, field: str) -> None:
        meetings = list(Meeting.objects.filter(owner=self.user).order_by("pk"))
        if meetings:
            meeting = data.draw(st.sampled_from(meetings))
            if field == "title":
                new = self._edit("here", _number(meeting.title), title)
                meeting_update(meeting=meeting, data=data_of(meeting, title=new))
            else:  # another field: a later edit here that must not undo a title edit there
                meeting_update(meeting=meeting, data=data_of(meeting, description=title))

    @rule(data=st.data())
    def delete_here(self, data: st.DataObject) -> None:
        meetings = list(Meeting.objects.filter(owner=self.user).order_by("pk"))
        if meetings:
            meeting = data.draw(st.sampled_from(meetings))
            self._deleted(_number(meeting.title))
            meeting_delete(meeting=meeting)

    # -- changes on the provider ---------------------------------------------------------------

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17))
    def create_there(self, title: str, day: int, hour: int) -> None:
        self._create_outside(title, day, hour, "outside")

    def _create_outside(self, title: str, day: int, hour: int, kind: str) -> None:
        """An event made outside, an hour long (``kind`` "poison": one no run can read)."""
        start = _start(day, hour)
        event = EventData(
            uid="",
            title=self._new_title(title),
            start=start,
            end=start + timedelta(hours=1),
            time_zone="Europe/Amsterdam",
        )
        if kind == "poison":  # poisoned before the create: no run may ever read it
            self.poisoned_there.add(_number(event.title))
        self.outside.create(event, idempotency_key=f"{kind}{self.link.pk}n{self.counter}")

    @rule(
        data=st.data(),
        title=TITLES,
        shift=st.sampled_from([0, 1]),
        field=st.sampled_from(["title", "location"]),
    )
    def edit_there(self, data: st.DataObject, title: str, shift: int, field: str) -> None:
        items = [i for i in self.outside.full_listing().items if i.event is not None]
        if items:
            item = data.draw(st.sampled_from(sorted(items, key=lambda i: i.external_id)))
            assert item.event is not None
            moved = timedelta(hours=shift)
            number = self.number_of(item.event)
            assert number is not None, item.event
            counts = self._titles_read_back(item.external_id, item.event)
            new = self._edit("there", number, title, counts=counts) if field == "title" else ""
            try:
                self.outside.update(
                    item.external_id,
                    replace(
                        item.event,
                        title=new or item.event.title,
                        location=item.event.location if new else title,
                        start=item.event.start + moved,
                        end=item.event.end + moved,
                        meeting_id=item.event.meeting_id,
                    ),
                    etag=item.etag,
                )
            except ConnectorError:
                if new and counts:
                    self.edits[number].pop()  # not made after all

    @rule(data=st.data())
    def delete_there(self, data: st.DataObject) -> None:
        items = list(self.outside.full_listing().items)
        if items:
            item = data.draw(st.sampled_from(sorted(items, key=lambda i: i.external_id)))
            if item.event is not None:
                self._deleted(self.number_of(item.event))
            self.outside.delete(item.external_id, etag=None)

    # -- sync, and the faults ------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        TOTALS["steps"] += 1
        outcome = run_link(self.link.pk)
        assert outcome.status in ("ok", "stopped"), outcome.detail
        if outcome.status == "ok":
            self._fold_edits()
            self._check_history(outcome.run_id, outcome.counts or {})

    def _fold_edits(self) -> None:
        """After a successful sync: an item edited on one side only must keep that edit."""
        for number, made in self.edits.items():
            if made and len({side for side, _ in made}) == 1 and made[-1][0] != "level":
                self.expected[number] = made[-1][1]
            elif made:
                self.expected.pop(number, None)  # a conflict: either side may win
        self.edits.clear()

    def _check_history(self, run_id: str, counts: dict[str, int]) -> None:
        """The sync history (issue 16 §2): at most one row per applied write of the run, and
        exactly one per create (a create always changes something)."""
        from calsync.models import SyncChange

        token = int(run_id.split(".")[1])
        rows = SyncChange.objects.filter(link_id=self.link.pk, lease_token=token)
        for direction in ("here", "there"):
            for verb in ("created", "updated", "deleted"):
                n = rows.filter(direction=direction, action=verb).count()
                applied = counts.get(f"{verb}_{direction}", 0)
                assert n == applied if verb == "created" else n <= applied, (verb, n, counts)

    @rule()
    def sync_twice(self) -> None:
        """The same task delivered twice (QUALITY: Celery redelivery)."""
        self.sync()
        self.sync()

    @rule(after=st.integers(1, 3))
    def crash_mid_run(self, after: int) -> None:
        """A worker killed after ``after`` state writes: the provider write landed, our commit
        did not. The lease then expires and the next run must finish the job."""
        original = engine._check_lease
        calls = {"n": 0}

        def crashing(link_id: int, token: int) -> None:
            calls["n"] += 1
            if calls["n"] >= after:
                raise KeyboardInterrupt  # not caught by the engine, like a killed process
            original(link_id, token)

        engine._check_lease = crashing  # type: ignore[assignment]
        try:
            run_link(self.link.pk)
        except KeyboardInterrupt:
            pass
        finally:
            engine._check_lease = original  # type: ignore[assignment]
        CalendarLink.objects.filter(pk=self.link.pk).update(lease_until=None)

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17), weeks=st.integers(1, 8))
    def create_series_here(self, title: str, day: int, hour: int, weeks: int) -> None:
        start = _start(day, hour)
        rule = Rule(
            Frequency.WEEKLY,
            until=(start + timedelta(weeks=weeks)).date(),
            weekdays=frozenset({Weekday(start.weekday())}),
        )
        make_meeting(self.user, title=self._new_title(title), start=start, rule=rule)

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17))
    def create_client_appointment_here(self, title: str, day: int, hour: int) -> None:
        """A client appointment (its level is the one with the client's data, issue 16 §1)."""
        client = ClientFactory(tenant=self.user.tenant, name=f"Client {self.counter}")
        make_meeting(
            self.user,
            title=self._new_title(title),
            start=_start(day, hour),
            client=client,
            description=f"notes on {client.name}",
        )

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17))
    def create_poisoned_here(self, title: str, day: int, hour: int) -> None:
        """A meeting the provider will refuse to take, whatever is done to it."""
        meeting = make_meeting(self.user, title=self._new_title(title), start=_start(day, hour))
        self.poisoned_here.add(_number(meeting.title))

    @rule(title=TITLES, day=st.integers(1, 20), hour=st.integers(8, 17))
    def create_poisoned_there(self, title: str, day: int, hour: int) -> None:
        """An event made outside that cannot be read."""
        self._create_outside(title, day, hour, "poison")

    @rule()
    def revoke_and_link_again(self) -> None:
        """The staff member revokes access, then sets up the same calendar again (issue 12 §2):
        the new link must adopt what the earlier one held, never import or send it twice."""
        push.link_channels_stop(self.link, reason="revoked")  # as link_revoke does, first
        CalendarLink.objects.filter(pk=self.link.pk).update(
            # What link_revoke does, short of asking the provider to revoke the grant (the
            # outside client of these tests shares that grant).
            state=LinkState.REVOKED,
            revoked_at=timezone.now(),
            next_sync_at=None,
            credentials="",
            cursor="",
        )
        self.link.refresh_from_db()
        old = self.link
        self.link = type(self).relink_factory(self.link)  # at the practice's default levels
        self._level_changed()
        self._open_channel()
        if self.pushes:
            # The old channel's notifications still on their way ask for nothing.
            scheduler.run_started(old.pk)
            self._deliver(list(self._outbox()))
            assert not scheduler.is_queued(old.pk)

    @rule(level=st.sampled_from(list(Level)), kind=st.sampled_from(["client", "other", "personal"]))
    def change_level(self, level: str, kind: str) -> None:
        """The staff member chooses another privacy level: the next run rewrites every copy."""
        self.link.refresh_from_db()
        if link_privacy_update(link=self.link, actor=self.user, levels={kind: level}):
            self._level_changed()
        self.link.refresh_from_db()

    @rule()
    def rate_limited_sync(self) -> None:
        """The provider answers 429 to this run's first request: the run fails cleanly and
        the next one catches up."""
        original = engine.registry.get

        class Throttled:
            def __init__(self, provider: Any) -> None:
                self.provider = provider

            def connector(self, link: Any, *, default_zone: str) -> Any:
                inner = self.provider.connector(link, default_zone=default_zone)

                def refuse(*args: Any, **kwargs: Any) -> Any:
                    raise RateLimited("429", retry_after=7)

                inner.changes = refuse
                inner.full_listing = refuse
                return inner

        engine.registry.get = lambda slug: Throttled(original(slug))  # type: ignore[assignment,return-value]
        try:
            assert run_link(self.link.pk).status == "failed"
        finally:
            engine.registry.get = original  # type: ignore[method-assign]

    @rule()
    def overtaken_run(self) -> None:
        """Two runs at once: run A's lease expires mid-run, run B takes over; whatever A tries
        to write afterwards is refused by the fencing token."""
        a = engine._acquire(self.link.pk, timezone.now())
        if a is None:
            return
        CalendarLink.objects.filter(pk=self.link.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        self.sync()
        with pytest.raises(engine.LeaseLost), transaction.atomic():
            engine._check_lease(self.link.pk, a.link.lease_token)

    @rule(minutes=st.sampled_from([-10, 10]))
    def skew_provider_clock(self, minutes: int) -> None:
        """The provider's clock runs ahead or behind ours (its 'updated' stamps with it)."""
        if type(self).fake is not None:
            type(self).fake.advance(timedelta(minutes=minutes))

    fake: Any = None

    @rule()
    def expire_cursor(self) -> None:
        CalendarLink.objects.filter(pk=self.link.pk).exclude(cursor="").update(
            cursor=self.outside_bogus_cursor()
        )

    def outside_bogus_cursor(self) -> str:
        return str(type(self).bogus_cursor())

    bogus_cursor: Any = None

    # -- push: the provider's notifications and channels ---------------------------------------

    def _outbox(self) -> list[Any]:
        return type(self).fake.courier.outbox if self.pushes else []

    def _deliver(self, messages: list[Any]) -> list[int]:
        courier = type(self).fake.courier
        courier.outbox[:] = [m for m in courier.outbox if m not in messages]
        return [m.deliver() for m in messages]

    def _run_if_asked(self) -> None:
        """What the interactive worker does with a debounced run the webhook asked for."""
        if scheduler.is_queued(self.link.pk):
            scheduler.run_started(self.link.pk)
            TOTALS["pushed_runs"] += 1
            self.sync()

    def _ours(self, statuses: list[int]) -> None:
        # Every notification the provider sends us is acknowledged (2xx): a 4xx or 5xx would
        # make it retry (Graph for hours) or drop the channel.
        assert all(200 <= status < 300 for status in statuses), statuses

    @rule()
    def notifications_delivered(self) -> None:
        """The provider's notifications arrive; a change among them asks for a run."""
        messages = self._outbox()
        if not messages:
            return
        changes = [m for m in messages if m.headers.get("X-Goog-Resource-State") != "sync"]
        scheduler.run_started(self.link.pk)
        self._ours(self._deliver(list(messages)))
        live = PushChannel.objects.filter(link=self.link, state__in=LIVE_CHANNEL_STATES)
        if changes and live.exists():
            assert scheduler.is_queued(self.link.pk), "a notification asked for no run"
        self._run_if_asked()

    @rule()
    def notifications_dropped(self) -> None:
        """The provider loses what it had to send (the next sync makes up for it)."""
        if self.pushes:
            type(self).fake.courier.outbox.clear()

    @rule()
    def notifications_duplicated(self) -> None:
        """Each notification arrives twice: still one run."""
        messages = list(self._outbox())
        if messages:
            scheduler.run_started(self.link.pk)
            self._ours(self._deliver(messages) + [m.deliver() for m in messages])
            self._run_if_asked()

    @rule()
    def notifications_reordered(self) -> None:
        """Notifications arrive out of order (late ones after later ones)."""
        messages = list(reversed(self._outbox()))
        if messages:
            self._ours(self._deliver(messages))
            self._run_if_asked()

    @rule()
    def forged_notification(self) -> None:
        """Someone posts a notification with our channel's name and a guessed secret: refused,
        and no run is asked for."""
        if not self.pushes:
            return
        channel = PushChannel.objects.filter(link=self.link, state=ChannelState.ACTIVE).first()
        if channel is None:
            return
        fake = type(self).fake
        address = push.address(self.link.provider)
        if self.link.provider == "google":
            forged = fake.stray_notification(
                address, channel_id=channel.key, resource_id=channel.resource_id, token="guess"
            )
        else:
            forged = fake.stray_notification(
                address, subscription_id=channel.provider_id, client_state=f"{channel.key}.guess"
            )
        scheduler.run_started(self.link.pk)
        assert forged.deliver() == 403
        assert not scheduler.is_queued(self.link.pk)

    @rule()
    def channel_expires(self) -> None:
        """The channel's lifetime runs out at the provider; beat sees it expired and makes a
        new one (changes in between come with the next sync)."""
        if not self.pushes:
            return
        channel = PushChannel.objects.filter(link=self.link, state=ChannelState.ACTIVE).first()
        if channel is None:
            return
        fake = type(self).fake
        with fake.lock:
            if self.link.provider == "google":
                fake.channels[channel.key].expiration_ms = 0
            else:
                fake.subscriptions.pop(channel.provider_id, None)
        PushChannel.objects.filter(pk=channel.pk).update(expires_at=timezone.now())
        counts = push.maintain()
        TOTALS["channels_expired"] += 1
        assert counts.get("expired") == 1 and counts.get("open") == 1, counts
        assert PushChannel.objects.filter(link=self.link, state=ChannelState.ACTIVE).exists()

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def channels_are_ours_and_one_per_link(self) -> None:
        """Push: at most one current channel per link, and the provider holds no channel (or
        subscription) of this calendar that we do not keep live."""
        if not self.pushes:
            return
        current = PushChannel.objects.filter(
            link__user=self.user, state__in=[ChannelState.CREATING, ChannelState.ACTIVE]
        )
        assert current.count() <= 1
        live = PushChannel.objects.filter(link__user=self.user, state__in=LIVE_CHANNEL_STATES)
        fake = type(self).fake
        if self.link.provider == "google":
            at_provider = {c.id for c in fake.live_channels(self.link.calendar_id)}
            assert at_provider <= set(live.values_list("key", flat=True)), at_provider
        else:
            at_provider = {s.id for s in fake.live_subscriptions(self.link.account)}
            assert at_provider <= set(live.values_list("provider_id", flat=True)), at_provider

    @invariant()
    def no_duplicates(self) -> None:
        """I2 in content: no item exists twice on either side."""
        here = [_number(m.title) for m in Meeting.objects.filter(owner=self.user)]
        assert len(here) == len(set(here)), sorted(here)

    @invariant()
    def no_duplicate_mappings(self) -> None:
        """I2: the database's unique constraints hold the pairs one to one."""
        rows = list(
            EventMapping.objects.filter(link=self.link).values_list("meeting_id", "external_id")
        )
        assert len({m for m, _ in rows}) == len(rows) == len({e for _, e in rows})

    def teardown(self) -> None:
        try:
            self._check_final_state()
        finally:
            engine.registry.get = self._registry_get  # type: ignore[method-assign]

    def _check_final_state(self) -> None:
        """I1, I2, I5, I10 after a final quiet sync (the mass-delete guard allowed), with the
        poisoned items present: each told to the user, none synced, nothing else held up."""
        CalendarLink.objects.filter(pk=self.link.pk).update(allow_mass_delete=True)
        for _ in range(2):
            outcome = run_link(self.link.pk)
            assert outcome.status == "ok", outcome.detail
            self._fold_edits()
        quiet = run_link(self.link.pk)
        assert quiet.status == "ok" and quiet.counts == {}, quiet.counts  # I5, I8
        poisoned = self.poisoned_here | self.poisoned_there
        meetings = {
            m.pk: m
            for m in Meeting.objects.filter(owner=self.user)
            if _number(m.title) not in poisoned
        }
        here = {
            pk: snapshot_of_meeting(
                m, list(m.resources.all()), [a.user for a in m.attendance.all()]
            )
            for pk, m in meetings.items()
        }
        ignore = frozenset({self.user.email.lower(), self.link.account.lower()})
        listing = [i for i in self.outside.full_listing().items if i.event is not None]
        numbers_there = {
            i.external_id: self.number_of(i.event) for i in listing if i.event is not None
        }
        there = {
            i.external_id: snapshot_of_event(i.event, ignore=ignore)
            for i in listing
            if i.event is not None and numbers_there[i.external_id] not in poisoned
        }
        # A poisoned item stays on its own side, and the user was told about it.
        told = set(
            SyncMessage.objects.filter(link__user=self.user).values_list("subject", flat=True)
        )
        for meeting in Meeting.objects.filter(owner=self.user):
            if _number(meeting.title) in self.poisoned_here:
                assert str(meeting.pk) in told, meeting.title
                assert not EventMapping.objects.filter(link=self.link, meeting=meeting).exists()
        for item in listing:
            assert item.event is not None
            if numbers_there[item.external_id] in self.poisoned_there:
                assert not Meeting.objects.filter(
                    owner=self.user, title__contains=f"#{numbers_there[item.external_id]}"
                ).exists(), item.event.title
                assert not EventMapping.objects.filter(
                    link=self.link, external_id=item.external_id
                ).exists()
        rows = list(EventMapping.objects.filter(link=self.link))
        mappings = {m.external_id: m.meeting_id for m in rows}
        imported = {m.external_id for m in rows if m.snapshot.get("_imported", False)}
        privacy = link_privacy(self.link)
        # I10: mappings are exactly the live pairs; I2: one copy per meeting and back.
        lonely_mappings = {
            e: Meeting.all_objects.get(pk=m).title for e, m in mappings.items() if e not in there
        }
        lonely_events = {e: there[e]["title"] for e in there if e not in mappings}
        assert not lonely_mappings and not lonely_events, (lonely_mappings, lonely_events)
        assert set(mappings.values()) == set(here)
        # I1: the outside copy equals the redaction of the meeting (an event made outside: the
        # meeting itself).
        for external_id, meeting_id in mappings.items():
            copy = privacy.sent(
                here[meeting_id],
                kind_of(meetings[meeting_id]),
                imported=external_id in imported,
            )
            assert there[external_id] == copy, (there[external_id], copy)
        numbers = [numbers_there[e] for e in there]
        assert len(numbers) == len(set(numbers)), sorted(numbers)  # I2 on the provider
        # I3: an edit made on one side only survived.
        titles = {_number(s["title"]): s["title"] for s in here.values()}
        for number, title in self.expected.items():
            if number in titles:
                assert titles[number] == title, (number, titles[number], title)


def _number(title: str) -> int:
    found = _maybe_number(title)
    assert found is not None, title
    return found


def _maybe_number(title: str) -> int | None:
    found = re.search(r"#(\d+)", title)
    return int(found.group(1)) if found else None


class _Wrapped:
    """A provider whose connectors go through ``wrap`` (see ``Poisoning``)."""

    def __init__(self, provider: Any, wrap: Any) -> None:
        self.provider = provider
        self.wrap = wrap

    def __getattr__(self, name: str) -> Any:  # capabilities, revoke, ...: the real provider's
        return getattr(self.provider, name)

    def connector(self, link: Any, *, default_zone: str) -> Any:
        return self.wrap(self.provider.connector(link, default_zone=default_zone))


def _machine(
    link_factory: Any, bogus: Any, relink: Any, fake: Any = None, *, level: str = Level.FULL
) -> type[SyncMachine]:
    return type(
        "Machine",
        (SyncMachine,),
        {
            "link_factory": staticmethod(link_factory),
            "relink_factory": staticmethod(relink),
            "bogus_cursor": staticmethod(bogus),
            "fake": fake,
            "level": level,
        },
    )


LEVELS = pytest.mark.parametrize("level", [str(level) for level in Level])


STATEFUL = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.mark.django_db
@LEVELS
def test_state_machine_on_radicale(radicale, level) -> None:  # type: ignore[no-untyped-def]
    from tests.engine.helpers import link_again, link_caldav

    machine = _machine(
        lambda user: link_caldav(user, radicale),
        lambda: radicale.bogus_sync_token,
        lambda old: link_again(old, {"password": radicale.password}),
        level=level,
    )
    run_state_machine_as_test(machine, settings=STATEFUL)
    print(f"state machine on Radicale: {TOTALS}")


@pytest.mark.django_db
@LEVELS
def test_state_machine_on_the_google_fake(google_fake, settings, level) -> None:  # type: ignore[no-untyped-def]
    from connectors.google.connector import GoogleConnector
    from tests.engine.helpers import google_secrets, link_again, link_google
    from tests.fakes.google import SCOPE_APP_CREATED
    from tests.push_helpers import PUBLIC_URL, DjangoTransport

    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    settings.CALSYNC_PUBLIC_URL = PUBLIC_URL  # push on: the machine's notification rules apply
    google_fake.courier.transport = DjangoTransport()

    def link_factory(user):  # type: ignore[no-untyped-def]
        link, calendar_id = link_google(user, google_fake)
        tokens = google_fake.issue_tokens(link.account, [SCOPE_APP_CREATED])
        return link, GoogleConnector(
            credentials=tokens.credentials(),
            calendar_id=calendar_id,
            api_endpoint=google_fake.api_endpoint,
            default_zone=user.time_zone,
            timeout=10,
        )

    def bogus() -> str:
        token = "CPDAlvWDx70CEPDAlvWDx70CGAU="
        google_fake.invalidate_sync_token(token)
        return token

    def relink(old):  # type: ignore[no-untyped-def]
        return link_again(old, google_secrets(google_fake, old.account))

    run_state_machine_as_test(
        _machine(link_factory, bogus, relink, google_fake, level=level), settings=STATEFUL
    )
    print(f"state machine on the Google fake: {TOTALS}")


@pytest.mark.django_db
@LEVELS
def test_state_machine_on_the_graph_fake(microsoft_fake, level) -> None:  # type: ignore[no-untyped-def]
    import json
    from datetime import UTC

    from django.test import override_settings

    from connectors.microsoft.connector import MicrosoftConnector
    from connectors.microsoft.oauth import TokenSource
    from tests.engine.helpers import link_again, link_microsoft
    from tests.push_helpers import PUBLIC_URL, DjangoTransport

    fake = microsoft_fake
    fake.courier.transport = DjangoTransport()
    state: dict[str, str] = {}

    def link_factory(user):  # type: ignore[no-untyped-def]
        link, calendar_id = link_microsoft(user, fake)
        state["calendar"] = calendar_id
        outside = MicrosoftConnector(
            tokens=TokenSource(fake.sign_in(link.account)),
            calendar_id=calendar_id,
            graph_endpoint=fake.graph_endpoint,
            mailbox=link.account,
            default_zone=user.time_zone,
            timeout=10,
        )
        return link, outside

    def bogus() -> str:
        # A deltaLink Graph no longer knows (syncStateNotFound, PROTOCOLS.md §2.2).
        delta = f"{fake.graph_endpoint}/me/calendars/{state['calendar']}/calendarView/delta"
        until = (datetime.now(UTC) + timedelta(days=700)).isoformat()
        return json.dumps(
            {"v": 1, "delta": f"{delta}?$deltatoken=gone", "series": [], "until": until}
        )

    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=fake.graph_endpoint,
        CALSYNC_PUBLIC_URL=PUBLIC_URL,
    ):
        run_state_machine_as_test(
            _machine(
                link_factory,
                bogus,
                lambda old: link_again(old, fake.sign_in(old.account)),
                fake,
                level=level,
            ),
            settings=STATEFUL,
        )
    print(f"state machine on the Graph fake: {TOTALS}")
