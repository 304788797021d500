"""Google behaviours beyond the contract, as the real service reads and answers (issue 19): events
we only attend, updates that change only what we sync, the calendar's default reminders, and
answers that only the attendees give. Through the real googleapiclient against the strict fake."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.events import ALL_FIELDS, Attendee, EventData
from connectors.google.connector import GoogleConnector
from connectors.google.mapping import (
    from_google,
    merged_recurrence,
    organised_here,
    reminders_patch,
)
from recurrence import Flag, Frequency, Rule, Weekday
from tests.connectors.contract import sample
from tests.fakes.google import SCOPE_APP_CREATED, GoogleFake

EMAIL = "practitioner@gmail.example"
AMS = ZoneInfo("Europe/Amsterdam")
TIMES = frozenset({"start", "end", "time_zone", "all_day"})
SERIES_LINES = [
    # As Google writes a series (WKST=SU), with the 21 December occurrence deleted by a client
    # that writes EXDATE.
    "RRULE:FREQ=WEEKLY;WKST=SU;UNTIL=20270104T225959Z;BYDAY=MO",
    "EXDATE;TZID=Europe/Amsterdam:20261221T100000",
]


@pytest.fixture
def calendar_id(google_fake: GoogleFake) -> str:
    return google_fake.create_calendar(EMAIL, "CS_Test", client_id=google_fake.client_id)


def connector_for(fake: GoogleFake, calendar_id: str) -> GoogleConnector:
    return GoogleConnector(
        credentials=fake.issue_tokens(EMAIL, [SCOPE_APP_CREATED]).credentials(),
        calendar_id=calendar_id,
        api_endpoint=fake.api_endpoint,
        default_zone="Europe/Amsterdam",
        timeout=10,
    )


@pytest.fixture
def connector(google_fake: GoogleFake, calendar_id: str) -> GoogleConnector:
    return connector_for(google_fake, calendar_id)


def sent_bodies(fake: GoogleFake, method: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in fake.requests_to(method, r"/calendar/v3/.*") if r.body]


def outside_series(fake: GoogleFake, calendar_id: str) -> str:
    created = fake.user_insert(
        calendar_id,
        {
            "summary": "Weekly check-in",
            "start": {"dateTime": "2026-12-07T10:00:00+01:00", "timeZone": "Europe/Amsterdam"},
            "end": {"dateTime": "2026-12-07T11:00:00+01:00", "timeZone": "Europe/Amsterdam"},
            "recurrence": SERIES_LINES,
        },
    )
    return str(created["id"])


def instance_starts(fake: GoogleFake, calendar_id: str, series_id: str) -> list[str]:
    service = fake.calendar_service(fake.issue_tokens(EMAIL, [SCOPE_APP_CREATED]).credentials())
    items = service.events().instances(calendarId=calendar_id, eventId=series_id).execute()
    return [i["start"]["dateTime"][:16] for i in items["items"]]


# -- item 1: events we only attend ----------------------------------------------------------------


def test_an_event_someone_else_organises_is_read_as_one_we_only_attend(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    """Google leaves ``organizer.self`` out when it is false: an organiser without it is not us."""
    ours = connector.create(sample(), idempotency_key="calsync-ours")
    theirs = google_fake.user_import(
        calendar_id,
        {
            "summary": "Board meeting",
            "start": {"dateTime": "2026-12-09T13:00:00Z"},
            "end": {"dateTime": "2026-12-09T14:00:00Z"},
            "organizer": {"email": "chair@hospital.example"},
        },
    )
    by_id = {i.external_id: i.event for i in connector.full_listing().items}
    assert by_id[ours.external_id] is not None and by_id[ours.external_id].is_organizer
    assert by_id[theirs["id"]] is not None and not by_id[theirs["id"]].is_organizer


def test_an_event_without_an_organizer_is_not_taken_for_ours() -> None:
    base = {
        "id": "abcde12345",
        "start": {"dateTime": "2026-12-09T13:00:00Z"},
        "end": {"dateTime": "2026-12-09T14:00:00Z"},
    }
    assert organised_here({**base, "organizer": {"email": "me@x.example", "self": True}})
    assert not organised_here({**base, "organizer": {"email": "chair@hospital.example"}})
    assert not from_google(base).is_organizer


# -- item 2: an update changes only what we sync ------------------------------------------------


def test_an_update_is_a_patch_of_the_named_fields(
    google_fake: GoogleFake, connector: GoogleConnector
) -> None:
    written = connector.create(sample(), idempotency_key="calsync-patch")
    google_fake.clear_log()
    connector.update(
        written.external_id, sample(title="Renamed"), etag=written.etag, fields=frozenset({"title"})
    )
    assert google_fake.requests_to("PUT", r".*") == []
    assert sent_bodies(google_fake, "PATCH") == [
        {"summary": "Renamed", "extendedProperties": {"private": {"calsyncMeetingId": "4711"}}}
    ]
    assert [r.query["sendUpdates"] for r in google_fake.requests_to("PATCH")] == [["none"]]
    assert google_fake.requests_to("PATCH")[0].headers["If-Match"] == written.etag


def test_exdates_survive_an_edit_of_the_title_and_of_the_times_of_a_series(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    """Occurrences deleted in Google (EXDATE) stay deleted when we edit the series."""
    series_id = outside_series(google_fake, calendar_id)
    item = connector.get(series_id)
    assert item.event is not None and item.event.rule is not None
    assert Flag.EXCEPTION in item.event.flags

    renamed = connector.update(
        series_id, replace(item.event, title="Renamed"), etag=item.etag, fields=frozenset({"title"})
    )
    assert google_fake.event(calendar_id, series_id)["recurrence"] == SERIES_LINES

    hour = timedelta(hours=1)
    later = replace(item.event, start=item.event.start + hour, end=item.event.end + hour)
    connector.update(series_id, later, etag=renamed.etag, fields=TIMES | {"rule"})
    stored = google_fake.event(calendar_id, series_id)
    # The rule still reads the same: Google's own line stays; the deleted occurrence moves with
    # the series to 11:00, so it still names an instance and still removes it.
    assert stored["recurrence"] == [
        SERIES_LINES[0],
        "EXDATE;TZID=Europe/Amsterdam:20261221T110000",
    ]
    assert instance_starts(google_fake, calendar_id, series_id) == [
        "2026-12-07T11:00",
        "2026-12-14T11:00",
        "2026-12-28T11:00",
        "2027-01-04T11:00",
    ]
    again = connector.get(series_id).event
    assert again is not None and again.rule == item.event.rule
    assert again.start == item.event.start + hour


def test_a_new_rule_keeps_the_exdates_it_still_has() -> None:
    start = datetime(2026, 12, 7, 10, tzinfo=AMS)
    current = {
        "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Amsterdam"},
        "recurrence": [
            "RRULE:FREQ=WEEKLY;UNTIL=20270104T225959Z;BYDAY=MO",
            "EXDATE:20261214T090000Z,20261228T090000Z",  # UTC form, as other clients write it
        ],
    }
    shorter = Rule(Frequency.WEEKLY, until=date(2026, 12, 21), weekdays=frozenset({Weekday.MO}))
    event = EventData(
        uid="",
        title="t",
        start=start + timedelta(minutes=30),
        end=start + timedelta(minutes=90),
        time_zone="Europe/Amsterdam",
        rule=shorter,
    )
    assert merged_recurrence(event, current) == [
        "RRULE:FREQ=WEEKLY;WKST=MO;BYDAY=MO;UNTIL=20261221T225959Z",
        "EXDATE:20261214T093000Z",  # moved with the series; 28 December is no occurrence now
    ]
    all_day = replace(
        event,
        all_day=True,
        start=datetime(2026, 12, 7, tzinfo=AMS),
        end=datetime(2026, 12, 8, tzinfo=AMS),
    )
    assert merged_recurrence(all_day, current)[1:] == ["EXDATE;VALUE=DATE:20261214"]


def test_an_event_made_all_day_loses_its_time(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    written = connector.create(sample(), idempotency_key="calsync-allday-patch")
    day = sample().start.replace(hour=0, minute=0)
    whole = sample(all_day=True, start=day, end=day + timedelta(days=1))
    connector.update(written.external_id, whole, etag=written.etag, fields=frozenset({"all_day"}))
    stored = google_fake.event(calendar_id, written.external_id)
    assert (stored["start"], stored["end"]) == ({"date": "2026-12-07"}, {"date": "2026-12-08"})
    got = connector.get(written.external_id).event
    assert got is not None and got.all_day and got.title == sample().title


# -- item 3: default reminders -----------------------------------------------------------------


def test_default_reminders_are_read_as_the_calendars_and_stay_defaults(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    google_fake.set_default_reminders(
        calendar_id, [{"method": "email", "minutes": 60}, {"method": "popup", "minutes": 30}]
    )
    event_id = google_fake.user_insert(
        calendar_id,
        {
            "summary": "Defaults",
            "start": {"dateTime": "2026-12-09T13:00:00Z"},
            "end": {"dateTime": "2026-12-09T14:00:00Z"},
        },
    )["id"]
    listed = connector.full_listing().items[0]
    assert listed.event is not None and listed.event.reminder_minutes == 30

    fresh = connector_for(google_fake, calendar_id)
    google_fake.clear_log()
    item = fresh.get(event_id)
    assert item.event is not None and item.event.reminder_minutes == 30
    # get() of an event on defaults: the event, and the calendar's defaults with one small list.
    assert [r.method for r in google_fake.requests] == ["GET", "GET"]

    renamed = fresh.update(
        event_id, replace(item.event, title="Renamed"), etag=item.etag, fields=frozenset({"title"})
    )
    assert google_fake.event(calendar_id, event_id)["reminders"] == {"useDefault": True}
    again = fresh.get(event_id)
    assert again.event is not None
    rewritten = fresh.update(event_id, again.event, etag=again.etag, fields=ALL_FIELDS)
    assert rewritten.etag == again.etag  # everything read as it is: nothing to write
    assert google_fake.event(calendar_id, event_id)["reminders"] == {"useDefault": True}

    fresh.update(
        event_id,
        replace(again.event, reminder_minutes=15),
        etag=renamed.etag,
        fields=frozenset({"reminder"}),
    )
    assert google_fake.event(calendar_id, event_id)["reminders"] == {
        "useDefault": False,
        "overrides": [{"method": "popup", "minutes": 15}],
    }


def test_a_quiet_poll_is_one_request(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    google_fake.set_default_reminders(calendar_id, [{"method": "popup", "minutes": 30}])
    connector.create(sample(), idempotency_key="calsync-quiet")
    cursor = connector.changes(None).cursor
    google_fake.clear_log()
    assert connector.changes(cursor).items == ()
    assert len(google_fake.requests) == 1


def test_a_changed_reminder_keeps_the_users_method_and_later_reminders() -> None:
    current = {
        "useDefault": False,
        "overrides": [{"method": "email", "minutes": 30}, {"method": "popup", "minutes": 120}],
    }
    assert reminders_patch(30, current, []) is None  # unchanged: not written
    assert reminders_patch(15, current, []) == {
        "useDefault": False,
        "overrides": [{"method": "email", "minutes": 15}, {"method": "popup", "minutes": 120}],
    }
    assert reminders_patch(None, current, []) == {"useDefault": False, "overrides": []}
    defaults = [{"method": "popup", "minutes": 10}]
    assert reminders_patch(10, {"useDefault": True}, defaults) is None


# -- item 6: answers are the attendees' own ------------------------------------------------------


def test_we_never_send_an_attendees_answer(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    accepted = Attendee("colleague@practice.example", "A. Colleague", response="accepted")
    connector.create(sample(attendees=(accepted,)), idempotency_key="calsync-answers")
    inserted = sent_bodies(google_fake, "POST")[-1]
    assert inserted["attendees"] == [
        {"email": "colleague@practice.example", "displayName": "A. Colleague"}
    ]

    event_id = google_fake.user_insert(
        calendar_id,
        {
            "summary": "Made elsewhere",
            "start": {"dateTime": "2026-12-09T13:00:00Z"},
            "end": {"dateTime": "2026-12-09T14:00:00Z"},
            "attendees": [{"email": "guest@elsewhere.example", "optional": True}],
        },
    )["id"]
    google_fake.user_respond(calendar_id, event_id, "guest@elsewhere.example", "accepted", "Late")
    item = connector.get(event_id)
    assert item.event is not None
    guest = google_fake.event(calendar_id, event_id)["attendees"][0]
    google_fake.clear_log()
    new = Attendee("new@practice.example", response="accepted")
    connector.update(
        event_id,
        replace(item.event, attendees=(*item.event.attendees, new)),
        etag=item.etag,
        fields=frozenset({"attendees"}),
    )
    (patch,) = sent_bodies(google_fake, "PATCH")
    # The guest goes back exactly as Google has them; the new attendee without an answer.
    assert patch["attendees"] == [guest, {"email": "new@practice.example"}]
    stored = google_fake.event(calendar_id, event_id)["attendees"]
    assert [(a["email"], a["responseStatus"]) for a in stored] == [
        ("guest@elsewhere.example", "accepted"),
        ("new@practice.example", "needsAction"),
    ]
    assert stored[0]["comment"] == "Late" and stored[0]["optional"] is True


# -- batched creates (issue 17 §3) ----------------------------------------------------------------


def batch_items(count: int, prefix: str = "calsyncbatch") -> list[Any]:
    from connectors.base import NewItem

    return [
        NewItem(replace(sample(), title=f"Batched {n}"), f"{prefix}{n:04d}") for n in range(count)
    ]


def test_creates_go_in_batch_requests_of_50_each_answered_as_a_lone_insert(
    google_fake: GoogleFake, calendar_id: str, connector: GoogleConnector
) -> None:
    from connectors.base import Written
    from connectors.google.connector import event_id_for

    items = batch_items(120)
    google_fake.clear_log()
    results = connector.create_many(items)
    assert [r.external_id for r in results if isinstance(r, Written)] == [
        event_id_for(i.idempotency_key) for i in items
    ]
    # 120 calls in 3 HTTP requests (50, 50, 20); each call counts as an insert at Google.
    assert [r.path for r in google_fake.requests] == ["/batch/calendar/v3"] * 3
    assert len(google_fake.batch_calls) == 120
    assert {c.arg("sendUpdates") for c in google_fake.batch_calls} == {"none"}
    stored = [google_fake.event(calendar_id, w.external_id) for w in results]  # type: ignore[union-attr]
    assert [e["summary"] for e in stored] == [f"Batched {n}" for n in range(120)]
    assert [w.etag for w in results] == [e["etag"] for e in stored]  # type: ignore[union-attr]
    # The same creates again (a retried first sync): 409 duplicate per call, each answered
    # with the first copy, no second event.
    again = connector.create_many(items)
    assert [(w.external_id, w.etag) for w in again] == [  # type: ignore[union-attr]
        (w.external_id, w.etag)
        for w in results  # type: ignore[union-attr]
    ]
    assert len([i for i in connector.full_listing().items if i.event]) == 120


def test_an_error_of_one_call_in_a_batch_is_that_items_answer(
    google_fake: GoogleFake, connector: GoogleConnector
) -> None:
    from connectors.base import Written
    from connectors.errors import InvalidData, RateLimited

    items = batch_items(5)
    # The third insert meets a rate limit, the fifth a refusal: the others land. The faults
    # are set as the calls arrive, so they hit exactly those calls inside the batch.
    calls = iter(range(100))
    original = google_fake.route

    def route(request: Any) -> Any:
        if request.path.endswith("/events") and request.method == "POST":
            n = next(calls)
            if n == 2:
                google_fake.rate_limit(status=403, reason="userRateLimitExceeded", times=1)
            if n == 4:
                google_fake.faults.add(status=400, times=1)
        return original(request)

    google_fake.route = route  # type: ignore[method-assign]
    results = connector.create_many(items)
    assert [type(r).__name__ for r in results] == [
        "Written", "Written", "RateLimited", "Written", "InvalidData",
    ]  # fmt: skip
    assert isinstance(results[2], RateLimited) and isinstance(results[4], InvalidData)
    assert all(isinstance(r, Written) for r in results[:2])


def test_an_expired_token_in_a_batch_is_refreshed_and_the_calls_sent_again(
    google_fake: GoogleFake, connector: GoogleConnector
) -> None:
    from connectors.base import Written

    google_fake.expire_access_tokens(EMAIL)
    results = connector.create_many(batch_items(3, "calsyncexpired"))
    assert all(isinstance(r, Written) for r in results), results
    assert connector.updated_secrets() is not None  # the new token is kept
    assert len([i for i in connector.full_listing().items if i.event]) == 3


def test_a_batch_that_fails_whole_is_each_items_error(
    google_fake: GoogleFake, connector: GoogleConnector
) -> None:
    from connectors.errors import Unavailable

    google_fake.faults.add(method="POST", path=r"/batch/calendar/v3", status=503, times=1)
    results = connector.create_many(batch_items(4, "calsyncdown"))
    assert len(results) == 4 and all(isinstance(r, Unavailable) for r in results)
    assert [i for i in connector.full_listing().items if i.event] == []
