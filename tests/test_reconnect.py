"""*Reconnect* (issue 18 §1): new credentials for a link whose grant or password stopped
working, keeping the link, its mappings and its cursor, so nothing is copied twice. Against a
real Radicale and the Google and Graph fakes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, User
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping, LinkState, SyncMessage
from connectors import credentials
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav, link_google, link_microsoft
from tests.factories import make_meeting
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
GOOGLE_CALLBACK = "http://testserver/account/calendarsync/google/callback/"
MICROSOFT_CALLBACK = "http://testserver/account/calendarsync/microsoft/callback/"


def future(days: int) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


def synced(link: CalendarLink) -> tuple[str, int]:
    """What a reconnect must keep: the cursor and the mappings."""
    link.refresh_from_db()
    return link.cursor, EventMapping.objects.filter(link=link).count()


def test_caldav_reconnect_prefills_server_and_user_and_keeps_the_link(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    for day in (1, 2, 3):
        make_meeting(staff, title=f"Session {day}", start=future(day))
    link, _ = link_caldav(staff, radicale)
    assert run_link(link.pk).counts == {"created_there": 3}
    before = synced(link)
    # The password was changed at the server: the stored one no longer works.
    CalendarLink.objects.filter(pk=link.pk).update(
        state=LinkState.NEEDS_RECONNECT,
        credentials=credentials.encrypt({"password": "an-old-password"}),
        failure_count=1,
        last_error="The server refused the password.",
    )
    SyncMessage.objects.create(link=link, subject="", code="reconnect", text="x", fingerprint="1")

    page = staff_client.get(reverse("calsync:reconnect", args=[link.pk])).content.decode()
    assert f'value="{radicale.url}"' in page and f'value="{radicale.username}"' in page
    assert "New password" in page

    wrong = staff_client.post(
        reverse("calsync:reconnect", args=[link.pk]),
        {"server_url": radicale.url, "username": radicale.username, "password": "still-wrong"},
    )
    assert wrong.status_code == 200
    assert "refused the user name or password" in wrong.content.decode()
    link.refresh_from_db()
    assert link.state == LinkState.NEEDS_RECONNECT

    done = staff_client.post(
        reverse("calsync:reconnect", args=[link.pk]),
        {"server_url": radicale.url, "username": radicale.username, "password": radicale.password},
        follow=True,
    )
    assert "Reconnected CalDAV" in done.content.decode()
    link.refresh_from_db()
    assert (link.state, link.failure_count, link.last_error) == (LinkState.ACTIVE, 0, "")
    assert credentials.decrypt(link.credentials) == {"password": radicale.password}
    assert synced(link) == before
    assert CalendarLink.all_objects.filter(user=staff).count() == 1
    assert not SyncMessage.objects.filter(link=link, code="reconnect").exists()
    assert AuditEntry.objects.filter(action="calsync.reconnect").count() == 1
    # Sync continues where it stopped: nothing is sent a second time.
    assert run_link(link.pk).counts == {}


def test_caldav_reconnect_as_another_user_is_refused(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    link, _ = link_caldav(staff, radicale)
    response = staff_client.post(
        reverse("calsync:reconnect", args=[link.pk]),
        {"server_url": radicale.url, "username": "someone-else", "password": "x"},
    )
    # Radicale refuses the unknown user before any calendar is compared.
    assert response.status_code == 200
    assert "refused the user name or password" in response.content.decode()
    link.refresh_from_db()
    assert credentials.decrypt(link.credentials) == {"password": radicale.password}


def test_google_reconnect_after_a_revoked_grant(
    staff: User, staff_client: HttpClient, google_fake: GoogleFake
) -> None:
    google_fake.client_config(GOOGLE_CALLBACK)
    with override_settings(**google_fake.django_settings()):
        make_meeting(staff, title="Intake", start=future(2))
        link, calendar_id = link_google(staff, google_fake)
        assert run_link(link.pk).counts == {"created_there": 1}
        before = synced(link)
        google_fake.revoke_all(link.account)
        assert run_link(link.pk).status == "needs-reconnect"
        link.refresh_from_db()
        assert link.state == LinkState.NEEDS_RECONNECT
        page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
        assert "Needs reconnecting" in page
        assert reverse("calsync:reconnect", args=[link.pk]) in page

        start = staff_client.post(reverse("calsync:reconnect", args=[link.pk]))
        assert start.status_code == 302 and start["Location"].startswith(google_fake.auth_uri)
        callback = google_fake.browser_consent(start["Location"], email=link.account)
        # The link's own kind of calendar: the narrow scope of a dedicated calendar.
        assert google_fake.consent_requests[-1].scopes[0].endswith("calendar.app.created")
        page = staff_client.get(callback, follow=True).content.decode()
        assert "Reconnected Google Calendar" in page
        link.refresh_from_db()
        assert link.state == LinkState.ACTIVE
        assert synced(link) == before
        assert CalendarLink.all_objects.filter(user=staff).count() == 1
        outcome = run_link(link.pk)
        assert (outcome.status, outcome.counts) == ("ok", {})
        assert len(google_fake.calendars[calendar_id].events) == 1


def test_google_reconnect_with_another_account_changes_nothing(
    staff: User, staff_client: HttpClient, google_fake: GoogleFake
) -> None:
    google_fake.client_config(GOOGLE_CALLBACK)
    with override_settings(**google_fake.django_settings()):
        link, _ = link_google(staff, google_fake)
        CalendarLink.objects.filter(pk=link.pk).update(state=LinkState.NEEDS_RECONNECT)
        stored = CalendarLink.objects.get(pk=link.pk).credentials
        start = staff_client.post(reverse("calsync:reconnect", args=[link.pk]))
        callback = google_fake.browser_consent(start["Location"], email="other@gmail.example")
        page = staff_client.get(callback, follow=True).content.decode()
        assert "You signed in as other@gmail.example, but this calendar belongs to" in page
        link.refresh_from_db()
        assert (link.state, link.credentials) == (LinkState.NEEDS_RECONNECT, stored)


def test_a_new_setup_after_starting_a_reconnect_is_a_new_link(
    staff: User, staff_client: HttpClient, google_fake: GoogleFake
) -> None:
    """The reconnect travels with its own OAuth flow: a setup started afterwards (which
    replaces the flow) links a new calendar instead of reconnecting the old one."""
    google_fake.client_config(GOOGLE_CALLBACK)
    with override_settings(**google_fake.django_settings()):
        link, _ = link_google(staff, google_fake)
        staff_client.post(reverse("calsync:reconnect", args=[link.pk]))
        setup = staff_client.post(reverse("calsync:setup_google"), {"target": "dedicated"})
        callback = google_fake.browser_consent(setup["Location"], email="new@gmail.example")
        page = staff_client.get(callback, follow=True).content.decode()
        assert "Linked Google Calendar" in page
        assert CalendarLink.objects.filter(user=staff).count() == 2


def test_microsoft_reconnect_after_a_revoked_consent(
    staff: User, staff_client: HttpClient, microsoft_fake: MicrosoftFake
) -> None:
    microsoft_fake.register_redirect_uri(MICROSOFT_CALLBACK)
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        make_meeting(staff, title="Review", start=future(3))
        link, _ = link_microsoft(staff, microsoft_fake)
        assert run_link(link.pk).counts == {"created_there": 1}
        before = synced(link)
        microsoft_fake.revoke_grants(link.account)
        assert run_link(link.pk).status == "needs-reconnect"

        start = staff_client.post(reverse("calsync:reconnect", args=[link.pk]))
        assert start.status_code == 302
        callback = microsoft_fake.browser_consent(start["Location"], email=link.account)
        page = staff_client.get(callback, follow=True).content.decode()
        assert "Reconnected Microsoft 365 / Outlook" in page
        link.refresh_from_db()
        assert link.state == LinkState.ACTIVE and synced(link) == before
        outcome = run_link(link.pk)
        assert (outcome.status, outcome.counts) == ("ok", {})


def test_a_revoked_link_is_set_up_again_not_reconnected(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    link, _ = link_caldav(staff, radicale)
    CalendarLink.objects.filter(pk=link.pk).update(state=LinkState.REVOKED)
    # A revoked link is no longer the user's to reach (the live links' manager): 404.
    assert staff_client.get(reverse("calsync:reconnect", args=[link.pk])).status_code == 404
