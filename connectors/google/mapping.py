"""Google Calendar event JSON <-> ``EventData`` (PROTOCOLS.md §1.6).

* Times: ``{dateTime, timeZone}`` for timed events (the zone is the expansion zone of a series,
  and required for one), ``{date}`` for all-day events with an exclusive end date.
* Repetition: ``recurrence`` lines through ``recurrence.to_rrule`` / ``from_rrule``; exception
  instances (``recurringEventId`` + ``originalStartTime``) come in as their own items and are
  attached to their series here (PRODUCT 21).
* Our meeting id travels in ``extendedProperties.private`` under a key shorter than 44 characters
  (longer keys are silently dropped, §1.6).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from connectors.errors import InvalidData
from connectors.events import Attendee, EventData, EventStatus
from recurrence import (
    FAR_FUTURE,
    RecurrenceParseError,
    from_rrule,
    google_exception,
    to_rrule,
    with_exceptions,
)

MEETING_ID_KEY = "calsyncMeetingId"
_RESPONSES = {
    "needsAction": "needs-action",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
}


def to_google(event: EventData) -> dict[str, Any]:
    """The request body for events.insert / events.update."""
    zone = zoneinfo.ZoneInfo(event.time_zone)
    body: dict[str, Any] = {
        "summary": event.title,
        "description": event.description,
        "location": event.location,
        "status": event.status.value,
    }
    if event.all_day:
        first = event.start.astimezone(zone).date()
        body["start"] = {"date": first.isoformat()}
        body["end"] = {"date": event.end.astimezone(zone).date().isoformat()}
        series_start: datetime | date = first
    else:
        local_start = event.start.astimezone(zone)
        body["start"] = {"dateTime": local_start.isoformat(), "timeZone": event.time_zone}
        body["end"] = {
            "dateTime": event.end.astimezone(zone).isoformat(),
            "timeZone": event.time_zone,
        }
        series_start = local_start
    if event.rule is not None:
        body["recurrence"] = to_rrule(event.rule, series_start)
    body["attendees"] = [
        {
            "email": a.email,
            **({"displayName": a.name} if a.name else {}),
            "responseStatus": next(
                (k for k, v in _RESPONSES.items() if v == a.response), "needsAction"
            ),
        }
        for a in event.attendees
    ]
    body["reminders"] = {
        "useDefault": False,
        "overrides": (
            [{"method": "popup", "minutes": min(event.reminder_minutes, 40320)}]
            if event.reminder_minutes is not None
            else []
        ),
    }
    if event.meeting_id is not None:
        body["extendedProperties"] = {"private": {MEETING_ID_KEY: str(event.meeting_id)}}
    return body


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
) -> EventData:
    """``EventData`` for a single event or a series master with its exception instances.
    Raises ``InvalidData`` naming the event for anything malformed."""
    event_id = str(item.get("id", ""))
    try:
        return _from_google(item, exceptions, default_zone, far_future)
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
) -> EventData:
    start, zone_name, all_day = _parse_time(item["start"], default_zone)
    end, _, _ = _parse_time(item["end"], zone_name)
    rule = None
    flags: frozenset[Any] = frozenset()
    messages: tuple[str, ...] = ()
    exception_starts: tuple[datetime | date, ...] = ()
    lines = item.get("recurrence") or []
    if lines:
        series_start: datetime | date = start.date() if all_day else start
        translation = from_rrule(list(lines), series_start, far_future=far_future)
        found = [e for e in (google_exception(x) for x in exceptions) if e is not None]
        translation = with_exceptions(translation, found)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(str(m) for m in translation.messages)
        exception_starts = tuple(e.original_start for e in found)
    reminders = item.get("reminders") or {}
    overrides = reminders.get("overrides") or []
    reminder = min((int(o["minutes"]) for o in overrides), default=None)
    organizer = item.get("organizer") or {}
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
        # Without an organizer block the event is the calendar's own.
        is_organizer=bool(organizer.get("self", True)),
        rule=rule,
        flags=flags,
        messages=messages,
        meeting_id=int(str(meeting_id)) if str(meeting_id or "").isdigit() else None,
        exceptions=exception_starts,
        updated=_instant(item.get("updated")),
    )


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
