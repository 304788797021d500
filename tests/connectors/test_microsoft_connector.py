"""Graph behaviours beyond the contract (PROTOCOLS.md §2): delta paging, expiry, throttling,
series changes seen through calendarView delta, no meeting requests, the mailbox gate."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from tzlocal.windows_tz import win_tz

from connectors.errors import (
    AuthRevoked,
    CursorExpired,
    EtagMismatch,
    InvalidData,
    NotFound,
    RateLimited,
    Unavailable,
)
from connectors.events import ALL_FIELDS, Attendee, EventStatus
from connectors.microsoft.connector import MAX_CONCURRENT, GraphClient, MicrosoftConnector
from connectors.microsoft.mapping import ATTENDEES_PROPERTY, MEETING_ID_PROPERTY
from connectors.microsoft.oauth import TokenSource
from recurrence import Flag, Frequency, Rule, Weekday
from tests.connectors.contract import sample
from tests.connectors.test_microsoft_contract import EMAIL, microsoft_settings
from tests.connectors.test_microsoft_mapping import REGIONS
from tests.fakes.microsoft import MicrosoftFake

__all__ = ["microsoft_settings"]
WET = "W. Europe Standard Time"


@pytest.fixture
def fake(microsoft_settings: MicrosoftFake) -> MicrosoftFake:
    return microsoft_settings


@pytest.fixture
def calendar_id(fake: MicrosoftFake) -> str:
    return fake.create_calendar(EMAIL, "CS_Test")


@pytest.fixture
def connector(fake: MicrosoftFake, calendar_id: str) -> MicrosoftConnector:
    return MicrosoftConnector(
        tokens=TokenSource(fake.sign_in(EMAIL)),
        calendar_id=calendar_id,
        graph_endpoint=fake.graph_endpoint,
        mailbox=EMAIL,
        default_zone="Europe/Amsterdam",
        timeout=10,
    )


def series(fake: MicrosoftFake, calendar_id: str, **pattern: Any) -> str:
    body = {
        "subject": "Series",
        "start": {"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": WET},
        "end": {"dateTime": "2026-12-07T11:00:00.0000000", "timeZone": WET},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], **pattern},
            "range": {"type": "numbered", "startDate": "2026-12-07", "numberOfOccurrences": 6,
                      "recurrenceTimeZone": WET},
        },
    }  # fmt: skip
    return str(fake.user_create(calendar_id, body)["id"])


def delta_requests(fake: MicrosoftFake) -> list[Any]:
    return fake.requests_to(method="GET", path=r"/v1\.0/me/calendars/[^/]+/calendarView/delta")


def test_delta_follows_absolute_next_links_and_stores_the_whole_delta_link(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    fake.page_size = 2
    for n in range(5):
        connector.create(sample(title=f"n{n}"), idempotency_key=f"k{n}")
    fake.clear_log()
    changes = connector.changes(None)
    assert len(changes.items) == 5
    pages = delta_requests(fake)
    assert len(pages) == 3  # 2 + 2 + 1: nextLink followed verbatim
    assert pages[0].arg("startDateTime") and pages[0].arg("endDateTime")
    assert all(p.arg("$skiptoken") for p in pages[1:])
    assert pages[0].headers.get("Prefer") == "odata.maxpagesize=100"
    stored = json.loads(changes.cursor)
    assert stored["delta"].startswith(f"{fake.graph_endpoint}/me/calendars/")
    assert "$deltatoken=" in stored["delta"]
    fake.clear_log()
    # A no-change poll by a new connector (a new task) is one request (QUALITY, performance):
    # the access token comes from the cache, the openid-configuration from msal's http cache.
    fresh = MicrosoftConnector(
        tokens=TokenSource(connector.tokens.secrets()),
        calendar_id=calendar_id,
        graph_endpoint=fake.graph_endpoint,
        mailbox=EMAIL,
    )
    assert fresh.changes(changes.cursor).items == ()
    assert [r.path for r in fake.requests] == [pages[0].path]


def test_partial_and_repeated_delta_entries_are_read_in_full(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    """A delta update may carry only the changed properties, and entries may repeat (§2.2): the
    connector re-reads each reported event, once."""
    written = connector.create(sample(), idempotency_key="k-partial")
    cursor = connector.changes(None).cursor
    fake.user_patch(written.external_id, {"subject": "Renamed in Outlook"})
    partial = {"id": written.external_id, "subject": "Renamed in Outlook"}
    link = json.loads(cursor)["delta"]
    fake.faults.add(
        status=200,
        method="GET",
        path=r"/v1\.0/me/calendars/[^/]+/calendarView/delta",
        query={"$deltatoken": ".+"},
        body={"value": [partial, partial], "@odata.deltaLink": link},
    )
    fake.clear_log()
    (item,) = connector.changes(cursor).items
    assert item.event is not None and item.event.title == "Renamed in Outlook"
    assert item.event.start == sample().start and item.event.meeting_id == 4711
    assert len(fake.requests_to(method="GET", path=r"/v1\.0/me/events/[^/]+")) == 1


def test_410_with_location_and_sync_state_not_found_are_cursor_expired(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    cursor = connector.changes(None).cursor
    fault = fake.delta_gone()
    with pytest.raises(CursorExpired):
        connector.changes(cursor)
    assert fault.hits == 1
    fake.expire_delta_tokens()
    with pytest.raises(CursorExpired):
        connector.changes(cursor)
    with pytest.raises(CursorExpired):
        connector.changes("not a cursor of ours")


def test_a_cursor_whose_window_ran_half_out_is_expired(
    fake: MicrosoftFake, calendar_id: str
) -> None:
    """A deltaLink keeps the window of its first request (§2.2): once half the future part has
    passed, the connector asks for a full listing, which opens a new window."""
    start = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    secrets = fake.sign_in(EMAIL)

    def at(moment: datetime) -> MicrosoftConnector:
        return MicrosoftConnector(
            tokens=TokenSource(secrets),
            calendar_id=calendar_id,
            graph_endpoint=fake.graph_endpoint,
            mailbox=EMAIL,
            window_future=timedelta(days=100),
            now=moment,
        )

    cursor = at(start).changes(None).cursor
    assert at(start + timedelta(days=49)).changes(cursor).items == ()
    with pytest.raises(CursorExpired):
        at(start + timedelta(days=51)).changes(cursor)


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_rate_limited_with_retry_after(
    fake: MicrosoftFake, connector: MicrosoftConnector, status: int
) -> None:
    fake.throttle(status=status, retry_after=12)
    with pytest.raises(RateLimited) as caught:
        connector.changes(None)
    assert caught.value.retry_after == 12.0


def test_an_expired_access_token_is_refreshed_once_and_a_revoked_grant_is_auth_revoked(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    fake.access_tokens.clear()  # every access token expired
    assert connector.changes(None).items == ()
    grants = [r.form()["grant_type"] for r in fake.requests_to("POST", r".*/token")]
    assert grants[-1] == ["refresh_token"]
    assert connector.updated_secrets() is not None  # the rotated refresh token must be stored
    fake.revoke_grants(EMAIL)
    with pytest.raises(AuthRevoked):
        connector.changes(None)


def test_writes_carry_no_attendees_so_exchange_sends_no_meeting_requests(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    written = connector.create(sample(), idempotency_key="k-invite")
    connector.update(written.external_id, sample(title="Moved"), etag=written.etag)
    for request in fake.requests_to(method=None, path=r"/v1\.0/me/.*events.*"):
        body = request.json()
        if body is not None:
            assert "attendees" not in body
    assert fake.sent_invitations == []
    raw = fake.event(written.external_id)
    assert raw["attendees"] == []
    assert json.loads(raw["_extended"][ATTENDEES_PROPERTY]) == [
        ["colleague@practice.example", "A. Colleague", "needs-action"]
    ]
    assert raw["_extended"][MEETING_ID_PROPERTY] == "4711"
    got = connector.get(written.external_id).event
    assert got is not None and got.attendees == (
        Attendee("colleague@practice.example", "A. Colleague"),
    )


def test_a_retried_create_sends_the_same_transaction_id(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    first = connector.create(sample(), idempotency_key="calsync-tx")
    again = connector.create(sample(), idempotency_key="calsync-tx")
    posts = fake.requests_to(method="POST", path=r"/v1\.0/me/calendars/[^/]+/events")
    assert [p.json()["transactionId"] for p in posts] == ["calsync-tx", "calsync-tx"]
    assert again.external_id == first.external_id


def test_if_match_sends_the_etag(fake: MicrosoftFake, connector: MicrosoftConnector) -> None:
    written = connector.create(sample(), idempotency_key="k-etag")
    assert written.etag.startswith('W/"')
    fake.user_patch(written.external_id, {"subject": "Changed in Outlook"})
    with pytest.raises(EtagMismatch):
        connector.delete(written.external_id, etag=written.etag)
    patch = fake.requests_to(method="DELETE")[-1]
    assert patch.headers.get("If-Match") == written.etag


def test_links_to_another_host_are_not_followed(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    cursor = json.loads(connector.changes(None).cursor)
    cursor["delta"] = "https://attacker.example/v1.0/me/calendarView/delta?$deltatoken=x"
    with pytest.raises(InvalidData, match="outside Microsoft Graph"):
        connector.changes(json.dumps(cursor))


def test_a_deleted_calendar_is_not_found(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    del fake.calendars[connector.calendar_id]
    with pytest.raises(NotFound):
        connector.full_listing()


def test_a_412_without_a_precondition_is_retried(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    written = connector.create(sample(), idempotency_key="k-412")
    fake.faults.add(status=412, method="DELETE", times=2)
    connector.delete(written.external_id, etag=None)
    assert len(fake.requests_to(method="DELETE")) == 3
    assert written.external_id not in {e["id"] for e in fake.iter_events(connector.calendar_id)}


def test_a_deleted_occurrence_and_a_deleted_series_come_through_delta(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    master = series(fake, calendar_id)
    first = connector.changes(None)
    (item,) = first.items
    assert item.external_id == master and item.event is not None
    assert item.event.exceptions == ()
    # Delete the 3rd occurrence in Outlook: delta reports only "@removed" with the
    # occurrence's id; the connector re-reads the series it knows.
    fake.user_delete(fake.occurrence_id(master, datetime(2026, 12, 21, 9, tzinfo=UTC)))
    second = connector.changes(first.cursor)
    by_id = {i.external_id: i for i in second.items}
    event = by_id[master].event
    assert event is not None and Flag.EXCEPTION in event.flags
    assert event.exceptions == (datetime(2026, 12, 21, 9, tzinfo=UTC),)
    # Delete the whole series: every occurrence is "@removed"; the master is gone.
    fake.user_delete(master)
    third = connector.changes(second.cursor)
    assert {i.external_id for i in third.items if i.deleted} >= {master}
    assert json.loads(third.cursor)["series"] == []


def test_an_edited_occurrence_is_an_exception_of_its_series(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    master = series(fake, calendar_id)
    cursor = connector.changes(None).cursor
    fake.user_patch(
        fake.occurrence_id(master, datetime(2026, 12, 14, 9, tzinfo=UTC)), {"subject": "Other"}
    )
    (item,) = connector.changes(cursor).items
    assert item.external_id == master and item.event is not None
    assert item.event.exceptions == (datetime(2026, 12, 14, 9, tzinfo=UTC),)


def test_first_day_of_week_defaults_to_sunday_in_outlook(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    """Every other week on Sunday and Monday (§4.1): without firstDayOfWeek, Outlook pairs a
    Sunday with the Monday after it; the reading says so (flag SUNDAY_WEEK_START)."""
    body = {
        "subject": "Fortnightly",
        "start": {"dateTime": "2027-01-03T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-01-03T10:00:00.0000000", "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"]},
            "range": {"type": "numbered", "startDate": "2027-01-03", "numberOfOccurrences": 4},
        },
    }
    master = str(fake.user_create(calendar_id, body)["id"])
    instances = requests.get(
        f"{fake.graph_endpoint}/me/events/{master}/instances",
        params={"startDateTime": "2027-01-01T00:00:00Z", "endDateTime": "2027-03-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {fake.issue_access_token(EMAIL)}"},
        timeout=10,
    ).json()["value"]
    assert [i["start"]["dateTime"][:10] for i in instances] == [
        "2027-01-03", "2027-01-04", "2027-01-17", "2027-01-18",
    ]  # fmt: skip
    event = connector.get(master).event
    assert event is not None and Flag.SUNDAY_WEEK_START in event.flags


def test_never_more_than_four_requests_per_mailbox_at_once(fake: MicrosoftFake) -> None:
    class SlowSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.active = 0
            self.peak = 0
            self.lock = threading.Lock()

        def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.05)
            with self.lock:
                self.active -= 1
            response = requests.Response()
            response.status_code = 200
            response._content = b"{}"
            return response

    class Tokens(TokenSource):
        def __init__(self) -> None:
            pass

        def token(self, *, force_refresh: bool = False) -> str:
            return "t"

    session = SlowSession()
    clients = [
        GraphClient(tokens=Tokens(), graph_endpoint="https://graph.example/v1.0",
                    mailbox="gate@example.test", session=session)
        for _ in range(3)
    ]  # fmt: skip
    threads = [
        threading.Thread(target=lambda c=c: c.json("GET", "/me", "Reading"))
        for c in clients
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert session.peak == MAX_CONCURRENT


def test_the_window_bounds_the_delta_request(fake: MicrosoftFake, calendar_id: str) -> None:
    now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    connector = MicrosoftConnector(
        tokens=TokenSource(fake.sign_in(EMAIL)),
        calendar_id=calendar_id,
        graph_endpoint=fake.graph_endpoint,
        mailbox=EMAIL,
        window_past=timedelta(days=7),
        window_future=timedelta(days=30),
        now=now,
    )
    connector.create(sample(), idempotency_key="in")  # 2026-12-07: inside
    connector.create(
        sample(start=datetime(2027, 6, 1, 9, tzinfo=UTC), end=datetime(2027, 6, 1, 10, tzinfo=UTC)),
        idempotency_key="out",
    )
    assert len(connector.full_listing().items) == 1
    (first,) = delta_requests(fake)
    assert (first.arg("startDateTime"), first.arg("endDateTime")) == (
        "2026-11-14T06:00:00Z",
        "2026-12-21T06:00:00Z",
    )


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() <= before + 2


# -- time zones Graph takes (issue 19 item 4) -----------------------------------------------------


@pytest.mark.parametrize("iana", [iana for iana, _ in REGIONS] + ["Antarctica/Troll"])
def test_a_zone_of_every_region_round_trips_through_outlook(
    fake: MicrosoftFake, connector: MicrosoftConnector, iana: str
) -> None:
    """The fake refuses what Graph refuses (Europe/Amsterdam, Australia/Lord_Howe...): every
    event is written with a Windows name (UTC where none keeps the clock) and read back in its
    own zone, a series with its rule."""
    zone = ZoneInfo(iana)
    start = datetime(2027, 3, 28, 9, 30, tzinfo=zone)
    rule = Rule(Frequency.WEEKLY, until=date(2027, 12, 26), weekdays=frozenset({Weekday.SU}))
    event = sample(
        start=start,
        end=start + timedelta(minutes=45),
        time_zone=iana,
        rule=None if iana == "Antarctica/Troll" else rule,
    )
    written = connector.create(event, idempotency_key=f"zone-{iana}")
    stored = fake.event(written.external_id)
    assert stored["originalStartTimeZone"] in win_tz  # a Windows name (UTC for Troll)
    got = connector.get(written.external_id).event
    assert got is not None
    assert (got.time_zone, got.start, got.end, got.rule) == (
        iana,
        event.start,
        event.end,
        event.rule,
    )


def test_a_zone_the_mailbox_refuses_is_replaced_by_one_with_the_same_clock(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    """A mailbox may take fewer zones than Windows has (datetimetimezone.md), e.g. one newer than
    its Exchange: on 400 TimeZoneNotSupportedException the write is made again in another
    Windows zone with the same clock, and reads back in the meeting's own zone."""
    fake.refused_zones.add("W. Europe Standard Time")
    written = connector.create(sample(), idempotency_key="k-refused-zone")
    refused = fake.requests_to(method="POST", path=r"/v1\.0/me/calendars/[^/]+/events")
    assert [r.json()["start"]["timeZone"] for r in refused] == [
        "W. Europe Standard Time",
        "Central Europe Standard Time",
    ]
    got = connector.get(written.external_id).event
    assert got is not None and (got.time_zone, got.start) == ("Europe/Amsterdam", sample().start)
    moved = replace(got, start=got.start + timedelta(hours=1), end=got.end + timedelta(hours=1))
    connector.update(written.external_id, moved, etag=connector.get(written.external_id).etag)
    assert (
        fake.event(written.external_id)["originalStartTimeZone"] == "Central Europe Standard Time"
    )


# -- an update changes only what we sync (issue 12 §3, issue 19 item 5) --------------------------

HTML_BODY = (
    "<html><head><style>p{color:red}</style></head><body><p>Bring the <b>referral</b>.</p>"
    '<p>Parking: <a href="https://example.test/park">see map</a></p></body></html>'
)


def test_an_html_body_we_did_not_change_stays_html(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    created = fake.user_create(
        calendar_id,
        {
            "subject": "Made in Outlook",
            "body": {"contentType": "html", "content": HTML_BODY},
            "start": {"dateTime": "2026-12-09T13:00:00.0000000", "timeZone": WET},
            "end": {"dateTime": "2026-12-09T14:00:00.0000000", "timeZone": WET},
        },
    )
    item = connector.get(str(created["id"]))
    assert item.event is not None
    # Read as text: Graph converts on the way out when asked (Prefer outlook.body-content-type).
    assert (
        item.event.description == "Bring the referral.\nParking: see map<https://example.test/park>"
    )
    renamed = replace(item.event, title="Renamed at the practice")
    written = connector.update(str(created["id"]), renamed, etag=item.etag, fields=ALL_FIELDS)
    stored = fake.event(str(created["id"]))
    assert stored["subject"] == "Renamed at the practice"
    assert stored["body"] == {"contentType": "html", "content": HTML_BODY}
    # Changing the description does write it, as text.
    again = replace(renamed, description="New notes")
    connector.update(
        str(created["id"]), again, etag=written.etag, fields=frozenset({"description"})
    )
    assert fake.event(str(created["id"]))["body"] == {"contentType": "text", "content": "New notes"}


def test_outlooks_free_busy_is_kept_unless_the_status_changes(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    created = fake.user_create(
        calendar_id,
        {
            "subject": "Away",
            "showAs": "oof",
            "start": {"dateTime": "2026-12-09T13:00:00.0000000", "timeZone": WET},
            "end": {"dateTime": "2026-12-09T14:00:00.0000000", "timeZone": WET},
        },
    )
    event_id = str(created["id"])
    item = connector.get(event_id)
    assert item.event is not None and item.event.status is EventStatus.CONFIRMED
    # Every field written as read, the title changed: still out of office (was busy before).
    written = connector.update(
        event_id, replace(item.event, title="Away (conference)"), etag=item.etag
    )
    assert fake.event(event_id)["showAs"] == "oof"
    tentative = replace(item.event, status=EventStatus.TENTATIVE)
    written = connector.update(event_id, tentative, etag=written.etag)
    assert fake.event(event_id)["showAs"] == "tentative"
    got = connector.get(event_id).event
    assert got is not None and got.status is EventStatus.TENTATIVE
    connector.update(event_id, replace(tentative, status=EventStatus.CONFIRMED), etag=written.etag)
    assert fake.event(event_id)["showAs"] == "busy"


def test_an_update_that_changes_nothing_sends_no_patch(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    written = connector.create(sample(), idempotency_key="k-same")
    item = connector.get(written.external_id)
    assert item.event is not None
    fake.clear_log()
    again = connector.update(written.external_id, item.event, etag=item.etag)
    assert again.etag == item.etag
    assert fake.requests_to(method="PATCH") == []
    fake.user_patch(written.external_id, {"subject": "Changed in Outlook"})
    with pytest.raises(EtagMismatch):  # the GET checks the etag too
        connector.update(written.external_id, item.event, etag=item.etag)


def test_rewriting_a_series_as_read_keeps_its_exceptions(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str
) -> None:
    """Outlook drops a series' exceptions when its recurrence or start is written: an update
    that changes neither writes neither."""
    master = series(fake, calendar_id)
    moved = fake.occurrence_id(master, datetime(2026, 12, 14, 9, tzinfo=UTC))
    fake.user_patch(moved, {"subject": "Moved one"})
    item = connector.get(master)
    assert item.event is not None and len(item.event.exceptions) == 1
    connector.update(master, replace(item.event, title="Renamed series"), etag=item.etag)
    patch = fake.requests_to(method="PATCH")[-1].json()
    assert set(patch) == {"subject"}
    got = connector.get(master).event
    assert got is not None and got.exceptions == item.event.exceptions
    assert fake.event(moved)["subject"] == "Moved one"


# -- the per-calendar delta path refused (issue 19 item 8) ---------------------------------------


@pytest.mark.parametrize("status", [400, 404])
def test_a_refused_calendar_delta_falls_back_to_a_calendar_view_listing(
    fake: MicrosoftFake, connector: MicrosoftConnector, calendar_id: str, status: int
) -> None:
    kept = connector.create(sample(), idempotency_key="k-view-1")
    master = series(fake, calendar_id)
    fake.refuse_calendar_delta(status=status)
    listing = connector.full_listing()
    assert {i.external_id for i in listing.items} == {kept.external_id, master}
    assert json.loads(listing.cursor)["view"]["seen"]
    fake.clear_log()
    assert connector.changes(listing.cursor).items == ()
    # A quiet poll lists the window (one page here) and nothing else.
    assert [r.path for r in fake.requests] == [f"/v1.0/me/calendars/{calendar_id}/calendarView"]
    assert fake.requests[0].arg("$select") == "id,changeKey,type,seriesMasterId"
    fake.user_patch(kept.external_id, {"subject": "Edited in Outlook"})
    fake.user_delete(fake.occurrence_id(master, datetime(2026, 12, 21, 9, tzinfo=UTC)))
    made = fake.user_create(
        calendar_id,
        {"subject": "New in Outlook",
         "start": {"dateTime": "2026-12-10T13:00:00.0000000", "timeZone": WET},
         "end": {"dateTime": "2026-12-10T14:00:00.0000000", "timeZone": WET}},
    )  # fmt: skip
    changes = connector.changes(listing.cursor)
    by_id = {i.external_id: i for i in changes.items}
    assert set(by_id) == {kept.external_id, master, str(made["id"])}
    assert by_id[kept.external_id].event.title == "Edited in Outlook"  # type: ignore[union-attr]
    assert by_id[master].event.exceptions == (  # type: ignore[union-attr]
        datetime(2026, 12, 21, 9, tzinfo=UTC),
    )
    fake.user_delete(kept.external_id)
    fake.user_delete(master)
    last = connector.changes(changes.cursor)
    assert {i.external_id for i in last.items if i.deleted} == {kept.external_id, master}
    assert connector.changes(last.cursor).items == ()


def test_a_refused_calendar_delta_on_the_primary_calendar_uses_the_documented_me_delta(
    fake: MicrosoftFake,
) -> None:
    primary = fake.default_calendar(EMAIL).id
    connector = MicrosoftConnector(
        tokens=TokenSource(fake.sign_in(EMAIL)),
        calendar_id=primary,
        graph_endpoint=fake.graph_endpoint,
        mailbox=EMAIL,
        default_zone="Europe/Amsterdam",
    )
    written = connector.create(sample(), idempotency_key="k-primary")
    fake.refuse_calendar_delta()
    listing = connector.full_listing()
    assert [i.external_id for i in listing.items] == [written.external_id]
    assert json.loads(listing.cursor)["delta"].startswith(
        f"{fake.graph_endpoint}/me/calendarView/delta?"
    )
    fake.clear_log()
    assert connector.changes(listing.cursor).items == ()
    assert [r.path for r in fake.requests] == ["/v1.0/me/calendarView/delta"]


def test_a_stored_calendar_delta_link_graph_refuses_is_an_expired_cursor(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    cursor = connector.changes(None).cursor
    fake.refuse_calendar_delta()
    with pytest.raises(CursorExpired):
        connector.changes(cursor)
    assert "view" in json.loads(connector.full_listing().cursor)


# -- JSON batching (issue 17 §3) -------------------------------------------------------------------


def batch_items(count: int, prefix: str = "calsync-batch-") -> list[Any]:
    from connectors.base import NewItem

    return [NewItem(replace(sample(), title=f"Batched {n}"), f"{prefix}{n}") for n in range(count)]


def test_creates_go_in_json_batches_of_20_paired_by_id(
    fake: MicrosoftFake, calendar_id: str, connector: MicrosoftConnector
) -> None:
    from connectors.base import Written

    items = batch_items(45)
    fake.clear_log()
    results = connector.create_many(items)
    assert all(isinstance(r, Written) for r in results), results
    # 45 creates in 3 HTTP requests (20, 20, 5); the fake answers each batch last first, so
    # the answers are paired by id, not by position.
    graph = [r.path for r in fake.requests if r.path.startswith("/v1.0/")]
    assert graph == ["/v1.0/$batch"] * 3  # msal's identity requests aside
    assert len(fake.batch_calls) == 45
    assert [fake.event(w.external_id)["subject"] for w in results] == [  # type: ignore[union-attr]
        f"Batched {n}" for n in range(45)
    ]
    # transactionId per create: the same batch again makes no second copy.
    again = connector.create_many(items)
    assert [w.external_id for w in again] == [w.external_id for w in results]  # type: ignore[union-attr]
    assert len([i for i in connector.full_listing().items if i.event]) == 45


def test_a_throttled_or_refused_step_is_that_items_answer_and_a_zone_refusal_is_retried(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    from connectors.base import Written

    items = batch_items(4, "calsync-steps-")
    fake.refused_zones.add(WET)  # the mailbox takes no "W. Europe Standard Time": retried alone
    calls = iter(range(100))
    original = fake.route

    def route(request: Any) -> Any:
        if request.method == "POST" and request.path.endswith("/events"):
            n = next(calls)
            if n == 1:
                fake.throttle(retry_after=9, times=1)
            if n == 3:
                fake.faults.add(status=400, times=1)
        return original(request)

    fake.route = route  # type: ignore[method-assign]
    results = connector.create_many(items)
    assert isinstance(results[0], Written)
    assert isinstance(results[1], RateLimited) and results[1].retry_after == 9
    assert isinstance(results[3], InvalidData) and not isinstance(results[3], RateLimited)
    assert isinstance(results[2], Written)
    assert fake.event(results[0].external_id)["start"]["timeZone"] != WET


def test_a_batch_that_fails_whole_is_each_items_error(
    fake: MicrosoftFake, connector: MicrosoftConnector
) -> None:
    fake.faults.add(method="POST", path=r"/v1\.0/\$batch", status=500, times=1)
    results = connector.create_many(batch_items(3, "calsync-down-"))
    assert len(results) == 3 and all(isinstance(r, Unavailable) for r in results)
    assert [i for i in connector.full_listing().items if i.event] == []
