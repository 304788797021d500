"""iCalendar text <-> ``EventData`` for CalDAV (RFC 5545, RFC 4791), with the icalendar library.

Reading takes the master VEVENT (the one without RECURRENCE-ID), translates its rule with
``recurrence.from_vevent`` and adds the overrides and EXDATEs as exceptions (PRODUCT 21). Text
values (SUMMARY, DESCRIPTION, LOCATION) are unescaped here, left to right, as RFC 5545 §3.3.11
says: icalendar's own unescaping replaces sequences one after another, so ``\\\\n`` (a backslash
and an ``n``) would come back as a line break.

Writing never starts from scratch for an item that exists (``edit_ical``): the resource as
fetched is split into its content lines, and only the lines of the fields named are replaced;
every other line, parameter and component stays as it came (other clients' properties, attendee
parameters, alarms we did not write, RECURRENCE-ID overrides, the UID). A named field whose value
is what the resource already says is left untouched too, so a value read and written back keeps
its text exactly (escapes, folding, parameter order: no echo). New lines are ours:
* DTSTART/DTEND (or DURATION, when the resource used it), with a VTIMEZONE for every zone we add
  (iCloud refuses events without an end, PROTOCOLS.md §3.4); a VTIMEZONE that only our old times
  used is removed;
* the rule through ``recurrence.to_rrule`` (always ``WKST=MO``);
* new attendees with ``SCHEDULE-AGENT=CLIENT`` and no ORGANIZER, so no server sends invitations
  (RFC 6638 §7.1; PRODUCT 10); an attendee already there keeps its line and parameters;
* our reminder as a DISPLAY alarm (an alarm with a relative trigger is what we read as the
  reminder; alarms at a fixed time are never touched);
* our meeting id in ``X-CALSYNC-MEETING-ID`` so a lost mapping can be recovered.

RFC 5545 §3.1 forbids control characters other than HTAB in values. We strip them from every line
we send, ours and the ones we keep, and from the text we read (a Cyrus server stores them as a
client sent them).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property, lru_cache
from typing import Any

from icalendar import Calendar, Component, Event, vCalAddress, vDuration
from icalendar.parser import Contentline, Parameters
from icalendar.timezone.tzid import tzid_from_dt

from connectors.errors import InvalidData
from connectors.events import ALL_FIELDS, TIME_FIELDS, Attendee, EventData, EventStatus
from recurrence import (
    FAR_FUTURE,
    RecurrenceParseError,
    Suggestion,
    caldav_exceptions,
    calendar_zone,
    from_vevent,
    to_rrule,
    with_exceptions,
)

MEETING_ID_PROPERTY = "X-CALSYNC-MEETING-ID"
# The meeting's version the copy was written from (``EventData.meeting_version``).
MEETING_VERSION_PROPERTY = "X-CALSYNC-MEETING-VERSION"
PRODID = "-//CalSync//CalendarSync//EN"
# PARTSTAT (RFC 5545 §3.2.12) <-> EventData's lower-case response names.
_PARTSTAT = {
    "NEEDS-ACTION": "needs-action",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}
# RFC 5545 §3.1: CONTROL = %x00-08 / %x0A-1F / %x7F. In a value we keep LF (written as \n).
_CONTROL_IN_VALUE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_TEXT_ESCAPE = re.compile(r"\\([\\;,nN])")
_NAME = re.compile(r"[A-Za-z0-9-]+")
_PLAIN_BOUNDARY = re.compile(r"(?:BEGIN|END):([A-Za-z0-9-]+)", re.IGNORECASE)
# A zone name that is a parameter value as it stands (no quoting, RFC 5545 §3.2).
_PLAIN_TZID = re.compile(r"[A-Za-z0-9/_+-]+")
_TZID_PARAM = re.compile(r';TZID=("[^"]*"|[^;:]*)', re.IGNORECASE)
FOLD_OCTETS = 75


def clean_text(value: str) -> str:
    """``value`` as iCalendar can hold it: line breaks as LF, no other control characters."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_IN_VALUE.sub("", value)


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11), after ``clean_text``."""
    return (
        clean_text(value)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\n", "\\n")
    )


def unescape_text(value: str) -> str:
    """The text of a TEXT value, left to right (a backslash that escapes nothing is kept)."""
    return _TEXT_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def fold(line: str) -> list[str]:
    """One content line as physical lines of at most 75 octets (RFC 5545 §3.1), never splitting
    a UTF-8 character."""
    if len(line) <= FOLD_OCTETS and len(line.encode()) <= FOLD_OCTETS:
        return [line]  # most lines: no need to weigh each character
    out: list[str] = []
    current: list[str] = []
    size, limit = 0, FOLD_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, FOLD_OCTETS
        current.append(char)
        size += width
    out.append("".join(current))
    return out


# -- a resource as content lines ---------------------------------------------------------------


@dataclass
class _Prop:
    physical: list[str]  # as received (folded), or as we folded it

    @property
    def text(self) -> str:
        return "".join(line[1:] if i else line for i, line in enumerate(self.physical))

    @cached_property
    def name(self) -> str:
        # Read once per line (the editor asks for names nearly a hundred times per event), from
        # the first physical line when the name ends inside it (it nearly always does). A name
        # never changes: ``_parse`` appends a line's continuations before any name is read.
        first = self.physical[0]
        match = _NAME.match(first)
        if match is None or match.end() == len(first):  # a name folded onto the next line
            match = _NAME.match(self.text)
        return match.group().upper() if match else ""

    def parts(self) -> tuple[str, Parameters, str]:
        name, params, value = Contentline(self.text).raw_parts()  # type: ignore[no-untyped-call]
        return str(name).upper(), params, str(value)

    @property
    def value(self) -> str:
        return self.parts()[2]

    @property
    def component(self) -> str:
        """The component a BEGIN or END line names, upper-case. The plain ``BEGIN:VEVENT`` is
        read as it stands; anything else (parameters, folding) through ``parts``."""
        match = _PLAIN_BOUNDARY.fullmatch(self.physical[0]) if len(self.physical) == 1 else None
        return (match.group(1) if match else self.value).upper()

    @classmethod
    def of(cls, text: str) -> _Prop:
        return cls(fold(text))


@dataclass
class _Comp:
    name: str
    begin: _Prop
    end: _Prop
    children: list[_Prop | _Comp] = field(default_factory=list)

    def props(self, name: str) -> list[_Prop]:
        return [c for c in self.children if isinstance(c, _Prop) and c.name == name]

    def first(self, name: str) -> _Prop | None:
        found = self.props(name)
        return found[0] if found else None

    def comps(self, name: str) -> list[_Comp]:
        return [c for c in self.children if isinstance(c, _Comp) and c.name == name]

    def replace_props(self, name: str, new: Iterable[_Prop], *, before: str = "") -> None:
        """Put ``new`` where the first ``name`` line was (the others are removed), or, for a
        property that was not there, before the first nested component (or the ``before``
        property) so that the resource keeps properties ahead of components."""
        new = list(new)
        positions = [
            i for i, c in enumerate(self.children) if isinstance(c, _Prop) and c.name == name
        ]
        if positions:
            at = positions[0]
            self.children = [c for i, c in enumerate(self.children) if i not in positions]
        else:
            at = next(
                (
                    i
                    for i, c in enumerate(self.children)
                    if isinstance(c, _Comp) or (before and c.name == before)
                ),
                len(self.children),
            )
        self.children[at:at] = new

    def lines(self, *, skip: str = "") -> Iterable[str]:
        """The physical lines, less those of nested ``skip`` components (none by default)."""
        yield from self.begin.physical
        for child in self.children:
            if isinstance(child, _Comp):
                if child.name != skip:
                    yield from child.lines(skip=skip)
            else:
                yield from child.physical
        yield from self.end.physical


def _parse(data: str | bytes) -> list[_Comp]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    props: list[_Prop] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and props:
            props[-1].physical.append(line)
        elif line.strip():
            props.append(_Prop([line]))
    roots: list[_Comp] = []
    stack: list[_Comp] = []
    for prop in props:
        name = prop.name
        if name == "BEGIN":
            comp = _Comp(prop.component, prop, prop)
            (stack[-1].children if stack else roots).append(comp)
            stack.append(comp)
        elif name == "END":
            if not stack:
                raise ValueError(f"END:{prop.value} closes no BEGIN.")
            if stack[-1].name != prop.component:
                raise ValueError(f"END:{prop.value} does not close BEGIN:{stack[-1].name}")
            stack.pop().end = prop
        elif stack:
            stack[-1].children.append(prop)
        else:
            raise ValueError(f"A {name} line outside any component.")
    if stack:
        raise ValueError(f"BEGIN:{stack[-1].name} is never closed.")
    return roots


def _calendar_of(roots: list[_Comp]) -> _Comp:
    calendars = [c for c in roots if c.name == "VCALENDAR"]
    if not calendars:
        raise ValueError("No VCALENDAR in this resource.")
    return calendars[0]


def _master_of(calendar: _Comp) -> _Comp | None:
    return next((e for e in calendar.comps("VEVENT") if not e.props("RECURRENCE-ID")), None)


def _serialise(roots: list[_Comp]) -> str:
    # No line holds a line feed (``_parse`` splits on them), so the control characters of a line
    # (CONTROL, LF among them) are removed from the whole text at once, the line feeds that
    # join the lines kept, rather than line by line.
    text = "\n".join(line for root in roots for line in root.lines())
    return _CONTROL_IN_VALUE.sub("", text).replace("\n", "\r\n") + "\r\n"


# -- reading ------------------------------------------------------------------------------------


def from_ical(
    data: str | bytes,
    *,
    item_id: str,
    default_zone: str = "UTC",
    far_future: date = FAR_FUTURE,
    account_email: str | None = None,
) -> EventData:
    """``EventData`` for one calendar object resource. Raises ``InvalidData`` (naming ``item_id``)
    for anything it cannot read (malformed text, dates out of range, a rule it cannot parse), so
    the caller can skip this one item and go on."""
    try:
        cal = Calendar.from_ical(data)
        masters = [e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") is None]
        ours = _master_of(_calendar_of(_parse(data)))
    except Exception as exc:  # any parse failure is this one item's
        raise InvalidData(f"Unreadable iCalendar data: {_describe(exc)}", item_id=item_id) from exc
    if not masters or ours is None:
        raise InvalidData("No event in this calendar object.", item_id=item_id)
    try:
        return _event_from_vevent(
            masters[0], ours, cal, item_id, default_zone, far_future, account_email
        )
    except Exception as exc:  # overflow, bad rule, bad value: this item only
        raise InvalidData(f"Unreadable event: {_describe(exc)}", item_id=item_id) from exc


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RecurrenceParseError | InvalidData):
        return text
    return f"{type(exc).__name__}: {text}"[:300]


def _zone_name(value: datetime, fallback: str) -> str:
    zone: Any = value.tzinfo
    if zone is None:
        return fallback
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    if value.utcoffset() == timedelta(0):
        return "UTC"
    return fallback


def _text(vevent: _Comp, name: str) -> str:
    prop = vevent.first(name)
    return clean_text(unescape_text(prop.value)) if prop is not None else ""


def _event_from_vevent(
    master: Component,
    lines: _Comp,
    cal: Calendar,
    item_id: str,
    default_zone: str,
    far_future: date,
    account_email: str | None,
) -> EventData:
    uid = str(master.get("UID", "")) or item_id
    raw_start = master.decoded("DTSTART")
    all_day = not isinstance(raw_start, datetime)
    zone_name = default_zone if all_day else _zone_name(raw_start, default_zone)
    zone: tzinfo = zoneinfo.ZoneInfo(zone_name)
    if all_day:
        start = datetime.combine(raw_start, time(), tzinfo=zone)
    elif raw_start.tzinfo is None:  # floating time: read it in the link's zone
        start = raw_start.replace(tzinfo=zone)
    else:
        start = raw_start.astimezone(zone)
    if master.get("DTEND") is not None:
        raw_end = master.decoded("DTEND")
        if all_day:
            end = datetime.combine(raw_end, time(), tzinfo=zone)
        else:
            end = (raw_end if raw_end.tzinfo else raw_end.replace(tzinfo=zone)).astimezone(zone)
    elif master.get("DURATION") is not None:
        end = start + master.decoded("DURATION")
    else:
        # RFC 5545 §3.6.1: a DATE start without end lasts one day; a DATE-TIME start, no time.
        end = start + timedelta(days=1) if all_day else start
    # Both ends must exist as instants (year 1 east of UTC, 9999-12-31 west of it do not).
    start.astimezone(UTC), end.astimezone(UTC)

    rule = None
    flags: frozenset[Any] = frozenset()
    messages: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    exceptions: tuple[datetime | date, ...] = ()
    if master.get("RRULE") is not None or master.get("RDATE") is not None:
        # An all-day series' UTC UNTIL is read in the calendar's zone (X-WR-TIMEZONE, else ours).
        calendar_tz = calendar_zone(cal, zone)
        translation = from_vevent(master, far_future=far_future, all_day_zone=calendar_tz)
        overrides = caldav_exceptions(cal, default_zone=zone, far_future=far_future)
        translation = with_exceptions(translation, overrides)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(translation.messages)  # each Message knows its flag
        suggestions = translation.suggestions  # the one-click conversions (PRODUCT 21)
        exceptions = translation.exceptions  # EXDATEs and overrides that hit an occurrence

    status_text = str(master.get("STATUS", "CONFIRMED")).lower()
    meeting = master.get(MEETING_ID_PROPERTY)
    return EventData(
        uid=uid,
        title=_text(lines, "SUMMARY"),
        start=start,
        end=end,
        time_zone=zone_name,
        all_day=all_day,
        description=_text(lines, "DESCRIPTION"),
        location=_text(lines, "LOCATION"),
        attendees=tuple(_attendee(a) for a in _as_list(master.get("ATTENDEE"))),
        reminder_minutes=_reminder_minutes(master),
        status=(
            EventStatus(status_text)
            if status_text in EventStatus._value2member_map_
            else EventStatus.CONFIRMED
        ),
        is_organizer=_organised_by(master.get("ORGANIZER"), account_email),
        rule=rule,
        flags=flags,
        messages=messages,
        suggestions=suggestions,
        meeting_id=int(str(meeting)) if meeting is not None and str(meeting).isdigit() else None,
        meeting_version=_number(master.get(MEETING_VERSION_PROPERTY)),
        exceptions=exceptions,
        updated=_last_modified(master),
    )


def _number(value: Any) -> int | None:
    return int(str(value)) if value is not None and str(value).isdigit() else None


def _last_modified(master: Component) -> datetime | None:
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        if master.get(name) is not None:
            value = master.decoded(name)
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _organised_by(organizer: Any, account_email: str | None) -> bool:
    """Whether the linked account organises the event (PRODUCT 16). Without an ORGANIZER the
    event is the calendar owner's own (RFC 5545 §3.8.4.3); with one, it is ours when it names the
    account's address. CalDAV user names are not always addresses: then we cannot tell, and
    treat the event as ours rather than refuse to write it back."""
    if organizer is None or not account_email:
        return True
    return str(organizer).lower().removeprefix("mailto:").strip() == account_email.lower()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: str) -> str:
    email = value.strip()
    if email.lower().startswith("mailto:"):
        email = email[7:]
    return email.strip().lower()


def _attendee(value: Any) -> Attendee:
    params = getattr(value, "params", {})
    return Attendee(
        email=_address(str(value)),
        name=clean_text(str(params.get("CN", ""))),
        response=_PARTSTAT.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "needs-action"),
    )


def _relative_trigger(alarm: Component) -> timedelta | None:
    if alarm.get("TRIGGER") is None:
        return None
    value = alarm.decoded("TRIGGER")
    return value if isinstance(value, timedelta) else None


def _reminder_minutes(master: Component) -> int | None:
    for alarm in master.walk("VALARM"):
        trigger = _relative_trigger(alarm)
        if trigger is not None:
            return max(0, int(-trigger.total_seconds() // 60))
    return None


# -- writing ------------------------------------------------------------------------------------


def to_ical(event: EventData, *, uid: str, now: datetime | None = None) -> str:
    """The iCalendar text of ``event`` as a new calendar object resource."""
    skeleton = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            f"PRODID:{PRODID}",
            "BEGIN:VEVENT",
            f"UID:{escape_text(uid)}",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    roots = _parse(skeleton)
    _Editor(roots, None, event, ALL_FIELDS, now or datetime.now(UTC)).apply()
    return _serialise(roots)


def edit_ical(
    data: str | bytes,
    event: EventData,
    *,
    fields: frozenset[str],
    item_id: str,
    default_zone: str = "UTC",
    account_email: str | None = None,
    now: datetime | None = None,
) -> str:
    """``data`` (a resource as fetched) with the ``fields`` of ``event`` written into its master
    VEVENT and everything else kept. Raises ``InvalidData`` when the resource cannot be read (we
    do not overwrite what we cannot understand) or ``event`` cannot be written."""
    current = from_ical(
        data, item_id=item_id, default_zone=default_zone, account_email=account_email
    )
    try:
        roots = _parse(data)
        _Editor(roots, current, event, fields, now or datetime.now(UTC)).apply()
    except InvalidData:
        raise
    except Exception as exc:  # a value we cannot write fails this item only
        raise InvalidData(
            f"This event cannot be written: {_describe(exc)}", item_id=item_id
        ) from exc
    return _serialise(roots)


def _line(name: str, value: Any, params: Parameters | None = None) -> _Prop:
    """A property line from an icalendar value (dates, durations, addresses)."""
    if params is None and isinstance(value, date):
        quick = _date_line(name, value)
        if quick is not None:
            return _Prop.of(quick)
    scratch = Event()
    scratch.add(name, value, parameters=params or {}, encode=True)
    return _Prop.of(str(scratch.content_line(name.upper(), scratch[name.upper()], sorted=False)))


def _date_line(name: str, value: date) -> str | None:
    """The line icalendar writes for a date, or a UTC, floating or named-zone date-time, made
    directly: building it through an icalendar component was a third of making a new event's
    text (issue 17 §3, client CPU). ``None`` for any other time zone, which takes the library's
    path. tests/connectors/test_caldav_lines.py holds this to icalendar's own output for every
    zone."""
    stamp = f"{value.year:04d}{value.month:02d}{value.day:02d}"
    if not isinstance(value, datetime):
        return f"{name};VALUE=DATE:{stamp}"
    stamp += f"T{value.hour:02d}{value.minute:02d}{value.second:02d}"
    if value.tzinfo is None:
        return f"{name}:{stamp}"
    # icalendar's own choice of name: it writes zones it holds equivalent to UTC (such as
    # Africa/Abidjan) with a Z, as it always has.
    tzid = tzid_from_dt(value)
    if tzid == "UTC":
        return f"{name}:{stamp}Z"
    if tzid and _PLAIN_TZID.fullmatch(tzid):
        return f"{name};TZID={tzid}:{stamp}"
    return None


def _text_line(name: str, value: str) -> _Prop:
    return _Prop.of(f"{name}:{escape_text(value)}")


def _param_text(value: str) -> str:
    """A parameter value (RFC 5545 §3.2): one line, no DQUOTE (it cannot be in one at all), and
    no backslash, which parameter values do not escape but several parsers (vobject, libical)
    take for an escape of the next character, breaking the line."""
    return clean_text(value).replace("\n", " ").replace('"', "'").replace("\\", "").strip()


@dataclass
class _Editor:
    roots: list[_Comp]
    current: EventData | None  # None: a new resource, every field is written
    event: EventData
    fields: frozenset[str]
    now: datetime
    calendar: _Comp = field(init=False)
    master: _Comp = field(init=False)
    added_zones: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.calendar = _calendar_of(self.roots)
        master = _master_of(self.calendar)
        if master is None:
            raise ValueError("No event in this calendar object.")
        self.master = master
        self.fields = self.fields | (TIME_FIELDS if self.fields & TIME_FIELDS else frozenset())

    def _changed(self, name: str, read: Callable[[EventData], Any]) -> bool:
        return name in self.fields and (
            self.current is None or read(self.current) != read(self.event)
        )

    def apply(self) -> None:
        event, master = self.event, self.master
        zones_before = self._zones_used()
        for name, prop in (
            ("title", "SUMMARY"),
            ("description", "DESCRIPTION"),
            ("location", "LOCATION"),
        ):
            if self._changed(name, _text_of(name)):
                value = clean_text(getattr(event, name))
                new = [_text_line(prop, value)] if value or prop == "SUMMARY" else []
                master.replace_props(prop, new)
        times = self._changed("start", lambda e: (e.start, e.end, e.time_zone, e.all_day))
        if times:
            self._write_times()
        # A rule's lines depend on its start: rewritten with the times (connectors/base.py).
        if self._changed("rule", lambda e: e.rule) or (times and event.rule is not None):
            self._write_rule()
        if self._changed("attendees", lambda e: e.attendees):
            self._write_attendees()
        if self._changed("reminder", lambda e: e.reminder_minutes):
            self._write_reminder()
        if self._changed("status", lambda e: e.status):
            master.replace_props("STATUS", [_Prop.of(f"STATUS:{event.status.value.upper()}")])
        if event.meeting_id is not None and (
            self.current is None or self.current.meeting_id != event.meeting_id
        ):
            master.replace_props(
                MEETING_ID_PROPERTY, [_Prop.of(f"{MEETING_ID_PROPERTY}:{event.meeting_id}")]
            )
        if event.meeting_id is not None and (
            self.current is None or self.current.meeting_version != event.meeting_version
        ):
            version = event.meeting_version
            master.replace_props(
                MEETING_VERSION_PROPERTY,
                [] if version is None else [_Prop.of(f"{MEETING_VERSION_PROPERTY}:{version}")],
            )
        # DTSTAMP is when the object was last changed when it carries no METHOD (RFC 5545
        # §3.8.7.2); LAST-MODIFIED, where a client keeps one, likewise.
        master.replace_props("DTSTAMP", [_line("DTSTAMP", self.now)])
        if master.props("LAST-MODIFIED"):
            master.replace_props("LAST-MODIFIED", [_line("LAST-MODIFIED", self.now)])
        self._fix_timezones(zones_before)

    # -- times and rule ---------------------------------------------------------------------

    def _bounds(self) -> tuple[datetime | date, datetime | date]:
        event = self.event
        zone = zoneinfo.ZoneInfo(event.time_zone)
        if event.all_day:
            return event.start.astimezone(zone).date(), event.end.astimezone(zone).date()
        return event.start.astimezone(zone), event.end.astimezone(zone)

    def _write_times(self) -> None:
        master = self.master
        start, end = self._bounds()
        if isinstance(start, datetime) and self.event.time_zone != "UTC":
            self.added_zones.add(self.event.time_zone)
        master.replace_props("DTSTART", [_line("DTSTART", start)])
        if master.props("DURATION") and not master.props("DTEND"):
            length = self.event.end - self.event.start
            if self.event.all_day:
                length = timedelta(days=(end - start).days)  # type: ignore[operator]
            master.replace_props("DURATION", [_line("DURATION", vDuration(length))])
        else:
            master.replace_props("DURATION", [])
            master.replace_props("DTEND", [_line("DTEND", end)])

    def _write_rule(self) -> None:
        event, master = self.event, self.master
        if event.rule is None:
            # No longer repeating: nothing may make it repeat, or exclude its one occurrence.
            for name in ("RRULE", "RDATE", "EXRULE", "EXDATE"):
                master.replace_props(name, [])
            return
        start, _ = self._bounds()
        lines = [_Prop.of(line) for line in to_rrule(event.rule, start)]
        master.replace_props("RRULE", lines)

    # -- attendees and reminder -----------------------------------------------------------------

    def _write_attendees(self) -> None:
        """Our list of addresses, in our order. An attendee already on the event keeps its line
        (ROLE, RSVP, CN, PARTSTAT, other parameters); only a name or an answer we do know is
        written into it. New attendees are added without scheduling (PRODUCT 10)."""
        existing: dict[str, _Prop] = {}
        for prop in self.master.props("ATTENDEE"):
            existing.setdefault(_address(prop.value), prop)
        lines: list[_Prop] = []
        for attendee in self.event.attendees:
            email = attendee.email.strip().lower()
            if email in existing:
                lines.append(self._edited_attendee(existing.pop(email), attendee))
                continue
            params = Parameters()
            if attendee.name and _param_text(attendee.name):
                params["CN"] = _param_text(attendee.name)
            params["PARTSTAT"] = _partstat(attendee.response)
            params["SCHEDULE-AGENT"] = "CLIENT"
            lines.append(_line("ATTENDEE", vCalAddress(f"mailto:{email}"), params))
        self.master.replace_props("ATTENDEE", lines)

    @staticmethod
    def _edited_attendee(prop: _Prop, attendee: Attendee) -> _Prop:
        name, params, value = prop.parts()
        edited = Parameters(params)
        if attendee.name and _param_text(attendee.name) != str(params.get("CN", "")):
            edited["CN"] = _param_text(attendee.name)
        read = _PARTSTAT.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "needs-action")
        if attendee.response != "needs-action" and attendee.response != read:
            edited["PARTSTAT"] = _partstat(attendee.response)
        if dict(edited) == dict(params):
            return prop
        return _Prop.of(f"{name};{edited.to_ical(sorted=False).decode()}:{value}")

    def _write_reminder(self) -> None:
        minutes = self.event.reminder_minutes
        relative = [a for a in self.master.comps("VALARM") if _alarm_is_relative(a)]
        if minutes is None:
            self.master.children = [c for c in self.master.children if c not in relative]
            return
        trigger = _line("TRIGGER", vDuration(timedelta(minutes=-minutes)))
        if relative:
            relative[0].replace_props("TRIGGER", [trigger])
            return
        alarm = _parse(
            "\r\n".join(
                [
                    "BEGIN:VALARM",
                    "ACTION:DISPLAY",
                    f"DESCRIPTION:{escape_text(self.event.title or 'Reminder')}",
                    trigger.text,
                    "END:VALARM",
                ]
            )
        )[0]
        self.master.children.append(alarm)

    # -- time zones -------------------------------------------------------------------------

    def _zones_used(self) -> set[str]:
        used: set[str] = set()
        # A VTIMEZONE's own lines never name a zone by parameter (RFC 5545 §3.6.5): skipping
        # them saves reading a few dozen lines per zone, twice per event written.
        for root in self.roots:
            for line in root.lines(skip="VTIMEZONE"):
                used.update(m.group(1).strip('"') for m in _TZID_PARAM.finditer(line))
        return used

    def _fix_timezones(self, before: set[str]) -> None:
        """Every zone we wrote gets its VTIMEZONE (RFC 5545 §3.6.5); one that only our old times
        named goes with them. Zones the resource names elsewhere are left as they are."""
        used = self._zones_used()
        defined = {
            tz.first("TZID").value if tz.first("TZID") else "": tz  # type: ignore[union-attr]
            for tz in self.calendar.comps("VTIMEZONE")
        }
        gone = [defined[z] for z in before - used if z in defined]
        self.calendar.children = [c for c in self.calendar.children if not _among(c, gone)]
        missing = sorted(self.added_zones - set(defined))
        if not missing:
            return
        # Transitions from 1970 (icalendar's default start) through a year past the last day the
        # event or its series reaches, so that clients place every occurrence right.
        last = self.event.end.date()
        if self.event.rule is not None:
            last = max(last, self.event.rule.until)
        first_date = min(date(1970, 1, 1), self.event.start.date())
        last_date = max(date(2038, 1, 1), last + timedelta(days=366))
        added = [
            comp for zone in missing for comp in _vtimezones(zone, first_date, _year_end(last_date))
        ]
        first_component = next(
            (i for i, c in enumerate(self.calendar.children) if isinstance(c, _Comp)),
            len(self.calendar.children),
        )
        self.calendar.children[first_component:first_component] = added


def _year_end(day: date) -> date:
    """The last day of ``day``'s year: the VTIMEZONE cache's key, so that every event whose
    series ends in one year shares one entry (a few more transitions than needed harm nothing)."""
    return date(day.year, 12, 31)


@lru_cache(maxsize=512)
def vtimezone_text(zone: str, first_date: date, last_date: date) -> str:
    """The VTIMEZONE of ``zone`` with its transitions from ``first_date`` through ``last_date``,
    as iCalendar text. icalendar builds it from the tz database with every transition in the
    span, about 6 ms a zone (issue 17: a quarter of a first sync's client CPU when it ran for
    every event); the text depends on nothing else, so it is built once per process and zone
    (and parsed once, ``_vtimezones``)."""
    scratch = Calendar()
    scratch.add("prodid", PRODID)
    scratch.add("version", "2.0")
    vevent = Event()
    vevent.add("dtstart", datetime.combine(first_date, time(12), tzinfo=zoneinfo.ZoneInfo(zone)))
    scratch.add_component(vevent)
    scratch.add_missing_timezones(first_date=first_date, last_date=last_date)
    return "\r\n".join(
        line
        for comp in _calendar_of(_parse(scratch.to_ical().decode())).comps("VTIMEZONE")
        for line in comp.lines()
    )


@lru_cache(maxsize=512)
def _vtimezones(zone: str, first_date: date, last_date: date) -> tuple[_Comp, ...]:
    """``vtimezone_text`` parsed, once per zone and span. The components are shared by every
    resource written in this process and must never be changed in place: nothing edits a
    VTIMEZONE (``_fix_timezones`` only inserts and removes whole ones), and a resource read
    back is parsed into components of its own."""
    return tuple(_parse(vtimezone_text(zone, first_date, last_date)))


def _text_of(name: str) -> Callable[[EventData], str]:
    return lambda event: clean_text(str(getattr(event, name)))


def _among(child: _Prop | _Comp, comps: list[_Comp]) -> bool:
    return any(child is c for c in comps)


def _partstat(response: str) -> str:
    return next((k for k, v in _PARTSTAT.items() if v == response), "NEEDS-ACTION")


def _alarm_is_relative(alarm: _Comp) -> bool:
    trigger = alarm.first("TRIGGER")
    if trigger is None:
        return False
    _, params, value = trigger.parts()
    if str(params.get("VALUE", "DURATION")).upper() == "DATE-TIME":
        return False
    return value.strip().lstrip("+-").upper().startswith("P")
