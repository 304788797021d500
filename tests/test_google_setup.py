"""Linking and revoking Google Calendar through the views, against the Google fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse

from accounts.models import User
from calsync.models import CalendarLink, LinkState
from connectors import credentials
from connectors.google.oauth import SCOPE_APP_CREATED, SCOPE_CALENDAR
from tests.fakes.google import GoogleFake

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
CALLBACK = "http://testserver/account/calendarsync/google/callback/"


@pytest.fixture
def google(google_fake: GoogleFake) -> Iterator[GoogleFake]:
    google_fake.client_config(CALLBACK)  # registers our redirect URI with the fake's client
    with override_settings(**google_fake.django_settings()):
        yield google_fake


def consent(client: HttpClient, fake: GoogleFake, target: str, allow: bool = True) -> str:
    response = client.post(reverse("calsync:setup_google"), {"target": target})
    assert response.status_code == 302
    auth_url = response["Location"]
    assert auth_url.startswith(fake.auth_uri)
    callback = fake.browser_consent(auth_url, email="sam@gmail.example", allow=allow)
    assert callback.startswith(CALLBACK)
    return callback


def test_dedicated_calendar_setup(
    staff: User, staff_client: HttpClient, google: GoogleFake
) -> None:
    callback = consent(staff_client, google, "dedicated")
    asked = google.consent_requests[-1]
    # state and PKCE S256, offline access for a refresh token (§1.2).
    assert asked.state and asked.code_challenge and asked.code_challenge_method == "S256"
    assert asked.access_type == "offline"
    page = staff_client.get(callback, follow=True).content.decode()
    assert "Linked Google Calendar “CS_Sam Staff” (sam@gmail.example)" in page
    link = CalendarLink.objects.get(user=staff)
    assert (link.provider, link.account, link.target) == (
        "google",
        "sam@gmail.example",
        "dedicated",
    )
    secrets = credentials.decrypt(link.credentials)
    assert secrets["refresh_token"] and SCOPE_APP_CREATED in secrets["scopes"]
    assert SCOPE_CALENDAR not in secrets["scopes"]  # the narrowest scope (§1.3)
    summaries = [c.summary for c in google.calendars.values()]
    assert summaries.count("CS_Sam Staff") == 1


def test_primary_calendar_setup_asks_for_the_calendar_scope(
    staff: User, staff_client: HttpClient, google: GoogleFake
) -> None:
    callback = consent(staff_client, google, "primary")
    staff_client.get(callback)
    link = CalendarLink.objects.get(user=staff)
    assert (link.calendar_id, link.target) == ("sam@gmail.example", "primary")
    assert SCOPE_CALENDAR in credentials.decrypt(link.credentials)["scopes"]


def test_a_callback_is_accepted_once(
    staff: User, staff_client: HttpClient, google: GoogleFake
) -> None:
    callback = consent(staff_client, google, "dedicated")
    staff_client.get(callback)
    replay = staff_client.get(callback, follow=True).content.decode()
    assert "not the one we started, or it was used already" in replay
    assert CalendarLink.objects.count() == 1


def test_a_forged_state_is_refused(staff_client: HttpClient, google: GoogleFake) -> None:
    callback = consent(staff_client, google, "dedicated")
    forged = callback.replace("state=", "state=x")
    page = staff_client.get(forged, follow=True).content.decode()
    assert "not the one we started" in page
    assert not CalendarLink.all_objects.exists()


def test_deny_links_nothing(staff_client: HttpClient, google: GoogleFake) -> None:
    callback = consent(staff_client, google, "dedicated", allow=False)
    page = staff_client.get(callback, follow=True).content.decode()
    assert "Google access was not granted" in page
    assert not CalendarLink.all_objects.exists()


def test_revoke_calls_googles_revoke_endpoint(
    staff: User, staff_client: HttpClient, google: GoogleFake
) -> None:
    staff_client.get(consent(staff_client, google, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    refresh_token = credentials.decrypt(link.credentials)["refresh_token"]
    page = staff_client.post(reverse("calsync:revoke", args=[link.pk]), follow=True)
    assert "was revoked" in page.content.decode()
    revokes = google.requests_to(method="POST", path="/revoke")
    assert len(revokes) == 1
    link.refresh_from_db()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")
    # Google no longer accepts the refresh token.
    response = requests.post(
        google.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": google.client_id,
            "client_secret": google.client_secret,
        },
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_revoke_when_google_is_down_still_deletes_credentials(
    staff: User, staff_client: HttpClient, google: GoogleFake
) -> None:
    staff_client.get(consent(staff_client, google, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    google.server_error(status=503, times=5, method="POST", path="/revoke")
    page = staff_client.post(reverse("calsync:revoke", args=[link.pk]), follow=True)
    assert "could not be reached to revoke the grant" in page.content.decode()
    link.refresh_from_db()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")


def test_google_setup_is_not_offered_when_not_configured(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Set up Google Calendar" not in page
    assert "Google Calendar is not available on this installation yet" in page
    assert "CALSYNC_" not in page  # no operator setting names for staff (issue 18 §10)
    response = staff_client.get(reverse("calsync:setup_google"), follow=True)
    assert "Google Calendar is not configured" in response.content.decode()
