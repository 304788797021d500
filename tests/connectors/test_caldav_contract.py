"""The connector contract on real Radicale, Xandikos and Cyrus servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import niquests
import pytest
from icalendar import Calendar

from connectors.caldav.connector import CalDAVConnector
from tests.caldav_servers import CalDAVServer
from tests.connectors.contract import ConnectorContract, Outside, sample

SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 15.0//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261201T080000Z
DTSTART;TZID=Europe/Amsterdam:20261207T100000
DTEND;TZID=Europe/Amsterdam:20261207T110000
RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO
EXDATE;TZID=Europe/Amsterdam:20261221T100000
SUMMARY:Weekly check-in
END:VEVENT
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261201T080000Z
RECURRENCE-ID;TZID=Europe/Amsterdam:20261214T100000
DTSTART;TZID=Europe/Amsterdam:20261215T140000
DTEND;TZID=Europe/Amsterdam:20261215T150000
SUMMARY:Weekly check-in (moved)
END:VEVENT
END:VCALENDAR
"""

SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//iOS 18.0//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261201T080000Z
DTSTART:20261209T130000Z
DTEND:20261209T140000Z
SUMMARY:{title}
END:VEVENT
END:VCALENDAR
"""


# Made by another client: its resource name is not its UID, and it holds properties we do not sync
# (URL, CATEGORIES, CLASS, TRANSP, another application's X- property, attendee parameters, a
# second alarm of its own).
RICH = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 15.0//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261201T080000Z
DTSTART:20261209T130000Z
DTEND:20261209T140000Z
SUMMARY:Made elsewhere
DESCRIPTION:Their notes\\nsecond line
LOCATION:Room Blue\\; Building A
URL:https://elsewhere.example/events/1
CATEGORIES:Work,Blue
CLASS:PRIVATE
TRANSP:TRANSPARENT
X-OTHER-APP-ID:other-42
ATTENDEE;CN=A Guest;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:guest@elsewhere.example
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Made elsewhere
TRIGGER:-PT10M
END:VALARM
BEGIN:VALARM
ACTION:AUDIO
TRIGGER;VALUE=DATE-TIME:20261209T120000Z
X-APPLE-DEFAULT-ALARM:TRUE
END:VALARM
END:VEVENT
END:VCALENDAR
"""


class CalDAVOutside(Outside):
    """Another CalDAV client writing to the same calendar with plain HTTP."""

    def __init__(self, server: CalDAVServer, calendar_url: str) -> None:
        self.server = server
        self.calendar_url = calendar_url
        self.auth = (server.username, server.password)

    def _get(self, href: str) -> niquests.Response:
        response = niquests.get(self.calendar_url + href, auth=self.auth, timeout=10)
        assert response.status_code == 200
        return response

    def edit_title(self, external_id: str, title: str) -> None:
        response = self._get(external_id)
        text = response.text or ""
        lines = [
            f"SUMMARY:{title}" if line.startswith("SUMMARY") else line
            for line in text.replace("\r\n", "\n").split("\n")
        ]
        put = niquests.put(
            self.calendar_url + external_id,
            data="\r\n".join(lines).encode(),
            headers={"Content-Type": "text/calendar", "If-Match": response.headers["ETag"]},
            auth=self.auth,
            timeout=10,
        )
        assert put.status_code in (200, 201, 204), put.status_code

    def delete(self, external_id: str) -> None:
        response = niquests.delete(self.calendar_url + external_id, auth=self.auth, timeout=10)
        assert response.status_code in (200, 204)

    def _put_new(self, text: str, uid: str) -> str:
        href = f"{uid}.ics"
        response = niquests.put(
            self.calendar_url + href,
            data=text.replace("\n", "\r\n"),
            headers={"Content-Type": "text/calendar", "If-None-Match": "*"},
            auth=self.auth,
            timeout=10,
        )
        assert response.status_code in (201, 204), response.status_code
        return href

    def create_single(self, title: str) -> str:
        uid = uuid.uuid4().hex
        return self._put_new(SINGLE.format(uid=uid, title=title), uid)

    def create_series_with_exceptions(self) -> str:
        uid = uuid.uuid4().hex
        return self._put_new(SERIES.format(uid=uid), uid)

    def create_rich(self) -> str:
        uid = f"{uuid.uuid4().hex}@elsewhere.example"
        href = f"other-client-{uuid.uuid4().hex[:8]}.ics"
        response = niquests.put(
            self.calendar_url + href,
            data=RICH.format(uid=uid).replace("\n", "\r\n"),
            headers={"Content-Type": "text/calendar", "If-None-Match": "*"},
            auth=self.auth,
            timeout=10,
        )
        assert response.status_code in (201, 204), response.status_code
        return href

    def foreign(self, external_id: str) -> object:
        vevent = next(
            c
            for c in Calendar.from_ical(self._get(external_id).text or "").walk("VEVENT")
            if c.get("RECURRENCE-ID") is None
        )
        attendees = vevent.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        # Cyrus stores "CATEGORIES:Work,Blue" as one line per category: the same categories.
        categories = vevent["CATEGORIES"]
        return {
            "UID": str(vevent["UID"]),
            **{
                name: vevent[name].to_ical().decode()
                for name in ("URL", "CLASS", "TRANSP", "X-OTHER-APP-ID")
            },
            "CATEGORIES": sorted(
                str(c)
                for line in (categories if isinstance(categories, list) else [categories])
                for c in line.cats
            ),
            "attendee parameters": sorted(
                (str(a), tuple(sorted((k, str(v)) for k, v in a.params.items()))) for a in attendees
            ),
            "audio alarms": sorted(
                a["TRIGGER"].to_ical().decode()
                for a in vevent.walk("VALARM")
                if str(a.get("ACTION")) == "AUDIO"
            ),
        }

    def bogus_cursor(self) -> str:
        return self.server.bogus_sync_token

    def missing_id(self) -> str:
        return "no-such-event.ics"


class CalDAVContract(ConnectorContract):
    server_fixture = ""

    @pytest.fixture
    def server(self, request: pytest.FixtureRequest) -> CalDAVServer:
        server: CalDAVServer = request.getfixturevalue(self.server_fixture)
        return server

    @pytest.fixture
    def calendar_url(self, server: CalDAVServer) -> str:
        return server.new_calendar_url()

    @pytest.fixture
    def connector(self, server: CalDAVServer, calendar_url: str) -> Iterator[CalDAVConnector]:
        yield CalDAVConnector(
            calendar_url=calendar_url,
            username=server.username,
            password=server.password,
            default_zone="Europe/Amsterdam",
            timeout=10,
        )

    @pytest.fixture
    def outside(self, server: CalDAVServer, calendar_url: str) -> CalDAVOutside:
        return CalDAVOutside(server, calendar_url)

    def test_a_copy_we_made_after_the_listing_and_someone_deleted_is_reported_deleted(
        self, connector: CalDAVConnector, outside: CalDAVOutside
    ) -> None:
        """Xandikos leaves out of a sync-collection reply a member that did not exist at the
        token and is gone now (RFC 6578 allows it): the cursor we store after our writes names
        what we wrote after its token, so the deletion is still seen."""
        kept = connector.create(sample(), idempotency_key="calsync-listed")
        cursor = connector.changes(None).cursor
        gone = connector.create(sample(title="Soon gone"), idempotency_key="calsync-after")
        connector.update(kept.external_id, sample(title="Edited"), etag=kept.etag)
        cursor = connector.final_cursor(cursor)
        outside.delete(gone.external_id)
        items = {i.external_id: i for i in connector.changes(cursor).items}
        assert items[gone.external_id].deleted
        assert items[kept.external_id].event is not None
        assert items[kept.external_id].event.title == "Edited"
        # A run that writes nothing stores the server's token as it is.
        fresh = CalDAVConnector(
            calendar_url=connector.calendar_url,
            username=str(connector.client.username),
            password=str(connector.client.password),
            timeout=10,
        )
        quiet = fresh.changes(fresh.changes(cursor).cursor)
        assert quiet.items == () and fresh.final_cursor(quiet.cursor) == quiet.cursor


class TestRadicale(CalDAVContract):
    server_fixture = "radicale"


class TestXandikos(CalDAVContract):
    server_fixture = "xandikos"


class TestCyrus(CalDAVContract):
    server_fixture = "cyrus"
