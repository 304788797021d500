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
    last = tr.rule.until  # the provider's last date (COUNT, endDate), read from its own expansion
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


def caldav_exceptions(calendar: str | bytes | Component) -> list[ExceptionInstance]:
    """Exceptions in one CalDAV calendar object resource: override VEVENTs (``RECURRENCE-ID``;
    ``STATUS:CANCELLED`` when deleted) and the master's EXDATEs (deleted)."""
    cal = _calendar(calendar)
    out: list[ExceptionInstance] = []
    for event in cal.walk("VEVENT"):
        uid = str(event.get("UID", ""))
        if event.get("RECURRENCE-ID") is not None:
            original = _instant(event.decoded("RECURRENCE-ID"))
            cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
            out.append(ExceptionInstance(uid, original, cancelled))
        elif event.get("RRULE") is not None:
            for value in _exdates(event):
                out.append(ExceptionInstance(uid, _instant(value), True))
    return out


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


def _exdates(event: Component) -> list[datetime | date]:
    raw = event.get("EXDATE")
    if raw is None:
        return []
    out: list[datetime | date] = []
    for item in raw if isinstance(raw, list) else [raw]:
        out.extend(d.dt for d in item.dts)
    return out


def _instant(value: object) -> datetime | date:
    if isinstance(value, datetime):
        try:
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError as error:
            raise RecurrenceParseError(f"date-time out of range: {value!r}") from error
    if isinstance(value, date):
        return value
    raise RecurrenceParseError(f"not a date or date-time: {value!r}")
