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
