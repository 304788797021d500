"""Push end to end on real processes (issue 14): the Google and Graph fakes POST their
notifications over HTTP to the web (a live server), the webhook enqueues a debounced run on the
real Redis broker, a real Celery worker process runs it, and the outside edit is in the practice
calendar within seconds. A dropped notification is caught by beat's safety poll; forged tokens,
wrong clientStates and unknown channels are refused and change nothing; revoke and billing pause
stop the channel (the fake sees channels.stop / DELETE)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync import push
from calsync.celery import app
from calsync.engine.run import run_link
from calsync.models import CalendarLink, ChannelState, PushChannel, SyncRun
from calsync.services import links_set_billing_pause
from tests.conftest import login
from tests.engine.helpers import link_google, link_microsoft
from tests.factories import entitle
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.push_helpers import current
from tests.workers import Worker, _spawn, wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def start_of(days: int = 3) -> Any:
    return timezone.now().replace(second=0, microsecond=0) + timedelta(days=days)


@pytest.fixture
def web(live_server: Any, settings: Any, google_fake: GoogleFake, microsoft_fake: MicrosoftFake,
        monkeypatch: pytest.MonkeyPatch) -> str:  # fmt: skip
    """The web process: this test process's live server at CALSYNC_PUBLIC_URL, enqueueing on
    Redis as production's web does; both fakes deliver to it over HTTP from their own threads."""
    url = str(live_server.url)
    settings.CALSYNC_PUBLIC_URL = url
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    settings.CALSYNC_MICROSOFT_CLIENT_ID = microsoft_fake.client_id
    settings.CALSYNC_MICROSOFT_CLIENT_SECRET = microsoft_fake.client_secret
    settings.CALSYNC_MICROSOFT_AUTHORITY = microsoft_fake.authority
    settings.CALSYNC_MICROSOFT_GRAPH_ENDPOINT = microsoft_fake.graph_endpoint
    google_fake.start_push()
    microsoft_fake.start_push()
    app.control.purge()
    return url


@pytest.fixture
def worker(
    web: str, worker_env: dict[str, str], microsoft_fake: MicrosoftFake, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Starts worker (and beat) processes configured as production: CALSYNC_PUBLIC_URL, the
    fakes' endpoints; msal reaches the Microsoft fake through tests/fakes/worker_plugin.py."""
    started: list[Worker] = []
    env = {
        **worker_env,
        "CALSYNC_PUBLIC_URL": web,
        "CALSYNC_MICROSOFT_CLIENT_ID": microsoft_fake.client_id,
        "CALSYNC_MICROSOFT_CLIENT_SECRET": microsoft_fake.client_secret,
        "CALSYNC_MICROSOFT_GRAPH_ENDPOINT": microsoft_fake.graph_endpoint,
        "CALSYNC_TEST_MICROSOFT_FAKE": microsoft_fake.url,
    }

    def start(kind: str = "worker", **extra: str) -> Worker:
        name = f"push-{os.getpid()}-{len(started)}@%h"
        argv = (
            ["worker", "-Q", "interactive,background", "-c", "1", "-P", "solo", "-n", name,
             "-I", "tests.fakes.worker_plugin"]
            if kind == "worker"
            else ["beat", "-s", str(tmp_path / "celerybeat-schedule")]
        )  # fmt: skip
        process = _spawn(argv, {**env, **extra}, tmp_path / f"{kind}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    app.control.purge()


def arrived(owner: User, title: str) -> Callable[[], bool]:
    return lambda: Meeting.objects.filter(owner=owner, title=title).exists()


def test_an_edit_at_google_reaches_the_practice_calendar_in_seconds(
    staff: User,
    google_fake: GoogleFake,
    worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link, calendar_id = link_google(entitle(staff), google_fake)  # push_open ran on commit
    channel = current(link)
    assert run_link(link.pk).status == "ok"
    monkeypatch.setitem(app.conf, "task_always_eager", False)  # the web enqueues on Redis
    processes = worker()
    # The channel's first message (sync) was acknowledged over HTTP.
    wait_for(lambda: bool(google_fake.courier.deliveries), processes, "the sync message")
    assert google_fake.courier.deliveries[0].status == 200

    start = start_of()
    edited = time.monotonic()
    google_fake.user_insert(
        calendar_id,
        {"summary": "Booked at Google", "start": {"dateTime": start.isoformat()},
         "end": {"dateTime": (start + timedelta(hours=1)).isoformat()}},
    )  # fmt: skip
    # No beat process runs in this phase, so nothing polls the link: only the notification can
    # bring the edit. How fast it comes is bench/push_bench.py's figure, not a timed assertion
    # (a loaded CI machine is slower than a quiet one).
    wait_for(arrived(staff, "Booked at Google"), processes, "the pushed change", timeout=60)
    print(f"Google edit -> practice calendar: {time.monotonic() - edited:.1f} s")
    assert [d.status for d in google_fake.courier.deliveries] == [200, 200]
    channel.refresh_from_db()
    assert channel.notifications == 2

    # A notification that Google drops: nothing comes by push, beat's safety poll brings it.
    google_fake.courier.faults.drop()
    later = start + timedelta(hours=2)
    google_fake.user_insert(
        calendar_id,
        {"summary": "Lost notification", "start": {"dateTime": later.isoformat()},
         "end": {"dateTime": (later + timedelta(hours=1)).isoformat()}},
    )  # fmt: skip
    time.sleep(4)  # longer than debounce and run
    assert not arrived(staff, "Lost notification")()
    assert len(google_fake.courier.dropped) == 1
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    beat = worker("beat", CALSYNC_DISPATCH_SECONDS="1")
    wait_for(arrived(staff, "Lost notification"), processes, "the safety poll", timeout=90)
    beat.stop()


def test_forged_and_unknown_notifications_change_nothing(
    staff: User,
    google_fake: GoogleFake,
    microsoft_fake: MicrosoftFake,
    web: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    glink, calendar_id = link_google(entitle(staff), google_fake)
    mlink, _ = link_microsoft(staff, microsoft_fake)
    gchannel, mchannel = current(glink), current(mlink)
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    runs_before = SyncRun.objects.count()
    google_url, graph_url = push.address("google"), push.address("microsoft")
    # A real change whose real notification never comes: only forgeries arrive.
    google_fake.courier.stop()
    microsoft_fake.courier.stop()
    google_fake.user_insert(
        calendar_id,
        {"summary": "Real", "start": {"dateTime": start_of().isoformat()},
         "end": {"dateTime": (start_of() + timedelta(hours=1)).isoformat()}},
    )  # fmt: skip
    google_fake.courier.outbox.clear()
    forged = [
        google_fake.stray_notification(google_url, channel_id=gchannel.key,
                                       resource_id=gchannel.resource_id, token="forged"),
        google_fake.stray_notification(google_url, channel_id=gchannel.key,
                                       resource_id=gchannel.resource_id, token=None),
        google_fake.stray_notification(google_url),
        microsoft_fake.stray_notification(graph_url, subscription_id=mchannel.provider_id,
                                          client_state=f"{mchannel.key}.forged"),
        microsoft_fake.stray_notification(graph_url),
    ]  # fmt: skip
    assert [n.deliver() for n in forged] == [403, 403, 404, 403, 404]
    garbage = requests.post(graph_url, data=b"<xml/>", timeout=10)
    assert garbage.status_code == 400
    for channel in (gchannel, mchannel):
        channel.refresh_from_db()
    assert gchannel.notifications == 1 and mchannel.notifications == 0  # Google's sync only
    # Nothing was sent to the broker.
    with app.connection_for_write() as connection:
        for queue in ("interactive", "background"):
            assert connection.default_channel.client.llen(queue) == 0
    assert SyncRun.objects.count() == runs_before
    assert not Meeting.objects.filter(owner=staff, title="Real").exists()


def test_revoke_and_billing_pause_stop_the_channels_at_the_providers(
    staff: User,
    google_fake: GoogleFake,
    microsoft_fake: MicrosoftFake,
    worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = entitle(staff)
    glink, calendar_id = link_google(user, google_fake)
    mlink, outlook_calendar = link_microsoft(user, microsoft_fake)
    gchannel, mchannel = current(glink), current(mlink)
    assert run_link(mlink.pk).status == "ok"
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    processes = worker()

    # Graph through the worker first: an Outlook edit arrives by push.
    start = start_of()
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    end = start + timedelta(hours=1)
    microsoft_fake.user_create(
        outlook_calendar,
        {"subject": "Booked in Outlook",
         "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
         "end": {"dateTime": end.strftime(fmt), "timeZone": "UTC"}},
    )  # fmt: skip
    edited = time.monotonic()
    wait_for(arrived(user, "Booked in Outlook"), processes, "the pushed Outlook change", timeout=60)
    print(f"Outlook edit -> practice calendar: {time.monotonic() - edited:.1f} s")

    # Billing pause: the worker stops both channels (the fakes see the calls). The worker records
    # the stop after the provider has answered, so wait for both.
    links_set_billing_pause(user=user, paused=True)
    wait_for(
        lambda: (
            not google_fake.live_channels(calendar_id)
            and not microsoft_fake.live_subscriptions(mlink.account)
            and not PushChannel.objects.filter(
                pk__in=[gchannel.pk, mchannel.pk], state=ChannelState.STOPPING
            ).exists()
        ),
        processes,
        "the stops",
    )
    assert google_fake.requests_to("POST", r".*/channels/stop")
    assert microsoft_fake.requests_to("DELETE", rf"/v1\.0/subscriptions/{mchannel.provider_id}")
    for channel in (gchannel, mchannel):
        channel.refresh_from_db()
        assert channel.state == ChannelState.STOPPED and channel.reason == "billing pause"

    # Resumed: new channels; then revoked through the web page: stopped again.
    links_set_billing_pause(user=user, paused=False)
    wait_for(
        lambda: (
            PushChannel.objects.filter(link=glink, state=ChannelState.ACTIVE).exists()
            and PushChannel.objects.filter(link=mlink, state=ChannelState.ACTIVE).exists()
        ),
        processes,
        "the new channels",
    )
    fresh = current(glink)
    leftover = google_fake.notification(fresh.key)
    client = login(user)
    for link in (glink, mlink):
        assert client.post(reverse("calsync:revoke", args=[link.pk])).status_code == 302
    assert google_fake.live_channels(calendar_id) == []
    assert microsoft_fake.live_subscriptions(mlink.account) == []
    # A notification still on its way after the stop is acknowledged and ignored.
    assert leftover.deliver() == 200
    with app.connection_for_write() as connection:
        assert connection.default_channel.client.llen("interactive") == 0
