"""Graph event JSON <-> ``EventData`` (PROTOCOLS.md §2.3, §2.4).

* Times: ``{dateTime, timeZone}`` with 7 fractional digits and no offset. We write the local time
  and a **Windows** zone name (``connectors.microsoft.zones``: Graph refuses most IANA names),
  and keep the IANA zone in our own extended property; Graph answers in UTC (no
  ``Prefer: outlook.timezone``, §2.1) and keeps the zone the event was made in as
  ``originalStartTimeZone``, which (with our property) is the zone we read the event in.
  All-day events are midnights with ``isAllDay``.
* Repetition: ``recurrence`` (a ``patternedRecurrence``) only through ``recurrence.to_graph`` /
  ``from_graph``, which always send ``firstDayOfWeek`` (Graph defaults to Sunday, §4.1);
  ``recurrenceTimeZone`` is the same Windows name as the start's.
* Our meeting id, our attendee list and our zone travel in ``singleValueExtendedProperties``
  (§2.4).
* An update (:func:`to_graph_patch`) is a PATCH of the named fields whose value differs from the
  provider's copy as we read it, so everything else stays as it is (issue 12 §3): an HTML body
  we did not change is never rewritten as text, a location we did not change keeps its
  ``locations`` and address, a series whose rule and times we did not change keeps its
  exceptions (Outlook drops them when either is written), and ``showAs`` (free, oof,
  workingElsewhere) is written only when the status changed (:func:`show_as`).

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
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.errors import InvalidData
from connectors.events import ALL_FIELDS, TIME_FIELDS, Attendee, EventData, EventStatus
from connectors.microsoft.zones import UTC_NAME, iana_zone, read_zone, same_clock, windows_name
from recurrence import (
    FAR_FUTURE,
    NotExpressibleError,
    RecurrenceParseError,
    RuleError,
    Suggestion,
    Text,
    from_graph,
    gettext_noop,
    to_graph,
    with_exceptions,
)

# Our property set: one GUID of our own, names case-sensitive (§2.4).
PROPERTY_SET = "{5d3b2c1e-7f4a-4b8e-9c61-2a0d5e7f9b13}"
MEETING_ID_PROPERTY = f"String {PROPERTY_SET} Name calsyncMeetingId"
ATTENDEES_PROPERTY = f"String {PROPERTY_SET} Name calsyncAttendees"
# The IANA zone we wrote the times in (Graph holds only a Windows name, see zones.py).
TIME_ZONE_PROPERTY = f"String {PROPERTY_SET} Name calsyncTimeZone"
# The meeting's version the copy was written from (``EventData.meeting_version``).
MEETING_VERSION_PROPERTY = f"String {PROPERTY_SET} Name calsyncMeetingVersion"
EXPAND = (
    "singleValueExtendedProperties($filter="
    + " or ".join(f"id eq '{p}'" for p in (MEETING_ID_PROPERTY, ATTENDEES_PROPERTY,
                                            TIME_ZONE_PROPERTY, MEETING_VERSION_PROPERTY))
    + ")"
)  # fmt: skip
# Graph's error code for a zone name it does not take (zones.py).
ZONE_REFUSED = "TimeZoneNotSupportedException"
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


def graph_zone(event: EventData, *, avoid: frozenset[str] = frozenset()) -> str:
    """The zone name to write ``event``'s times in: its Windows zone (``zones.windows_name``;
    ``avoid``: names Graph refused). A zone no Windows zone matches is written in UTC, which
    keeps the instants of a one-off event and the dates of an all-day one; a timed series there
    would move by an hour twice a year, so it is refused (``InvalidData``)."""
    name = windows_name(event.time_zone, avoid=avoid)
    if name is not None:
        return name
    if event.rule is not None and not event.all_day:
        raise InvalidData(
            f"Outlook has no time zone that keeps the clock of {event.time_zone}, so this "
            "repeating meeting was not written to Outlook (its times would move by an hour "
            "twice a year). Tip: give the meeting another time zone.",
            text=Text.of(
                gettext_noop(
                    "Outlook has no time zone that keeps the clock of %(zone)s, so this "
                    "repeating meeting was not written to Outlook (its times would move by an "
                    "hour twice a year). Tip: give the meeting another time zone."
                ),
                zone=event.time_zone,
            ),
        )
    return UTC_NAME


def _times(event: EventData, zone_name: str) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(event.time_zone)
    if event.all_day:
        first, last = event.start.astimezone(zone).date(), event.end.astimezone(zone).date()
        start, end = datetime.combine(first, time()), datetime.combine(last, time())
    else:
        # The local times of the event's zone; in UTC when no Windows zone has its clock.
        local = UTC if zone_name == UTC_NAME and not same_clock(event.time_zone, "UTC") else zone
        start = event.start.astimezone(local).replace(tzinfo=None)
        end = event.end.astimezone(local).replace(tzinfo=None)
    return {
        "start": {"dateTime": graph_time(start), "timeZone": zone_name},
        "end": {"dateTime": graph_time(end), "timeZone": zone_name},
        "isAllDay": event.all_day,
    }


def _recurrence(event: EventData, zone_name: str) -> dict[str, Any] | None:
    """``recurrence`` for ``event`` (None for a single event), ``recurrenceTimeZone`` in the
    start's zone name. Raises ``InvalidData`` for a rule Outlook cannot hold."""
    if event.rule is None:
        return None
    zone = zoneinfo.ZoneInfo(event.time_zone)
    series_start: datetime | date = (
        event.start.astimezone(zone).date() if event.all_day else event.start.astimezone(zone)
    )
    try:
        recurrence = to_graph(event.rule, series_start)
    except NotExpressibleError as exc:
        raise InvalidData(str(exc), text=exc.text) from exc
    except RuleError as exc:
        raise InvalidData(f"The repetition cannot be written to Outlook: {exc}") from exc
    if "recurrenceTimeZone" in recurrence["range"]:
        recurrence["range"]["recurrenceTimeZone"] = zone_name
    return recurrence


def show_as(status: EventStatus, current: object) -> str | None:
    """The ``showAs`` to write for a status that changed, or None to keep the current one.

    Graph has one free/busy field where we have a status: we read ``tentative`` as tentative and
    every other value (busy, free, oof, workingElsewhere, unknown) as confirmed, so a confirmed
    meeting keeps whatever its ``showAs`` says unless it was ``tentative`` (then ``busy``, the
    default of a meeting). A tentative one is ``tentative`` whatever it was, so that it reads
    back as tentative. Cancelled: ``isCancelled`` is set only by the organiser's ``cancel``
    action, which mails the attendees, so we write nothing for it."""
    if status is EventStatus.TENTATIVE:
        return None if current == "tentative" else "tentative"
    if status is EventStatus.CONFIRMED:
        return "busy" if current == "tentative" else None
    return None


def _property(pid: str, value: str) -> dict[str, str]:
    return {"id": pid, "value": value}


def _attendees_value(event: EventData) -> str:
    return json.dumps([[a.email, a.name, a.response] for a in event.attendees],
                      separators=(",", ":"))  # fmt: skip


def to_graph_event(event: EventData, *, avoid: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The body of POST /events: every field. Raises ``InvalidData`` for a rule or zone Outlook
    cannot hold (the message says why)."""
    zone_name = graph_zone(event, avoid=avoid)
    body: dict[str, Any] = {
        "subject": event.title,
        "body": {"contentType": "text", "content": event.description},
        "location": {"displayName": event.location},
        **_times(event, zone_name),
        "showAs": "tentative" if event.status is EventStatus.TENTATIVE else "busy",
        "isReminderOn": event.reminder_minutes is not None,
        "reminderMinutesBeforeStart": event.reminder_minutes or 0,
        "recurrence": _recurrence(event, zone_name),
        # Never attendees: see the module docstring (no meeting requests).
        "singleValueExtendedProperties": [
            _property(ATTENDEES_PROPERTY, _attendees_value(event)),
            _property(
                MEETING_ID_PROPERTY, "" if event.meeting_id is None else str(event.meeting_id)
            ),
            _property(TIME_ZONE_PROPERTY, event.time_zone),
            _property(MEETING_VERSION_PROPERTY, _version(event)),
        ],
    }
    return body


def _version(event: EventData) -> str:
    return "" if event.meeting_version is None else str(event.meeting_version)


def to_graph_patch(
    event: EventData,
    current: Mapping[str, Any],
    *,
    fields: Collection[str] = ALL_FIELDS,
    default_zone: str = UTC_NAME,
    avoid: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The body of PATCH /events/{id}: the ``fields`` of ``event`` whose value differs from
    ``current`` (the provider's copy, read as ``from_graph_event`` reads it), plus our meeting
    id when it is set and not there yet. Empty when nothing is to be written. ``current``
    unreadable: every named field is written. Raises ``InvalidData`` as ``to_graph_event``.

    Naming any of ``TIME_FIELDS`` writes all four, and the recurrence of a series with them
    (Graph wants ``range.startDate`` to be the start's date, §2.3)."""
    named = set(fields)
    if named & TIME_FIELDS:
        named |= TIME_FIELDS
    try:
        was: EventData | None = from_graph_event(current, default_zone=default_zone)
    except InvalidData:
        was = None

    def changed(*names: str) -> bool:
        return was is None or any(getattr(was, n) != getattr(event, n) for n in names)

    body: dict[str, Any] = {}
    props: list[dict[str, str]] = []
    if "title" in named and changed("title"):
        body["subject"] = event.title
    if "description" in named and changed("description"):
        body["body"] = {"contentType": "text", "content": event.description}
    if "location" in named and changed("location"):
        # Writing ``location`` also replaces ``locations`` (Graph's event reference): only when
        # it changed.
        body["location"] = {"displayName": event.location}
    times = bool(named & TIME_FIELDS) and changed("start", "end", "time_zone", "all_day")
    rule = "rule" in named and changed("rule")
    if times or rule:
        zone_name = graph_zone(event, avoid=avoid)
        if times:
            body.update(_times(event, zone_name))
            props.append(_property(TIME_ZONE_PROPERTY, event.time_zone))
        if rule or event.rule is not None:
            body["recurrence"] = _recurrence(event, zone_name)
    if "reminder" in named and changed("reminder_minutes"):
        body["isReminderOn"] = event.reminder_minutes is not None
        if event.reminder_minutes is not None:
            body["reminderMinutesBeforeStart"] = event.reminder_minutes
    if "attendees" in named and changed("attendees"):
        props.append(_property(ATTENDEES_PROPERTY, _attendees_value(event)))
    if "status" in named and changed("status"):
        value = show_as(event.status, current.get("showAs"))
        if value is not None:
            body["showAs"] = value
    if event.meeting_id is not None and (
        extended(current).get(MEETING_ID_PROPERTY) != str(event.meeting_id)
    ):
        props.append(_property(MEETING_ID_PROPERTY, str(event.meeting_id)))
    if (body or props) and extended(current).get(MEETING_VERSION_PROPERTY, "") != _version(event):
        # With a write only: the version alone is no reason to write.
        props.append(_property(MEETING_VERSION_PROPERTY, _version(event)))
    if props:
        body["singleValueExtendedProperties"] = props
    return body


def parse_graph_time(value: Mapping[str, Any]) -> datetime:
    """An aware datetime from a dateTimeTimeZone object (7 fractional digits allowed)."""
    raw = str(value["dateTime"]).rstrip("Z")
    head, _, frac = raw.partition(".")
    moment = datetime.fromisoformat(head)
    if frac:
        moment = moment.replace(microsecond=int(frac[:6].ljust(6, "0")))
    zone = iana_zone(value.get("timeZone")) or UTC_NAME
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(zone) if zone != UTC_NAME else UTC)


def readable_recurrence(recurrence: object, zone: str) -> Any:
    """``recurrence`` with its ``recurrenceTimeZone`` as an IANA name for ``recurrence`` to read:
    ``zone`` (the event's) when the Windows name keeps its clock, else that name's CLDR zone."""
    if not isinstance(recurrence, Mapping) or not isinstance(recurrence.get("range"), Mapping):
        return recurrence
    raw = recurrence["range"].get("recurrenceTimeZone")
    if not raw:
        return recurrence
    found = iana_zone(raw)
    name = zone if found is not None and same_clock(zone, found) else found
    return {**recurrence, "range": {**recurrence["range"], "recurrenceTimeZone": name}}


def extended(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(p.get("id")): str(p.get("value", ""))
        for p in item.get("singleValueExtendedProperties") or []
        if isinstance(p, Mapping)
    }


def _text(body: object) -> str:
    if not isinstance(body, Mapping):
        return ""
    # Exchange's text (and text converted from HTML) ends lines with CRLF.
    content = str(body.get("content") or "").replace("\r\n", "\n")
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
    props = extended(item)
    zone = read_zone(
        item.get("originalStartTimeZone"),
        ours=props.get(TIME_ZONE_PROPERTY) or None,
        default_zone=default_zone,
    )
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
    suggestions: tuple[Suggestion, ...] = ()
    recurrence = readable_recurrence(item.get("recurrence"), zone)
    if recurrence:
        series_start: datetime | date = start.date() if all_day else start
        translation = from_graph(recurrence, series_start, far_future=far_future, all_day_zone=tz)
        translation = with_exceptions(translation, exceptions)
        rule, flags = translation.rule, frozenset(translation.flags)
        messages = tuple(translation.messages)  # each Message knows its flag
        suggestions = translation.suggestions  # the one-click conversions (PRODUCT 21)
        exceptions = translation.exceptions  # the real ones only (issue 13)
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
        suggestions=suggestions,
        meeting_id=int(meeting_id) if meeting_id.isdigit() else None,
        meeting_version=(
            int(props[MEETING_VERSION_PROPERTY])
            if props.get(MEETING_VERSION_PROPERTY, "").isdigit()
            else None
        ),
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
