"""No echo from CalDAV values (issue 12 §3): a value we read gives back the same text when written,
and a value we write reads back as itself; properties we do not sync keep their text. Property
tests over locations, descriptions, attendees and reminders, on the mapping itself (many
examples) and through ``CalDAVConnector.update`` on the real servers (a few each)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import niquests
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from connectors.caldav.connector import CalDAVConnector
from connectors.caldav.mapping import clean_text, edit_ical, from_ical, to_ical
from connectors.events import ALL_FIELDS, Attendee, EventData
from tests.caldav_servers import CalDAVServer
from tests.connectors.contract import sample

# Properties we never write: their lines must come back exactly as they were.
THEIRS = [
    "URL:https://elsewhere.example/events/1",
    "CATEGORIES:Work,Blue",
    "CLASS:PRIVATE",
    "TRANSP:TRANSPARENT",
    "X-OTHER-APP-ID:other-42\\, with a comma",
]
AUDIO_ALARM = [
    "BEGIN:VALARM",
    "ACTION:AUDIO",
    "TRIGGER;VALUE=DATE-TIME:20261209T120000Z",
    "X-APPLE-DEFAULT-ALARM:TRUE",
    "END:VALARM",
]

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=120)
emails = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}@[a-z0-9-]{1,8}\.example", fullmatch=True)
names = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
partstats = st.sampled_from(["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE"])
reminders = st.none() | st.integers(min_value=0, max_value=40_000)


@st.composite
def escaped(draw: st.DrawFn, value: str) -> str:
    """``value`` as a TEXT value, escaped the ways real clients escape (RFC 5545 §3.3.11):
    ``\\n`` or ``\\N`` for a line break, commas escaped or not."""
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == ";":
            out.append("\\;")
        elif char == ",":
            out.append(draw(st.sampled_from(["\\,", ","])))
        elif char == "\n":
            out.append(draw(st.sampled_from(["\\n", "\\N"])))
        else:
            out.append(char)
    return "".join(out)


@st.composite
def folded(draw: st.DrawFn, line: str) -> list[str]:
    """``line`` folded at arbitrary places (never inside a character): RFC 5545 §3.1 says 75
    octets, and clients fold shorter or not at all."""
    if not line:
        return [line]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(line) - 1)), max_size=4)))
    parts, last = [], 0
    for cut in cuts:
        parts.append(line[last:cut])
        last = cut
    parts.append(line[last:])
    return [parts[0]] + [" " + p for p in parts[1:] if p]


# Values iCalendar can hold: no control characters (RFC 5545 §3.1), line breaks as LF.
holdable = text.map(clean_text)


@st.composite
def outside_resources(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A resource another client made, and the values it holds."""
    title, location, description = draw(holdable), draw(holdable), draw(holdable)
    people = draw(
        st.lists(st.tuples(emails, names, partstats), max_size=4, unique_by=lambda p: p[0])
    )
    reminder = draw(reminders)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//another client//EN",
        "BEGIN:VEVENT",
        f"UID:{uuid.uuid4().hex}@elsewhere.example",
        "DTSTAMP:20261201T080000Z",
        "DTSTART:20261209T130000Z",
        "DTEND:20261209T140000Z",
    ]
    body = [f"SUMMARY:{draw(escaped(title))}"]
    if location:
        body.append(f"LOCATION:{draw(escaped(location))}")
    if description:
        body.append(f"DESCRIPTION:{draw(escaped(description))}")
    attendees = []
    for email, name, partstat in people:
        cn = expected_name(name)
        # A caret in a parameter value is written "^^" (RFC 6868, which icalendar decodes):
        # a bare "^'" would be a quote.
        params = f';CN="{cn.replace("^", "^^")}"' if cn else ""
        body.append(
            f"ATTENDEE{params};ROLE=OPT-PARTICIPANT;PARTSTAT={partstat};RSVP=TRUE:mailto:{email}"
        )
        attendees.append((email, cn, partstat.lower()))
    body += THEIRS
    for line in body:
        lines += draw(folded(line))
    if reminder is not None:
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder"]
        lines += [f"TRIGGER:-PT{reminder}M", "END:VALARM"]
    lines += [*AUDIO_ALARM, "END:VEVENT", "END:VCALENDAR"]
    values = {
        "title": title,
        "location": location,
        "description": description,
        "attendees": attendees,
        "reminder": reminder,
    }
    return "\r\n".join(lines) + "\r\n", values


def without_stamp(resource: str) -> list[str]:
    return [line for line in resource.split("\r\n") if not line.startswith("DTSTAMP")]


@settings(max_examples=300, deadline=None)
@given(outside_resources())
def test_a_value_read_is_written_back_as_the_same_text(case: tuple[str, dict[str, object]]) -> None:
    resource, values = case
    event = from_ical(resource, item_id="theirs.ics")
    assert (event.title, event.location, event.description) == (
        values["title"],
        values["location"],
        values["description"],
    )
    assert [(a.email, a.name, a.response) for a in event.attendees] == values["attendees"]
    assert event.reminder_minutes == values["reminder"]
    written = edit_ical(resource, event, fields=ALL_FIELDS, item_id="theirs.ics")
    # Every line as it was, folding and escapes included; only DTSTAMP is new.
    assert without_stamp(written) == without_stamp(resource)
    assert from_ical(written, item_id="theirs.ics") == replace(
        event, updated=from_ical(written, item_id="x").updated
    )


RICH = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//another client//EN",
        "BEGIN:VEVENT",
        "UID:rich@elsewhere.example",
        "DTSTAMP:20261201T080000Z",
        "DTSTART:20261209T130000Z",
        "DTEND:20261209T140000Z",
        "SUMMARY:Made elsewhere",
        "LOCATION:Room Blue\\; Building A",
        "ATTENDEE;CN=A Guest;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:guest@elsewh",
        " ere.example",
        *THEIRS,
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Made elsewhere",
        "TRIGGER:-PT10M",
        "END:VALARM",
        *AUDIO_ALARM,
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)
new_attendees = st.lists(
    st.builds(
        Attendee,
        email=emails,
        name=names,
        response=st.sampled_from(["needs-action", "accepted", "declined", "tentative"]),
    ),
    max_size=4,
    unique_by=lambda a: a.email,
)


def expected_name(name: str) -> str:
    return clean_text(name).replace("\n", " ").replace('"', "'").replace("\\", "").strip()


def check_written(event: EventData, wanted: EventData, *, server: bool = False) -> None:
    if server:
        # Cyrus trims the whitespace around a SUMMARY or LOCATION value when it stores it; the
        # engine compares both trimmed (calsync/engine/fields.py), so that is no change.
        assert (event.title.strip(), event.location.strip(), event.description) == (
            clean_text(wanted.title).strip(),
            clean_text(wanted.location).strip(),
            clean_text(wanted.description),
        )
    else:
        assert (event.title, event.location, event.description) == (
            clean_text(wanted.title),
            clean_text(wanted.location),
            clean_text(wanted.description),
        )
    assert [a.email for a in event.attendees] == [a.email for a in wanted.attendees]
    for got, want in zip(event.attendees, wanted.attendees, strict=True):
        if want.email == "guest@elsewhere.example":
            continue  # already there: keeps its name and answer unless we know better
        assert (got.name, got.response) == (expected_name(want.name), want.response)
    assert event.reminder_minutes == wanted.reminder_minutes


@settings(max_examples=300, deadline=None)
@given(title=text, location=text, description=text, attendees=new_attendees, reminder=reminders)
def test_a_value_written_reads_back_as_itself_and_theirs_is_untouched(
    title: str, location: str, description: str, attendees: list[Attendee], reminder: int | None
) -> None:
    read = from_ical(RICH, item_id="rich.ics")
    wanted = replace(
        read,
        title=title,
        location=location,
        description=description,
        attendees=tuple(attendees),
        reminder_minutes=reminder,
    )
    written = edit_ical(RICH, wanted, fields=ALL_FIELDS, item_id="rich.ics")
    lines = written.split("\r\n")
    for line in [*THEIRS, *AUDIO_ALARM, "UID:rich@elsewhere.example"]:
        assert line in lines, line
    # RFC 5545 §3.1: no line longer than 75 octets, no control character but HTAB.
    assert all(len(line.encode()) <= 75 for line in lines)
    assert not any(c < " " and c != "\t" for line in lines for c in line)
    again = from_ical(written, item_id="rich.ics")
    check_written(again, wanted)
    # Written again as read: nothing changes but the stamp (no echo).
    assert without_stamp(edit_ical(written, again, fields=ALL_FIELDS, item_id="rich.ics")) == (
        without_stamp(written)
    )


@settings(max_examples=200, deadline=None)
@given(title=text, location=text, description=text, attendees=new_attendees, reminder=reminders)
def test_a_new_event_reads_back_as_written(
    title: str, location: str, description: str, attendees: list[Attendee], reminder: int | None
) -> None:
    wanted = sample(
        title=title,
        location=location,
        description=description,
        attendees=tuple(attendees),
        reminder_minutes=reminder,
    )
    event = from_ical(to_ical(wanted, uid="calsync-1"), item_id="calsync-1.ics")
    assert (event.title, event.location, event.description) == (
        clean_text(title),
        clean_text(location),
        clean_text(description),
    )
    assert [(a.email, a.name, a.response) for a in event.attendees] == [
        (a.email, expected_name(a.name), a.response) for a in attendees
    ]
    assert event.reminder_minutes == reminder


@pytest.mark.parametrize("server_name", ["radicale", "xandikos", "cyrus"])
def test_values_round_trip_through_the_real_servers(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    """The same through ``update`` on each server, which may store the text its own way."""
    server: CalDAVServer = request.getfixturevalue(server_name)
    calendar_url = server.new_calendar_url()
    connector = CalDAVConnector(
        calendar_url=calendar_url, username=server.username, password=server.password, timeout=10
    )
    response = niquests.put(
        calendar_url + "rich.ics",
        data=RICH.encode(),
        headers={"Content-Type": "text/calendar"},
        auth=(server.username, server.password),
        timeout=10,
    )
    assert response.status_code in (201, 204)

    # Few examples, and no shrinking (each step is six requests): a failure shows as found.
    @settings(
        max_examples=10,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(title=text, location=text, description=text, attendees=new_attendees, reminder=reminders)
    @example(title=" Padded ", location=" .E", description="", attendees=[], reminder=None)
    def round_trip(
        title: str, location: str, description: str, attendees: list[Attendee], reminder: int | None
    ) -> None:
        item = connector.get("rich.ics")
        assert item.event is not None
        wanted = replace(
            item.event,
            title=title,
            location=location,
            description=description,
            attendees=tuple(attendees),
            reminder_minutes=reminder,
        )
        connector.update("rich.ics", wanted, etag=item.etag, fields=ALL_FIELDS)
        again = connector.get("rich.ics")
        assert again.event is not None
        check_written(again.event, wanted, server=True)
        # Read and written back unchanged: the server's copy reads the same (no echo).
        connector.update("rich.ics", again.event, etag=again.etag, fields=ALL_FIELDS)
        third = connector.get("rich.ics").event
        assert third is not None
        assert replace(third, updated=None) == replace(again.event, updated=None)

    round_trip()


SERIES = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//another client//EN",
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Amsterdam",
        "BEGIN:STANDARD",
        "DTSTART:19701025T030000",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:19700329T020000",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "UID:series@elsewhere.example",
        "DTSTAMP:20261201T080000Z",
        "DTSTART;TZID=Europe/Amsterdam:20261207T100000",
        "DTEND;TZID=Europe/Amsterdam:20261207T110000",
        "RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO",
        "SUMMARY:Weekly check-in",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:series@elsewhere.example",
        "DTSTAMP:20261201T080000Z",
        "RECURRENCE-ID;TZID=Europe/Amsterdam:20261214T100000",
        "DTSTART;TZID=Europe/Amsterdam:20261215T140000",
        "DTEND;TZID=Europe/Amsterdam:20261215T150000",
        "SUMMARY:Weekly check-in (moved)",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)


def vtimezones(resource: str) -> list[str]:
    lines = resource.split("\r\n")
    return [lines[i + 1] for i, line in enumerate(lines) if line == "BEGIN:VTIMEZONE"]


def test_an_edit_keeps_the_overrides_and_the_zones_they_use() -> None:
    read = from_ical(SERIES, item_id="series.ics", default_zone="Europe/Amsterdam")
    later = timedelta(hours=1)
    moved = replace(
        read,
        title="Renamed",
        start=read.start.astimezone(ZoneInfo("Asia/Tokyo")) + later,
        end=read.end.astimezone(ZoneInfo("Asia/Tokyo")) + later,
        time_zone="Asia/Tokyo",
    )
    written = edit_ical(SERIES, moved, fields=frozenset({"title", "start"}), item_id="series.ics")
    # The new zone got its VTIMEZONE; the old one stays, since the override still names it.
    assert vtimezones(written) == ["TZID:Asia/Tokyo", "TZID:Europe/Amsterdam"]
    assert "RECURRENCE-ID;TZID=Europe/Amsterdam:20261214T100000" in written.split("\r\n")
    assert "SUMMARY:Weekly check-in (moved)" in written.split("\r\n")
    again = from_ical(written, item_id="series.ics", default_zone="Europe/Amsterdam")
    assert (again.title, again.time_zone, again.start) == ("Renamed", "Asia/Tokyo", moved.start)
    # The override is kept as it was (it is not ours to rewrite), but the series moved an hour:
    # its RECURRENCE-ID names no occurrence any more, so it is no exception (issue 13).
    assert len(read.exceptions) == 1 and again.exceptions == ()


def test_a_zone_only_our_times_used_goes_with_them() -> None:
    override = SERIES.rindex("BEGIN:VEVENT")
    single = SERIES[:override].replace("RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO\r\n", "")
    single += "END:VCALENDAR\r\n"
    read = from_ical(single, item_id="one.ics")
    utc = replace(
        read, time_zone="UTC", start=read.start.astimezone(UTC), end=read.end.astimezone(UTC)
    )
    written = edit_ical(single, utc, fields=frozenset({"start"}), item_id="one.ics")
    assert vtimezones(written) == []
    assert "DTSTART:20261207T090000Z" in written.split("\r\n")


def test_a_zone_we_add_covers_the_whole_series() -> None:
    """icalendar's VTIMEZONE covers 1970-2038 unless told otherwise."""
    from recurrence import Frequency, Rule, Weekday

    start = sample().start.replace(year=2040, month=1, day=2)
    rule = Rule(Frequency.WEEKLY, until=date(2049, 12, 25), weekdays=frozenset({Weekday.MO}))
    event = sample(start=start, end=start + timedelta(hours=1), rule=rule)
    written = to_ical(event, uid="calsync-2040")
    assert vtimezones(written) == ["TZID:Europe/Amsterdam"]
    assert "20491031T030000" in written.replace("\r\n ", "")  # the last change to winter time


def test_a_zone_is_built_once_per_process_and_each_resource_gets_its_own_copy() -> None:
    """Issue 17 §3: icalendar rebuilt the VTIMEZONE for every event (~6 ms each). The cache
    gives every event of the zone the same text, and a resource edited afterwards does not
    change what the next one gets."""
    from connectors.caldav.mapping import _vtimezones, vtimezone_text

    vtimezone_text.cache_clear()
    _vtimezones.cache_clear()
    first = to_ical(sample(), uid="calsync-a")
    second = to_ical(sample(title="Another"), uid="calsync-b")
    built, parsed = vtimezone_text.cache_info(), _vtimezones.cache_info()
    assert (built.misses, parsed.misses, parsed.hits) == (1, 1, 1)
    zone_block = first[first.index("BEGIN:VTIMEZONE") : first.index("END:VTIMEZONE")]
    assert zone_block and zone_block in second
    # Editing the first resource's zone (a later update adds another one) leaves the cached
    # text as it was: the second resource is built from it again unchanged.
    moved = replace(sample(), time_zone="Asia/Tokyo")
    edited = edit_ical(first, moved, fields=frozenset({"start"}), item_id="calsync-a.ics")
    assert vtimezones(edited) == ["TZID:Asia/Tokyo"]
    assert (
        to_ical(sample(title="Another"), uid="calsync-b").split("DTSTAMP")[0]
        == second.split("DTSTAMP")[0]
    )
    # The text is what icalendar builds for the span, transitions included.
    assert "TZOFFSETTO:+0200" in zone_block and "20381031T030000" in zone_block.replace("\r\n ", "")
