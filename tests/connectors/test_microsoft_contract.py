"""The connector contract on the Graph fake, with tokens from the real msal (PROTOCOLS.md §2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from connectors.microsoft.connector import MicrosoftConnector
from connectors.microsoft.oauth import TokenSource
from tests.connectors.contract import ConnectorContract, Outside
from tests.fakes.microsoft import MicrosoftFake

EMAIL = "practitioner@outlook.example"
WET = "W. Europe Standard Time"
RICH_BODY = "<html><body><p>Their notes</p><p>second <i>line</i></p></body></html>"
THEIR_PROPERTY = "String {8c2e1d4a-0b6f-4c1e-9a57-3f0e6b2d7c91} Name theirApp"


@pytest.fixture
def microsoft_settings(microsoft_fake: MicrosoftFake) -> Iterator[MicrosoftFake]:
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        yield microsoft_fake


class MicrosoftOutside(Outside):
    """Changes made in Outlook itself (the web app, a phone)."""

    def __init__(self, fake: MicrosoftFake, calendar_id: str) -> None:
        self.fake = fake
        self.calendar_id = calendar_id

    def edit_title(self, external_id: str, title: str) -> None:
        self.fake.user_patch(external_id, {"subject": title})

    def delete(self, external_id: str) -> None:
        self.fake.user_delete(external_id)

    def create_single(self, title: str) -> str:
        created = self.fake.user_create(
            self.calendar_id,
            {
                "subject": title,
                "start": {"dateTime": "2026-12-09T13:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-09T14:00:00.0000000", "timeZone": "UTC"},
            },
        )
        return str(created["id"])

    def create_series_with_exceptions(self) -> str:
        master = self.fake.user_create(
            self.calendar_id,
            {
                "subject": "Weekly check-in",
                "start": {"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": WET},
                "end": {"dateTime": "2026-12-07T11:00:00.0000000", "timeZone": WET},
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                                "firstDayOfWeek": "sunday"},
                    "range": {"type": "numbered", "startDate": "2026-12-07",
                              "numberOfOccurrences": 5,
                              "recurrenceTimeZone": WET},
                },
            },
        )  # fmt: skip
        series = str(master["id"])
        # Move the 2nd occurrence to Tuesday afternoon (it becomes type "exception"), delete the
        # 3rd (it disappears, §2.3).
        second = self.fake.occurrence_id(series, datetime(2026, 12, 14, 9, tzinfo=UTC))
        self.fake.user_patch(
            second,
            {
                "start": {"dateTime": "2026-12-15T14:00:00.0000000", "timeZone": WET},
                "end": {"dateTime": "2026-12-15T15:00:00.0000000", "timeZone": WET},
            },
        )  # fmt: skip
        self.fake.user_delete(
            self.fake.occurrence_id(series, datetime(2026, 12, 21, 9, tzinfo=UTC))
        )
        return series

    def create_rich(self) -> str:
        created = self.fake.user_create(
            self.calendar_id,
            {
                "subject": "Made elsewhere",
                # Outlook's own bodies are HTML: we read them as text and must never rewrite one
                # we did not change (issue 19 item 5).
                "body": {"contentType": "html", "content": RICH_BODY},
                "location": {
                    "displayName": "Room Blue; Building A",
                    "locationType": "conferenceRoom",
                    "address": {"street": "Stationsplein 1", "city": "Utrecht"},
                },
                "start": {"dateTime": "2026-12-09T13:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-09T14:00:00.0000000", "timeZone": "UTC"},
                "categories": ["Blue category"],
                "showAs": "free",
                "sensitivity": "private",
                "importance": "high",
                "responseRequested": False,
                "isReminderOn": True,
                "reminderMinutesBeforeStart": 10,
                "attendees": [
                    {
                        "emailAddress": {"address": "guest@elsewhere.example", "name": "A Guest"},
                        "type": "optional",
                    }
                ],
                # Another application's data on the event.
                "singleValueExtendedProperties": [{"id": THEIR_PROPERTY, "value": "their-42"}],
            },
        )
        return str(created["id"])

    def foreign(self, external_id: str) -> object:
        event = self.fake.event(external_id)
        return {
            **{
                k: event.get(k)
                for k in ("categories", "showAs", "sensitivity", "importance", "responseRequested",
                          "body")
            },
            "location": {k: v for k, v in event["location"].items() if k != "displayName"},
            "attendees": [
                (a["emailAddress"]["address"], a["emailAddress"].get("name"), a.get("type"))
                for a in event.get("attendees") or []
            ],
            "theirs": event["_extended"].get(THEIR_PROPERTY),
        }  # fmt: skip

    def bogus_cursor(self) -> str:
        # A cursor of our form whose deltaLink Graph no longer knows (syncStateNotFound, §2.2).
        link = f"{self.fake.graph_endpoint}/me/calendars/{self.calendar_id}/calendarView/delta"
        until = (datetime.now(UTC) + timedelta(days=700)).isoformat()
        return json.dumps(
            {"v": 1, "delta": f"{link}?$deltatoken=gone", "series": [], "until": until}
        )

    def missing_id(self) -> str:
        return "AAMkAGnosuchevent0000000000000000000000000000="


class TestMicrosoft(ConnectorContract):
    @pytest.fixture
    def calendar_id(self, microsoft_settings: MicrosoftFake) -> str:
        return microsoft_settings.create_calendar(EMAIL, "CS_Test")

    @pytest.fixture
    def connector(self, microsoft_settings: MicrosoftFake, calendar_id: str) -> MicrosoftConnector:
        return MicrosoftConnector(
            tokens=TokenSource(microsoft_settings.sign_in(EMAIL)),
            calendar_id=calendar_id,
            graph_endpoint=microsoft_settings.graph_endpoint,
            mailbox=EMAIL,
            default_zone="Europe/Amsterdam",
            timeout=10,
        )

    @pytest.fixture
    def outside(self, microsoft_settings: MicrosoftFake, calendar_id: str) -> MicrosoftOutside:
        return MicrosoftOutside(microsoft_settings, calendar_id)


class TestMicrosoftWithoutCalendarDelta(TestMicrosoft):
    """The whole contract again with Graph refusing the per-calendar ``calendarView/delta``
    (documented in beta only, issue 19 item 8): the connector falls back to a ``calendarView``
    listing compared with the last one."""

    @pytest.fixture
    def calendar_id(self, microsoft_settings: MicrosoftFake) -> str:
        microsoft_settings.refuse_calendar_delta()
        return microsoft_settings.create_calendar(EMAIL, "CS_Test")
