"""Provider push in this process (PRODUCT 36, issue 14): channels made, renewed and stopped
against the Google and Graph fakes; the webhook endpoints authenticate, answer at once and ask
for one debounced run; the daily reconcile and the quiet poll's cost. The fakes deliver into
Django's test client (tests/push_helpers.py); tests/test_push_workers.py runs the same over
HTTP with real worker processes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync import push, scheduler
from calsync.engine.run import run_link
from calsync.models import CalendarLink, ChannelState, EventMapping, LinkState, PushChannel
from calsync.services import link_revoke, links_set_billing_pause
from tests.conftest import login
from tests.engine.helpers import link_google, link_microsoft
from tests.factories import make_meeting
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.push_helpers import PUBLIC_URL, current

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled", "push_on")]


def soon(days: int = 2, hour: int = 9) -> Any:
    return (timezone.now() + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


def google_event(title: str, days: int = 2) -> dict[str, Any]:
    start = soon(days)
    return {
        "summary": title,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
    }


def graph_event(title: str, days: int = 2) -> dict[str, Any]:
    start = soon(days)
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {
        "subject": title,
        "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
    }


@pytest.fixture
def google(staff: User, google_fake: GoogleFake) -> tuple[CalendarLink, str]:
    link, calendar_id = link_google(staff, google_fake)
    assert run_link(link.pk).status == "ok"
    channel = push.channel_open(link_id=link.pk)
    assert channel is not None and channel.state == ChannelState.ACTIVE, channel
    google_fake.courier.deliver_all()  # the channel's first message (sync)
    return link, calendar_id


@pytest.fixture
def outlook(staff: User, microsoft_fake: MicrosoftFake) -> tuple[CalendarLink, str]:
    link, calendar_id = link_microsoft(staff, microsoft_fake)
    assert run_link(link.pk).status == "ok"
    channel = push.channel_open(link_id=link.pk)
    assert channel is not None and channel.state == ChannelState.ACTIVE, channel.last_error
    return link, calendar_id


def queued(link: CalendarLink) -> bool:
    return scheduler.is_queued(link.pk)


def clear_queue(link: CalendarLink) -> None:
    scheduler.run_started(link.pk)


# -- channels are made as the providers make them ------------------------------------------------


def test_a_google_channel_is_made_with_our_address_and_a_secret_token(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    channel = current(link)
    (at_google,) = google_fake.live_channels(calendar_id)
    assert at_google.id == channel.key and at_google.address == f"{PUBLIC_URL}/push/google/"
    assert at_google.resource_id == channel.resource_id
    # Only a digest of the token is stored; the token Google echoes matches it.
    assert at_google.token not in channel.secret_hash
    assert push.digest(at_google.token or "") == channel.secret_hash
    assert channel.expires_at is not None
    assert timedelta(days=6.9) < channel.expires_at - timezone.now() <= timedelta(days=7)
    # The sync message was acknowledged and counted, and asked for no run.
    assert [d.status for d in google_fake.courier.deliveries] == [200]
    channel.refresh_from_db()
    assert channel.notifications == 1 and not queued(link)


def test_a_graph_subscription_is_made_after_our_endpoint_answers_the_handshake(
    outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, _ = outlook
    channel = current(link)
    (sub,) = microsoft_fake.live_subscriptions(link.account)
    assert sub.id == channel.provider_id and sub.resource == "/me/events"
    assert sub.notification_url == sub.lifecycle_url == f"{PUBLIC_URL}/push/microsoft/"
    assert sub.client_state is not None and sub.client_state.startswith(channel.key + ".")
    # Both URLs were validated: 200, text/plain, the URL-decoded token.
    validations = [
        d for d in microsoft_fake.courier.deliveries if "validationToken" in d.message.url
    ]
    assert len(validations) == 2 and all(d.status == 200 for d in validations)
    assert all(d.headers["Content-Type"].startswith("text/plain") for d in validations)
    # 4,200 minutes: under both documented caps (§2.6).
    assert channel.expires_at is not None
    assert timedelta(minutes=4190) < channel.expires_at - timezone.now() <= timedelta(minutes=4200)


def test_the_validation_handshake_answers_the_url_decoded_token_as_plain_text() -> None:
    token = "Validation: Testing client <b>reachability</b> & Request-Id: 1f2e"
    response = Client().post(
        "/push/microsoft/?validationToken=" + "Validation%3A+Testing+client+%3Cb%3Ereachability"
        "%3C%2Fb%3E+%26+Request-Id%3A+1f2e",
        data=b"",
        content_type="text/plain; charset=utf-8",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    # Decoded, and markup escaped (Graph never sends any, so real tokens come back as sent).
    assert response.content.decode() == token.replace("<", "&lt;").replace(">", "&gt;").replace(
        "& ", "&amp; "
    )


def test_no_channel_without_a_public_url_and_the_page_says_so(
    staff: User, google_fake: GoogleFake, settings: Any
) -> None:
    settings.CALSYNC_PUBLIC_URL = ""
    link, _ = link_google(staff, google_fake)
    assert push.channel_open(link_id=link.pk) is None
    assert google_fake.channels == {}
    page = login(staff).get(reverse("calsync:calendarsync")).content.decode()
    assert "Instant updates are off on this installation" in page
    assert "arrive with the next synchronisation" in page


def test_the_page_says_instant_updates_on_per_link(
    staff: User, google: tuple[CalendarLink, str], radicale: Any
) -> None:
    from tests.engine.helpers import link_caldav

    link_caldav(staff, radicale)
    page = login(staff).get(reverse("calsync:calendarsync")).content.decode()
    assert page.count("Instant updates on: changes made there arrive within seconds.") == 1
    assert "Instant updates are not available for this calendar" in page  # the CalDAV link


def test_setup_asks_for_the_channel_at_once(
    staff: User, google_fake: GoogleFake, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        link, calendar_id = link_google(staff, google_fake)
    assert current(link).state == ChannelState.ACTIVE
    assert len(google_fake.live_channels(calendar_id)) == 1


# -- the Google endpoint -------------------------------------------------------------------------


def test_a_google_notification_asks_for_one_debounced_interactive_run(
    google: tuple[CalendarLink, str],
    google_fake: GoogleFake,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from calsync import tasks

    link, calendar_id = google
    sent: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(tasks.sync_link, "apply_async", lambda args, **kw: sent.append((args, kw)))
    for i in range(5):  # a burst of changes at Google
        google_fake.user_insert(calendar_id, google_event(f"Burst {i}"))
    with django_capture_on_commit_callbacks(execute=True):
        assert google_fake.courier.deliver_all() == [200] * 5
    assert sent == [((link.pk,), {"queue": "interactive", "countdown": 2})]
    channel = current(link)
    assert channel.notifications == 6 and channel.last_notification_at is not None


def test_the_run_a_notification_asks_for_brings_the_change_in(
    staff: User, google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    google_fake.user_insert(calendar_id, google_event("Booked at Google"))
    assert google_fake.courier.deliver_all() == [200]
    assert queued(link)
    assert run_link(link.pk).counts == {"created_here": 1}
    assert Meeting.objects.filter(owner=staff, title="Booked at Google").exists()


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_a_forged_google_token_is_refused_and_changes_nothing(
    google: tuple[CalendarLink, str], google_fake: GoogleFake, token: str
) -> None:
    link, calendar_id = google
    channel = current(link)
    google_fake.user_insert(calendar_id, google_event("Real change"))
    (real,) = google_fake.outbox
    forged = google_fake.stray_notification(
        real.url,
        channel_id=channel.key,
        resource_id=channel.resource_id,
        token=token or None,
    )
    assert forged.deliver() == 403
    assert not queued(link)
    channel.refresh_from_db()
    assert channel.notifications == 1  # only the sync message counted
    assert google_fake.requests_to("POST", r".*/channels/stop") == []


def test_an_unknown_google_channel_is_refused_and_stopped_when_its_calendar_is_ours(
    google: tuple[CalendarLink, str],
    google_fake: GoogleFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, calendar_id = google
    # A channel on the same calendar that we have no record of (left by a crash, say).
    tokens = google_fake.issue_tokens(link.account, ["https://www.googleapis.com/auth/calendar"])
    service = google_fake.calendar_service(tokens.credentials())
    leftover = (
        service.events()
        .watch(
            calendarId=calendar_id,
            body={"id": "leftover-1", "type": "web_hook", "address": f"{PUBLIC_URL}/push/google/",
                  "token": "someone-elses"},
        )
        .execute()
    )  # fmt: skip
    google_fake.courier.outbox.clear()
    google_fake.user_insert(calendar_id, google_event("Seen by both channels"))
    with django_capture_on_commit_callbacks(execute=True):
        statuses = google_fake.courier.deliver_all()
    assert sorted(statuses) == [200, 404]
    assert google_fake.channels["leftover-1"].stopped  # the stray was stopped at Google
    stop = google_fake.requests_to("POST", r".*/channels/stop")[-1].json()
    assert stop == {"id": "leftover-1", "resourceId": leftover["resourceId"]}
    # An unknown channel on a calendar we do not know: 404, nothing else.
    stray = google_fake.stray_notification(f"{PUBLIC_URL}/push/google/")
    assert stray.deliver() == 404
    assert len(google_fake.requests_to("POST", r".*/channels/stop")) == 1


def test_a_duplicated_or_reordered_notification_makes_no_second_run(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    google_fake.courier.faults.duplicate()
    google_fake.user_insert(calendar_id, google_event("Once"))
    google_fake.user_insert(calendar_id, google_event("Twice"))
    google_fake.courier.outbox.reverse()
    assert google_fake.courier.deliver_all() == [200, 200, 200]
    assert queued(link)
    assert run_link(link.pk).counts == {"created_here": 2}
    assert run_link(link.pk).counts == {}


# -- the Graph endpoint --------------------------------------------------------------------------


def test_graph_notifications_with_our_client_state_ask_for_a_run(
    staff: User, outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, calendar_id = outlook
    for i in range(3):
        microsoft_fake.user_create(calendar_id, graph_event(f"Outlook {i}"))
    assert microsoft_fake.courier.deliver_all() == [202]  # one batch
    assert queued(link)
    assert run_link(link.pk).counts == {"created_here": 3}
    assert current(link).notifications == 3


def test_a_wrong_client_state_or_an_unknown_subscription_is_refused(
    outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, _ = outlook
    channel = current(link)
    url = f"{PUBLIC_URL}/push/microsoft/"
    wrong_secret = microsoft_fake.stray_notification(
        url, subscription_id=channel.provider_id, client_state=f"{channel.key}.guessed"
    )
    assert wrong_secret.deliver() == 403
    no_state = microsoft_fake.stray_notification(
        url, subscription_id=channel.provider_id, client_state=None
    )
    assert no_state.deliver() == 404
    assert microsoft_fake.stray_notification(url).deliver() == 404
    assert not queued(link)
    assert current(link).notifications == 0
    client = Client()
    assert client.post(url, data=b"{", content_type="application/json").status_code == 400
    assert client.post(url, data=b"[]", content_type="application/json").status_code == 400
    assert client.get(url).status_code == 405


def test_graph_lifecycle_notifications_renew_recreate_and_resync(
    outlook: tuple[CalendarLink, str],
    microsoft_fake: MicrosoftFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, calendar_id = outlook
    channel = current(link)
    before = timezone.now() + timedelta(hours=1)
    PushChannel.objects.filter(pk=channel.pk).update(expires_at=before)
    # reauthorizationRequired: a PATCH renews and reauthorizes (the lifecycle guide).
    microsoft_fake.reauthorization_required(channel.provider_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert microsoft_fake.courier.deliver_all() == [202]
    patched = microsoft_fake.requests_to("PATCH", rf"/v1\.0/subscriptions/{channel.provider_id}")
    assert len(patched) == 1
    channel.refresh_from_db()
    assert channel.expires_at is not None and channel.expires_at > before + timedelta(days=2)
    (sub,) = microsoft_fake.live_subscriptions(link.account)
    assert not sub.paused

    # missed: the link resyncs.
    clear_queue(link)
    microsoft_fake.user_create(calendar_id, graph_event("Missed by Graph"))
    assert microsoft_fake.miss_notifications(channel.provider_id) == 1
    assert microsoft_fake.courier.deliver_all() == [202]
    assert queued(link)
    assert run_link(link.pk).counts == {"created_here": 1}

    # subscriptionRemoved: a new subscription, and a delta resync.
    clear_queue(link)
    removed_at = timezone.now()
    microsoft_fake.remove_subscription(channel.provider_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert microsoft_fake.courier.deliver_all() == [202]
    channel.refresh_from_db()
    assert channel.state == ChannelState.STOPPED and channel.reason == "removed by the provider"
    fresh = current(link)
    assert fresh.pk != channel.pk
    assert [s.id for s in microsoft_fake.live_subscriptions(link.account)] == [fresh.provider_id]
    link.refresh_from_db()  # the resync ran (eagerly, here) once the new subscription was made
    assert link.last_success_at is not None and link.last_success_at > removed_at


# -- stopping ------------------------------------------------------------------------------------


def test_revoke_stops_the_google_channel_and_later_notifications_are_ignored(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    channel = current(link)
    leftover = google_fake.notification(channel.key)  # one still on its way
    link_revoke(link=link)
    (stop,) = google_fake.requests_to("POST", r".*/channels/stop")
    assert stop.json() == {"id": channel.key, "resourceId": channel.resource_id}
    assert google_fake.live_channels(calendar_id) == []
    channel.refresh_from_db()
    assert channel.state == ChannelState.STOPPED and channel.reason == "revoked"
    assert leftover.deliver() == 200  # acknowledged, ignored
    assert not queued(link)


def test_revoke_deletes_the_graph_subscription(
    outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, _ = outlook
    channel = current(link)
    link_revoke(link=link)
    assert microsoft_fake.requests_to("DELETE", rf"/v1\.0/subscriptions/{channel.provider_id}")
    assert microsoft_fake.live_subscriptions(link.account) == []
    channel.refresh_from_db()
    assert channel.state == ChannelState.STOPPED


def test_billing_pause_stops_and_resuming_makes_a_new_channel(
    staff: User,
    google: tuple[CalendarLink, str],
    google_fake: GoogleFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, calendar_id = google
    old = current(link)
    with django_capture_on_commit_callbacks(execute=True):
        assert links_set_billing_pause(user=staff, paused=True) == 1
    assert google_fake.live_channels(calendar_id) == []
    old.refresh_from_db()
    assert old.state == ChannelState.STOPPED and old.reason == "billing pause"
    with django_capture_on_commit_callbacks(execute=True):
        assert links_set_billing_pause(user=staff, paused=False) == 1
    fresh = current(link)
    assert fresh.pk != old.pk
    assert [c.id for c in google_fake.live_channels(calendar_id)] == [fresh.key]


def test_deleting_the_account_stops_its_channels_after_the_deletion_commits(
    staff: User,
    google: tuple[CalendarLink, str],
    google_fake: GoogleFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, calendar_id = google
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff.delete()
    assert google_fake.live_channels(calendar_id)  # nothing before the commit
    for callback in callbacks:
        callback()
    assert google_fake.live_channels(calendar_id) == []
    assert not CalendarLink.all_objects.filter(pk=link.pk).exists()


def test_a_stop_the_provider_did_not_confirm_is_tried_again_by_beat(
    staff: User,
    google: tuple[CalendarLink, str],
    google_fake: GoogleFake,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, calendar_id = google
    channel = current(link)
    google_fake.server_error(status=503, times=1)
    CalendarLink.objects.filter(pk=link.pk).update(billing_paused=True)
    assert push.link_channels_stop(link, reason="billing pause") == 0
    channel.refresh_from_db()
    assert channel.state == ChannelState.STOPPING and "503" in channel.last_error
    # A notification meanwhile is ignored; beat's next round stops it.
    assert google_fake.notification(channel.key).deliver() == 200 and not queued(link)
    with django_capture_on_commit_callbacks(execute=True):
        assert push.maintain()["stop"] == 1
    channel.refresh_from_db()
    assert channel.state == ChannelState.STOPPED
    assert google_fake.live_channels(calendar_id) == []


# -- renewal, expiry, the operators --------------------------------------------------------------


def test_beat_replaces_a_google_channel_before_it_expires(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    old = current(link)
    PushChannel.objects.filter(pk=old.pk).update(expires_at=timezone.now() + timedelta(hours=3))
    assert push.maintain() == {"renew": 1}  # eager: the task ran
    old.refresh_from_db()
    fresh = current(link)
    assert old.state == ChannelState.STOPPED and old.reason == "renewed"
    assert [c.id for c in google_fake.live_channels(calendar_id)] == [fresh.key]
    # Notifications of the new channel count.
    google_fake.courier.outbox.clear()
    google_fake.user_insert(calendar_id, google_event("After renewal"))
    assert google_fake.courier.deliver_all() == [200] and queued(link)


def test_beat_renews_a_graph_subscription_in_place(
    outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, _ = outlook
    channel = current(link)
    PushChannel.objects.filter(pk=channel.pk).update(expires_at=timezone.now() + timedelta(hours=2))
    assert push.maintain() == {"renew": 1}
    channel.refresh_from_db()
    assert channel.state == ChannelState.ACTIVE and channel.renewed_at is not None
    (sub,) = microsoft_fake.live_subscriptions(link.account)
    assert sub.id == channel.provider_id and channel.expires_at is not None
    assert abs((sub.expiration - channel.expires_at).total_seconds()) < 1


def test_a_subscription_gone_at_graph_is_made_again_on_renewal(
    outlook: tuple[CalendarLink, str], microsoft_fake: MicrosoftFake
) -> None:
    link, _ = outlook
    channel = current(link)
    microsoft_fake.subscriptions.clear()  # deleted by Graph without a word
    fresh = push.channel_renew(channel.pk)
    assert fresh is not None and fresh.state == ChannelState.ACTIVE and fresh.pk != channel.pk
    assert [s.id for s in microsoft_fake.live_subscriptions(link.account)] == [fresh.provider_id]
    assert queued(link)  # what was missed meanwhile is read


def test_an_expired_channel_is_replaced_and_a_failed_one_retried_later(
    google: tuple[CalendarLink, str], google_fake: GoogleFake, settings: Any
) -> None:
    link, calendar_id = google
    channel = current(link)
    google_fake.expire_channel(channel.key)
    PushChannel.objects.filter(pk=channel.pk).update(expires_at=timezone.now())
    google_fake.server_error(status=500, times=1)
    assert push.maintain() == {"expired": 1, "open": 1}
    failed = PushChannel.objects.filter(link=link).latest("created_at")
    assert failed.state == ChannelState.FAILED and "500" in failed.last_error
    cache.clear()
    assert push.maintain() == {}  # no retry before CALSYNC_PUSH_RETRY_MINUTES
    PushChannel.objects.filter(pk=failed.pk).update(
        created_at=timezone.now() - timedelta(minutes=settings.CALSYNC_PUSH_RETRY_MINUTES + 1)
    )
    assert push.maintain() == {"open": 1}
    assert [c.id for c in google_fake.live_channels(calendar_id)] == [current(link).key]


def test_a_channel_that_stays_silent_while_polls_find_changes_is_replaced(
    google: tuple[CalendarLink, str], google_fake: GoogleFake, settings: Any
) -> None:
    from calsync import tasks

    link, calendar_id = google
    old = current(link)
    PushChannel.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=1), last_notification_at=None
    )
    google_fake.courier.faults.drop()  # Google's channel died without a word
    google_fake.user_insert(calendar_id, google_event("Only the poll saw it"))
    assert tasks.sync_link.apply(args=(link.pk,), kwargs={"poll": True}).get() == "ok"
    old.refresh_from_db()
    assert old.suspect_since is not None
    assert push.maintain() == {}  # suspect, not yet condemned
    PushChannel.objects.filter(pk=old.pk).update(
        suspect_since=timezone.now() - timedelta(minutes=settings.CALSYNC_PUSH_SUSPECT_MINUTES + 1)
    )
    assert push.maintain() == {"replace": 1}
    old.refresh_from_db()
    assert old.state == ChannelState.STOPPED and old.reason == "silent"
    assert current(link).pk != old.pk


def test_a_healthy_channel_polls_at_the_push_cadence_when_one_is_set(
    staff: User, google: tuple[CalendarLink, str], settings: Any
) -> None:
    from calsync.scheduler import claim_due_links

    link, _ = google
    User.objects.filter(pk=staff.pk).update(last_seen_at=timezone.now())
    now = timezone.now()
    settings.CALSYNC_POLL_JITTER = 0
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=now)
    assert claim_due_links(now, 10) == [link.pk]
    link.refresh_from_db()
    assert link.next_sync_at == now + timedelta(minutes=3)  # the default: the normal cadence
    settings.CALSYNC_PUSH_POLL_MINUTES = 30
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=now)
    assert claim_due_links(now, 10) == [link.pk]
    link.refresh_from_db()
    assert link.next_sync_at == now + timedelta(minutes=30)
    # A suspect (or expired, or missing) channel is not healthy: the normal cadence again.
    PushChannel.objects.filter(link=link).update(suspect_since=now)
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=now)
    assert claim_due_links(now, 10) == [link.pk]
    link.refresh_from_db()
    assert link.next_sync_at == now + timedelta(minutes=3)


def test_the_operators_command_and_health_show_and_renew_channels(
    google: tuple[CalendarLink, str], outlook: tuple[CalendarLink, str], capsys: Any
) -> None:
    glink, _ = google
    mlink, _ = outlook
    call_command("sync_health")
    health = capsys.readouterr().out
    assert "push" in health and health.count("active") >= 2
    call_command("push_channels")
    listed = capsys.readouterr().out
    assert current(glink).key[:8] in listed and current(mlink).key[:8] in listed
    old = current(glink)
    call_command("push_channels", str(glink.pk), "--recreate")
    assert "active until" in capsys.readouterr().out
    assert current(glink).pk != old.pk
    call_command("push_channels", "--renew")
    out = capsys.readouterr().out
    assert f"link {glink.pk}: channel" in out and f"link {mlink.pk}: channel" in out


def test_the_admin_shows_channels(google: tuple[CalendarLink, str]) -> None:
    operator = User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = Client()
    client.force_login(operator)
    page = client.get("/admin/calsync/pushchannel/").content.decode()
    assert current(google[0]).key in page
    links = client.get("/admin/calsync/calendarlink/").content.decode()
    assert "push channel" in links.lower() and "active" in links


# -- the daily reconcile, and what push costs a quiet poll ---------------------------------------


def test_the_daily_reconcile_finds_a_change_the_incremental_listing_missed(
    staff: User, google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    meeting = make_meeting(staff, title="Will vanish", start=soon(3))
    assert run_link(link.pk).counts == {"created_there": 1}
    mapping = EventMapping.objects.get(meeting=meeting)
    # Google loses the event without a tombstone: no notification, no incremental change.
    with google_fake.lock:
        del google_fake.calendars[calendar_id].events[mapping.external_id]
    assert run_link(link.pk).counts == {}
    CalendarLink.objects.filter(pk=link.pk).update(
        last_full_sync_at=timezone.now() - timedelta(hours=25)
    )
    google_fake.clear_log()
    assert run_link(link.pk).counts == {"deleted_here": 1}
    listing = google_fake.requests_to("GET", r".*/events")[0]
    assert "syncToken" not in listing.query  # a full listing
    link.refresh_from_db()
    assert link.last_full_sync_at is not None
    assert link.last_full_sync_at > timezone.now() - timedelta(minutes=1)
    google_fake.clear_log()
    run_link(link.pk)
    assert "syncToken" in google_fake.requests_to("GET", r".*/events")[0].query


def test_a_full_listing_of_outlook_keeps_what_lies_outside_its_window(
    staff: User, outlook: tuple[CalendarLink, str]
) -> None:
    """Outlook is read over a window (30 days back by default): a mapped meeting older than
    that is not in a full listing, and must not be taken for deleted there (the daily reconcile
    would otherwise delete every such meeting here, every day)."""
    link, _ = outlook
    old = make_meeting(staff, title="Long ago", start=timezone.now() - timedelta(days=40))
    assert run_link(link.pk).counts == {"created_there": 1}
    CalendarLink.objects.filter(pk=link.pk).update(last_full_sync_at=None)
    outcome = run_link(link.pk)
    assert outcome.status == "ok" and "deleted_here" not in (outcome.counts or {})
    assert Meeting.objects.filter(pk=old.pk).exists()
    assert EventMapping.objects.filter(meeting=old).exists()


def test_a_quiet_poll_costs_no_more_with_a_healthy_channel(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, _ = google
    assert current(link).healthy(timezone.now())
    run_link(link.pk)
    google_fake.clear_log()
    with CaptureQueriesContext(connection) as queries:
        outcome = run_link(link.pk)
    assert outcome.status == "ok" and outcome.counts == {}
    # The folded lease statement (link, owner, change probe) and the cursor UPDATE (issue 17).
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert len([r for r in google_fake.requests if "/calendar/v3/" in r.path]) == 1


def test_a_run_asked_for_while_the_link_is_busy_asks_again(
    google: tuple[CalendarLink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync import tasks

    link, _ = google
    CalendarLink.objects.filter(pk=link.pk).update(
        lease_until=timezone.now() + timedelta(minutes=5)
    )
    again: list[int] = []
    monkeypatch.setattr(scheduler, "request_sync", lambda link_id, **kw: again.append(link_id))
    assert tasks.sync_link.apply(args=(link.pk,)).get() == "skipped"
    assert again == [link.pk]
    # A poll that finds the link busy leaves it to its next slot.
    assert tasks.sync_link.apply(args=(link.pk,), kwargs={"poll": True}).get() == "skipped"
    assert again == [link.pk]


def test_a_link_that_needs_a_reconnect_has_its_channel_stopped_by_beat(
    google: tuple[CalendarLink, str], google_fake: GoogleFake
) -> None:
    link, calendar_id = google
    CalendarLink.objects.filter(pk=link.pk).update(state=LinkState.NEEDS_RECONNECT)
    assert push.maintain() == {"stop": 1}
    assert google_fake.live_channels(calendar_id) == []
