"""The CalDAV mapping's quick paths (issue 17 §3, client CPU) write exactly what the slow ones
did: date and date-time lines as icalendar writes them, for every zone the tz database has;
BEGIN/END lines read as icalendar's parser reads them; control characters removed from the whole
text as they were line by line."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from icalendar import Event
from icalendar.parser import Contentline

from connectors.caldav.mapping import _date_line, _line, _parse, _serialise


def icalendar_line(name: str, value: date) -> str:
    """What icalendar itself writes: the oracle."""
    scratch = Event()
    scratch.add(name, value, encode=True)
    return str(scratch.content_line(name, scratch[name], sorted=False))


# Wall-clock times, given each zone in turn below.
INSTANTS = [
    datetime(2026, 1, 15, 9, 30, 5),  # noqa: DTZ001 - winter
    datetime(2026, 7, 15, 23, 59, 59, 999_999),  # noqa: DTZ001 - summer, microseconds dropped
    datetime(999, 3, 1, 0, 0),  # noqa: DTZ001 - a year of three digits is four in the text
]


def test_every_zone_gets_the_line_icalendar_writes() -> None:
    quick = 0
    zones = sorted(zoneinfo.available_timezones())
    for key in zones:
        zone = zoneinfo.ZoneInfo(key)
        for instant in INSTANTS:
            value = instant.replace(tzinfo=zone)
            made = _date_line("DTSTART", value)
            if made is not None:
                quick += 1
                assert made == icalendar_line("DTSTART", value), (key, instant)
            assert str(_line("DTSTART", value).text) == icalendar_line("DTSTART", value), key
    # Nearly every zone takes the quick path (the check above would pass if none did).
    assert quick >= 0.95 * len(zones) * len(INSTANTS), quick


@pytest.mark.parametrize(
    "value",
    [
        date(2026, 12, 3),
        date(999, 1, 2),
        datetime(2026, 12, 2, 13, 47, 5, 123, tzinfo=UTC),
        datetime(2026, 12, 2, 13, 47, tzinfo=zoneinfo.ZoneInfo("UTC")),
        datetime(2026, 12, 2, 13, 47, 5),  # noqa: DTZ001 - floating, on purpose
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_dates_utc_and_floating_times_are_written_as_icalendar_writes_them(value: date) -> None:
    assert _date_line("DTEND", value) == icalendar_line("DTEND", value)


def test_a_zone_of_no_name_takes_the_library_path() -> None:
    value = datetime(2026, 12, 2, 13, 47, tzinfo=timezone(timedelta(hours=2)))
    assert _date_line("DTSTART", value) is None
    assert _line("DTSTART", value).text == icalendar_line("DTSTART", value)
    assert _line("DTSTART", value).text == 'DTSTART;TZID="UTC+02:00":20261202T134700'


@pytest.mark.parametrize(
    "line",
    [
        "BEGIN:VEVENT",
        "begin:vevent",
        "BEGIN:X-WR-THING",
        "BEGIN:VEVENT ",  # trailing space: the parser's reading, not ours
        "BEGIN;X-A=1:VALARM",
    ],
)
def test_boundary_lines_name_the_component_icalendar_reads(line: str) -> None:
    resource = f"{line}\r\nSUMMARY:x\r\n{line.replace('BEGIN', 'END').replace('begin', 'end')}"
    (comp,) = _parse(resource)
    expected = str(Contentline(line).parts()[2]).upper()
    assert comp.name == expected
    assert comp.begin.component == expected


def test_a_folded_boundary_line_is_read_whole() -> None:
    (comp,) = _parse("BEGIN:VEV\r\n ENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n")
    assert comp.name == "VEVENT"


def test_an_end_without_its_begin_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="closes no BEGIN"):
        _parse("END:VEVENT\r\n")
    with pytest.raises(ValueError, match="does not close BEGIN:VEVENT"):
        _parse("BEGIN:VEVENT\r\nEND:VTODO\r\n")


def test_control_characters_go_and_the_line_breaks_stay() -> None:
    raw = "BEGIN:VEVENT\r\nSUMMARY:a\x01b\x7fc\td\r\nDESCRIPTION:e\rf\x1fg\r\nEND:VEVENT\r\n"
    before = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
    lines = ["BEGIN:VEVENT", "SUMMARY:a\x01b\x7fc\td", "DESCRIPTION:e\rf\x1fg", "END:VEVENT"]
    # The old line-by-line removal is the oracle; the tab (allowed in text) stays.
    expected = "\r\n".join(before.sub("", line) for line in lines) + "\r\n"
    assert _serialise(_parse(raw)) == expected
    assert "SUMMARY:abc\td\r\n" in expected
