"""Graph event JSON <-> ``EventData`` (PROTOCOLS.md §2.3, §2.4).

* Times: ``{dateTime, timeZone}`` with 7 fractional digits and no offset. We write the local time
  and the IANA zone name; Graph answers in UTC (no ``Prefer: outlook.timezone``, §2.1) and keeps
  the zone the event was made in as ``originalStartTimeZone`` (IANA or Windows name), which is
  the zone we read the event in. All-day events are midnights with ``isAllDay``.
* Repetition: ``recurrence`` (a ``patternedRecurrence``) only through ``recurrence.to_graph`` /
  ``from_graph``, which always send ``firstDayOfWeek`` (Graph defaults to Sunday, §4.1).
* Our meeting id and our attendee list travel in ``singleValueExtendedProperties`` (§2.4).

No meeting requests: Exchange mails an invitation to every attendee of a meeting its organiser
creates or changes, and Graph v1.0 has no switch to stop it (Google's ``sendUpdates=none`` has no
Graph counterpart). So the events we write never carry ``attendees``: the names go into our own
extended property, are read back from it, and nobody is mailed. Deleting such an event sends no
cancellation either, because there is nobody on it to notify.
"""

from __future__ import annotations

import html
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connectors.errors import InvalidData
from connectors.events import Attendee, EventData, EventStatus
from recurrence import (
    FAR_FUTURE,
    NotExpressibleError,
    RecurrenceParseError,
    RuleError,
    from_graph,
    to_graph,
    with_exceptions,
)

# Our property set: one GUID of our own, names case-sensitive (§2.4).
PROPERTY_SET = "{5d3b2c1e-7f4a-4b8e-9c61-2a0d5e7f9b13}"
MEETING_ID_PROPERTY = f"String {PROPERTY_SET} Name calsyncMeetingId"
ATTENDEES_PROPERTY = f"String {PROPERTY_SET} Name calsyncAttendees"
EXPAND = (
    "singleValueExtendedProperties($filter=id eq '"
    + MEETING_ID_PROPERTY
    + "' or id eq '"
    + ATTENDEES_PROPERTY
    + "')"
)
_RESPONSES = {
    "none": "needs-action",
    "notResponded": "needs-action",
    "organizer": "accepted",
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
}


def graph_time(moment: datetime) -> str:
    """``2026-12-07T09:30:00.0000000``: Graph's 7 fractional digits, no offset (§2.3)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


def to_graph_event(event: EventData) -> dict[str, Any]:
    """The body of POST /events and PATCH /events/{id}. Raises ``InvalidData`` for a rule Outlook
    cannot hold (the message says why)."""
    zone = zoneinfo.ZoneInfo(event.time_zone)
    local_start = event.start.astimezone(zone)
    local_end = event.end.astimezone(zone)
    body: dict[str, Any] = {
        "subject": event.title,
        "body": {"contentType": "text", "content": event.description},
        "location": {"displayName": event.location},
        "isAllDay": event.all_day,
        "showAs": "tentative" if event.status is EventStatus.TENTATIVE else "busy",
        "isReminderOn": event.reminder_minutes is not None,
        "reminderMinutesBeforeStart": event.reminder_minutes or 0,
        # Never attendees: see the module docstring (no meeting requests).
        "singleValueExtendedProperties": [
            {
                "id": ATTENDEES_PROPERTY,
                "value": json.dumps(
                    [[a.email, a.name, a.response] for a in event.attendees],
                    separators=(",", ":"),
                ),
            },
            {
                "id": MEETING_ID_PROPERTY,
                "value": "" if event.meeting_id is None else str(event.meeting_id),
            },
        ],
    }
    series_start: datetime | date
    if event.all_day:
        first, last = local_start.date(), local_end.date()
        body["start"] = {"dateTime": graph_time(datetime.combine(first, time())),
                         "timeZone": event.time_zone}  # fmt: skip
        body["end"] = {"dateTime": graph_time(datetime.combine(last, time())),
                       "timeZone": event.time_zone}  # fmt: skip
        series_start = first
    else:
        body["start"] = {"dateTime": graph_time(local_start.replace(tzinfo=None)),
                         "timeZone": event.time_zone}  # fmt: skip
        body["end"] = {"dateTime": graph_time(local_end.replace(tzinfo=None)),
                       "timeZone": event.time_zone}  # fmt: skip
        series_start = local_start
    if event.rule is not None:
        try:
            body["recurrence"] = to_graph(event.rule, series_start)
        except NotExpressibleError as exc:
            raise InvalidData(str(exc)) from exc
        except RuleError as exc:
            raise InvalidData(f"The repetition cannot be written to Outlook: {exc}") from exc
    else:
        body["recurrence"] = None
    return body


def zone_name(raw: object, default_zone: str) -> str:
    """An IANA name for Graph's zone (IANA or Windows, §2.3); ``default_zone`` when unknown.

    A Windows name stands for a set of IANA zones (``W. Europe Standard Time`` is Amsterdam,
    Berlin, Rome...): when ``default_zone`` (the user's) keeps the same clock as the Windows
    name's zone over the coming years, the user's zone is the better reading."""
    if isinstance(raw, str) and raw:
        for candidate in (raw, WINDOWS_TO_OLSON.get(raw)):
            if not candidate:
                continue
            try:
                zoneinfo.ZoneInfo(candidate)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
            if candidate != raw and _same_clock(candidate, default_zone, datetime.now(UTC).date()):
                return default_zone
            return "UTC" if candidate in ("Etc/UTC", "Etc/GMT") else candidate
    return default_zone


@lru_cache(maxsize=512)
def _same_clock(first: str, second: str, today: date) -> bool:
    """Whether two zones give the same UTC offset at every hour sampled over three years from
    ``today`` (a sample every 6 days catches each DST change within a week); cached per day."""
    try:
        a, b = zoneinfo.ZoneInfo(first), zoneinfo.ZoneInfo(second)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    moment = datetime.combine(today, time(), tzinfo=UTC)
    for step in range(0, 3 * 365, 6):
        at = moment + timedelta(days=step)
        if at.astimezone(a).utcoffset() != at.astimezone(b).utcoffset():
            return False
    return True


def parse_graph_time(value: Mapping[str, Any]) -> datetime:
    """An aware datetime from a dateTimeTimeZone object (7 fractional digits allowed)."""
    raw = str(value["dateTime"]).rstrip("Z")
    head, _, frac = raw.partition(".")
    moment = datetime.fromisoformat(head)
    if frac:
        moment = moment.replace(microsecond=int(frac[:6].ljust(6, "0")))
    zone = zone_name(value.get("timeZone"), "UTC")
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(zone) if zone != "UTC" else UTC)


def extended(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(p.get("id")): str(p.get("value", ""))
        for p in item.get("singleValueExtendedProperties") or []
        if isinstance(p, Mapping)
    }


def _text(body: object) -> str:
    if not isinstance(body, Mapping):
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() != "html":
        return content
    content = re.sub(r"(?is)<(script|style|head).*?</\1>", "", content)
    content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
    return html.unescape(re.sub(r"<[^>]+>", "", content)).strip()


def _attendees(item: Mapping[str, Any], props: Mapping[str, str]) -> tuple[Attendee, ...]:
    ours = props.get(ATTENDEES_PROPERTY)
    if ours:
        return tuple(Attendee(str(e), str(n), str(r)) for e, n, r in json.loads(ours))
    out = []
    for attendee in item.get("attendees") or []:
        address = (attendee.get("emailAddress") or {}).get("address")
        if not address or attendee.get("type") == "resource":
            continue
        response = str((attendee.get("status") or {}).get("response", "none"))
        out.append(
            Attendee(
                email=str(address).lower(),
                name=str((attendee.get("emailAddress") or {}).get("name") or ""),
                response=_RESPONSES.get(response, "needs-action"),
            )
        )
    return tuple(out)


def from_graph_event(
    item: Mapping[str, Any],
    *,
    exceptions: Iterable[datetime | date] = (),
    default_zone: str = "UTC",
    far_future: date = FAR_FUTURE,
) -> EventData:
    """``EventData`` for a single event or a series master (``exceptions``: original starts of
    its moved, edited or deleted occurrences). Raises ``InvalidData`` naming the event."""
    try:
        return _from_graph(item, tuple(exceptions), default_zone, far_future)
    except (
        KeyError,
        ValueError,
        TypeError,
        RecurrenceParseError,
        zoneinfo.ZoneInfoNotFoundError,
    ) as exc:
        raise InvalidData(f"Unreadable Outlook event: {exc}", item_id=str(item.get("id"))) from exc


def _from_graph(
    item: Mapping[str, Any],
    exceptions: tuple[datetime | date, ...],
    default_zone: str,
    far_future: date,
) -> EventData:
    zone = zone_name(item.get("originalStartTimeZone"), default_zone)
    tz = zoneinfo.ZoneInfo(zone)
    all_day = bool(item.get("isAllDay"))
    if all_day:
        # All-day times are dates at midnight, whatever zone label they carry.
        first = date.fromisoformat(str(item["start"]["dateTime"])[:10])
        last = date.fromisoformat(str(item["end"]["dateTime"])[:10])
        start = datetime.combine(first, time(), tzinfo=tz)
        end = datetime.combine(last, time(), tzinfo=tz)
    else:
        start = parse_graph_time(item["start"]).astimezone(tz)
        end = parse_graph_time(item["end"]).astimezone(tz)
    rule = None
    flags: frozenset[Any] = frozenset()
    messages: tuple[str, ...] = ()
    recurrence = item.get("recurrence")
    if recurrence:
        series_start: datetime | date = start.date() if all_day else start
        translation = from_graph(recurrence, series_start, far_future=far_future, all_day_zone=tz)
        translation = with_exceptions(translation, exceptions)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(str(m) for m in translation.messages)
    props = extended(item)
    meeting_id = props.get(MEETING_ID_PROPERTY, "")
    if item.get("isCancelled"):
        status = EventStatus.CANCELLED
    elif item.get("showAs") == "tentative":
        status = EventStatus.TENTATIVE
    else:
        status = EventStatus.CONFIRMED
    return EventData(
        # iCalUId differs per occurrence (§2.3): fine for a single event or a master.
        uid=str(item.get("iCalUId") or item.get("id", "")),
        title=str(item.get("subject") or ""),
        start=start,
        end=end,
        time_zone=zone,
        all_day=all_day,
        description=_text(item.get("body")),
        location=str((item.get("location") or {}).get("displayName") or ""),
        attendees=_attendees(item, props),
        reminder_minutes=(
            int(item.get("reminderMinutesBeforeStart") or 0) if item.get("isReminderOn") else None
        ),
        status=status,
        is_organizer=bool(item.get("isOrganizer", True)),
        rule=rule,
        flags=flags,
        messages=messages,
        meeting_id=int(meeting_id) if meeting_id.isdigit() else None,
        exceptions=tuple(sorted(exceptions, key=_sort_key)) if recurrence else (),
        updated=_instant(item.get("lastModifiedDateTime")),
    )


def _instant(value: object) -> datetime | None:
    """A Graph DateTimeOffset (``2026-12-07T08:30:00.1234567Z``, 7 fractional digits)."""
    if not isinstance(value, str) or not value:
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(head)
    except ValueError:
        return None
    if frac.isdigit():
        moment = moment.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sort_key(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=UTC)
