"""The field rules between a meeting and an external event (PRODUCT 9-16), and the normalised
snapshot both sides are compared in.

A snapshot holds exactly what syncs, in one canonical form, so that "the same content" compares
equal whichever side it was read from: times in UTC (all-day events as local dates), reminders
rounded to the internal choices, attendees as sorted addresses, a repetition's end as the date of
its last occurrence (providers give that back, not the date the user typed). *Visible for all
users* is not in it (PRODUCT 12); nor is the client of an appointment.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from accounts.models import Role, User
from agenda.models import Client, Meeting, MeetingKind, MeetingStatus, Resource, nearest_reminder
from agenda.services import MeetingData
from connectors.events import EVENT_FIELDS, TIME_FIELDS, Attendee, EventData, EventStatus
from recurrence import Frequency, Rule, Weekday

Snapshot = dict[str, Any]
# The connectors' field vocabulary is the snapshot's (``Connector.update(fields=...)``).
SYNCED_FIELDS = EVENT_FIELDS
# Fields an outside change may set on a client appointment (PRODUCT 15): its time, and its
# cancellation (a deletion). The rest of a client appointment stays the practice's.
CLIENT_APPOINTMENT_FIELDS = frozenset({"start", "end", "time_zone", "all_day"})
RESOURCE_SEPARATOR = "; "
# What a meeting without a title is called here (the agenda requires one), and the shortest
# meeting it holds (an event that ends when it starts becomes one).
NO_TITLE = "(no title)"
SHORTEST = timedelta(minutes=1)
# The tenant's resources by lower-cased name, for reading them out of a location (PRODUCT 11).
ResourceNames = Mapping[str, str]


def resource_names(owner: User) -> dict[str, str]:
    """The owner's practice's resource names, lower-cased to the name as written (one query)."""
    names = Resource.objects.filter(tenant=owner.tenant).values_list("name", flat=True)
    return {name.lower(): name for name in names}


def split_location(text: str, names: ResourceNames) -> tuple[str, list[str]]:
    """A location's free text and the tenant resources it names (in the order named). Text that
    names no resource is kept exactly as written (a value we read must give back the same text);
    otherwise the free parts are the text around the resources' names."""
    parts = [part.strip() for part in text.split(";")]
    named = [names[part.lower()] for part in parts if part.lower() in names]
    if not named:
        return text.strip(), []
    free = RESOURCE_SEPARATOR.join(p for p in parts if p and p.lower() not in names)
    return free, list(dict.fromkeys(named))


def _lines(text: str) -> str:
    """Text with its line breaks as LF: browsers send CRLF from a textarea, iCalendar cannot hold
    a CR and gives LF back, Google keeps what it was given. The same text either way."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def canonical_location(text: str, names: ResourceNames) -> str:
    """The location as both sides compare it: free text first, then the resources sorted, as a
    meeting writes it out. ``Room Blue; Building A`` (Room Blue a resource) read from a provider
    and ``Building A; Room Blue`` written by a meeting are the same location, so neither side
    is taken for an edit of the other (no echo, QUALITY I6)."""
    free, named = split_location(text, names)
    return RESOURCE_SEPARATOR.join([*([free] if free else []), *sorted(named)])


def _rule_snapshot(rule: Rule | None, start: datetime) -> dict[str, Any] | None:
    """The rule with its end as the date of its last occurrence (``start`` is the local start of
    the first occurrence)."""
    if rule is None:
        return None
    last = rule.last_date(start.date())  # closed form: never walks the series
    return {
        "frequency": rule.frequency.value,
        "interval": rule.interval,
        "weekdays": sorted(int(d) for d in rule.weekdays),
        "month_day": rule.month_day,
        "nth": rule.nth,
        "nth_weekday": None if rule.nth_weekday is None else int(rule.nth_weekday),
        "until": (last or rule.until).isoformat(),
    }


def _times(start: datetime, end: datetime, zone: str, all_day: bool) -> dict[str, Any]:
    if all_day:
        tz = ZoneInfo(zone)
        return {
            "start": start.astimezone(tz).date().isoformat(),
            "end": end.astimezone(tz).date().isoformat(),
            # An all-day event has no zone of its own on most providers.
            "time_zone": "",
            "all_day": True,
        }
    return {
        "start": start.astimezone(ZoneInfo("UTC")).replace(microsecond=0).isoformat(),
        "end": end.astimezone(ZoneInfo("UTC")).replace(microsecond=0).isoformat(),
        "time_zone": zone,
        "all_day": False,
    }


def meeting_location(meeting: Meeting, resources: list[Resource]) -> str:
    """PRODUCT 11: resources go into the external location together with the free text."""
    parts = [meeting.location.strip()] if meeting.location.strip() else []
    parts += [r.name for r in sorted(resources, key=lambda r: r.name)]
    return RESOURCE_SEPARATOR.join(parts)


def meeting_attendees(meeting: Meeting, users: list[User]) -> list[str]:
    return sorted({u.email.lower() for u in users} | {a.lower() for a in meeting.other_attendees})


def snapshot_of_meeting(
    meeting: Meeting,
    resources: list[Resource],
    attendees: list[User],
    *,
    resource_names: ResourceNames | None = None,
) -> Snapshot:
    """The snapshot of a meeting; ``resource_names``: the tenant's resources (by default the
    meeting's own), so that a location is compared in one form on both sides."""
    names = (
        resource_names
        if resource_names is not None
        else {r.name.lower(): r.name for r in resources}
    )
    local_start = meeting.start.astimezone(ZoneInfo(meeting.time_zone))
    return {
        "title": meeting.title,
        "description": _lines(meeting.description),
        "location": canonical_location(meeting_location(meeting, resources), names),
        **_times(meeting.start, meeting.end, meeting.time_zone, meeting.all_day),
        "rule": _rule_snapshot(meeting.rule, local_start),
        "reminder": meeting.reminder_minutes,
        "attendees": meeting_attendees(meeting, attendees),
        "status": meeting.status,
    }


def snapshot_of_event(
    event: EventData,
    *,
    ignore: frozenset[str] = frozenset(),
    resource_names: ResourceNames | None = None,
) -> Snapshot:
    """The snapshot of an external event; ``ignore``: addresses that are not attendees here (the
    linked account itself, the meeting's owner); ``resource_names``: the tenant's resources.

    What the practice calendar would make of the event is what it is compared as, so importing
    it changes nothing that a later run would take for an edit here and write back (QUALITY I6):
    a title without the spaces around it (the agenda strips them), an empty one as the agenda's
    "(no title)", an end that is not after the start (a moment, RFC 5545 §3.6.1) as the agenda's
    shortest meeting."""
    local_start = event.start.astimezone(ZoneInfo(event.time_zone))
    end = event.end
    if end <= event.start:
        end = event.start + (timedelta(days=1) if event.all_day else SHORTEST)
    return {
        "title": event.title.strip() or NO_TITLE,
        "description": _lines(event.description),
        "location": canonical_location(event.location, resource_names or {}),
        **_times(event.start, end, event.time_zone, event.all_day),
        "rule": _rule_snapshot(event.rule, local_start),
        "reminder": None
        if event.reminder_minutes is None
        else nearest_reminder(event.reminder_minutes),
        "attendees": sorted({a.email.lower() for a in event.attendees} - ignore),
        "status": "tentative" if event.status == EventStatus.TENTATIVE else "confirmed",
    }


def event_from_snapshot(
    snap: Snapshot, *, meeting_id: int, meeting_version: int | None = None, uid: str = ""
) -> EventData:
    """The ``EventData`` to write for a snapshot (a meeting's, or a merge's); ``meeting_version``
    when the snapshot is the meeting's at that change number."""
    all_day = bool(snap["all_day"])
    zone = snap["time_zone"] or "UTC"
    if all_day:
        start = datetime.combine(date.fromisoformat(snap["start"]), time(), tzinfo=ZoneInfo(zone))
        end = datetime.combine(date.fromisoformat(snap["end"]), time(), tzinfo=ZoneInfo(zone))
    else:
        start = datetime.fromisoformat(snap["start"]).astimezone(ZoneInfo(zone))
        end = datetime.fromisoformat(snap["end"]).astimezone(ZoneInfo(zone))
    return EventData(
        uid=uid,
        title=snap["title"],
        start=start,
        end=end,
        time_zone=zone,
        all_day=all_day,
        description=snap["description"],
        location=snap["location"],
        attendees=tuple(Attendee(email) for email in snap["attendees"]),
        reminder_minutes=snap["reminder"],
        status=EventStatus.TENTATIVE if snap["status"] == "tentative" else EventStatus.CONFIRMED,
        rule=rule_from_snapshot(snap["rule"]),
        meeting_id=meeting_id,
        meeting_version=meeting_version,
    )


def rule_from_snapshot(value: dict[str, Any] | None) -> Rule | None:
    if value is None:
        return None
    return Rule(
        Frequency(value["frequency"]),
        until=date.fromisoformat(value["until"]),
        interval=int(value["interval"]),
        weekdays=frozenset(Weekday(d) for d in value["weekdays"]),
        month_day=value["month_day"],
        nth=value["nth"],
        nth_weekday=None if value["nth_weekday"] is None else Weekday(value["nth_weekday"]),
    )


@dataclass(frozen=True)
class Directory:
    """The tenant's people and resources, to map addresses and location parts back (PRODUCT 10,
    11). Built once per run: a constant number of queries whatever the calendar's size."""

    owner: User
    staff_by_email: dict[str, User]
    resources_by_name: dict[str, Resource]
    default_zone: str

    @property
    def resource_names(self) -> dict[str, str]:
        return {key: resource.name for key, resource in self.resources_by_name.items()}

    @classmethod
    def for_owner(cls, owner: User) -> Directory:
        staff = User.objects.filter(tenant=owner.tenant, role=Role.STAFF, is_active=True)
        return cls(
            owner=owner,
            staff_by_email={u.email.lower(): u for u in staff if u.pk != owner.pk},
            resources_by_name={
                r.name.lower(): r for r in Resource.objects.filter(tenant=owner.tenant)
            },
            default_zone=owner.time_zone,
        )


def meeting_data_from_snapshot(
    snap: Snapshot,
    directory: Directory,
    *,
    base: Meeting | None = None,
) -> MeetingData:
    """``MeetingData`` for a meeting that takes ``snap``'s content. Fields outside the snapshot
    (kind, client, visible-for-all) come from ``base``; a new meeting from outside is personal
    (PRODUCT 15)."""
    event = event_from_snapshot(snap, meeting_id=0)
    free_text, named = split_location(snap["location"], directory.resource_names)
    resources = tuple(directory.resources_by_name[name.lower()] for name in named)
    users = tuple(
        directory.staff_by_email[e] for e in snap["attendees"] if e in directory.staff_by_email
    )
    others = tuple(
        e
        for e in snap["attendees"]
        if e not in directory.staff_by_email and e != directory.owner.email.lower()
    )
    zone = snap["time_zone"] or (base.time_zone if base else directory.default_zone)
    start, end = event.start, event.end
    if event.all_day:
        start = datetime.combine(start.date(), time(), tzinfo=ZoneInfo(zone))
        end = datetime.combine(end.date(), time(), tzinfo=ZoneInfo(zone))
    return MeetingData(
        title=snap["title"].strip() or NO_TITLE,
        start=start,
        end=end if end > start else start + SHORTEST,
        time_zone=zone,
        all_day=event.all_day,
        kind=base.kind if base else MeetingKind.PERSONAL,
        client=_client_of(base),
        description=snap["description"],
        location=free_text,
        status=MeetingStatus.TENTATIVE
        if snap["status"] == "tentative"
        else MeetingStatus.CONFIRMED,
        resources=resources,
        attendees=users,
        other_attendees=others,
        reminder_minutes=snap["reminder"],
        visible_for_all=base.visible_for_all if base else False,
        rule=event.rule,
    )


def _client_of(base: Meeting | None) -> Client | None:
    return base.client if base is not None else None


# -- privacy levels (issue 16 §1, PRODUCT 37) --------------------------------------------------
#
# What a meeting's outside copy holds is decided here, per link and per kind of meeting, never in
# the connectors: they write whatever ``EventData`` they are given. The planner compares and
# merges the *redaction* of a meeting (what goes out) with the mapping's base (what the copy held
# last time), so a redacted field coming back (the neutral title, an empty description) is the
# base and never an edit that blanks the meeting here. An outside change is read back only in the
# fields the level sends as they are (``readable_fields``): the neutral title of a busy copy is
# not, and neither is a field the level leaves out; the times, the repetition and a cancellation
# always are (PRODUCT 15). What an outside edit put into a field that is not read back is written
# back to the redaction, so the copy converges to "the redaction of the meeting".


class Level(enum.StrEnum):
    FULL = "full"
    TITLE = "title"  # title and time: no description, attendees or location
    BUSY = "busy"  # the practice's neutral title and the time, nothing else


# Looser to stricter: staff may choose a level at least as strict as the practice allows.
STRICTNESS = {Level.FULL: 0, Level.TITLE: 1, Level.BUSY: 2}


class Kind(enum.StrEnum):
    """The kinds of meeting a level is set for."""

    CLIENT = "client"  # a client appointment: a meeting with a client
    OTHER = "other"  # any other appointment
    PERSONAL = "personal"


def kind_of(meeting: Meeting) -> Kind:
    if meeting.client_id is not None:
        return Kind.CLIENT
    return Kind.PERSONAL if meeting.kind == MeetingKind.PERSONAL else Kind.OTHER


_TIMING = TIME_FIELDS | {"rule"}
# The fields each level sends as the meeting holds them.
SENT_FIELDS: dict[Level, frozenset[str]] = {
    Level.FULL: frozenset(EVENT_FIELDS),
    Level.TITLE: _TIMING | {"title", "reminder", "status"},
    Level.BUSY: _TIMING,
}
# What a field the level does not send holds in the copy (the title: the practice's neutral
# title, see ``redact``). Tentative is a detail too: a busy copy is plainly busy.
_BLANK: dict[str, Any] = {
    "description": "",
    "location": "",
    "attendees": [],
    "reminder": None,
    "status": "confirmed",
}
DEFAULT_TITLES = {Kind.CLIENT: "Client appointment", Kind.OTHER: "Busy", Kind.PERSONAL: "Busy"}


def strictest(*levels: Level) -> Level:
    return max(levels, key=STRICTNESS.__getitem__)


def redact(snapshot: Snapshot, level: Level, title: str) -> Snapshot:
    """The copy of ``snapshot`` a link at ``level`` sends out; ``title``: the neutral title of
    a busy copy. The identity on every field the level sends, so what is read back of those is
    the meeting's own value."""
    if level == Level.FULL:
        return snapshot
    sent = SENT_FIELDS[level]
    return {
        name: value if name in sent else (title if name == "title" else _BLANK[name])
        for name, value in snapshot.items()
    }


@dataclass(frozen=True)
class Privacy:
    """A link's privacy levels per kind of meeting and the practice's neutral titles. A copy of
    an event that was made outside (``imported``) keeps full two-way sync whatever the level: it
    is the user's own event, and redacting it would overwrite what they wrote there."""

    client: Level = Level.FULL
    other: Level = Level.FULL
    personal: Level = Level.FULL
    client_title: str = DEFAULT_TITLES[Kind.CLIENT]
    other_title: str = DEFAULT_TITLES[Kind.OTHER]
    personal_title: str = DEFAULT_TITLES[Kind.PERSONAL]

    def level(self, kind: str, *, imported: bool = False) -> Level:
        if imported:
            return Level.FULL
        return Level(getattr(self, str(kind)))

    def title(self, kind: str) -> str:
        return str(getattr(self, f"{kind}_title"))

    def sent(self, snapshot: Snapshot, kind: str, *, imported: bool = False) -> Snapshot:
        return redact(snapshot, self.level(kind, imported=imported), self.title(kind))

    def readable(self, kind: str, *, imported: bool = False) -> frozenset[str]:
        """The fields an outside change may set here: those sent as the meeting holds them, and
        of a client appointment only its time (PRODUCT 15)."""
        fields = SENT_FIELDS[self.level(kind, imported=imported)]
        return fields & CLIENT_APPOINTMENT_FIELDS if kind == Kind.CLIENT else fields


FULL_PRIVACY = Privacy()
