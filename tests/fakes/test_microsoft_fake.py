"""Self-tests of the Microsoft fake, driven only through msal and requests (no CalSync code):
the fake must be faithful to PROTOCOLS.md §2, not to our connector."""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal  # type: ignore[import-untyped]
import requests

from tests.fakes.microsoft import GRAPH_SCOPE, LOGIN_HOST, MicrosoftFake

EMAIL = "alex@outlook.example"
REDIRECT = "https://app.example/callback"
WET = "W. Europe Standard Time"


def app(fake: MicrosoftFake, cache: Any = None) -> Any:
    return msal.ConfidentialClientApplication(
        fake.client_id,
        client_credential=fake.client_secret,
        authority=fake.authority,
        token_cache=cache,
        http_client=fake.http_client(),
    )


def start_flow(fake: MicrosoftFake, application: Any) -> dict[str, Any]:
    fake.register_redirect_uri(REDIRECT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flow: dict[str, Any] = application.initiate_auth_code_flow(
            [GRAPH_SCOPE], redirect_uri=REDIRECT, response_mode="query"
        )
    return flow


def params_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def graph(fake: MicrosoftFake, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {fake.issue_access_token(EMAIL)}"}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(
        method, f"{fake.graph_endpoint}{path}", headers=headers, timeout=10, **kwargs
    )


def single(subject: str = "Single", day: str = "2026-12-09") -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"{day}T13:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T14:00:00.0000000", "timeZone": "UTC"},
    }


# -- identity (§2.8, §2.9 item 9) ---------------------------------------------------------------


def test_msal_runs_the_auth_code_flow_and_then_hits_its_cache(
    microsoft_fake: MicrosoftFake,
) -> None:
    cache = msal.SerializableTokenCache()
    application = app(microsoft_fake, cache)
    flow = start_flow(microsoft_fake, application)
    assert flow["auth_uri"].startswith(f"{microsoft_fake.url}/common/oauth2/v2.0/authorize?")
    callback = microsoft_fake.browser_consent(flow["auth_uri"], EMAIL)
    answer = params_of(callback)
    assert answer["state"] == flow["state"] and answer["code"] and answer["client_info"]
    result = application.acquire_token_by_auth_code_flow(flow, answer)
    assert result["access_token"] and result["id_token_claims"]["preferred_username"] == EMAIL
    # The id_token carries the nonce msal sent; the scope is echoed as asked.
    asked = microsoft_fake.consent_requests[-1]
    assert result["id_token_claims"]["nonce"] == asked.nonce
    token_requests = microsoft_fake.requests_to("POST", "/common/oauth2/v2.0/token")
    assert token_requests[0].form()["code_verifier"]
    # A fresh application on the deserialised cache: silent, no token request.
    copy = msal.SerializableTokenCache()
    copy.deserialize(cache.serialize())
    again = app(microsoft_fake, copy)
    (account,) = again.get_accounts()
    assert again.acquire_token_silent([GRAPH_SCOPE], account=account)["access_token"]
    assert len(microsoft_fake.requests_to("POST", "/common/oauth2/v2.0/token")) == 1


def test_openid_configuration_names_the_real_token_endpoint(microsoft_fake: MicrosoftFake) -> None:
    config = microsoft_fake.http_client().get(
        f"https://{LOGIN_HOST}/common/v2.0/.well-known/openid-configuration", timeout=10
    )
    body = config.json()
    assert body["token_endpoint"] == f"https://{LOGIN_HOST}/common/oauth2/v2.0/token"
    assert body["authorization_endpoint"].startswith(microsoft_fake.url)


def test_a_code_is_redeemed_once_and_needs_its_verifier(microsoft_fake: MicrosoftFake) -> None:
    application = app(microsoft_fake)
    flow = start_flow(microsoft_fake, application)
    answer = params_of(microsoft_fake.browser_consent(flow["auth_uri"], EMAIL))
    form = {
        "client_id": microsoft_fake.client_id,
        "client_secret": microsoft_fake.client_secret,
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": "wrong",
        "scope": GRAPH_SCOPE,
    }
    token_url = f"{microsoft_fake.url}/common/oauth2/v2.0/token"
    wrong = requests.post(token_url, data=form, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wrong.json()["error_description"].startswith("AADSTS")
    again = requests.post(
        token_url, data=form | {"code_verifier": flow["code_verifier"]}, timeout=10
    )
    assert again.json()["error_codes"] == [54005]  # the code was used up by the first try


def test_unknown_client_and_redirect_uri_get_error_pages(microsoft_fake: MicrosoftFake) -> None:
    base = f"{microsoft_fake.url}/common/oauth2/v2.0/authorize"
    page = requests.get(base, params={"client_id": "nope", "response_type": "code"}, timeout=10)
    assert page.status_code == 400 and "AADSTS700016" in page.text
    page = requests.get(
        base,
        params={"client_id": microsoft_fake.client_id, "redirect_uri": "https://evil.example/",
                "response_type": "code"},
        timeout=10,
    )  # fmt: skip
    assert page.status_code == 400 and "AADSTS50011" in page.text


def test_deny_redirects_with_access_denied(microsoft_fake: MicrosoftFake) -> None:
    flow = start_flow(microsoft_fake, app(microsoft_fake))
    answer = params_of(microsoft_fake.browser_consent(flow["auth_uri"], EMAIL, allow=False))
    assert answer["error"] == "access_denied" and answer["state"] == flow["state"]
    assert "code" not in answer


def test_a_revoked_grant_refuses_refresh_with_invalid_grant(microsoft_fake: MicrosoftFake) -> None:
    stored = microsoft_fake.sign_in(EMAIL)
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored["token_cache"])
    application = app(microsoft_fake, cache)
    microsoft_fake.revoke_grants(EMAIL)
    (account,) = application.get_accounts()
    result = application.acquire_token_silent_with_error(
        [GRAPH_SCOPE], account=account, force_refresh=True
    )
    assert result["error"] == "invalid_grant" and "AADSTS50173" in result["error_description"]


# -- Graph (§2.1-2.5, §2.9) ---------------------------------------------------------------------


def test_graph_needs_a_valid_bearer_token(microsoft_fake: MicrosoftFake) -> None:
    response = requests.get(f"{microsoft_fake.graph_endpoint}/me/calendars", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_create_calendar_and_a_duplicate_name(microsoft_fake: MicrosoftFake) -> None:
    created = graph(microsoft_fake, "POST", "/me/calendars", json={"name": "CS_Alex"})
    assert created.status_code == 201
    assert {"id", "name", "changeKey", "canEdit", "owner"} <= set(created.json())
    again = graph(microsoft_fake, "POST", "/me/calendars", json={"name": "CS_Alex"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ErrorFolderExists"
    names = [c["name"] for c in graph(microsoft_fake, "GET", "/me/calendars").json()["value"]]
    assert sorted(names) == ["CS_Alex", "Calendar"]


def test_events_crud_with_etags_and_extended_properties(microsoft_fake: MicrosoftFake) -> None:
    cal = microsoft_fake.create_calendar(EMAIL, "CS")
    prop = "String {00000000-0000-0000-0000-000000000001} Name ours"
    created = graph(
        microsoft_fake, "POST", f"/me/calendars/{cal}/events",
        json=single() | {"singleValueExtendedProperties": [{"id": prop, "value": "42"}]},
    )  # fmt: skip
    assert created.status_code == 201
    event = created.json()
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert event["start"] == {"dateTime": "2026-12-09T13:00:00.0000000", "timeZone": "UTC"}
    assert "singleValueExtendedProperties" not in event  # only when expanded (§2.4)
    expanded = graph(
        microsoft_fake, "GET", f"/me/events/{event['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')"},
    ).json()  # fmt: skip
    assert expanded["singleValueExtendedProperties"] == [{"id": prop, "value": "42"}]
    patched = graph(
        microsoft_fake, "PATCH", f"/me/events/{event['id']}",
        json={"subject": "New"}, headers={"If-Match": event["@odata.etag"]},
    )  # fmt: skip
    assert patched.status_code == 200 and patched.json()["changeKey"] != event["changeKey"]
    stale = graph(
        microsoft_fake, "DELETE", f"/me/events/{event['id']}",
        headers={"If-Match": event["@odata.etag"]},
    )  # fmt: skip
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    gone = graph(microsoft_fake, "DELETE", f"/me/events/{event['id']}")
    assert gone.status_code == 204 and gone.content == b""
    missing = graph(microsoft_fake, "GET", f"/me/events/{event['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_transaction_id_makes_a_retried_post_idempotent(microsoft_fake: MicrosoftFake) -> None:
    body = single() | {"transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7"}
    first = graph(microsoft_fake, "POST", "/me/events", json=body).json()
    second = graph(microsoft_fake, "POST", "/me/events", json=body).json()
    assert first["id"] == second["id"]
    cal = microsoft_fake.default_calendar(EMAIL).id
    assert len(list(microsoft_fake.iter_events(cal))) == 1


def test_calendar_view_needs_a_window_and_delta_refuses_expand(
    microsoft_fake: MicrosoftFake,
) -> None:
    view = graph(microsoft_fake, "GET", "/me/calendarView")
    assert view.status_code == 400
    assert "StartDateTime and EndDateTime" in view.json()["error"]["message"]
    delta = graph(
        microsoft_fake, "GET", "/me/calendarView/delta",
        params={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z",
                "$expand": "singleValueExtendedProperties"},
    )  # fmt: skip
    assert delta.status_code == 400


def recurring(fake: MicrosoftFake, **pattern: Any) -> dict[str, Any]:
    body = {
        "subject": "Series",
        "start": {"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": WET},
        "end": {"dateTime": "2026-12-07T11:00:00.0000000", "timeZone": WET},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], **pattern},
            "range": {"type": "numbered", "startDate": "2026-12-07", "numberOfOccurrences": 4,
                      "recurrenceTimeZone": WET},
        },
    }  # fmt: skip
    created: dict[str, Any] = graph(fake, "POST", "/me/events", json=body).json()
    return created


def window(start: str = "2026-12-01T00:00:00Z", end: str = "2027-01-31T00:00:00Z") -> Any:
    return {"startDateTime": start, "endDateTime": end}


def test_series_expand_into_occurrences_with_their_own_ical_uids(
    microsoft_fake: MicrosoftFake,
) -> None:
    master = recurring(microsoft_fake)
    assert master["type"] == "seriesMaster"
    view = graph(microsoft_fake, "GET", "/me/calendarView", params=window()).json()["value"]
    assert [e["type"] for e in view] == ["occurrence"] * 4
    assert {e["seriesMasterId"] for e in view} == {master["id"]}
    assert [e["originalStart"] for e in view][:2] == [
        "2026-12-07T09:00:00Z",
        "2026-12-14T09:00:00Z",
    ]
    assert len({e["iCalUId"] for e in view}) == 4  # differs per occurrence (§2.3)
    assert all("recurrence" not in e or e["recurrence"] is None for e in view)
    # Edit one (it becomes an exception), delete another (it disappears).
    graph(microsoft_fake, "PATCH", f"/me/events/{view[1]['id']}", json={"subject": "Moved"})
    assert graph(microsoft_fake, "DELETE", f"/me/events/{view[2]['id']}").status_code == 204
    instances = graph(
        microsoft_fake, "GET", f"/me/events/{master['id']}/instances", params=window()
    ).json()["value"]
    assert [(e["type"], e["subject"]) for e in instances] == [
        ("occurrence", "Series"), ("exception", "Moved"), ("occurrence", "Series"),
    ]  # fmt: skip


def test_day_31_is_clamped_to_the_end_of_shorter_months(microsoft_fake: MicrosoftFake) -> None:
    body = {
        "subject": "Month end",
        "start": {"dateTime": "2027-01-31T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-01-31T10:00:00.0000000", "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "range": {"type": "numbered", "startDate": "2027-01-31", "numberOfOccurrences": 3},
        },
    }
    master = graph(microsoft_fake, "POST", "/me/events", json=body).json()
    instances = graph(
        microsoft_fake, "GET", f"/me/events/{master['id']}/instances",
        params=window("2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z"),
    ).json()["value"]  # fmt: skip
    assert [e["start"]["dateTime"][:10] for e in instances] == [
        "2027-01-31", "2027-02-28", "2027-03-31",
    ]  # fmt: skip


def test_delta_rounds_with_absolute_links_and_removals(microsoft_fake: MicrosoftFake) -> None:
    microsoft_fake.page_size = 2
    ids = [graph(microsoft_fake, "POST", "/me/events", json=single(f"e{n}")).json()["id"]
           for n in range(3)]  # fmt: skip
    first = graph(microsoft_fake, "GET", "/me/calendarView/delta", params=window()).json()
    assert len(first["value"]) == 2 and "@odata.deltaLink" not in first
    assert first["@odata.nextLink"].startswith(
        f"{microsoft_fake.graph_endpoint}/me/calendarView/delta?$skiptoken="
    )
    second = requests.get(
        first["@odata.nextLink"],
        headers={"Authorization": f"Bearer {microsoft_fake.issue_access_token(EMAIL)}"},
        timeout=10,
    ).json()
    link = second["@odata.deltaLink"]
    assert link.startswith(f"{microsoft_fake.graph_endpoint}/me/calendarView/delta?$deltatoken=")
    token = {"Authorization": f"Bearer {microsoft_fake.issue_access_token(EMAIL)}"}
    assert requests.get(link, headers=token, timeout=10).json()["value"] == []
    # Move one out of the window and delete another: both are "@removed" (§2.2).
    graph(microsoft_fake, "PATCH", f"/me/events/{ids[0]}", json=single("far", "2027-09-01"))
    graph(microsoft_fake, "DELETE", f"/me/events/{ids[1]}")
    changed = requests.get(link, headers=token, timeout=10).json()
    assert sorted(e["id"] for e in changed["value"]) == sorted(ids[:2])
    assert all(e["@removed"] == {"reason": "deleted"} for e in changed["value"])
    microsoft_fake.expire_delta_tokens()
    expired = requests.get(changed["@odata.deltaLink"], headers=token, timeout=10)
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "syncStateNotFound"


def test_fault_switches_for_410_and_throttling(microsoft_fake: MicrosoftFake) -> None:
    link = graph(microsoft_fake, "GET", "/me/calendarView/delta", params=window()).json()[
        "@odata.deltaLink"
    ]
    microsoft_fake.delta_gone()
    token = {"Authorization": f"Bearer {microsoft_fake.issue_access_token(EMAIL)}"}
    gone = requests.get(link, headers=token, timeout=10, allow_redirects=False)
    assert gone.status_code == 410 and gone.headers["Location"].endswith("/calendarView/delta")
    microsoft_fake.throttle(retry_after=3)
    throttled = graph(microsoft_fake, "GET", "/me/calendars")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert graph(microsoft_fake, "GET", "/me/calendars").status_code == 200


def test_client_info_is_base64url_json(microsoft_fake: MicrosoftFake) -> None:
    flow = start_flow(microsoft_fake, app(microsoft_fake))
    info = params_of(microsoft_fake.browser_consent(flow["auth_uri"], EMAIL))["client_info"]
    decoded = json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)))
    assert set(decoded) == {"uid", "utid"}


# -- as strict as Graph (issue 19 item 7) -------------------------------------------------------


def at(zone: str, day: str = "2026-12-09") -> dict[str, Any]:
    return {
        "subject": "Zoned",
        "start": {"dateTime": f"{day}T13:00:00.0000000", "timeZone": zone},
        "end": {"dateTime": f"{day}T14:00:00.0000000", "timeZone": zone},
    }


def test_only_the_zone_names_graph_takes_are_taken(microsoft_fake: MicrosoftFake) -> None:
    """Windows names and the reference's "additional time zones" (Europe/Berlin is one,
    Europe/Amsterdam and Australia/Lord_Howe are not): anything else is 400
    TimeZoneNotSupportedException in Graph's error shape (microsoft-graph-docs#4758)."""
    for taken in ("W. Europe Standard Time", "Lord Howe Standard Time", "UTC", "Europe/Berlin"):
        assert graph(microsoft_fake, "POST", "/me/events", json=at(taken)).status_code == 201
    refused = graph(microsoft_fake, "POST", "/me/events", json=at("Europe/Amsterdam"))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "TimeZoneNotSupportedException"
    assert error["message"] == (
        "A valid TimeZone value must be specified. The following TimeZone value is not "
        "supported: 'Europe/Amsterdam'."
    )
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    series = at(WET) | {
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"]},
            "range": {"type": "noEnd", "startDate": "2026-12-09",
                      "recurrenceTimeZone": "Australia/Lord_Howe"},
        }
    }  # fmt: skip
    assert graph(microsoft_fake, "POST", "/me/events", json=series).status_code == 400
    event = graph(microsoft_fake, "POST", "/me/events", json=at(WET)).json()
    patched = graph(microsoft_fake, "PATCH", f"/me/events/{event['id']}", json=at("Europe/Rome"))
    assert patched.json()["error"]["code"] == "TimeZoneNotSupportedException"
    # A mailbox that takes fewer zones (the reference: "can be a smaller subset").
    microsoft_fake.refused_zones.add(WET)
    assert graph(microsoft_fake, "POST", "/me/events", json=at(WET)).status_code == 400


def test_bodies_are_kept_as_given_and_converted_on_the_way_out(
    microsoft_fake: MicrosoftFake,
) -> None:
    """Graph answers the body in HTML unless ``Prefer: outlook.body-content-type="text"``, then
    converts it and says so in ``Preference-Applied`` (the get-event reference)."""
    text = {"Prefer": 'outlook.body-content-type="text"'}
    markup = "<html><head><title>x</title></head><body><p>Hi &amp; bye</p>line<br>two</body></html>"
    made = graph(
        microsoft_fake, "POST", "/me/events",
        json=single() | {"body": {"contentType": "html", "content": markup}},
    ).json()  # fmt: skip
    as_text = graph(microsoft_fake, "GET", f"/me/events/{made['id']}", headers=text)
    assert as_text.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
    assert as_text.json()["body"] == {"contentType": "text", "content": "Hi & bye\r\nline\r\ntwo"}
    as_html = graph(microsoft_fake, "GET", f"/me/events/{made['id']}")
    assert "Preference-Applied" not in as_html.headers
    assert as_html.json()["body"] == {"contentType": "html", "content": markup}  # as stored
    plain = graph(
        microsoft_fake, "POST", "/me/events",
        json=single() | {"body": {"contentType": "text", "content": "a < b\nc"}},
    ).json()  # fmt: skip
    assert plain["body"]["contentType"] == "html" and "a &lt; b" in plain["body"]["content"]
    again = graph(microsoft_fake, "GET", f"/me/events/{plain['id']}", headers=text).json()
    assert again["body"] == {"contentType": "text", "content": "a < b\nc"}  # as stored
    view = graph(microsoft_fake, "GET", "/me/calendarView", params=window(), headers=text)
    assert {e["body"]["contentType"] for e in view.json()["value"]} == {"text"}


def test_a_master_answers_every_recurrence_property(microsoft_fake: MicrosoftFake) -> None:
    """recurrencePattern and recurrenceRange come back whole, the unused properties at their
    non-null defaults (the v1.0 reference's group-get-event.md response)."""
    master = recurring(microsoft_fake)
    assert master["recurrence"] == {
        "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "numbered", "startDate": "2026-12-07", "endDate": "0001-01-01",
                  "recurrenceTimeZone": WET, "numberOfOccurrences": 4},
    }  # fmt: skip
    monthly = at(WET) | {
        "recurrence": {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 9},
            "range": {"type": "endDate", "startDate": "2026-12-09", "endDate": "2027-06-09"},
        }
    }
    got = graph(microsoft_fake, "POST", "/me/events", json=monthly).json()["recurrence"]
    assert got["pattern"]["daysOfWeek"] == [] and got["pattern"]["month"] == 0
    assert got["range"]["numberOfOccurrences"] == 0 and got["range"]["recurrenceTimeZone"] == WET


def test_calendar_view_and_instances_come_in_pages_of_ten(microsoft_fake: MicrosoftFake) -> None:
    for n in range(12):
        graph(microsoft_fake, "POST", "/me/events", json=single(f"e{n}"))
    first = graph(microsoft_fake, "GET", "/me/calendarView", params=window()).json()
    assert len(first["value"]) == 10
    token = {"Authorization": f"Bearer {microsoft_fake.issue_access_token(EMAIL)}"}
    rest = requests.get(first["@odata.nextLink"], headers=token, timeout=10).json()
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
    small = graph(
        microsoft_fake, "GET", "/me/calendarView",
        params=window() | {"$top": "100", "$select": "id,changeKey"},
    ).json()  # fmt: skip
    assert len(small["value"]) == 12
    assert {frozenset(e) for e in small["value"]} == {frozenset({"id", "changeKey", "@odata.etag"})}
    master = recurring(microsoft_fake)
    path = f"/me/events/{master['id']}/instances"
    instances = graph(microsoft_fake, "GET", path, params=window() | {"$top": "3"}).json()
    assert len(instances["value"]) == 3 and "$skip=3" in instances["@odata.nextLink"]


def test_the_per_calendar_delta_path_can_be_refused(microsoft_fake: MicrosoftFake) -> None:
    cal = microsoft_fake.create_calendar(EMAIL, "CS")
    microsoft_fake.refuse_calendar_delta()
    refused = graph(
        microsoft_fake, "GET", f"/me/calendars/{cal}/calendarView/delta", params=window()
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BadRequest"
    assert (
        graph(microsoft_fake, "GET", "/me/calendarView/delta", params=window()).status_code == 200
    )


# -- subscriptions and change notifications (§2.6, §2.9 item 7) ----------------------------------


class Receiver:
    """A webhook endpoint on the fakes' own plumbing, answering as a correct app does: the
    URL-decoded validation token as text/plain, 202 for notifications."""

    def __init__(self) -> None:
        from tests.fakes.server import FakeServer, Response

        self.server = FakeServer()
        self.answer_validation = True

        def hook(request: Any, match: Any) -> Response:
            token = request.arg("validationToken")
            if token is not None:
                if not self.answer_validation:
                    return Response(200, b"wrong", {"Content-Type": "text/plain"})
                return Response(200, token.encode(), {"Content-Type": "text/plain"})
            return Response(202)

        self.server.add_route("POST", "/hook", hook)
        self.server.start()
        self.url = f"{self.server.url}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.server.requests_to("POST", "/hook") if r.body]


def subscribe(fake: MicrosoftFake, url: str, **extra: Any) -> requests.Response:
    from datetime import UTC, datetime, timedelta

    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": url,
        "resource": "/me/events",
        "expirationDateTime": (datetime.now(UTC) + timedelta(days=2)).strftime(
            "%Y-%m-%dT%H:%M:%S.0000000Z"
        ),
        "clientState": "key.secret",
    } | extra
    return graph(fake, "POST", "/subscriptions", json=body)


def test_a_subscription_is_made_after_both_urls_answer_the_validation_handshake(
    microsoft_fake: MicrosoftFake,
) -> None:
    receiver = Receiver()
    try:
        made = subscribe(microsoft_fake, receiver.url)
        assert made.status_code == 201, made.text
        sub = made.json()
        assert sub["clientState"] == "key.secret" and sub["latestSupportedTlsVersion"] == "v1_2"
        validations = receiver.server.requests_to("POST", "/hook")
        assert len(validations) == 2  # notificationUrl and lifecycleNotificationUrl
        token = validations[0].arg("validationToken")
        # The raw query carries the token URL-encoded; it has spaces and colons to decode.
        assert token is not None and " " in token and ":" in token
        assert validations[0].headers["Content-Type"].startswith("text/plain")

        receiver.answer_validation = False
        refused = subscribe(microsoft_fake, receiver.url)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
        nobody = subscribe(microsoft_fake, "http://127.0.0.1:9/nothing-listens-here")
        assert nobody.status_code == 400
        assert len(microsoft_fake.live_subscriptions(EMAIL)) == 1
    finally:
        receiver.server.stop()


def test_subscriptions_are_checked_like_graph_checks_them(microsoft_fake: MicrosoftFake) -> None:
    from datetime import UTC, datetime, timedelta

    receiver = Receiver()
    try:
        too_long = (datetime.now(UTC) + timedelta(minutes=10081)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = subscribe(microsoft_fake, receiver.url, expirationDateTime=too_long)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "ExtensionError"
        past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert subscribe(microsoft_fake, receiver.url, expirationDateTime=past).status_code == 400
        assert subscribe(microsoft_fake, receiver.url, changeType="read").status_code == 400
        assert subscribe(microsoft_fake, receiver.url, resource="/me/contacts").status_code == 400
        assert subscribe(microsoft_fake, receiver.url, clientState="x" * 129).status_code == 400
        microsoft_fake.require_https = True
        assert subscribe(microsoft_fake, receiver.url).status_code == 400
        assert receiver.server.requests_to("POST", "/hook") == []  # nothing validated
    finally:
        receiver.server.stop()


def test_changes_are_notified_renewal_stop_and_expiry(microsoft_fake: MicrosoftFake) -> None:
    from datetime import UTC, datetime, timedelta

    receiver = Receiver()
    try:
        sub = subscribe(microsoft_fake, receiver.url).json()
        calendar = microsoft_fake.create_calendar(EMAIL, "Work")
        created = graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single())
        event_id = created.json()["id"]
        graph(microsoft_fake, "PATCH", f"/me/events/{event_id}", json={"subject": "Moved"})
        graph(microsoft_fake, "DELETE", f"/me/events/{event_id}")
        assert microsoft_fake.courier.deliver_all() == [202]  # one batched POST
        (batch,) = receiver.bodies()
        assert [n["changeType"] for n in batch["value"]] == ["created", "updated", "deleted"]
        first = batch["value"][0]
        assert first["subscriptionId"] == sub["id"] and first["clientState"] == "key.secret"
        assert first["resourceData"]["id"] == event_id
        assert first["resource"].endswith(f"/Events/{event_id}")

        later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        renewed = graph(
            microsoft_fake,
            "PATCH",
            f"/subscriptions/{sub['id']}",
            json={"expirationDateTime": later},
        )
        assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(
            later[:19]
        )
        # An expired subscription is deleted by Graph: no notification, renewal 404.
        microsoft_fake.advance(timedelta(days=4))
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single())
        assert microsoft_fake.outbox == []
        gone = graph(
            microsoft_fake,
            "PATCH",
            f"/subscriptions/{sub['id']}",
            json={"expirationDateTime": later},
        )
        assert gone.status_code == 404
        microsoft_fake.now = None
        again = subscribe(microsoft_fake, receiver.url).json()
        assert graph(microsoft_fake, "DELETE", f"/subscriptions/{again['id']}").status_code == 204
        assert graph(microsoft_fake, "DELETE", f"/subscriptions/{again['id']}").status_code == 404
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single())
        assert microsoft_fake.outbox == []
    finally:
        receiver.server.stop()


def test_lifecycle_notifications_go_to_the_lifecycle_url(microsoft_fake: MicrosoftFake) -> None:
    receiver = Receiver()
    try:
        sub = subscribe(microsoft_fake, receiver.url).json()
        calendar = microsoft_fake.create_calendar(EMAIL, "Work")
        microsoft_fake.reauthorization_required(sub["id"])
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single())
        microsoft_fake.courier.deliver_all()
        events = [v.get("lifecycleEvent") for b in receiver.bodies() for v in b["value"]]
        assert events == ["reauthorizationRequired"]  # paused: the change was not notified
        assert (
            graph(microsoft_fake, "POST", f"/subscriptions/{sub['id']}/reauthorize").status_code
            == 204
        )
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single())
        assert microsoft_fake.miss_notifications(sub["id"]) == 1
        microsoft_fake.remove_subscription(sub["id"])
        microsoft_fake.courier.deliver_all()
        events = [v.get("lifecycleEvent") for b in receiver.bodies() for v in b["value"]]
        assert events == ["reauthorizationRequired", "missed", "subscriptionRemoved"]
        assert microsoft_fake.live_subscriptions(EMAIL) == []
    finally:
        receiver.server.stop()


def test_the_courier_retries_drops_duplicates_and_delays(microsoft_fake: MicrosoftFake) -> None:
    import time

    from tests.fakes.server import FakeServer, Response

    answers = [500, 202, 202, 202, 202, 202]
    hook_server = FakeServer()
    hook_server.add_route(
        "POST",
        "/hook",
        lambda request, match: (
            Response(
                200, (request.arg("validationToken") or "").encode(), {"Content-Type": "text/plain"}
            )
            if request.arg("validationToken")
            else Response(answers.pop(0))
        ),
    )
    with hook_server:
        url = f"{hook_server.url}/hook"
        subscribe(microsoft_fake, url)
        calendar = microsoft_fake.create_calendar(EMAIL, "Work")
        microsoft_fake.courier.backoff = 0.05
        microsoft_fake.start_push()
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single("A"))
        deadline = time.monotonic() + 10
        while len([r for r in hook_server.requests if r.body]) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        statuses = [d.status for d in microsoft_fake.courier.deliveries if d.message.body]
        assert statuses == [500, 202]  # a 500 is sent again
        microsoft_fake.courier.faults.drop()
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single("B"))
        microsoft_fake.courier.faults.duplicate()
        graph(microsoft_fake, "POST", f"/me/calendars/{calendar}/events", json=single("C"))
        deadline = time.monotonic() + 10
        while not microsoft_fake.courier.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert len(microsoft_fake.courier.dropped) == 1
        assert len([r for r in hook_server.requests if r.body]) in (3, 4)  # C twice (or batched)
    microsoft_fake.courier.stop()
