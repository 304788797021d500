"""The connector contract on the Google fake, through the real google-api-python-client."""

from __future__ import annotations

import pytest

from connectors.google.connector import GoogleConnector
from tests.connectors.contract import ConnectorContract, Outside
from tests.fakes.google import SCOPE_APP_CREATED, GoogleFake

EMAIL = "practitioner@gmail.example"


class GoogleOutside(Outside):
    """Changes made in Google Calendar itself (the web UI, a phone)."""

    def __init__(self, fake: GoogleFake, calendar_id: str) -> None:
        self.fake = fake
        self.calendar_id = calendar_id

    def edit_title(self, external_id: str, title: str) -> None:
        self.fake.user_patch(self.calendar_id, external_id, {"summary": title})

    def delete(self, external_id: str) -> None:
        self.fake.user_delete(self.calendar_id, external_id)

    def create_single(self, title: str) -> str:
        created = self.fake.user_insert(
            self.calendar_id,
            {
                "summary": title,
                "start": {"dateTime": "2026-12-09T13:00:00Z"},
                "end": {"dateTime": "2026-12-09T14:00:00Z"},
            },
        )
        return str(created["id"])

    def create_series_with_exceptions(self) -> str:
        master = self.fake.user_insert(
            self.calendar_id,
            {
                "summary": "Weekly check-in",
                "start": {"dateTime": "2026-12-07T10:00:00+01:00", "timeZone": "Europe/Amsterdam"},
                "end": {"dateTime": "2026-12-07T11:00:00+01:00", "timeZone": "Europe/Amsterdam"},
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO"],
            },
        )
        series = str(master["id"])
        # Move the 2nd occurrence to Tuesday afternoon; cancel the 3rd (§1.5 instance ids).
        self.fake.user_patch(
            self.calendar_id,
            f"{series}_20261214T090000Z",
            {
                "start": {"dateTime": "2026-12-15T14:00:00+01:00", "timeZone": "Europe/Amsterdam"},
                "end": {"dateTime": "2026-12-15T15:00:00+01:00", "timeZone": "Europe/Amsterdam"},
            },
        )
        self.fake.user_delete(self.calendar_id, f"{series}_20261221T090000Z")
        return series

    def create_rich(self) -> str:
        created = self.fake.user_insert(
            self.calendar_id,
            {
                "summary": "Made elsewhere",
                "description": "Their notes\nsecond line",
                "location": "Room Blue; Building A",
                "start": {"dateTime": "2026-12-09T13:00:00Z"},
                "end": {"dateTime": "2026-12-09T14:00:00Z"},
                "colorId": "5",
                "transparency": "transparent",
                "visibility": "private",
                "guestsCanModify": True,
                "source": {"title": "Elsewhere", "url": "https://elsewhere.example/events/1"},
                "extendedProperties": {
                    "private": {"otherAppId": "other-42"},
                    "shared": {"otherAppShared": "yes"},
                },
                "attendees": [
                    {"email": "guest@elsewhere.example", "displayName": "A Guest", "optional": True}
                ],
                "reminders": {
                    "useDefault": False,
                    "overrides": [{"method": "popup", "minutes": 10}],
                },
            },
        )
        # The guest's answer and comment are theirs to give (EventAttendee.responseStatus).
        self.fake.user_respond(
            self.calendar_id,
            str(created["id"]),
            "guest@elsewhere.example",
            "accepted",
            comment="Might be late",
        )
        return str(created["id"])

    def foreign(self, external_id: str) -> object:
        event = self.fake.event(self.calendar_id, external_id)
        private = dict((event.get("extendedProperties") or {}).get("private") or {})
        private.pop("calsyncMeetingId", None)  # ours
        return {
            **{
                k: event.get(k)
                for k in ("colorId", "transparency", "visibility", "guestsCanModify", "source")
            },
            "private": private,
            "shared": (event.get("extendedProperties") or {}).get("shared"),
            "attendees": [
                {
                    k: a.get(k)
                    for k in ("email", "displayName", "optional", "comment", "responseStatus")
                }
                for a in event.get("attendees") or []
            ],
        }

    def bogus_cursor(self) -> str:
        token = "CPDAlvWDx70CEPDAlvWDx70CGAU="
        self.fake.invalidate_sync_token(token)
        return token

    def missing_id(self) -> str:
        return "nosuchevent0000"


class TestGoogle(ConnectorContract):
    @pytest.fixture
    def calendar_id(self, google_fake: GoogleFake) -> str:
        return google_fake.create_calendar(EMAIL, "CS_Test", client_id=google_fake.client_id)

    @pytest.fixture
    def connector(self, google_fake: GoogleFake, calendar_id: str) -> GoogleConnector:
        tokens = google_fake.issue_tokens(EMAIL, [SCOPE_APP_CREATED])
        return GoogleConnector(
            credentials=tokens.credentials(),
            calendar_id=calendar_id,
            api_endpoint=google_fake.api_endpoint,
            default_zone="Europe/Amsterdam",
            timeout=10,
        )

    @pytest.fixture
    def outside(self, google_fake: GoogleFake, calendar_id: str) -> GoogleOutside:
        return GoogleOutside(google_fake, calendar_id)


def test_connectors_share_the_request_builder_but_each_sends_its_own_token(
    google_fake: GoogleFake,
) -> None:
    """The ``events`` collection is built once per process (connector.py); the credentials stay
    with each connector's http, so interleaved connectors never send each other's token."""
    connectors, tokens = [], []
    for name in ("a", "b"):
        email = f"{name}@gmail.example"
        calendar_id = google_fake.create_calendar(
            email, f"CS_{name}", client_id=google_fake.client_id
        )
        google_fake.user_insert(
            calendar_id,
            {
                "summary": f"Only {name}",
                "start": {"dateTime": "2026-12-09T13:00:00Z"},
                "end": {"dateTime": "2026-12-09T14:00:00Z"},
            },
        )
        issued = google_fake.issue_tokens(email, [SCOPE_APP_CREATED])
        tokens.append(f"Bearer {issued.access_token}")
        connectors.append(
            GoogleConnector(
                credentials=issued.credentials(),
                calendar_id=calendar_id,
                api_endpoint=google_fake.api_endpoint,
                timeout=10,
            )
        )
    a, b = connectors
    assert a.events is b.events
    google_fake.clear_log()
    for _ in range(2):
        assert [i.event.title for i in a.changes(None).items if i.event] == ["Only a"]
        assert [i.event.title for i in b.changes(None).items if i.event] == ["Only b"]
    sent = [r.headers.get("Authorization") for r in google_fake.requests]
    assert sent == [tokens[0], tokens[1], tokens[0], tokens[1]]
