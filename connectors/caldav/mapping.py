"""iCalendar text <-> ``EventData`` for CalDAV (RFC 5545, RFC 4791), with the icalendar library.

Writing:
* one VCALENDAR per resource, the VEVENT with UID, DTSTAMP, DTSTART/DTEND (iCloud refuses events
  without DTEND, PROTOCOLS.md §3.4), a VTIMEZONE for every TZID used (``add_missing_timezones``);
* repetition through ``recurrence.to_rrule`` (always ``WKST=MO``);
* attendees with ``SCHEDULE-AGENT=CLIENT`` and no ORGANIZER, so no server sends invitations
  (RFC 6638 §7.1; PRODUCT 10);
* our meeting id in ``X-CALSYNC-MEETING-ID`` so a lost mapping can be recovered.

Reading takes the master VEVENT (the one without RECURRENCE-ID), translates its rule with
``recurrence.from_vevent`` and adds the overrides and EXDATEs as exceptions (PRODUCT 21).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from icalendar import Alarm, Calendar, Component, Event, vCalAddress, vRecur

from connectors.errors import InvalidData
from connectors.events import Attendee, EventData, EventStatus
from recurrence import (
    FAR_FUTURE,
    RecurrenceParseError,
    caldav_exceptions,
    calendar_zone,
    from_vevent,
    to_rrule,
    with_exceptions,
)

MEETING_ID_PROPERTY = "X-CALSYNC-MEETING-ID"
PRODID = "-//CalSync//CalendarSync//EN"
# PARTSTAT (RFC 5545 §3.2.12) <-> EventData's lower-case response names.
_PARTSTAT = {
    "NEEDS-ACTION": "needs-action",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}


def to_ical(event: EventData, *, uid: str, now: datetime | None = None) -> str:
    """The iCalendar text of ``event`` as one calendar object resource."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    vevent = Event()
    vevent.add("uid", uid)
    vevent.add("dtstamp", now or datetime.now(UTC))
    zone = zoneinfo.ZoneInfo(event.time_zone)
    if event.all_day:
        first = event.start.astimezone(zone).date()
        vevent.add("dtstart", first)
        vevent.add("dtend", event.end.astimezone(zone).date())
    else:
        vevent.add("dtstart", event.start.astimezone(zone))
        vevent.add("dtend", event.end.astimezone(zone))
    vevent.add("summary", event.title)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("status", event.status.value.upper())
    if event.rule is not None:
        start: datetime | date = (
            event.start.astimezone(zone).date() if event.all_day else event.start.astimezone(zone)
        )
        for line in to_rrule(event.rule, start):
            name, _, value = line.partition(":")
            if name.upper() == "RRULE":
                vevent.add("rrule", vRecur.from_ical(value))
    for attendee in event.attendees:
        address = vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["CN"] = attendee.name
        address.params["PARTSTAT"] = next(
            (k for k, v in _PARTSTAT.items() if v == attendee.response), "NEEDS-ACTION"
        )
        address.params["SCHEDULE-AGENT"] = "CLIENT"
        vevent.add("attendee", address, encode=False)
    if event.reminder_minutes is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", event.title)
        alarm.add("trigger", timedelta(minutes=-event.reminder_minutes))
        vevent.add_component(alarm)
    if event.meeting_id is not None:
        vevent.add(MEETING_ID_PROPERTY, str(event.meeting_id))
    cal.add_component(vevent)
    cal.add_missing_timezones()
    return str(cal.to_ical().decode())


def from_ical(
    data: str | bytes,
    *,
    item_id: str,
    default_zone: str = "UTC",
    far_future: date = FAR_FUTURE,
    account_email: str | None = None,
) -> EventData:
    """``EventData`` for one calendar object resource. Raises ``InvalidData`` (naming ``item_id``)
    for anything malformed, so the caller can skip this one item and go on."""
    try:
        cal = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise InvalidData(f"Unreadable iCalendar data: {exc}", item_id=item_id) from exc
    events = [c for c in cal.walk("VEVENT")]
    masters = [e for e in events if e.get("RECURRENCE-ID") is None]
    if not masters:
        raise InvalidData("No event in this calendar object.", item_id=item_id)
    master = masters[0]
    try:
        return _event_from_vevent(master, cal, item_id, default_zone, far_future, account_email)
    except (RecurrenceParseError, ValueError, KeyError, TypeError) as exc:
        raise InvalidData(f"Unreadable event: {exc}", item_id=item_id) from exc


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


def _event_from_vevent(
    master: Component,
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

    rule = None
    flags: frozenset[Any] = frozenset()
    messages: tuple[str, ...] = ()
    exceptions: tuple[datetime | date, ...] = ()
    if master.get("RRULE") is not None or master.get("RDATE") is not None:
        # An all-day series' UTC UNTIL is read in the calendar's zone (X-WR-TIMEZONE, else ours).
        calendar_tz = calendar_zone(cal, zone)
        translation = from_vevent(master, far_future=far_future, all_day_zone=calendar_tz)
        overrides = caldav_exceptions(cal, default_zone=zone, far_future=far_future)
        translation = with_exceptions(translation, overrides)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(str(m) for m in translation.messages)
        exceptions = tuple(e.original_start for e in overrides)

    attendees = tuple(_attendee(a) for a in _as_list(master.get("ATTENDEE")))
    reminder = _reminder_minutes(master)
    status_text = str(master.get("STATUS", "CONFIRMED")).lower()
    status = (
        EventStatus(status_text)
        if status_text in EventStatus._value2member_map_
        else (EventStatus.CONFIRMED)
    )
    meeting = master.get(MEETING_ID_PROPERTY)
    organizer = master.get("ORGANIZER")
    return EventData(
        uid=uid,
        title=str(master.get("SUMMARY", "")),
        start=start,
        end=end,
        time_zone=zone_name,
        all_day=all_day,
        description=str(master.get("DESCRIPTION", "")),
        location=str(master.get("LOCATION", "")),
        attendees=attendees,
        reminder_minutes=reminder,
        status=status,
        is_organizer=_organised_by(organizer, account_email),
        rule=rule,
        flags=flags,
        messages=messages,
        meeting_id=int(str(meeting)) if meeting is not None and str(meeting).isdigit() else None,
        exceptions=exceptions,
        updated=_last_modified(master),
    )


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


def _attendee(value: Any) -> Attendee:
    email = str(value)
    if email.lower().startswith("mailto:"):
        email = email[7:]
    params = getattr(value, "params", {})
    return Attendee(
        email=email.strip().lower(),
        name=str(params.get("CN", "")),
        response=_PARTSTAT.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "needs-action"),
    )


def _reminder_minutes(master: Component) -> int | None:
    for alarm in master.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None:
            continue
        value = alarm.decoded("TRIGGER")
        if isinstance(value, timedelta):
            return max(0, int(-value.total_seconds() // 60))
    return None
