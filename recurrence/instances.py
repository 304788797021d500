"""Exceptions on a repeated meeting, as each provider shows them (PROTOCOLS §4.2).

The internal model has no exception on a single occurrence (PRODUCT 19), so a connector only needs
to *notice* them: the series is synced without the exception and the user is told (EXCEPTION,
PRODUCT 21). The common key is (series id, original start), the original start being an aware UTC
datetime, or a date for all-day series:

* Google: an event with ``recurringEventId`` and ``originalStartTime``; ``status: cancelled`` when
  the occurrence was deleted, otherwise it was moved or edited.
* Graph: ``type: exception`` with ``seriesMasterId`` and ``originalStart`` (UTC) for an edited
  occurrence; a deleted one just disappears (delta ``@removed``), so ``graph_missing_occurrences``
  compares the pattern's occurrences with the instances Graph lists in a window. The beta
  ``cancelledOccurrences`` of a master is read by ``graph_cancelled_occurrences``.
* CalDAV: an override VEVENT with ``RECURRENCE-ID`` (``STATUS:CANCELLED`` when deleted) in the
  same resource, or an EXDATE on the master.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from icalendar import Calendar, Component

from recurrence._core import FAR_FUTURE, make_series, resolve_zone, with_exception_starts
from recurrence.errors import RecurrenceParseError
from recurrence.graph import from_graph, outlook_rrule
from recurrence.model import localize
from recurrence.rfc5545 import from_rrule
from recurrence.translation import Translation


@dataclass(frozen=True)
class ExceptionInstance:
    """One occurrence changed or removed on the provider's side."""

    series_id: str
    original_start: datetime | date  # aware, in UTC; a date for all-day series
    cancelled: bool  # deleted (True) or moved / edited (False)


def with_exceptions(
    translation: Translation, exceptions: Iterable[ExceptionInstance | datetime | date]
) -> Translation:
    """``translation`` with EXCEPTION and its message added for these exceptions (no change when
    there are none, or when the series itself is not synced)."""
    starts = [e.original_start if isinstance(e, ExceptionInstance) else e for e in exceptions]
    return with_exception_starts(translation, starts)


# -- Google --------------------------------------------------------------------------------------


def google_exception(event: Mapping[str, Any]) -> ExceptionInstance | None:
    """The exception an event of ``events.list`` (``singleEvents=false``) stands for, or None for a
    series master or a single event."""
    series_id = event.get("recurringEventId")
    if not series_id:
        return None
    original = event.get("originalStartTime")
    if not isinstance(original, Mapping):
        raise RecurrenceParseError("a Google exception without originalStartTime")
    return ExceptionInstance(
        str(series_id), _google_time(original), event.get("status") == "cancelled"
    )


def _google_time(value: Mapping[str, Any]) -> datetime | date:
    try:
        if value.get("dateTime"):
            raw = str(value["dateTime"])
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:  # allowed when timeZone is given
                zone = resolve_zone(value.get("timeZone"))
                if zone is None:
                    raise RecurrenceParseError(f"a Google time without offset or zone: {raw!r}")
                moment = localize(moment, zone)
            return moment.astimezone(UTC)
        if value.get("date"):
            return date.fromisoformat(str(value["date"]))
    except (ValueError, OverflowError) as error:
        raise RecurrenceParseError(f"malformed Google time {value!r}") from error
    raise RecurrenceParseError(f"a Google time without dateTime or date: {value!r}")


# -- Microsoft Graph -----------------------------------------------------------------------------


def graph_exception(event: Mapping[str, Any]) -> ExceptionInstance | None:
    """The exception a Graph event stands for: ``type: exception`` (moved or edited), or an
    occurrence the organiser cancelled (``isCancelled``). None for anything else."""
    kind = event.get("type")
    cancelled = bool(event.get("isCancelled"))
    if kind != "exception" and not (kind == "occurrence" and cancelled):
        return None
    series_id = event.get("seriesMasterId")
    original = event.get("originalStart")
    if not series_id or not isinstance(original, str):
        raise RecurrenceParseError("a Graph exception without seriesMasterId or originalStart")
    return ExceptionInstance(str(series_id), _graph_instant(original), cancelled)


def _graph_instant(raw: str, zone: tzinfo = UTC) -> datetime:
    """Graph's DateTimeOffset (``2026-01-12T08:00:00Z``) or dateTimeTimeZone value (no offset, read
    in ``zone``), with up to 7 fractional digits, as an instant in UTC."""
    text = raw.strip().replace("Z", "+00:00")
    head, sep, rest = text.partition(".")
    if sep:  # Python reads at most 6 fractional digits; Graph writes 7
        digits = "".join(c for c in rest if c.isdigit())
        text = head + "." + digits[:6].ljust(6, "0") + rest[len(digits) :]
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else localize(moment, zone)).astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise RecurrenceParseError(f"malformed Graph time {raw!r}") from error


def graph_cancelled_occurrences(master: Mapping[str, Any]) -> list[date]:
    """Dates of the beta ``cancelledOccurrences`` of a series master (``OID.<id>.2026-01-12``)."""
    out: list[date] = []
    for item in master.get("cancelledOccurrences") or ():
        try:
            out.append(date.fromisoformat(str(item).rsplit(".", 1)[-1][:10]))
        except ValueError as error:
            raise RecurrenceParseError(f"malformed cancelled occurrence {item!r}") from error
    return out


def graph_missing_occurrences(
    recurrence: Mapping[str, Any],
    start: datetime | date,
    instances: Iterable[Mapping[str, Any]],
    *,
    window_start: datetime | date,
    window_end: datetime | date,
) -> list[datetime | date]:
    """Occurrences the series' pattern has in ``[window_start, window_end)`` but that Graph's
    ``/instances`` (or calendarView) no longer lists: deleted occurrences. ``instances`` are the
    occurrence and exception events of the series in that window (an exception keeps its slot
    through ``originalStart``)."""
    tr = from_graph(recurrence, start)  # validates, and moves start into the series' zone
    if tr.rule is None:
        return []  # the series is not synced (DAILY, UNSUPPORTED): its exceptions do not matter
    series = make_series(tr.start)
    external = outlook_rrule(recurrence["pattern"], series)
    assert external is not None
    seen: set[datetime | date] = set()
    for event in instances:
        if event.get("originalStart"):
            moment = _graph_instant(str(event["originalStart"]))
            seen.add(_all_day_slot(moment) if series.all_day else moment)
        elif isinstance(event.get("start"), Mapping):
            seen.add(_graph_event_start(event["start"], series.all_day))
    # The provider's last date (COUNT, endDate), read from its own expansion: with Outlook's
    # Sunday weeks the internal rule may end a few days earlier, on its own last occurrence.
    last = tr.occurrences.last if tr.occurrences is not None else tr.rule.until
    lower, upper = _naive_bound(window_start, series.zone), _naive_bound(window_end, series.zone)
    missing: list[datetime | date] = []
    for local in external.xafter(lower, inc=True):
        if local >= upper or local.date() > last:
            break
        value = series.value(local)
        key = value.astimezone(UTC) if isinstance(value, datetime) else value
        if key not in seen:
            missing.append(value)
    return missing


def _all_day_slot(moment: datetime) -> date:
    """The date of an all-day slot from its ``originalStart``: midnight in the event's zone, in
    UTC (``2026-01-11T23:00:00Z`` for Berlin's 12 January). The nearest UTC midnight is that
    date for every zone within twelve hours of UTC."""
    return (moment + timedelta(hours=12)).date()


def _graph_event_start(value: Mapping[str, Any], all_day: bool) -> datetime | date:
    """An instance's ``start`` (``{"dateTime", "timeZone"}``) as its slot key."""
    raw = str(value.get("dateTime", ""))
    if all_day:  # an all-day start is midnight of its date, whatever the zone says
        try:
            return date.fromisoformat(raw[:10])
        except ValueError as error:
            raise RecurrenceParseError(f"malformed Graph start {value!r}") from error
    return _graph_instant(raw, resolve_zone(value.get("timeZone")) or UTC)


def _naive_bound(value: datetime | date, zone: tzinfo | None) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None and zone is not None:
            return value.astimezone(zone).replace(tzinfo=None)
        return value.replace(tzinfo=None)
    return datetime.combine(value, time())


# -- CalDAV --------------------------------------------------------------------------------------


def caldav_exceptions(
    calendar: str | bytes | Component,
    *,
    default_zone: tzinfo = UTC,
    far_future: date = FAR_FUTURE,
) -> list[ExceptionInstance]:
    """Exceptions in one CalDAV calendar object resource that remove or move a real occurrence
    of their series: override VEVENTs (``RECURRENCE-ID``; ``STATUS:CANCELLED`` when deleted)
    and the master's EXDATEs (deleted).

    Each is checked against the master's own occurrences (``from_vevent``), by instant in the
    series' zone (a floating RECURRENCE-ID is a wall time there; DATE against DATE-TIME as for
    EXDATE, see ``Occurrences``): a RECURRENCE-ID or EXDATE on no occurrence changes nothing
    (RFC 5545 §3.8.4.4, §3.8.5.1). An override whose SEQUENCE is lower than the master's is
    stale: the organiser revised the series after it (§3.8.7.4; the SEQUENCE changes with the
    dates and times, CalConnect's recurrence recommendations §6.1), so it is no exception
    either; a component without SEQUENCE tells nothing and is not compared. The series of an
    unsynced master (DAILY, UNSUPPORTED) has no exceptions that matter; overrides without a
    master in the resource cannot be checked and are returned as they are.

    ``default_zone`` is the link owner's zone: with the resource's ``X-WR-TIMEZONE``
    (``calendar_zone``) it reads an all-day series' UTC dates and floating times, as
    ``from_vevent`` does."""
    cal = _calendar(calendar)
    zone = calendar_zone(cal, default_zone)
    masters: dict[str, Component] = {}
    overrides: dict[str, list[Component]] = {}
    for event in cal.walk("VEVENT"):
        uid = str(event.get("UID", ""))
        if event.get("RECURRENCE-ID") is None:
            masters.setdefault(uid, event)
        else:
            overrides.setdefault(uid, []).append(event)
    out: list[ExceptionInstance] = []

    def add(found: ExceptionInstance) -> None:
        if all(e.series_id != found.series_id or e.original_start != found.original_start
               for e in out):  # fmt: skip
            out.append(found)

    for uid in dict.fromkeys([*masters, *overrides]):
        master, changed = masters.get(uid), overrides.get(uid, [])
        if master is None:
            for event in changed:
                cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
                add(ExceptionInstance(uid, _instant(_decoded(event, "RECURRENCE-ID")), cancelled))
            continue
        repeats = master.get("RRULE") is not None or master.get("RDATE") is not None
        if not repeats or not (changed or master.get("EXDATE") is not None):
            continue  # nothing to check: the series is not read a second time
        tr = from_vevent(master, far_future=far_future, all_day_zone=zone)
        if tr.rule is None or tr.occurrences is None:
            continue
        for removed in tr.exceptions:  # the EXDATEs on real occurrences
            add(ExceptionInstance(uid, _instant(removed), True))
        for event in changed:
            raw = _decoded(event, "RECURRENCE-ID")
            if _stale(event, master):
                continue
            if isinstance(raw, datetime) and raw.tzinfo is None and isinstance(tr.start, datetime):
                raw = raw.replace(tzinfo=tr.start.tzinfo)  # floating: a wall time in its zone
            (occurrence,) = tr.occurrences.find([raw])
            if occurrence is not None:
                cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
                add(ExceptionInstance(uid, _instant(occurrence), cancelled))
    return out


def calendar_zone(calendar: Component, default: tzinfo) -> tzinfo:
    """The calendar's zone: the VCALENDAR's ``X-WR-TIMEZONE`` (an IANA or Windows name, as Google,
    Apple and Outlook export it) when it names a known zone, else ``default`` (the link owner's
    zone). It is what the writer of an all-day series meant by a UTC UNTIL (Outlook writes
    ``UNTIL=20200916T230000Z``, midnight of the last day in its zone)."""
    value = calendar.get("X-WR-TIMEZONE") if calendar.name == "VCALENDAR" else None
    named = resolve_zone(str(value)) if value is not None else None
    return named or default


def _stale(override: Component, master: Component) -> bool:
    mine, theirs = _sequence(override), _sequence(master)
    return mine is not None and theirs is not None and mine < theirs


def _sequence(event: Component) -> int | None:
    value = event.get("SEQUENCE")
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None  # unreadable: compared as absent


def _decoded(event: Component, name: str) -> datetime | date:
    try:
        value = event.decoded(name)
    except Exception as error:  # icalendar raises several types for a malformed value
        raise RecurrenceParseError(f"malformed {name}") from error
    if not isinstance(value, date):
        raise RecurrenceParseError(f"{name} is not a date or date-time: {value!r}")
    return value


def from_vevent(
    event: Component, *, far_future: date = FAR_FUTURE, all_day_zone: tzinfo = UTC
) -> Translation:
    """``from_rrule`` for a CalDAV master VEVENT: its DTSTART (with TZID) and its RRULE, EXDATE,
    RDATE and EXRULE lines. Overrides in the same resource are added with ``caldav_exceptions`` and
    ``with_exceptions``."""
    if event.get("DTSTART") is None:
        raise RecurrenceParseError("a VEVENT without DTSTART")
    try:
        start = event.decoded("DTSTART")
    except Exception as error:
        raise RecurrenceParseError("malformed DTSTART") from error
    if isinstance(start, datetime) and start.tzinfo is None:
        start = start.replace(tzinfo=all_day_zone)  # floating: read in the calendar's zone
    lines: list[str] = []
    for name in ("RRULE", "EXRULE", "RDATE", "EXDATE"):
        values = event.get(name)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            lines.append(value.to_ical().decode() if name in ("RRULE", "EXRULE") else "")
            if name in ("RRULE", "EXRULE"):
                lines[-1] = f"{name}:{lines[-1]}"
            else:
                params = value.params.to_ical().decode() if value.params else ""
                lines[-1] = f"{name}{';' + params if params else ''}:{value.to_ical().decode()}"
    return from_rrule(lines, start, far_future=far_future, all_day_zone=all_day_zone)


def _calendar(calendar: str | bytes | Component) -> Component:
    if isinstance(calendar, Component):
        return calendar
    try:
        return Calendar.from_ical(calendar)
    except Exception as error:
        raise RecurrenceParseError("malformed iCalendar data") from error


def _instant(value: object) -> datetime | date:
    if isinstance(value, datetime):
        try:
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError as error:
            raise RecurrenceParseError(f"date-time out of range: {value!r}") from error
    if isinstance(value, date):
        return value
    raise RecurrenceParseError(f"not a date or date-time: {value!r}")
