"""Self-tests of the Google fake, driven only through the real client libraries.

googleapiclient (static discovery, ``api_endpoint``), google-auth-oauthlib ``Flow`` with a browser
hop over real HTTP, google-auth ``Credentials.refresh`` and ``requests`` for revocation, as
PROTOCOLS.md §1.1-§1.2 describe production using them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleAuthRequest
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError

from tests.fakes.google import (
    SCOPE_APP_CREATED,
    SCOPE_CALENDAR,
    SCOPE_SETTINGS_READONLY,
    GoogleFake,
    IssuedTokens,
)
from tests.fakes.server import FakeServer, Request, Response, empty

EMAIL = "sam@example.com"
REDIRECT = "http://testserver/accounts/calendarsync/google/callback"


# -- helpers --------------------------------------------------------------------------------------


def new_flow(fake: GoogleFake, scopes: list[str], **kwargs: Any) -> Flow:
    return Flow.from_client_config(
        fake.client_config(REDIRECT), scopes=scopes, redirect_uri=REDIRECT, **kwargs
    )


def error_reason(error: HttpError) -> str:
    return str(error.error_details[0]["reason"])


def timed(day: int, hour: int, minutes: int = 60) -> dict[str, Any]:
    end_hour, end_minute = hour + minutes // 60, minutes % 60
    return {
        "start": {"dateTime": f"2026-12-{day:02d}T{hour:02d}:00:00+00:00"},
        "end": {"dateTime": f"2026-12-{day:02d}T{end_hour:02d}:{end_minute:02d}:00+00:00"},
    }


@pytest.fixture
def full(google_fake: GoogleFake) -> IssuedTokens:
    return google_fake.issue_tokens(EMAIL, [SCOPE_CALENDAR, SCOPE_SETTINGS_READONLY])


@pytest.fixture
def service(google_fake: GoogleFake, full: IssuedTokens) -> Any:
    return google_fake.calendar_service(full.credentials())


@pytest.fixture
def calendar_id(service: Any) -> str:
    return str(service.calendars().insert(body={"summary": "CalSync Sam"}).execute()["id"])


def insert(service: Any, calendar_id: str, summary: str, **body: Any) -> dict[str, Any]:
    payload = {"summary": summary, **timed(1, 9), **body}
    return dict(
        service.events().insert(calendarId=calendar_id, body=payload, sendUpdates="none").execute()
    )


def list_all(service: Any, calendar_id: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Page through events.list; return the items and the final nextSyncToken."""
    items: list[dict[str, Any]] = []
    page_token = None
    while True:
        page = (
            service.events().list(calendarId=calendar_id, pageToken=page_token, **params).execute()
        )
        items.extend(page["items"])
        page_token = page.get("nextPageToken")
        if page_token is None:
            assert "nextSyncToken" in page
            return items, str(page["nextSyncToken"])
        assert "nextSyncToken" not in page  # §1.5: exactly one of the two


# -- OAuth (§1.2) ---------------------------------------------------------------------------------


def test_full_oauth_flow_with_browser_hop_pkce_and_basic_auth(google_fake: GoogleFake) -> None:
    google_fake.add_account(EMAIL)
    flow = new_flow(google_fake, [SCOPE_APP_CREATED])
    url, state = flow.authorization_url(include_granted_scopes="true")

    # The browser: load the consent page, submit its Allow button, follow the redirect.
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert 'id="allow"' in page.text and 'id="deny"' in page.text
    assert f'value="{EMAIL}"' in page.text  # the account chooser is prefilled
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = requests.post(
        google_fake.url + action.group(1),
        data={**fields, "email": EMAIL, "action": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(location).query)["state"] == [state]

    consent = google_fake.consent_requests[-1]
    assert consent.scopes == [SCOPE_APP_CREATED]
    assert consent.client_id == google_fake.client_id
    assert consent.redirect_uri == REDIRECT
    assert consent.code_challenge_method == "S256"
    assert consent.access_type == "offline"

    # The callback runs in a new Flow: state and code_verifier come from the session (§1.2).
    callback = new_flow(google_fake, [SCOPE_APP_CREATED], state=state)
    token = callback.fetch_token(authorization_response=location, code_verifier=flow.code_verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3599
    assert token["refresh_token"]
    creds = callback.credentials
    assert creds.refresh_token == token["refresh_token"]

    exchange = google_fake.requests_to("POST", "/token")[-1]
    assert exchange.headers["Authorization"].startswith("Basic ")
    basic = base64.b64decode(exchange.headers["Authorization"][6:]).decode()
    assert basic == f"{google_fake.client_id}:{google_fake.client_secret}"
    assert exchange.form()["code_verifier"] == [flow.code_verifier]

    # The code is single-use.
    with pytest.raises(InvalidGrantError):
        new_flow(google_fake, [SCOPE_APP_CREATED], state=state).fetch_token(
            authorization_response=location, code_verifier=flow.code_verifier
        )

    # The token works with the real API client.
    svc = google_fake.calendar_service(creds)
    created = svc.calendars().insert(body={"summary": "CalSync Sam"}).execute()
    assert created["id"].endswith("@group.calendar.google.com")

    # Consenting again without prompt=consent: no new refresh token (§1.2 "first consent only").
    again = new_flow(google_fake, [SCOPE_APP_CREATED])
    url2, state2 = again.authorization_url()
    location2 = google_fake.browser_consent(url2)
    second = new_flow(google_fake, [SCOPE_APP_CREATED], state=state2).fetch_token(
        authorization_response=location2, code_verifier=again.code_verifier
    )
    assert "refresh_token" not in second
    # ...unless consent is forced.
    forced = new_flow(google_fake, [SCOPE_APP_CREATED])
    url3, state3 = forced.authorization_url(prompt="consent")
    third = new_flow(google_fake, [SCOPE_APP_CREATED], state=state3).fetch_token(
        authorization_response=google_fake.browser_consent(url3),
        code_verifier=forced.code_verifier,
    )
    assert third["refresh_token"]

    # After the user revokes the grant, the next consent is a first consent again.
    google_fake.revoke_all(EMAIL)
    fresh = new_flow(google_fake, [SCOPE_APP_CREATED])
    url4, state4 = fresh.authorization_url()
    fourth = new_flow(google_fake, [SCOPE_APP_CREATED], state=state4).fetch_token(
        authorization_response=google_fake.browser_consent(url4),
        code_verifier=fresh.code_verifier,
    )
    assert fourth["refresh_token"]


def test_deny_redirects_with_access_denied(google_fake: GoogleFake) -> None:
    flow = new_flow(google_fake, [SCOPE_CALENDAR])
    url, state = flow.authorization_url()
    location = google_fake.browser_consent(url, email=EMAIL, allow=False)
    query = parse_qs(urlsplit(location).query)
    assert query == {"error": ["access_denied"], "state": [state]}


def test_wrong_code_verifier_is_invalid_grant(google_fake: GoogleFake) -> None:
    flow = new_flow(google_fake, [SCOPE_CALENDAR])
    url, state = flow.authorization_url()
    location = google_fake.browser_consent(url, email=EMAIL)
    with pytest.raises(InvalidGrantError):
        new_flow(google_fake, [SCOPE_CALENDAR], state=state).fetch_token(
            authorization_response=location, code_verifier="x" * 64
        )


def test_unregistered_redirect_uri_shows_an_error_page(google_fake: GoogleFake) -> None:
    flow = Flow.from_client_config(
        google_fake.client_config(REDIRECT),
        scopes=[SCOPE_CALENDAR],
        redirect_uri="http://evil.example/cb",
    )
    url, _ = flow.authorization_url()
    page = requests.get(url, timeout=10)
    assert page.status_code == 400
    assert "redirect_uri_mismatch" in page.text


def test_wrong_client_secret_is_invalid_client(google_fake: GoogleFake) -> None:
    config = google_fake.client_config(REDIRECT)
    flow = new_flow(google_fake, [SCOPE_CALENDAR])
    url, state = flow.authorization_url()
    location = google_fake.browser_consent(url, email=EMAIL)
    config["web"]["client_secret"] = "wrong"
    callback = Flow.from_client_config(
        config, scopes=[SCOPE_CALENDAR], redirect_uri=REDIRECT, state=state
    )
    with pytest.raises(InvalidClientError):
        callback.fetch_token(authorization_response=location, code_verifier=flow.code_verifier)


def test_refresh_posts_form_client_auth(google_fake: GoogleFake, full: IssuedTokens) -> None:
    creds = full.credentials()
    old = creds.token
    creds.refresh(GoogleAuthRequest())
    assert creds.token != old
    form = google_fake.requests_to("POST", "/token")[-1].form()
    assert form["grant_type"] == ["refresh_token"]
    assert form["client_id"] == [google_fake.client_id]
    assert form["client_secret"] == [google_fake.client_secret]


def test_expired_access_token_gets_401_and_google_auth_refreshes(
    google_fake: GoogleFake, service: Any, full: IssuedTokens
) -> None:
    service.calendars().get(calendarId="primary").execute()
    google_fake.expire_access_tokens(EMAIL)
    google_fake.clear_log()
    assert service.calendars().get(calendarId="primary").execute()["id"] == EMAIL
    paths = [(r.method, r.path) for r in google_fake.requests]
    assert paths == [
        ("GET", "/calendar/v3/calendars/primary"),
        ("POST", "/token"),
        ("GET", "/calendar/v3/calendars/primary"),
    ]


def test_provider_clock_skew_expires_tokens(google_fake: GoogleFake, service: Any) -> None:
    google_fake.advance(3600)  # Google's clock runs an hour ahead of ours
    assert service.calendars().get(calendarId="primary").execute()["id"] == EMAIL
    assert len(google_fake.requests_to("POST", "/token")) == 1


def test_revoked_grant_gives_invalid_grant(google_fake: GoogleFake, full: IssuedTokens) -> None:
    creds = full.credentials()
    answer = requests.post(
        google_fake.revoke_uri,
        params={"token": creds.token},
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 200
    # Revoking the access token revoked its refresh token too (§1.2).
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(GoogleAuthRequest())
    again = requests.post(google_fake.revoke_uri, params={"token": creds.token}, timeout=10)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


def test_user_revoking_at_google_breaks_api_calls(
    google_fake: GoogleFake, service: Any, full: IssuedTokens
) -> None:
    google_fake.revoke_all(EMAIL)
    with pytest.raises(RefreshError, match="invalid_grant"):
        service.calendars().get(calendarId="primary").execute()
    body = google_fake.requests_to("GET", "/calendar/v3/calendars/primary")
    assert len(body) == 1  # 401, refresh refused, no blind retry


# -- events.list and sync tokens (§1.5, §1.10) ----------------------------------------------------


def test_incremental_sync_reports_changes_and_deletions(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    first = insert(service, calendar_id, "first")
    second = insert(service, calendar_id, "second")
    insert(service, calendar_id, "third")
    items, token = list_all(service, calendar_id, singleEvents=False, showDeleted=True)
    assert {i["summary"] for i in items} == {"first", "second", "third"}

    service.events().patch(
        calendarId=calendar_id, eventId=first["id"], body={"summary": "first, renamed"}
    ).execute()
    service.events().delete(calendarId=calendar_id, eventId=second["id"]).execute()
    by_user = google_fake.user_insert(calendar_id, {"summary": "added at Google", **timed(2, 9)})

    changes, token2 = list_all(
        service, calendar_id, syncToken=token, singleEvents=False, showDeleted=True
    )
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {first["id"], second["id"], by_user["id"]}
    assert by_id[first["id"]]["summary"] == "first, renamed"
    # A deleted event is a cancelled tombstone that may carry only its id (§1.5).
    assert by_id[second["id"]]["status"] == "cancelled"
    assert "summary" not in by_id[second["id"]]

    nothing, token3 = list_all(service, calendar_id, syncToken=token2, singleEvents=False)
    assert nothing == []
    assert token3

    # Without showDeleted a full listing leaves the deleted event out; events.get still has it.
    visible, _ = list_all(service, calendar_id, singleEvents=False)
    assert second["id"] not in {v["id"] for v in visible}
    fetched = service.events().get(calendarId=calendar_id, eventId=second["id"]).execute()
    assert fetched["status"] == "cancelled" and fetched["summary"] == "second"


def test_paging_snapshot_and_sync_token_only_on_last_page(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    for n in range(7):
        insert(service, calendar_id, f"event {n}")
    pages = []
    page_token = None
    while True:
        page = (
            service.events()
            .list(calendarId=calendar_id, maxResults=3, pageToken=page_token, showDeleted=True)
            .execute()
        )
        pages.append(page)
        page_token = page.get("nextPageToken")
        if not page_token:
            break
        insert(service, calendar_id, "added while paging")  # not in this listing's snapshot
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert ["nextSyncToken" in p for p in pages] == [False, False, True]
    later, _ = list_all(service, calendar_id, syncToken=pages[-1]["nextSyncToken"])
    assert [i["summary"] for i in later] == ["added while paging", "added while paging"]

    # A page token belongs to its query.
    first = service.events().list(calendarId=calendar_id, maxResults=2).execute()
    with pytest.raises(HttpError) as caught:
        service.events().list(
            calendarId=calendar_id, maxResults=2, pageToken=first["nextPageToken"], q="other"
        ).execute()
    assert caught.value.status_code == 400


def test_expired_or_invalid_sync_token_is_410_full_sync_required(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    insert(service, calendar_id, "one")
    _, token = list_all(service, calendar_id)
    google_fake.expire_sync_tokens(calendar_id)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=calendar_id, syncToken=token).execute()
    assert caught.value.status_code == 410
    assert caught.value.error_details == [
        {
            "domain": "calendar",
            "reason": "fullSyncRequired",
            "message": "Sync token is no longer valid, a full sync is required.",
            "locationType": "parameter",
            "location": "syncToken",
        }
    ]
    with pytest.raises(HttpError) as garbage:
        service.events().list(
            calendarId=calendar_id, syncToken="CPDAlvWDx70CEPDAlvWDx70CGAU="
        ).execute()
    assert garbage.value.status_code == 410

    _, fresh = list_all(service, calendar_id)
    google_fake.invalidate_sync_token(fresh)
    with pytest.raises(HttpError) as single:
        service.events().list(calendarId=calendar_id, syncToken=fresh).execute()
    assert error_reason(single.value) == "fullSyncRequired"


@pytest.mark.parametrize(
    "params",
    [
        {"timeMin": "2026-01-01T00:00:00Z"},
        {"q": "x"},
        {"orderBy": "updated"},
        {"privateExtendedProperty": "calsyncId=1"},
        {"showDeleted": False},
    ],
)
def test_forbidden_parameters_with_sync_token_are_400(
    service: Any, calendar_id: str, params: dict[str, Any]
) -> None:
    _, token = list_all(service, calendar_id)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=calendar_id, syncToken=token, **params).execute()
    assert caught.value.status_code == 400


def test_time_range_and_filters(service: Any, calendar_id: str) -> None:
    insert(service, calendar_id, "early", **timed(1, 9))
    insert(
        service,
        calendar_id,
        "tagged",
        **timed(3, 9),
        extendedProperties={"private": {"calsyncId": "m-1"}},
    )
    window, _ = list_all(
        service, calendar_id, timeMin="2026-12-02T00:00:00Z", timeMax="2026-12-04T00:00:00Z"
    )
    assert [w["summary"] for w in window] == ["tagged"]
    tagged, _ = list_all(service, calendar_id, privateExtendedProperty="calsyncId=m-1")
    assert [t["summary"] for t in tagged] == ["tagged"]
    with pytest.raises(HttpError) as caught:
        service.events().list(
            calendarId=calendar_id, timeMin="2026-12-04T00:00:00Z", timeMax="2026-12-02T00:00:00Z"
        ).execute()
    assert error_reason(caught.value) == "timeRangeEmpty"


def test_long_sync_token_arrives_as_post_with_method_override(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    google_fake.token_padding = 2100  # §1.1: GET URLs over 2048 characters become POST
    insert(service, calendar_id, "one")
    _, token = list_all(service, calendar_id)
    assert len(token) > 2048
    insert(service, calendar_id, "two")
    changes, _ = list_all(service, calendar_id, syncToken=token)
    assert [c["summary"] for c in changes] == ["two"]
    overridden = [
        r
        for r in google_fake.requests_to("POST", r"/calendar/v3/calendars/[^/]+/events")
        if r.headers.get("X-HTTP-Method-Override") == "GET"
    ]
    assert len(overridden) == 1


# -- writes (§1.6, §1.7) --------------------------------------------------------------------------


def test_if_match_stale_etag_is_412(service: Any, calendar_id: str) -> None:
    event = insert(service, calendar_id, "meeting")
    req = service.events().patch(
        calendarId=calendar_id, eventId=event["id"], body={"summary": "renamed"}
    )
    req.headers["If-Match"] = event["etag"]
    patched = req.execute()
    assert patched["etag"] != event["etag"]
    assert patched["updated"] >= event["updated"]

    for stale in (
        service.events().patch(calendarId=calendar_id, eventId=event["id"], body={"summary": "x"}),
        service.events().update(
            calendarId=calendar_id, eventId=event["id"], body={"summary": "x", **timed(1, 9)}
        ),
        service.events().delete(calendarId=calendar_id, eventId=event["id"]),
    ):
        stale.headers["If-Match"] = event["etag"]
        with pytest.raises(HttpError) as caught:
            stale.execute()
        assert caught.value.status_code == 412
        assert caught.value.error_details[0]["reason"] == "conditionNotMet"
        assert caught.value.error_details[0]["location"] == "If-Match"

    get = service.events().get(calendarId=calendar_id, eventId=event["id"])
    get.headers["If-None-Match"] = patched["etag"]
    with pytest.raises(HttpError) as not_modified:
        get.execute()
    assert not_modified.value.status_code == 304


def test_client_chosen_id_duplicate_is_409(service: Any, calendar_id: str) -> None:
    event_id = "0f3a9c2e7b1d4e5fa6b7c8d9e0f1a2b3"  # hex is base32hex (§1.6)
    insert(service, calendar_id, "once", id=event_id)
    with pytest.raises(HttpError) as caught:
        insert(service, calendar_id, "twice", id=event_id)
    assert caught.value.status_code == 409
    assert error_reason(caught.value) == "duplicate"
    service.events().delete(calendarId=calendar_id, eventId=event_id).execute()
    with pytest.raises(HttpError) as after_delete:
        insert(service, calendar_id, "again", id=event_id)
    assert after_delete.value.status_code == 409
    for bad in ("ABCDEF12345", "wxyz12345", "abc"):
        with pytest.raises(HttpError) as invalid:
            insert(service, calendar_id, "bad id", id=bad)
        assert invalid.value.status_code == 400


def test_delete_twice_is_410_deleted(service: Any, calendar_id: str) -> None:
    event = insert(service, calendar_id, "gone")
    assert service.events().delete(calendarId=calendar_id, eventId=event["id"]).execute() == ""
    with pytest.raises(HttpError) as caught:
        service.events().delete(calendarId=calendar_id, eventId=event["id"]).execute()
    assert caught.value.status_code == 410
    assert error_reason(caught.value) == "deleted"


def test_extended_properties_limits_and_patch_semantics(service: Any, calendar_id: str) -> None:
    long_key, long_value = "k" * 45, "v" * 2000
    event = insert(
        service,
        calendar_id,
        "props",
        extendedProperties={"private": {"calsyncId": "m-1", long_key: "x", "big": long_value}},
    )
    private = event["extendedProperties"]["private"]
    assert long_key not in private  # silently dropped (§5.5)
    assert private["big"] == "v" * 1024  # silently truncated
    patched = (
        service.events()
        .patch(
            calendarId=calendar_id,
            eventId=event["id"],
            body={"extendedProperties": {"private": {"big": None}}},
        )
        .execute()
    )
    assert patched["extendedProperties"]["private"] == {"calsyncId": "m-1"}
    replaced = (
        service.events()
        .update(calendarId=calendar_id, eventId=event["id"], body={"summary": "p", **timed(1, 9)})
        .execute()
    )
    assert "extendedProperties" not in replaced  # update without the key deletes it (§1.6)
    assert replaced["sequence"] == patched["sequence"]


def test_send_updates_is_recorded(google_fake: GoogleFake, service: Any, calendar_id: str) -> None:
    attendees = [{"email": "guest@example.org"}]
    insert(service, calendar_id, "quiet", attendees=attendees)
    service.events().insert(
        calendarId=calendar_id,
        body={"summary": "loud", **timed(1, 9), "attendees": attendees},
        sendUpdates="all",
    ).execute()
    assert [entry[3] for entry in google_fake.send_updates_log] == ["none", "all"]
    assert [mail[1] for mail in google_fake.invitations_sent] == ["guest@example.org"]


def test_import_updates_by_ical_uid(service: Any, calendar_id: str) -> None:
    body = {"iCalUID": "abc@calsync.example", "summary": "imported", **timed(4, 10)}
    first = service.events().import_(calendarId=calendar_id, body=body).execute()
    body["summary"] = "imported again"
    second = service.events().import_(calendarId=calendar_id, body=body).execute()
    assert first["id"] == second["id"]
    assert second["summary"] == "imported again"


# -- recurrence (§1.5) ----------------------------------------------------------------------------


def test_recurring_series_with_moved_and_cancelled_instances(
    service: Any, calendar_id: str
) -> None:
    master = insert(
        service,
        calendar_id,
        "weekly",
        start={"dateTime": "2026-12-07T09:00:00", "timeZone": "Europe/Berlin"},
        end={"dateTime": "2026-12-07T10:00:00", "timeZone": "Europe/Berlin"},
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
    )
    _, token = list_all(service, calendar_id, singleEvents=False, showDeleted=True)
    instances = (
        service.events().instances(calendarId=calendar_id, eventId=master["id"]).execute()["items"]
    )
    # 09:00 Berlin is 08:00 UTC in December: ids use the UTC basic format.
    assert [i["id"] for i in instances] == [
        f"{master['id']}_202612{d:02d}T080000Z" for d in (7, 14, 21, 28)
    ]
    moved_id, cancelled_id = instances[1]["id"], instances[2]["id"]
    moved = (
        service.events()
        .patch(
            calendarId=calendar_id,
            eventId=moved_id,
            body={
                "start": {"dateTime": "2026-12-15T11:00:00+01:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2026-12-15T12:00:00+01:00", "timeZone": "Europe/Berlin"},
            },
        )
        .execute()
    )
    assert moved["recurringEventId"] == master["id"]
    assert moved["originalStartTime"]["timeZone"] == "Europe/Berlin"
    assert moved["originalStartTime"]["dateTime"].startswith("2026-12-14T09:00:00")
    assert moved["iCalUID"] == master["iCalUID"]
    service.events().delete(calendarId=calendar_id, eventId=cancelled_id).execute()

    # singleEvents=false: master + exception + cancelled instance as their own items, even
    # without showDeleted (§1.5, §5.6); no EXDATE was added to the master.
    items, _ = list_all(service, calendar_id, singleEvents=False)
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {master["id"], moved_id, cancelled_id}
    assert by_id[master["id"]]["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    cancelled = by_id[cancelled_id]
    assert cancelled["status"] == "cancelled"
    assert cancelled["recurringEventId"] == master["id"]
    assert cancelled["originalStartTime"]["dateTime"].startswith("2026-12-21T09:00:00")

    # The incremental listing reports exactly the two exceptions.
    changes, _ = list_all(service, calendar_id, syncToken=token, singleEvents=False)
    assert {c["id"] for c in changes} == {moved_id, cancelled_id}

    # singleEvents=true: expanded instances, the moved one moved, the cancelled one gone.
    expanded, _ = list_all(service, calendar_id, singleEvents=True, orderBy="startTime")
    assert [e["start"]["dateTime"][:16] for e in expanded] == [
        "2026-12-07T09:00",
        "2026-12-15T11:00",
        "2026-12-28T09:00",
    ]
    assert all("recurrence" not in e for e in expanded)
    # events.get answers for an instance id, and for the cancelled one too.
    got = service.events().get(calendarId=calendar_id, eventId=cancelled_id).execute()
    assert got["status"] == "cancelled"


def test_this_and_following_resets_later_exceptions(service: Any, calendar_id: str) -> None:
    master = insert(
        service,
        calendar_id,
        "daily",
        start={"dateTime": "2026-12-01T09:00:00Z", "timeZone": "UTC"},
        end={"dateTime": "2026-12-01T10:00:00Z", "timeZone": "UTC"},
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
    )
    early, late = f"{master['id']}_20261202T090000Z", f"{master['id']}_20261204T090000Z"
    for event_id in (early, late):
        service.events().patch(
            calendarId=calendar_id, eventId=event_id, body={"summary": "changed"}
        ).execute()
    # "This and following" from 3 December: UNTIL on the master, then a new series (§1.5).
    service.events().patch(
        calendarId=calendar_id,
        eventId=master["id"],
        body={"recurrence": ["RRULE:FREQ=DAILY;UNTIL=20261202T235959Z"]},
    ).execute()
    assert service.events().get(calendarId=calendar_id, eventId=early).execute()["status"] == (
        "confirmed"
    )
    assert service.events().get(calendarId=calendar_id, eventId=late).execute()["status"] == (
        "cancelled"
    )


def test_reminder_overrides_are_limited_to_five(service: Any, calendar_id: str) -> None:
    overrides = [{"method": "popup", "minutes": m} for m in range(6)]
    with pytest.raises(HttpError) as caught:
        insert(service, calendar_id, "r", reminders={"useDefault": False, "overrides": overrides})
    assert caught.value.status_code == 400


def test_updated_min_lists_changes_and_can_be_too_old(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    event = insert(service, calendar_id, "soon gone")
    service.events().delete(calendarId=calendar_id, eventId=event["id"]).execute()
    since, _ = list_all(service, calendar_id, updatedMin="2020-01-01T00:00:00Z")
    assert [s["status"] for s in since] == ["cancelled"]  # deleted entries included (§1.5)
    google_fake.updated_min_horizon = timedelta(days=30)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=calendar_id, updatedMin="2020-01-01T00:00:00Z").execute()
    assert caught.value.status_code == 410
    assert error_reason(caught.value) == "updatedMinTooLongAgo"


def test_all_day_series_instance_ids(service: Any, calendar_id: str) -> None:
    master = insert(
        service,
        calendar_id,
        "daily",
        start={"date": "2026-12-01"},
        end={"date": "2026-12-02"},
        recurrence=["RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20261202"],
    )
    instances = (
        service.events().instances(calendarId=calendar_id, eventId=master["id"]).execute()["items"]
    )
    assert [i["id"] for i in instances] == [f"{master['id']}_20261201", f"{master['id']}_20261203"]
    assert instances[0]["originalStartTime"] == {"date": "2026-12-01"}


def test_recurring_event_needs_start_time_zone(service: Any, calendar_id: str) -> None:
    with pytest.raises(HttpError) as caught:
        insert(service, calendar_id, "no zone", recurrence=["RRULE:FREQ=DAILY"])
    assert caught.value.status_code == 400


# -- scopes (§1.3, §5.4) --------------------------------------------------------------------------


def test_app_created_scope_reaches_only_the_apps_calendars(google_fake: GoogleFake) -> None:
    tokens = google_fake.issue_tokens(EMAIL, [SCOPE_APP_CREATED])
    svc = google_fake.calendar_service(tokens.credentials())
    own = svc.calendars().insert(body={"summary": "CalSync"}).execute()["id"]
    insert(svc, own, "ok")
    assert svc.calendars().get(calendarId=own).execute()["id"] == own

    other_app = google_fake.create_calendar(EMAIL, "Other app", client_id="someone-else")
    user_made = google_fake.create_calendar(EMAIL, "Family")
    for calls in (
        svc.events().list(calendarId="primary"),
        svc.events().list(calendarId=other_app),
        svc.calendars().get(calendarId=user_made),
        svc.calendarList().list(),
        svc.settings().get(setting="weekStart"),
    ):
        with pytest.raises(HttpError) as caught:
            calls.execute()
        assert caught.value.status_code == 403
        assert error_reason(caught.value) == "insufficientPermissions"


def test_full_scope_reads_settings_and_calendar_list(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    google_fake.accounts[EMAIL].settings["weekStart"] = "1"
    setting = service.settings().get(setting="weekStart").execute()
    assert setting["kind"] == "calendar#setting" and setting["value"] == "1"
    ids = {c["id"] for c in service.calendarList().list().execute()["items"]}
    assert ids == {EMAIL, calendar_id}
    someone = google_fake.create_calendar("other@example.com", "Not yours")
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=someone).execute()
    assert caught.value.status_code == 404


def test_calendars_delete(service: Any, calendar_id: str) -> None:
    assert service.calendars().delete(calendarId=calendar_id).execute() == ""
    with pytest.raises(HttpError) as gone:
        service.calendars().get(calendarId=calendar_id).execute()
    assert gone.value.status_code == 404
    with pytest.raises(HttpError) as primary:
        service.calendars().delete(calendarId="primary").execute()
    assert primary.value.status_code == 400


# -- faults (§1.8, §1.10 item 9) ------------------------------------------------------------------


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """googleapiclient sleeps random()*2**n between retries (§1.1); tests need not wait."""
    import googleapiclient.http

    monkeypatch.setattr(googleapiclient.http.time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(
        "google.auth._exponential_backoff.time.sleep", lambda _seconds: None
    )  # google-auth's token retries


def test_fault_429_with_retry_after_once(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    fault = google_fake.faults.add(
        method="GET",
        path=r"/calendar/v3/calendars/[^/]+/events",
        status=429,
        headers={"Retry-After": "7"},
        times=1,
    )
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=calendar_id).execute()
    assert caught.value.status_code == 429
    assert caught.value.resp["retry-after"] == "7"
    assert error_reason(caught.value) == "rateLimitExceeded"
    assert caught.value.error_details[0]["domain"] == "usageLimits"
    assert service.events().list(calendarId=calendar_id).execute()["items"] == []
    assert fault.hits == 1 and fault.exhausted


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_fault_403_rate_limits_are_retried_by_the_library(
    google_fake: GoogleFake, service: Any, calendar_id: str, reason: str, no_sleep: None
) -> None:
    google_fake.rate_limit(status=403, reason=reason, times=2)
    with pytest.raises(HttpError) as caught:
        service.calendars().get(calendarId=calendar_id).execute()
    assert caught.value.status_code == 403 and error_reason(caught.value) == reason
    # The library retries 403 only for these two reasons (§1.1).
    assert service.calendars().get(calendarId=calendar_id).execute(num_retries=2)["id"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_5xx(
    google_fake: GoogleFake, service: Any, calendar_id: str, status: int, no_sleep: None
) -> None:
    google_fake.server_error(status=status, times=2)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId=calendar_id).execute()
    assert caught.value.status_code == status
    assert error_reason(caught.value) == "backendError"
    assert service.events().list(calendarId=calendar_id).execute(num_retries=1)["items"] == []


def test_fault_until_cleared_with_query_match_and_custom_body(
    google_fake: GoogleFake, service: Any, calendar_id: str, no_sleep: None
) -> None:
    insert(service, calendar_id, "one")
    _, token = list_all(service, calendar_id)
    google_fake.faults.add(status=410, query={"syncToken": ".+"}, times=None)
    for _ in range(2):
        with pytest.raises(HttpError) as caught:
            service.events().list(calendarId=calendar_id, syncToken=token).execute()
        assert error_reason(caught.value) == "fullSyncRequired"
    assert service.events().list(calendarId=calendar_id).execute()["items"]  # no syncToken
    google_fake.faults.clear()
    assert service.events().list(calendarId=calendar_id, syncToken=token).execute()["items"] == []

    # The token endpoint too; google-auth retries a 503 itself, then gives up.
    token_fault = google_fake.faults.add(
        status=503, path="/token", body={"error": "temporarily_unavailable"}, times=None
    )
    with pytest.raises(RefreshError):
        google_fake.issue_tokens(EMAIL, [SCOPE_CALENDAR]).credentials().refresh(GoogleAuthRequest())
    assert token_fault.hits >= 1


# -- push notifications (§1.9) --------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[FakeServer]:
    """A second server from the same plumbing, standing in for our webhook endpoint."""
    server = FakeServer()

    def hook(request: Request, match: re.Match[str]) -> Response:
        return empty(200)

    server.add_route("POST", "/hooks/google", hook)
    with server:
        yield server


def test_watch_notifications_and_stop(
    google_fake: GoogleFake, service: Any, calendar_id: str, receiver: FakeServer
) -> None:
    channel = (
        service.events()
        .watch(
            calendarId=calendar_id,
            body={
                "id": "3f1c2d9e-channel",
                "type": "web_hook",
                "address": f"{receiver.url}/hooks/google",
                "token": "secret-token",
            },
        )
        .execute()
    )
    assert channel["kind"] == "api#channel"
    assert isinstance(channel["expiration"], str)  # int64 as a JSON string (§1.9)
    sync = google_fake.outbox.pop(0)
    assert sync.headers["X-Goog-Resource-State"] == "sync"
    assert sync.headers["X-Goog-Message-Number"] == "1"
    assert sync.deliver() == 200

    insert(service, calendar_id, "ping")
    exists = google_fake.outbox.pop(0)
    assert exists.headers["X-Goog-Resource-State"] == "exists"
    assert exists.headers["X-Goog-Channel-Token"] == "secret-token"
    assert exists.headers["X-Goog-Resource-ID"] == channel["resourceId"]
    assert exists.headers["X-Goog-Channel-Expiration"].endswith(" GMT")
    assert int(exists.headers["X-Goog-Message-Number"]) > 1
    assert exists.deliver() == 200
    delivered = receiver.requests_to("POST", "/hooks/google")
    assert len(delivered) == 2 and delivered[-1].body == b""
    assert delivered[-1].headers["X-Goog-Channel-ID"] == "3f1c2d9e-channel"

    stop = {"id": channel["id"], "resourceId": channel["resourceId"]}
    assert service.channels().stop(body=stop).execute() == ""
    with pytest.raises(HttpError) as caught:
        service.channels().stop(body=stop).execute()
    assert caught.value.status_code == 404


# -- plumbing -------------------------------------------------------------------------------------


def test_request_log_and_unknown_paths(google_fake: GoogleFake, service: Any) -> None:
    service.events().list(calendarId="primary", singleEvents=False, showDeleted=True).execute()
    logged = google_fake.requests_to("GET", r"/calendar/v3/calendars/primary/events")[-1]
    assert logged.query["singleEvents"] == ["false"]
    assert logged.query["alt"] == ["json"]
    assert logged.headers["Authorization"].startswith("Bearer ya29.")
    answer = requests.get(f"{google_fake.url}/nope", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["errors"][0]["reason"] == "notFound"
    unauthenticated = requests.get(f"{google_fake.api_endpoint}calendars/primary", timeout=10)
    assert unauthenticated.status_code == 401


def test_rate_limit_helper_sets_retry_after(google_fake: GoogleFake, service: Any) -> None:
    google_fake.rate_limit(status=429, retry_after=3)
    with pytest.raises(HttpError) as caught:
        service.calendars().get(calendarId="primary").execute()
    assert caught.value.status_code == 429
    assert caught.value.resp["retry-after"] == "3"
    assert caught.value.error_details == [
        {"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}
    ]


def test_server_plumbing_context_manager_clock_and_405() -> None:
    with GoogleFake() as fake:
        url = fake.url
        frozen = datetime(2030, 1, 1, tzinfo=UTC)
        fake.now = frozen
        assert fake.now == frozen
        fake.advance(timedelta(minutes=5))
        assert fake.now == frozen + timedelta(minutes=5)
        fake.now = None
        assert abs(fake.now - datetime.now(UTC)) < timedelta(seconds=5)
        wrong_method = requests.get(f"{url}/token", timeout=10)
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == 405
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/token", timeout=2)


# -- as strict and as sparse as Google (issue 19 item 7) ------------------------------------------


def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(HttpError) as caught:
        call.execute()
    assert caught.value.status_code == 400
    details: dict[str, Any] = caught.value.error_details[0]
    return details


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"colour": "5"}, "invalid"),  # no such field (colorId is)
        ({"summary": 5}, "invalid"),  # a string
        ({"transparency": "see-through"}, "invalid"),  # "opaque" or "transparent"
        ({"guestsCanModify": "yes"}, "invalid"),  # a boolean
        ({"start": {"dateTime": "tomorrow at nine"}}, "invalid"),  # an RFC 3339 date-time
        ({"start": {"date": "2026-12-1"}}, "invalid"),  # yyyy-mm-dd
        ({"attendees": [{"email": "a@example.org", "responseStatus": "maybe"}]}, "invalid"),
        ({"attendees": [{"displayName": "No address"}]}, "required"),  # "Required when adding"
        ({"reminders": {"useDefault": False, "overrides": [{"minutes": 5}]}}, "required"),
        ({"end": None}, "required"),  # insert: start and end are required
        ({"extendedProperties": {"private": {"k": 1}}}, "invalid"),  # string values only
    ],
)
def test_insert_bodies_are_checked_against_the_discovery_document(
    service: Any, calendar_id: str, change: dict[str, Any], reason: str
) -> None:
    body = {"summary": "checked", **timed(1, 9), **change}
    details = _refusal(service.events().insert(calendarId=calendar_id, body=body))
    assert details["reason"] == reason
    assert details["domain"] == "global" and details["message"]


def test_patch_bodies_are_checked_and_null_clears(service: Any, calendar_id: str) -> None:
    event = insert(service, calendar_id, "patched", location="Room 1", colorId="3")
    # A patch needs no start or end, and null clears a field (patch semantics).
    patched = (
        service.events()
        .patch(calendarId=calendar_id, eventId=event["id"], body={"location": None})
        .execute()
    )
    assert "location" not in patched and patched["colorId"] == "3"
    details = _refusal(
        service.events().patch(
            calendarId=calendar_id, eventId=event["id"], body={"visibility": "secret"}
        )
    )
    assert details["reason"] == "invalid"
    # Turning a timed event into an all-day one: the members of start are merged, so the
    # dateTime and timeZone must be cleared with null.
    all_day = (
        service.events()
        .patch(
            calendarId=calendar_id,
            eventId=event["id"],
            body={
                "start": {"date": "2026-12-01", "dateTime": None, "timeZone": None},
                "end": {"date": "2026-12-02", "dateTime": None, "timeZone": None},
            },
        )
        .execute()
    )
    assert all_day["start"] == {"date": "2026-12-01"}
    # An event keeps a start: clearing the last member of it is refused.
    _refusal(
        service.events().patch(
            calendarId=calendar_id, eventId=event["id"], body={"start": {"date": None}}
        )
    )


def test_unknown_and_malformed_query_parameters_are_400(
    google_fake: GoogleFake, full: IssuedTokens, calendar_id: str
) -> None:
    """googleapiclient checks parameters itself; another client's typo gets Google's 400."""
    headers = {"Authorization": f"Bearer {full.access_token}"}
    url = f"{google_fake.api_endpoint}calendars/{calendar_id}/events"
    for query in ({"singleEvent": "false"}, {"showDeleted": "yes"}, {"maxResults": "0"}):
        answer = requests.get(url, params=query, headers=headers, timeout=10)
        assert answer.status_code == 400, query
        assert answer.json()["error"]["code"] == 400
    ok = requests.get(url, params={"alt": "json"}, headers=headers, timeout=10)
    assert ok.status_code == 200


def test_answers_leave_out_what_is_at_its_default(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    """Google leaves out a field whose value is the default the discovery document states."""
    event = insert(
        service,
        calendar_id,
        "sparse",
        description="",
        transparency="opaque",
        visibility="default",
        guestsCanModify=False,
        guestsCanInviteOthers=True,
        attendees=[
            {"email": "guest@example.org", "optional": False},
            {"email": calendar_id, "displayName": "Me"},
        ],
    )
    for name in ("description", "transparency", "visibility", "guestsCanModify"):
        assert name not in event, name
    assert "guestsCanInviteOthers" not in event
    assert event["kind"] == "calendar#event" and event["eventType"] == "default"
    assert event["status"] == "confirmed" and event["sequence"] == 0
    assert event["reminders"] == {"useDefault": True}
    # The organiser is this calendar; the account made it, but it is not this calendar.
    assert event["organizer"] == {"email": calendar_id, "displayName": "CalSync Sam", "self": True}
    assert event["creator"] == {"email": EMAIL}
    guest, me = event["attendees"]
    assert guest == {"email": "guest@example.org", "responseStatus": "needsAction"}
    assert me == {
        "email": calendar_id,
        "displayName": "Me",
        "self": True,
        "organizer": True,
        "responseStatus": "needsAction",
    }
    no_reminders = (
        service.events()
        .patch(
            calendarId=calendar_id,
            eventId=event["id"],
            body={"reminders": {"useDefault": False, "overrides": []}},
        )
        .execute()
    )
    assert no_reminders["reminders"] == {"useDefault": False}
    # An invitation: someone else organises it, and Google says so by leaving "self" out.
    invited = google_fake.user_import(
        calendar_id,
        {
            "summary": "Their meeting",
            **timed(2, 9),
            "organizer": {"email": "chair@elsewhere.example", "self": True},  # read-only
        },
    )
    got = service.events().get(calendarId=calendar_id, eventId=invited["id"]).execute()
    assert got["organizer"] == {"email": "chair@elsewhere.example"}


def test_only_the_attendee_sets_their_response(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    event = insert(
        service,
        calendar_id,
        "answers",
        attendees=[{"email": "guest@example.org", "responseStatus": "accepted"}],
    )
    # Set by the organiser for someone else: reset (the documented warning of responseStatus).
    assert event["attendees"][0]["responseStatus"] == "needsAction"
    google_fake.user_respond(calendar_id, event["id"], "guest@example.org", "declined", "Away")
    kept = (
        service.events()
        .patch(
            calendarId=calendar_id,
            eventId=event["id"],
            body={"attendees": [{"email": "guest@example.org", "responseStatus": "accepted"}]},
        )
        .execute()
    )
    assert kept["attendees"][0]["responseStatus"] == "declined"  # still the guest's answer
    assert "comment" not in kept["attendees"][0]  # arrays are replaced: what is not sent goes


def test_default_reminders_are_the_calendars_and_exclude_overrides(
    google_fake: GoogleFake, service: Any, calendar_id: str
) -> None:
    page = service.events().list(calendarId="primary").execute()
    assert page["defaultReminders"] == [{"method": "popup", "minutes": 10}]  # a new account's
    assert service.events().list(calendarId=calendar_id).execute()["defaultReminders"] == []
    google_fake.set_default_reminders(calendar_id, [{"method": "email", "minutes": 60}])
    page = service.events().list(calendarId=calendar_id, maxResults=1).execute()
    assert page["defaultReminders"] == [{"method": "email", "minutes": 60}]
    entry = service.calendarList().get(calendarId=calendar_id).execute()
    assert entry["defaultReminders"] == [{"method": "email", "minutes": 60}]
    both = {"useDefault": True, "overrides": [{"method": "popup", "minutes": 5}]}
    _refusal(
        service.events().insert(
            calendarId=calendar_id, body={"summary": "x", **timed(1, 9), "reminders": both}
        )
    )
    late = {"useDefault": False, "overrides": [{"method": "popup", "minutes": 40321}]}
    _refusal(
        service.events().insert(
            calendarId=calendar_id, body={"summary": "x", **timed(1, 9), "reminders": late}
        )
    )


def test_an_exdate_must_name_an_instance(service: Any, calendar_id: str) -> None:
    series = {
        "start": {"dateTime": "2026-12-07T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-07T10:00:00", "timeZone": "Europe/Berlin"},
    }
    off = ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/Berlin:20261214T100000"]
    _refusal(
        service.events().insert(
            calendarId=calendar_id, body={"summary": "s", **series, "recurrence": off}
        )
    )
    on = ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/Berlin:20261214T090000"]
    master = insert(service, calendar_id, "s", **series, recurrence=on)
    instances = (
        service.events().instances(calendarId=calendar_id, eventId=master["id"]).execute()["items"]
    )
    assert len(instances) == 3


def test_started_channels_deliver_by_themselves_with_faults(
    google_fake: GoogleFake, service: Any, calendar_id: str, receiver: FakeServer
) -> None:
    import time

    google_fake.start_push()
    channel = (
        service.events()
        .watch(
            calendarId=calendar_id,
            body={"id": "c-auto", "type": "web_hook", "address": f"{receiver.url}/hooks/google",
                  "token": "t", "params": {"ttl": "3600"}},
        )
        .execute()
    )  # fmt: skip
    expires = int(channel["expiration"]) / 1000 - time.time()
    assert 3500 < expires <= 3600  # params.ttl is honoured
    google_fake.courier.faults.drop()
    insert(service, calendar_id, "dropped")
    google_fake.courier.faults.duplicate()
    insert(service, calendar_id, "twice")
    google_fake.courier.faults.delay(0.5)
    insert(service, calendar_id, "late")
    insert(service, calendar_id, "on time")
    deadline = time.monotonic() + 10
    while len(receiver.requests_to("POST", "/hooks/google")) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    states = [
        r.headers["X-Goog-Resource-State"] for r in receiver.requests_to("POST", "/hooks/google")
    ]
    assert states == ["sync", "exists", "exists", "exists", "exists"]
    numbers = [
        int(r.headers["X-Goog-Message-Number"])
        for r in receiver.requests_to("POST", "/hooks/google")
    ]
    assert numbers[-1] < numbers[-2]  # the late one came after a later one
    assert len(google_fake.courier.dropped) == 1
    google_fake.expire_channel("c-auto")
    insert(service, calendar_id, "after expiry")
    assert google_fake.outbox == [] and google_fake.live_channels() == []
    stray = google_fake.stray_notification(f"{receiver.url}/hooks/google")
    assert stray.deliver() == 200 and stray.headers["X-Goog-Channel-ID"] not in google_fake.channels


# -- batch requests (https://developers.google.com/calendar/api/guides/batch) ----------------------


def raw_batch(fake: GoogleFake, parts: list[str], **headers: str) -> requests.Response:
    boundary = "batch_test_boundary"
    body = "".join(
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n{p}\r\n"
        for n, p in enumerate(parts)
    )
    body += f"--{boundary}--\r\n"
    return requests.post(
        f"{fake.url}/batch/calendar/v3",
        data=body.encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", **headers},
        timeout=10,
    )


def test_a_batch_applies_the_outer_headers_to_each_call_and_answers_in_order(
    google_fake: GoogleFake, full: IssuedTokens, calendar_id: str, service: Any
) -> None:
    """As the guide has it: the outer Authorization applies to every call unless the call
    carries its own; each answer part pairs with its call by ``Content-ID: <response-…>``,
    in the order asked; the whole batch is one request, each call one against quota."""
    event = json.dumps({"summary": "In a batch", **timed(2, 9)})
    path = f"/calendar/v3/calendars/{calendar_id}/events"
    google_fake.clear_log()
    answer = raw_batch(
        google_fake,
        [
            f"POST {path}?sendUpdates=none HTTP/1.1\r\n"
            f"Content-Type: application/json\r\n\r\n{event}",
            f"GET {path}/nosuchevent HTTP/1.1\r\n\r\n",
            f"GET {path} HTTP/1.1\r\nAuthorization: Bearer not-a-token\r\n\r\n",
        ],
        Authorization=f"Bearer {full.access_token}",
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    parts = answer.text.split("--" + answer.headers["Content-Type"].split("boundary=")[1])
    answered = [p for p in parts if "application/http" in p]
    assert [re.search(r"Content-ID: <(.*?)>", p).group(1) for p in answered] == [  # type: ignore[union-attr]
        "response-item0", "response-item1", "response-item2",
    ]  # fmt: skip
    assert [re.search(r"HTTP/1.1 (\d+)", p).group(1) for p in answered] == ["200", "404", "401"]  # type: ignore[union-attr]
    assert len(google_fake.requests) == 1 and len(google_fake.batch_calls) == 3
    listed = service.events().list(calendarId=calendar_id).execute()["items"]
    assert [e["summary"] for e in listed] == ["In a batch"]


def test_a_batch_refuses_what_the_guide_does_not_allow(
    google_fake: GoogleFake, full: IssuedTokens, calendar_id: str
) -> None:
    auth = {"Authorization": f"Bearer {full.access_token}"}
    whole_url = f"GET {google_fake.url}/calendar/v3/calendars/{calendar_id}/events HTTP/1.1\r\n\r\n"
    assert raw_batch(google_fake, [whole_url], **auth).status_code == 400
    google_fake.batch_limit = 2
    call = f"GET /calendar/v3/calendars/{calendar_id}/events HTTP/1.1\r\n\r\n"
    assert raw_batch(google_fake, [call] * 3, **auth).status_code == 400
    assert raw_batch(google_fake, [call] * 2, **auth).status_code == 200
