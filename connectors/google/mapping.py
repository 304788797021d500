"""Google Calendar event JSON <-> ``EventData`` (PROTOCOLS.md §1.6).

* Times: ``{dateTime, timeZone}`` for timed events (the zone is the expansion zone of a series,
  and required for one), ``{date}`` for all-day events with an exclusive end date.
* Repetition: ``recurrence`` lines through ``recurrence.to_rrule`` / ``from_rrule``; exception
  instances (``recurringEventId`` + ``originalStartTime``) come in as their own items and are
  attached to their series here (PRODUCT 21).
* Our meeting id travels in ``extendedProperties.private`` under a key shorter than 44 characters
  (longer keys are silently dropped, §1.6).
* Read as Google means it: Google leaves out a field whose value is the default the discovery
  document states (``organizer.self`` is false unless sent; issue 19 item 1), and
  ``reminders.useDefault`` means the calendar's ``defaultReminders`` (item 3).
* Written as little as possible: ``to_google`` is a new event of ours; an update is an
  events.patch of the named fields only (``patch_body``, item 2), and an attendee's
  ``responseStatus`` is never ours to send (item 6).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from icalendar.parser import Contentline

from connectors.errors import InvalidData
from connectors.events import TIME_FIELDS, Attendee, EventData, EventStatus
from recurrence import (
    FAR_FUTURE,
    RecurrenceParseError,
    Rule,
    Suggestion,
    from_rrule,
    google_exception,
    to_rrule,
    with_exceptions,
)

MEETING_ID_KEY = "calsyncMeetingId"
# The meeting's version the copy was written from (``EventData.meeting_version``).
MEETING_VERSION_KEY = "calsyncMeetingVersion"
_RESPONSES = {
    "needsAction": "needs-action",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
}


def to_google(event: EventData) -> dict[str, Any]:
    """The request body for events.insert: a new event of ours, every synced field written."""
    start, end = _time_objects(event, clear=False)
    body: dict[str, Any] = {
        "summary": event.title,
        "description": event.description,
        "location": event.location,
        "status": event.status.value,
        "start": start,
        "end": end,
    }
    if event.rule is not None:
        body["recurrence"] = to_rrule(event.rule, _series_start(event))
    # No responseStatus: only the attendee answers (issue 19 item 6).
    body["attendees"] = [_new_attendee(a) for a in event.attendees]
    body["reminders"] = {
        "useDefault": False,
        "overrides": (
            [{"method": "popup", "minutes": _minutes(event.reminder_minutes)}]
            if event.reminder_minutes is not None
            else []
        ),
    }
    if event.meeting_id is not None:
        ours = {k: v for k, v in _ours(event).items() if v is not None}  # no nulls in inserts
        body["extendedProperties"] = {"private": ours}
    return body


def _ours(event: EventData) -> dict[str, str | None]:
    """Our keys in ``extendedProperties.private``: the meeting id and, when known, the
    version written (a null deletes a version a later write does not know)."""
    return {
        MEETING_ID_KEY: str(event.meeting_id),
        MEETING_VERSION_KEY: None if event.meeting_version is None else str(event.meeting_version),
    }


def fields_to_write(fields: Iterable[str], event: EventData) -> frozenset[str]:
    """The fields an update writes: naming one of ``TIME_FIELDS`` writes all four, and a
    repeating event's times take its rule along (its lines depend on its start:
    ``Connector.update``'s contract, kept here too so a series never gets a start its RRULE and
    EXDATE lines do not fit)."""
    named = set(fields)
    if named & TIME_FIELDS:
        named |= TIME_FIELDS
        if event.rule is not None:
            named.add("rule")
    return frozenset(named)


# Fields written by merging with the event as Google holds it (``patch_body``'s ``current``).
NEEDS_CURRENT = frozenset({"attendees", "rule", "reminder"})


def patch_body(
    event: EventData,
    fields: Iterable[str],
    current: Mapping[str, Any] | None,
    *,
    default_reminders: Sequence[Mapping[str, Any]] = (),
    default_zone: str = "UTC",
) -> dict[str, Any]:
    """The events.patch body that writes the ``fields`` of ``event`` and nothing else.

    events.update replaces the whole event (whatever it is not sent is reset or dropped); a patch
    changes only the fields it carries, and "array fields, if specified, overwrite the existing
    arrays" (events.patch reference). So lists whose entries hold more than we sync are merged
    with ``current``, the event as Google holds it (needed when ``NEEDS_CURRENT`` fields are
    named): every attendee keeps its own properties, and EXDATE/RDATE lines stay when the new
    rule still has them. With ``current`` known, a field that already reads as ``event``'s is
    left out, so what we read round-trips to the same text; an empty body means nothing to
    write. Our meeting id goes in ``extendedProperties.private`` alone, which a patch merges key
    by key, so other applications' keys stay.
    """
    named = fields_to_write(fields, event)
    body: dict[str, Any] = {}
    for name, key, value, absent in (
        ("title", "summary", event.title, ""),
        ("description", "description", event.description, ""),
        ("location", "location", event.location, ""),
        ("status", "status", event.status.value, "confirmed"),
    ):
        if name in named and (current is None or str(current.get(key, absent)) != value):
            body[key] = value
    if named & TIME_FIELDS and (current is None or not _same_times(event, current, default_zone)):
        # A patch merges the members of an object: the other form is cleared with null, or a
        # timed event made all-day would keep its dateTime.
        body["start"], body["end"] = _time_objects(event, clear=True)
    if "rule" in named:
        lines = merged_recurrence(event, current, default_zone=default_zone)
        if lines != [str(line) for line in (current or {}).get("recurrence") or []]:
            body["recurrence"] = lines
    if "attendees" in named:
        attendees = merged_attendees(event, (current or {}).get("attendees") or [])
        if current is None or attendees != list(current.get("attendees") or []):
            body["attendees"] = attendees
    if "reminder" in named:
        reminders = reminders_patch(
            event.reminder_minutes, (current or {}).get("reminders"), default_reminders
        )
        if reminders is not None:
            body["reminders"] = reminders
    if event.meeting_id is not None:
        private = ((current or {}).get("extendedProperties") or {}).get("private") or {}
        ours = _ours(event)
        if ours[MEETING_VERSION_KEY] is None and MEETING_VERSION_KEY not in private:
            del ours[MEETING_VERSION_KEY]  # nothing to delete
        # Our id when it is missing; the version with a write only (alone it is no reason to
        # write).
        if (
            current is None
            or private.get(MEETING_ID_KEY) != ours[MEETING_ID_KEY]
            or (body and private.get(MEETING_VERSION_KEY) != ours.get(MEETING_VERSION_KEY))
        ):
            body["extendedProperties"] = {"private": ours}
    return body


def _minutes(value: int) -> int:
    # EventReminder.minutes: "Valid values are between 0 and 40320 (4 weeks in minutes)."
    return min(max(value, 0), 40320)


def _series_start(event: EventData) -> datetime | date:
    local = event.start.astimezone(zoneinfo.ZoneInfo(event.time_zone))
    return local.date() if event.all_day else local


def _time_objects(event: EventData, *, clear: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    zone = zoneinfo.ZoneInfo(event.time_zone)
    if event.all_day:
        start: dict[str, Any] = {"date": event.start.astimezone(zone).date().isoformat()}
        end: dict[str, Any] = {"date": event.end.astimezone(zone).date().isoformat()}
        if clear:
            for value in (start, end):
                value.update(dateTime=None, timeZone=None)
        return start, end
    start = {"dateTime": event.start.astimezone(zone).isoformat(), "timeZone": event.time_zone}
    end = {"dateTime": event.end.astimezone(zone).isoformat(), "timeZone": event.time_zone}
    if clear:
        start["date"] = end["date"] = None
    return start, end


def _same_times(event: EventData, current: Mapping[str, Any], default_zone: str) -> bool:
    """Whether ``current``'s start and end read as ``event``'s (instants, zone, all-day)."""
    try:
        start, zone_name, all_day = _parse_time(current["start"], default_zone)
        end, _, _ = _parse_time(current["end"], zone_name)
    except (KeyError, ValueError, TypeError, zoneinfo.ZoneInfoNotFoundError):
        return False
    if all_day != event.all_day:
        return False
    if all_day:
        zone = zoneinfo.ZoneInfo(event.time_zone)
        return (start.date(), end.date()) == (
            event.start.astimezone(zone).date(),
            event.end.astimezone(zone).date(),
        )
    return (start, end, zone_name) == (event.start, event.end, event.time_zone)


# -- attendees -----------------------------------------------------------------------------------


def _new_attendee(attendee: Attendee) -> dict[str, Any]:
    """A guest we add: address and name only. ``responseStatus`` is the attendee's to set
    (EventAttendee: Google "might" reset a response someone else sets), so none is sent."""
    return {"email": attendee.email, **({"displayName": attendee.name} if attendee.name else {})}


def merged_attendees(
    event: EventData, current: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``current``'s attendees with ``event``'s list applied: kept ones exactly as Google holds
    them (their answer, ``optional``, ``comment``, ``additionalGuests``, ...; a new name only
    when we have one), removed ones left out, new ones added at the end; rooms and entries
    without an address, which we do not read, stay."""
    wanted: dict[str, Attendee] = {}
    for attendee in event.attendees:
        wanted.setdefault(attendee.email.lower(), attendee)
    merged: list[dict[str, Any]] = []
    present: set[str] = set()
    for entry in current:
        email = str(entry.get("email") or "").lower()
        if entry.get("resource") or not email:
            merged.append(dict(entry))
            present.add(email)
            continue
        ours = wanted.get(email)
        if ours is None:
            continue
        present.add(email)
        kept = dict(entry)
        if ours.name and ours.name != kept.get("displayName"):
            kept["displayName"] = ours.name
        merged.append(kept)
    merged += [_new_attendee(a) for email, a in wanted.items() if email not in present]
    return merged


# -- reminders -----------------------------------------------------------------------------------


def read_reminder(
    reminders: Mapping[str, Any] | None, default_reminders: Sequence[Mapping[str, Any]]
) -> int | None:
    """The reminder an event has, in minutes before its start: the earliest of its overrides,
    or of the calendar's ``defaultReminders`` when ``useDefault`` is set ("Whether the default
    reminders of the calendar apply to the event", discovery: Event.reminders)."""
    reminders = reminders or {}
    entries = default_reminders if reminders.get("useDefault") else reminders.get("overrides")
    return min((int(o["minutes"]) for o in entries or () if "minutes" in o), default=None)


def reminders_patch(
    minutes: int | None,
    current: Mapping[str, Any] | None,
    default_reminders: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """The ``reminders`` to write for ``minutes``, or None when the event already reads so (a
    reminder we did not change is never written: a calendar default stays a default)."""
    if read_reminder(current, default_reminders) == minutes:
        return None
    if minutes is None:
        return {"useDefault": False, "overrides": []}
    current = current or {}
    overrides = [] if current.get("useDefault") else list(current.get("overrides") or [])
    earliest = min(overrides, key=lambda o: int(o.get("minutes", 0)), default=None)
    method = str((earliest or {}).get("method") or "popup")
    value = _minutes(minutes)
    # The earliest reminder is the one we read: it takes the new time (in its own method); the
    # user's later ones stay while they are still later.
    later = [o for o in overrides if o is not earliest and int(o.get("minutes", 0)) > value]
    return {"useDefault": False, "overrides": [{"method": method, "minutes": value}, *later]}


# -- recurrence lines ----------------------------------------------------------------------------


def _line_name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()


def merged_recurrence(
    event: EventData, current: Mapping[str, Any] | None, *, default_zone: str = "UTC"
) -> list[str]:
    """The ``recurrence`` lines for ``event``'s rule on the event Google holds as ``current``.

    The RRULE (with any EXRULE) stays as Google wrote it when it still reads as ``event.rule``
    from the new start (Google writes ``WKST=SU``, PROTOCOLS §4.1); otherwise ours replaces it.
    EXDATE lines are occurrences deleted in Google: each is kept when the new rule still has an
    occurrence on that day, moved to that occurrence's start (an EXDATE "must point to a valid
    instance generated by the recurrence rule", create-events guide), and dropped otherwise.
    RDATE lines (added occurrences) are kept while they fall within the new series.
    """
    if event.rule is None:
        return []
    lines = [str(line) for line in (current or {}).get("recurrence") or []]
    new_start = _series_start(event)
    rules = [line for line in lines if _line_name(line) in ("RRULE", "EXRULE")]
    if _same_rule([r for r in rules if _line_name(r) == "RRULE"], new_start, event.rule):
        merged = rules
    else:
        merged = to_rrule(event.rule, new_start)
    old_zone = _zone_of(current, default_zone)
    occurrences = _Occurrences(event.rule, new_start)
    for line in lines:
        name = _line_name(line)
        if name == "EXDATE":
            kept = _moved_exdates(line, occurrences, old_zone, event)
        elif name == "RDATE":
            kept = _rdates_within(line, event.rule.until, new_start, old_zone)
        else:
            continue
        if kept:
            merged.append(kept)
    return merged


def _same_rule(rrules: list[str], start: datetime | date, rule: Rule) -> bool:
    if not rrules:
        return False
    try:
        return from_rrule(rrules, start).rule == rule
    except RecurrenceParseError:
        return False


def _zone_of(current: Mapping[str, Any] | None, default_zone: str) -> zoneinfo.ZoneInfo:
    name = ((current or {}).get("start") or {}).get("timeZone") or default_zone
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(default_zone)


class _Occurrences:
    """The occurrence of a rule on a given local day, expanding the rule only as far as asked."""

    def __init__(self, rule: Rule, start: datetime | date) -> None:
        self._until = rule.until
        self._by_day: dict[date, datetime | date] = {}
        self._last = date.min
        self._source: Iterator[datetime | date] = (
            rule.occurrences(start) if isinstance(start, datetime) else rule.dates(start)
        )

    def on(self, day: date) -> datetime | date | None:
        if day > self._until:
            return None
        while self._last < day:
            found = next(self._source, None)
            if found is None:
                self._last = date.max
                break
            local = found.date() if isinstance(found, datetime) else found
            self._by_day.setdefault(local, found)
            self._last = local
        return self._by_day.get(day)


def _date_values(line: str, old_zone: tzinfo) -> tuple[str, Any, list[tuple[str, Any]]]:
    """(name, params, [(text, value)]) of an EXDATE/RDATE line; a value is a date, or an aware
    datetime (UTC for ``Z`` values, its TZID's zone, else the series' zone)."""
    name, params, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
    tzid = params.get("TZID")
    named: tzinfo = old_zone
    if tzid:
        try:
            named = zoneinfo.ZoneInfo(str(tzid))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            named = old_zone  # an unknown TZID still names a wall time (as recurrence reads it)
    values: list[tuple[str, Any]] = []
    for text in str(value).split(","):
        text = text.strip()
        if re.fullmatch(r"\d{8}", text):
            values.append((text, datetime.strptime(text, "%Y%m%d").date()))  # noqa: DTZ007
        elif re.fullmatch(r"\d{8}T\d{6}Z", text):
            values.append((text, datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)))
        elif re.fullmatch(r"\d{8}T\d{6}", text):
            local = datetime.strptime(text, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - zone set below
            values.append((text, local.replace(tzinfo=named)))
        else:
            values.append((text, None))  # a PERIOD or something else we do not read
    return str(name).upper(), params, values


def _local_day(value: datetime | date, zone: tzinfo) -> date:
    return value.astimezone(zone).date() if isinstance(value, datetime) else value


def _moved_exdates(
    line: str, occurrences: _Occurrences, old_zone: tzinfo, event: EventData
) -> str | None:
    name, params, values = _date_values(line, old_zone)
    tzid = str(params.get("TZID") or "")
    texts: list[str] = []
    for text, value in values:
        if value is None:
            return line  # not a form we read: left as Google has it
        occurrence = occurrences.on(_local_day(value, old_zone))
        if occurrence is None:
            continue  # the new rule has no occurrence that day any more
        if not isinstance(occurrence, datetime):
            texts.append(occurrence.strftime("%Y%m%d"))
        elif text.endswith("Z"):
            texts.append(occurrence.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
        else:
            zone = zoneinfo.ZoneInfo(tzid) if tzid and _known(tzid) else None
            if zone is None:
                tzid = event.time_zone
                zone = zoneinfo.ZoneInfo(tzid)
            texts.append(occurrence.astimezone(zone).strftime("%Y%m%dT%H%M%S"))
    if not texts:
        return None
    if texts == [text for text, _ in values]:
        return line  # unchanged: Google's own text
    if event.all_day:
        return f"{name};VALUE=DATE:" + ",".join(texts)
    if texts[0].endswith("Z"):
        return f"{name}:" + ",".join(texts)
    return f"{name};TZID={tzid}:" + ",".join(texts)


def _known(zone_name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _rdates_within(line: str, until: date, start: datetime | date, old_zone: tzinfo) -> str | None:
    name, _, values = _date_values(line, old_zone)
    first = start.date() if isinstance(start, datetime) else start
    kept: list[str] = []
    for text, value in values:
        if value is None:
            return line
        same_kind = isinstance(value, datetime) == isinstance(start, datetime)
        if same_kind and first <= _local_day(value, old_zone) <= until:
            kept.append(text)
    if not kept:
        return None
    if len(kept) == len(values):
        return line
    head = line.split(":", 1)[0] if ":" in line else name
    return f"{head}:" + ",".join(kept)


def _parse_time(value: Mapping[str, Any], fallback_zone: str) -> tuple[datetime, str, bool]:
    """(aware start, zone name, all-day) from a Google ``start``/``end`` object."""
    if "date" in value:
        zone_name = fallback_zone
        day = date.fromisoformat(value["date"])
        return datetime.combine(day, time(), tzinfo=zoneinfo.ZoneInfo(zone_name)), zone_name, True
    if "dateTime" not in value:
        raise ValueError("a time without date or dateTime")
    zone_name = value.get("timeZone") or fallback_zone
    moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone_name))
    return moment.astimezone(zoneinfo.ZoneInfo(zone_name)), zone_name, False


def from_google(
    item: Mapping[str, Any],
    *,
    exceptions: Sequence[Mapping[str, Any]] = (),
    default_zone: str = "UTC",
    far_future: date = FAR_FUTURE,
    default_reminders: Sequence[Mapping[str, Any]] = (),
) -> EventData:
    """``EventData`` for a single event or a series master with its exception instances;
    ``default_reminders`` are the calendar's (``Events.defaultReminders``), what an event with
    ``reminders.useDefault`` has. Raises ``InvalidData`` naming the event for anything
    malformed."""
    event_id = str(item.get("id", ""))
    try:
        return _from_google(item, exceptions, default_zone, far_future, default_reminders)
    except (
        KeyError,
        ValueError,
        TypeError,
        RecurrenceParseError,
        zoneinfo.ZoneInfoNotFoundError,
    ) as exc:
        raise InvalidData(f"Unreadable Google event: {exc}", item_id=event_id) from exc


def _from_google(
    item: Mapping[str, Any],
    exceptions: Sequence[Mapping[str, Any]],
    default_zone: str,
    far_future: date,
    default_reminders: Sequence[Mapping[str, Any]],
) -> EventData:
    start, zone_name, all_day = _parse_time(item["start"], default_zone)
    end, _, _ = _parse_time(item["end"], zone_name)
    rule = None
    flags: frozenset[Any] = frozenset()
    messages: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    exception_starts: tuple[datetime | date, ...] = ()
    lines = item.get("recurrence") or []
    if lines:
        series_start: datetime | date = start.date() if all_day else start
        translation = from_rrule(  # an all-day series' UTC UNTIL is read in the calendar's zone
            list(lines), series_start, far_future=far_future, all_day_zone=start.tzinfo or UTC
        )
        found = [e for e in (google_exception(x) for x in exceptions) if e is not None]
        translation = with_exceptions(translation, found)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(translation.messages)  # each Message knows its flag
        suggestions = translation.suggestions  # the one-click conversions (PRODUCT 21)
        exception_starts = translation.exceptions  # the real ones only (issue 13)
    reminder = read_reminder(item.get("reminders"), default_reminders)
    private = (item.get("extendedProperties") or {}).get("private") or {}
    meeting_id = private.get(MEETING_ID_KEY)
    status_text = str(item.get("status", "confirmed"))
    return EventData(
        uid=str(item.get("iCalUID") or item.get("id", "")),
        title=str(item.get("summary", "")),
        start=start,
        end=end,
        time_zone=zone_name,
        all_day=all_day,
        description=str(item.get("description", "")),
        location=str(item.get("location", "")),
        attendees=tuple(
            Attendee(
                email=str(a["email"]).lower(),
                name=str(a.get("displayName", "")),
                response=_RESPONSES.get(str(a.get("responseStatus")), "needs-action"),
            )
            for a in item.get("attendees") or []
            if a.get("email") and not a.get("resource")
        ),
        reminder_minutes=reminder,
        status=EventStatus(status_text)
        if status_text in ("confirmed", "tentative")
        else (EventStatus.CONFIRMED),
        is_organizer=organised_here(item),
        rule=rule,
        flags=flags,
        messages=messages,
        suggestions=suggestions,
        meeting_id=int(str(meeting_id)) if str(meeting_id or "").isdigit() else None,
        meeting_version=_number(private.get(MEETING_VERSION_KEY)),
        exceptions=exception_starts,
        updated=_instant(item.get("updated")),
    )


def _number(value: object) -> int | None:
    return int(str(value)) if str(value or "").isdigit() else None


def organised_here(item: Mapping[str, Any]) -> bool:
    """Whether this calendar organises the event (and our edits may be written to it).

    Google leaves ``organizer.self`` out unless it is true ("Whether the organizer corresponds to
    the calendar on which this copy of the event appears. Read-only. The default is False",
    discovery: Event.organizer.self), so an organizer without ``self: true`` is someone else.
    Every event has one organizer, "the calendar containing the main copy of the event"
    (https://developers.google.com/workspace/calendar/api/concepts/events-calendars#organizers),
    and Google only leaves fields out of deleted events ("Deleted events are only guaranteed to
    have the id field populated", Event.status): an event without any ``organizer`` is not one
    Google gave us in full, so we cannot tell whose it is and read it as someone else's. Its
    internal edits then stay here (PRODUCT 16) rather than overwrite an organiser's event.
    """
    organizer = item.get("organizer")
    return isinstance(organizer, Mapping) and organizer.get("self") is True


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
