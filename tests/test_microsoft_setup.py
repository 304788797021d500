"""Linking and revoking Microsoft 365 / Outlook through the views, against the Microsoft fake
with the real msal (PROTOCOLS.md §2.8)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import msal  # type: ignore[import-untyped]
import pytest
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse

from accounts.models import User
from calsync.models import CalendarLink, LinkState
from connectors import credentials
from connectors.errors import AuthRevoked
from connectors.microsoft.oauth import SCOPE_CALENDARS, TokenSource
from tests.fakes.microsoft import MicrosoftFake

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
CALLBACK = "http://testserver/account/calendarsync/microsoft/callback/"
EMAIL = "sam@contoso.example"


@pytest.fixture
def microsoft(microsoft_fake: MicrosoftFake) -> Iterator[MicrosoftFake]:
    microsoft_fake.register_redirect_uri(CALLBACK)
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        yield microsoft_fake


def consent(client: HttpClient, fake: MicrosoftFake, target: str, allow: bool = True) -> str:
    response = client.post(reverse("calsync:setup_microsoft"), {"target": target})
    assert response.status_code == 302
    auth_url = response["Location"]
    assert auth_url.startswith(f"{fake.url}/common/oauth2/v2.0/authorize?")
    callback = fake.browser_consent(auth_url, email=EMAIL, allow=allow)
    assert callback.startswith(CALLBACK)
    return callback


def test_dedicated_calendar_setup(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    callback = consent(staff_client, microsoft, "dedicated")
    asked = microsoft.consent_requests[-1]
    # state, nonce and PKCE S256 from msal; the scope in full URI form (§2.8).
    assert asked.state and asked.nonce and asked.code_challenge_method == "S256"
    assert SCOPE_CALENDARS in asked.scope.split()
    assert {"openid", "profile", "offline_access"} <= set(asked.scope.split())
    page = staff_client.get(callback, follow=True).content.decode()
    assert f"Linked Microsoft 365 / Outlook “CS_Sam Staff” ({EMAIL})" in page
    link = CalendarLink.objects.get(user=staff)
    assert (link.provider, link.account, link.target) == ("microsoft", EMAIL, "dedicated")
    names = [c.name for c in microsoft.calendars.values() if c.owner == EMAIL]
    assert names.count("CS_Sam Staff") == 1
    assert link.calendar_id == next(
        c.id for c in microsoft.calendars.values() if c.name == "CS_Sam Staff"
    )
    # The token cache is stored encrypted; the code went with its PKCE verifier.
    assert EMAIL not in link.credentials and "refresh" not in link.credentials.lower()
    token_request = microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token")[0]
    assert token_request.form()["code_verifier"]


def test_the_stored_cache_gives_tokens_silently(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    """The fake echoes the requested scope, so msal's cache hits: no token request (§2.8); a
    forced refresh rotates the refresh token and marks the cache changed."""
    staff_client.get(consent(staff_client, microsoft, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    before = len(microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token"))
    tokens = TokenSource(credentials.decrypt(link.credentials))
    assert tokens.token()
    assert len(microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token")) == before
    assert not tokens.changed
    assert tokens.token(force_refresh=True)
    refreshes = microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token")[before:]
    assert [r.form()["grant_type"] for r in refreshes] == [["refresh_token"]]
    assert tokens.changed


def test_primary_calendar_setup_uses_the_default_calendar(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    staff_client.get(consent(staff_client, microsoft, "primary"))
    link = CalendarLink.objects.get(user=staff)
    assert (link.calendar_id, link.target) == (microsoft.default_calendar(EMAIL).id, "primary")


def test_a_taken_calendar_name_is_reused(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    existing = microsoft.create_calendar(EMAIL, "CS_Sam Staff")
    staff_client.get(consent(staff_client, microsoft, "dedicated"))
    assert CalendarLink.objects.get(user=staff).calendar_id == existing
    creates = microsoft.requests_to(method="POST", path="/v1.0/me/calendars")
    assert len(creates) == 1  # answered 409 ErrorFolderExists (§2.1)


def test_a_callback_is_accepted_once(staff_client: HttpClient, microsoft: MicrosoftFake) -> None:
    callback = consent(staff_client, microsoft, "dedicated")
    staff_client.get(callback)
    replay = staff_client.get(callback, follow=True).content.decode()
    assert "not the one we started, or it was used already" in replay
    assert CalendarLink.objects.count() == 1


def test_a_forged_state_is_refused(staff_client: HttpClient, microsoft: MicrosoftFake) -> None:
    callback = consent(staff_client, microsoft, "dedicated")
    page = staff_client.get(callback.replace("state=", "state=x"), follow=True)
    assert "not the one we started" in page.content.decode()
    assert not CalendarLink.all_objects.exists()
    assert not microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token")


def test_deny_links_nothing(staff_client: HttpClient, microsoft: MicrosoftFake) -> None:
    callback = consent(staff_client, microsoft, "dedicated", allow=False)
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    page = staff_client.get(callback, follow=True).content.decode()
    assert "Microsoft access was not granted" in page
    assert not CalendarLink.all_objects.exists()


def test_revoke_deletes_the_token_cache_and_says_where_to_remove_consent(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    staff_client.get(consent(staff_client, microsoft, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    page = staff_client.post(reverse("calsync:revoke", args=[link.pk]), follow=True)
    text = page.content.decode()
    assert "Microsoft has no per-app revoke" in text
    # The fake's accounts are personal ones (the MSA tenant id): account.live.com first.
    assert (
        '<a href="https://account.live.com/consent/Manage">https://account.live.com/consent/Manage'
        "</a> (personal Microsoft account)"
    ) in text
    link.refresh_from_db()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")
    # Nothing was sent to Microsoft: there is no revoke endpoint to call.
    assert not microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/logout")


def test_revoke_of_a_work_account_names_my_apps_and_escapes_the_account(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    microsoft.add_account(EMAIL).tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"  # a work tenant
    staff_client.get(consent(staff_client, microsoft, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    CalendarLink.objects.filter(pk=link.pk).update(account="<b>x</b>")
    text = staff_client.post(reverse("calsync:revoke", args=[link.pk]), follow=True)
    page = text.content.decode()
    assert '<a href="https://myapps.microsoft.com">https://myapps.microsoft.com</a> (work' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_a_revoked_grant_is_auth_revoked(
    staff: User, staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    staff_client.get(consent(staff_client, microsoft, "dedicated"))
    link = CalendarLink.objects.get(user=staff)
    microsoft.revoke_grants(EMAIL)  # the user removed the consent at Microsoft
    tokens = TokenSource(credentials.decrypt(link.credentials))
    with pytest.raises(AuthRevoked):
        tokens.token(force_refresh=True)
    answer = microsoft.requests_to(method="POST", path="/common/oauth2/v2.0/token")[-1]
    assert answer.form()["grant_type"] == ["refresh_token"]


def test_microsoft_setup_is_not_offered_when_not_configured(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Set up Microsoft 365 / Outlook" not in page
    # Said in words, without the operator's variable names (issue 18 §10).
    assert "Microsoft 365 / Outlook is not available on this installation yet" in page
    assert "CALSYNC_MICROSOFT_CLIENT_ID" not in page and "CALSYNC_GOOGLE_CLIENT_ID" not in page
    response = staff_client.get(reverse("calsync:setup_microsoft"), follow=True)
    assert "Microsoft 365 / Outlook is not configured" in response.content.decode()


def test_msal_is_the_real_library() -> None:
    assert msal.__version__.startswith("1.")


def test_setup_when_microsoft_is_down_says_so(
    staff_client: HttpClient, microsoft: MicrosoftFake
) -> None:
    microsoft.faults.add(status=503, path=r"/common/v2\.0/\.well-known/.*", times=None)
    response = staff_client.post(
        reverse("calsync:setup_microsoft"), {"target": "dedicated"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("calsync:calendarsync")
    assert "sign-in service could not be reached" in response.content.decode()
    assert not CalendarLink.all_objects.exists()
