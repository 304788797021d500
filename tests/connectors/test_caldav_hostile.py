"""One item never stops a listing (QUALITY: bad input from a provider skips that one event with a
message). Hostile resources are written with plain HTTP, as another client would, to real
Radicale, Xandikos and Cyrus servers; each server refuses some of them itself, and the test says
which, so that a server that changes its mind is noticed rather than silently covering less."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import niquests
import pytest
from icalendar import Calendar, Event

from connectors.caldav.connector import CalDAVConnector
from connectors.events import RemoteItem
from tests.caldav_servers import CalDAVServer


def _zones(*names: str) -> str:
    """VTIMEZONEs for ``names``, as a client sends them with its events."""
    calendar = Calendar()
    for name in names:
        event = Event()
        event.add("dtstart", datetime(2026, 1, 1, tzinfo=ZoneInfo(name)))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return "".join(tz.to_ical().decode() for tz in calendar.walk("VTIMEZONE"))


EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\n"
    + _zones("Asia/Tokyo", "America/Los_Angeles").replace("{", "{{").replace("}", "}}")
    + "BEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20261201T080000Z\r\n{times}\r\nSUMMARY:{title}\r\n{extra}"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ORDINARY = "DTSTART:20261209T130000Z\r\nDTEND:20261209T140000Z"
HOSTILE = {
    # The last day there is: its end (the next day) does not exist.
    "date-9999": "DTSTART;VALUE=DATE:99991231",
    # Year 1 at 00:00 in Tokyo is still year 0 in UTC.
    "tokyo-0001": (
        "DTSTART;TZID=Asia/Tokyo:00010101T000000\r\nDTEND;TZID=Asia/Tokyo:00010101T010000"
    ),
    # 9999-12-31 22:00 in Los Angeles is year 10000 in UTC.
    "la-9999": (
        "DTSTART;TZID=America/Los_Angeles:99991231T220000\r\n"
        "DTEND;TZID=America/Los_Angeles:99991231T230000"
    ),
    # Beyond the connector's size limit (set to 50 kB below).
    "large": ORDINARY + "\r\nDESCRIPTION:" + "\r\n ".join(["x" * 74] * 1200),
}
# A SUMMARY with a control character (RFC 5545 forbids it): Cyrus stores it and returns it raw
# inside the CDATA of its multiget reply, which no XML parser accepts.
BELL = "bell\x07here"
# What each server refuses itself (3.9.0, 0.4.10, 3.6.1).
REFUSED = {
    "radicale": {"date-9999"},
    "xandikos": {"bell"},
    "cyrus": set(),
}


def put(server: CalDAVServer, calendar_url: str, uid: str, times: str, title: str = "") -> int:
    """``<uid>.ics``; its UID made unique, since Cyrus refuses a UID that another calendar of
    the user has."""
    body = EVENT.format(uid=f"{uid}-{uuid.uuid4().hex}", times=times, title=title or uid, extra="")
    response = niquests.put(
        f"{calendar_url}{uid}.ics",
        data=body.encode(),
        headers={"Content-Type": "text/calendar"},
        auth=(server.username, server.password),
        timeout=60,
    )
    return int(response.status_code or 0)


def by_id(items: tuple[RemoteItem, ...]) -> dict[str, RemoteItem]:
    return {i.external_id.removesuffix(".ics"): i for i in items}


@pytest.mark.parametrize("server_name", ["radicale", "xandikos", "cyrus"])
def test_an_item_that_cannot_be_read_never_stops_the_listing(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    server: CalDAVServer = request.getfixturevalue(server_name)
    calendar_url = server.new_calendar_url()
    connector = CalDAVConnector(
        calendar_url=calendar_url,
        username=server.username,
        password=server.password,
        default_zone="Europe/Amsterdam",
        timeout=30,
        max_item_bytes=50_000,
    )
    assert put(server, calendar_url, "good-1", ORDINARY, "Good one") in (201, 204)
    refused = {
        uid for uid, times in HOSTILE.items() if put(server, calendar_url, uid, times) >= 400
    }
    if put(server, calendar_url, "bell", ORDINARY, BELL) >= 400:
        refused.add("bell")
    assert refused == REFUSED[server_name]
    assert put(server, calendar_url, "good-2", ORDINARY, "Good two") in (201, 204)

    listing = connector.full_listing()
    items = by_id(listing.items)
    assert set(items) == {"good-1", "good-2", "bell", *HOSTILE} - refused
    assert items["good-1"].event is not None and items["good-1"].event.title == "Good one"
    assert items["good-2"].event is not None and items["good-2"].event.title == "Good two"
    for uid in set(HOSTILE) - refused:
        item = items[uid]
        assert item.event is None and not item.deleted, uid  # never taken for a deletion
        assert item.problem and item.etag, uid
    assert "larger than" in items["large"].problem
    if "bell" not in refused:
        # Read (the control character dropped), though the multiget reply could not be parsed.
        bell = items["bell"].event
        assert bell is not None and bell.title == "bellhere"

    # The same through an incremental listing.
    assert put(server, calendar_url, "la-9999-again", HOSTILE["la-9999"]) in (201, 204)
    assert put(server, calendar_url, "good-3", ORDINARY, "Good three") in (201, 204)
    changes = by_id(connector.changes(listing.cursor).items)
    assert set(changes) == {"la-9999-again", "good-3"}
    assert changes["la-9999-again"].problem and not changes["la-9999-again"].deleted
    assert changes["good-3"].event is not None and changes["good-3"].event.title == "Good three"


def test_an_event_beyond_the_xml_parsers_limit_costs_only_itself(cyrus: CalDAVServer) -> None:
    """A 10 MB text node is beyond lxml's limit: the multiget reply holding it cannot be parsed
    at all ("Text node too long"), so the items are read one by one, and the big one is refused
    at the size limit without being read into memory or parsed."""
    calendar_url = cyrus.new_calendar_url()
    huge = ORDINARY + "\r\nDESCRIPTION:" + "\r\n ".join(["x" * 74] * (10_200_000 // 74))
    assert put(cyrus, calendar_url, "good", ORDINARY, "Good one") in (201, 204)
    assert put(cyrus, calendar_url, "huge", huge) in (201, 204)
    connector = CalDAVConnector(
        calendar_url=calendar_url, username=cyrus.username, password=cyrus.password, timeout=60
    )
    items = by_id(connector.full_listing().items)
    assert items["good"].event is not None and items["good"].event.title == "Good one"
    assert items["huge"].event is None and not items["huge"].deleted
    assert "larger than 4 MB" in items["huge"].problem
