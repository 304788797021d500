"""The sync scheduler (calsync/scheduler.py) with time passed in: cadence, claiming, back-off,
pause, on-commit push, and two dispatchers on real PostgreSQL claiming disjoint sets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.test import override_settings

from accounts.models import User
from calsync import scheduler
from calsync.engine.run import Outcome
from calsync.models import CalendarLink, LinkState, Provider, SyncMessage
from calsync.tasks import fan_out_polls, sync_link
from tests.factories import UserFactory, make_meeting

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTIVE = timedelta(minutes=3)
INACTIVE = timedelta(minutes=50)


def make_link(user: User, *, due: datetime | None = NOW, **extra: Any) -> CalendarLink:
    assert user.tenant is not None
    return CalendarLink.objects.create(
        tenant=user.tenant,
        user=user,
        provider=Provider.GOOGLE,
        account=f"{user.pk}@gmail.example",
        calendar_id=f"cal-{CalendarLink.objects.count()}",
        next_sync_at=due,
        **extra,
    )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, float]]:
    """Record what would be enqueued instead of running it (the eager test settings would run
    the engine against links that have no provider)."""
    calls: list[tuple[int, str, float]] = []

    def record(args: tuple[int], queue: str, countdown: float = 0, **_: Any) -> None:
        calls.append((args[0], queue, countdown))

    monkeypatch.setattr(sync_link, "apply_async", record)
    return calls


def next_at(link: CalendarLink) -> datetime:
    link.refresh_from_db()
    assert link.next_sync_at is not None
    return link.next_sync_at


def within_jitter(actual: datetime, expected: timedelta) -> bool:
    return NOW + expected * 0.9 - timedelta(seconds=1) <= actual <= NOW + expected * 1.1


@pytest.mark.django_db
def test_active_user_is_polled_every_3_minutes_inactive_every_50(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    staff.last_seen_at = NOW - timedelta(minutes=5)
    staff.save()
    away = UserFactory(tenant=staff.tenant, last_seen_at=NOW - timedelta(hours=2))
    never = UserFactory(tenant=staff.tenant, last_seen_at=None)
    active_link, away_link, never_link = make_link(staff), make_link(away), make_link(never)

    claimed = scheduler.dispatch(now=NOW)

    assert sorted(claimed) == sorted([active_link.pk, away_link.pk, never_link.pk])
    assert sorted(sent) == sorted((pk, "background", 0) for pk in claimed)
    assert within_jitter(next_at(active_link), ACTIVE)
    assert within_jitter(next_at(away_link), INACTIVE)
    assert within_jitter(next_at(never_link), INACTIVE)


@pytest.mark.django_db
def test_cadence_switches_when_activity_changes(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    staff.last_seen_at = NOW - timedelta(hours=3)
    staff.save()
    link = make_link(staff)
    scheduler.dispatch(now=NOW)
    assert within_jitter(next_at(link), INACTIVE)

    # The user comes back: the middleware stamps last_seen_at. PRODUCT 23: "goes back to 3
    # minutes as soon as they return", so the pending 50-minute slot is brought forward.
    staff.last_seen_at = NOW
    staff.save()
    assert scheduler.dispatch(now=NOW) == []
    scheduler.user_returned(staff.pk, now=NOW)
    assert next_at(link) <= NOW + ACTIVE
    assert scheduler.dispatch(now=NOW + ACTIVE) == [link.pk]
    later = NOW + ACTIVE
    link.refresh_from_db()
    assert link.next_sync_at is not None
    assert later + ACTIVE * 0.9 - timedelta(seconds=1) <= link.next_sync_at <= later + ACTIVE * 1.1

    # Away again for longer than the window: back to 50 minutes.
    much_later = NOW + timedelta(hours=2)
    assert scheduler.dispatch(now=much_later) == [link.pk]
    link.refresh_from_db()
    assert link.next_sync_at is not None
    assert link.next_sync_at >= much_later + INACTIVE * 0.9 - timedelta(seconds=1)


@pytest.mark.django_db
def test_only_due_active_unpaused_links_are_claimed(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    due = make_link(staff)
    make_link(UserFactory(tenant=staff.tenant), due=NOW + timedelta(seconds=1))
    make_link(UserFactory(tenant=staff.tenant), state=LinkState.NEEDS_RECONNECT)
    make_link(UserFactory(tenant=staff.tenant), state=LinkState.REVOKED)
    make_link(UserFactory(tenant=staff.tenant), billing_paused=True)
    make_link(UserFactory(tenant=staff.tenant), due=None)
    assert scheduler.dispatch(now=NOW) == [due.pk]
    # Claimed means moved on: a second dispatch at the same instant finds nothing.
    assert scheduler.dispatch(now=NOW) == []
    assert len(sent) == 1


@pytest.mark.django_db
def test_dispatch_claims_in_batches_until_none_is_due(
    tenant: Any, sent: list[tuple[int, str, float]]
) -> None:
    links = [make_link(UserFactory(tenant=tenant)) for _ in range(7)]
    assert sorted(scheduler.dispatch(now=NOW, batch=3)) == sorted(link.pk for link in links)
    assert len(sent) == 7


@pytest.mark.django_db
@override_settings(CALSYNC_DISPATCH_DIRECT=3, CALSYNC_DISPATCH_FANOUT_SIZE=2)
def test_a_big_round_goes_out_in_fan_out_messages_past_the_direct_share(
    tenant: Any, sent: list[tuple[int, str, float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 §5: past CALSYNC_DISPATCH_DIRECT links in a round, one message per
    CALSYNC_DISPATCH_FANOUT_SIZE links, which the worker that takes it expands into one poll
    each. Batches of 4 show the direct share counted over the round, not per batch."""
    links = sorted(make_link(UserFactory(tenant=tenant)).pk for _ in range(8))
    fan_outs: list[list[int]] = []

    def deliver(args: tuple[list[int]], queue: str, **_: Any) -> None:
        assert queue == "background"
        fan_outs.append(list(args[0]))
        fan_out_polls.run(args[0])  # what the worker taking the message does

    monkeypatch.setattr(fan_out_polls, "apply_async", deliver)
    claimed = scheduler.dispatch(now=NOW, batch=4)

    assert sorted(claimed) == links
    direct = [link_id for link_id, _, _ in sent[:3]]
    assert [len(f) for f in fan_outs] == [1, 2, 2]  # batch 1: 3 direct + 1; batch 2: 2 + 2
    assert sorted(direct + [i for f in fan_outs for i in f]) == links
    # Every link got exactly one poll on the background queue, whichever way it went out.
    assert sorted(link_id for link_id, _, _ in sent) == links
    assert {queue for _, queue, _ in sent} == {"background"}


@pytest.mark.django_db
def test_global_pause_stops_claiming_and_runs(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    link = make_link(staff)
    scheduler.set_sync_paused(True)
    assert scheduler.sync_paused()
    assert scheduler.dispatch(now=NOW) == []
    assert sync_link.run(link.pk) == "paused"
    scheduler.set_sync_paused(False)
    assert scheduler.dispatch(now=NOW) == [link.pk]


@pytest.mark.django_db
def test_sync_link_returns_quietly_for_gone_or_paused_links(staff: User) -> None:
    assert sync_link.run(987654) == "gone"
    link = make_link(staff, billing_paused=True)
    assert sync_link.run(link.pk) == "gone"


@override_settings(CALSYNC_BACKOFF_BASE_SECONDS=60, CALSYNC_BACKOFF_MAX_SECONDS=3600)
def test_backoff_is_exponential_capped_and_honours_retry_after() -> None:
    assert [scheduler.backoff_seconds(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert scheduler.backoff_seconds(20) == 3600
    assert scheduler.backoff_seconds(1, retry_after=900) == 900
    assert scheduler.backoff_seconds(3, retry_after=10) == 240


@pytest.mark.django_db
def test_a_failed_run_moves_the_next_poll_by_the_backoff(staff: User) -> None:
    link = make_link(staff, failure_count=3)
    scheduler.after_run(link.pk, Outcome("failed", detail="503"), now=NOW)
    assert next_at(link) == NOW + timedelta(seconds=240)
    scheduler.after_run(link.pk, Outcome("failed", detail="429", retry_after=7200), now=NOW)
    assert next_at(link) == NOW + timedelta(hours=2)


@pytest.mark.django_db
def test_needs_reconnect_tells_the_user_once_and_is_not_claimed(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    link = make_link(staff, state=LinkState.NEEDS_RECONNECT)
    for _ in range(2):
        scheduler.after_run(link.pk, Outcome("needs-reconnect", detail="invalid_grant"), now=NOW)
    message = SyncMessage.objects.get(link=link, code="reconnect")
    assert "reconnect" in message.text and message.emailed_at is not None
    assert len(mail.outbox) == 1 and staff.email in mail.outbox[0].to
    assert scheduler.dispatch(now=NOW + timedelta(days=1)) == []


@pytest.mark.django_db
def test_a_meeting_write_pushes_once_after_commit_on_the_interactive_queue(
    staff: User,
    sent: list[tuple[int, str, float]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    link = make_link(staff, due=NOW + timedelta(hours=1))
    other = make_link(UserFactory(tenant=staff.tenant))
    make_link(staff, state=LinkState.NEEDS_RECONNECT, due=None)
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            make_meeting(staff, title=f"Burst {i}")
    # Nothing before the commit: the callbacks only ran when the block above "committed".
    assert sent == [(link.pk, "interactive", settings.CALSYNC_PUSH_DEBOUNCE_SECONDS)]
    assert other.pk not in [pk for pk, _, _ in sent]
    # The run starts: the next edit queues another.
    scheduler.run_started(link.pk)
    with django_capture_on_commit_callbacks(execute=True):
        make_meeting(staff, title="After")
    assert len(sent) == 2


@pytest.mark.django_db
def test_no_push_when_the_transaction_rolls_back(
    staff: User, sent: list[tuple[int, str, float]]
) -> None:
    make_link(staff)
    with pytest.raises(RuntimeError), transaction.atomic():
        make_meeting(staff)
        raise RuntimeError
    assert sent == []


# --- two dispatchers on real PostgreSQL ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_skips_links_another_holds_and_does_not_wait(tenant: Any) -> None:
    links = [make_link(UserFactory(tenant=tenant)) for _ in range(10)]
    held = threading.Event()
    release = threading.Event()
    first: list[int] = []

    def slow_dispatcher() -> None:
        try:
            with transaction.atomic():
                first.extend(scheduler.claim_in_transaction(NOW, 4))
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_dispatcher)
    thread.start()
    assert held.wait(30)
    try:
        # The first dispatcher's transaction is still open, its rows locked.
        second = scheduler.claim_due_links(NOW, 100)
    finally:
        release.set()
        thread.join(30)
    assert len(first) == 4 and len(second) == 6
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == {link.pk for link in links}


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_claim_each_link_exactly_once(
    tenant: Any, sent: list[tuple[int, str, float]]
) -> None:
    links = [make_link(UserFactory(tenant=tenant)) for _ in range(200)]
    start = threading.Barrier(4)
    results: list[list[int]] = [[] for _ in range(4)]

    def dispatcher(index: int) -> None:
        try:
            start.wait(30)
            results[index] = scheduler.dispatch(now=NOW, batch=7)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    claimed = [pk for result in results for pk in result]
    assert sorted(claimed) == sorted(link.pk for link in links)
    assert len(sent) == 200
