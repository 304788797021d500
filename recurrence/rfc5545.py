"""RFC 5545 recurrence lines (Google ``recurrence``, CalDAV) to and from the internal model.

Content lines are split by icalendar's parser, RRULE values by ``icalendar.prop.vRecur`` and
EXDATE values by ``vDDDLists``; this module adds the checks those parsers leave out (RFC 5545
§3.3.10: FREQ required, COUNT and UNTIL exclusive, value ranges, each part once) and maps the
parts onto the internal model. Expansion is python-dateutil's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil import rrule as du
from icalendar.parser import Contentline
from icalendar.prop import vDDDLists, vRecur

from recurrence._core import (
    DU_WEEKDAYS,
    FAR_FUTURE,
    RDATE_REASON,
    WEEKDAY_CODES,
    WEEKDAY_TEXT,
    Candidate,
    Count,
    Daily,
    End,
    Reading,
    Series,
    Shape,
    Unsupported,
    UntilDate,
    UntilInstant,
    UntilLocal,
    check_interval,
    dates_through,
    finish,
    last_date,
    make_series,
    not_on_pattern,
    resolve_zone,
    unsupported,
    unsupported_translation,
    weekly_for_daily,
)
from recurrence.errors import RecurrenceParseError
from recurrence.model import Frequency, Rule, RuleError, Weekday, localize
from recurrence.translation import Flag, Message, Text, Translation, gettext_noop

_PARTS = {
    "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
    "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
    "RSCALE", "SKIP",  # RFC 7529: only the Gregorian scale is held (SKIP where it moves nothing)
}  # fmt: skip
_SINGLE = ("FREQ", "UNTIL", "COUNT", "INTERVAL", "WKST", "RSCALE", "SKIP")
_RANGES = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_FREQS = {
    "SECONDLY": du.SECONDLY,
    "MINUTELY": du.MINUTELY,
    "HOURLY": du.HOURLY,
    "DAILY": du.DAILY,
    "WEEKLY": du.WEEKLY,
    "MONTHLY": du.MONTHLY,
    "YEARLY": du.YEARLY,
}
_BYDAY = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


@dataclass(frozen=True)
class RecurParts:
    """One RRULE value, checked: every list part as a tuple, BYDAY as (ordinal or None, weekday)."""

    freq: str
    interval: int
    count: int | None
    until: datetime | date | None
    wkst: Weekday
    byday: tuple[tuple[int | None, Weekday], ...]
    lists: dict[str, tuple[int, ...]]
    calendar_scale: str | None
    skip: str | None = None  # RFC 7529: OMIT (the default), BACKWARD or FORWARD

    def text(self, name: str) -> str:
        if name == "BYDAY":
            return ",".join(f"{n or ''}{WEEKDAY_CODES[d]}" for n, d in self.byday)
        return ",".join(str(v) for v in self.lists.get(name, ()))

    def key(self) -> tuple[object, ...]:
        """The rule's meaning, independent of the order of parts and of list values: two lines
        with the same key are the same rule."""
        skip = None if self.skip == "OMIT" else self.skip
        scale = None if self.calendar_scale == "GREGORIAN" else self.calendar_scale
        until = self.until
        return (
            self.freq, self.interval, self.count, until, type(until), self.wkst,
            tuple(sorted(set(self.byday), key=lambda p: (p[0] or 0, p[1]))),
            tuple(sorted((k, tuple(sorted(set(v)))) for k, v in self.lists.items())),
            scale, skip,
        )  # fmt: skip


# -- parsing -------------------------------------------------------------------------------------


def parse_recur(value: str) -> RecurParts:
    """Parse and check one RRULE value (``FREQ=...;...``); raise ``RecurrenceParseError``."""
    # vRecur keeps the last of a repeated part silently; RFC 5545 allows each part once.
    names = [p.split("=", 1)[0].strip().upper() for p in value.split(";") if p.strip()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RecurrenceParseError(f"RRULE part(s) {repeated} given twice in {value!r}")
    try:
        raw = vRecur.from_ical(value.strip())
    except Exception as error:  # icalendar raises ValueError, but be strict about the contract
        raise RecurrenceParseError(f"malformed RRULE {value!r}: {error}") from error
    parts: dict[str, list[Any]] = {str(k).upper(): list(v) for k, v in dict(raw).items()}
    if not parts and value.strip():
        raise RecurrenceParseError(f"malformed RRULE {value!r}")
    unknown = set(parts) - _PARTS
    if unknown:
        raise RecurrenceParseError(f"unknown RRULE part(s) {sorted(unknown)} in {value!r}")
    for name in _SINGLE:
        if name in parts and len(parts[name]) != 1:
            raise RecurrenceParseError(f"{name} must have exactly one value in {value!r}")
    if "FREQ" not in parts:
        raise RecurrenceParseError(f"RRULE without FREQ: {value!r}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceParseError(f"RRULE with both COUNT and UNTIL: {value!r}")
    freq = str(parts["FREQ"][0]).upper()
    if freq not in _FREQS:
        raise RecurrenceParseError(f"unknown FREQ {freq!r}")
    interval = _int(parts.get("INTERVAL", [1])[0], "INTERVAL")
    if interval < 1:
        raise RecurrenceParseError(f"INTERVAL must be positive: {value!r}")
    count = None
    if "COUNT" in parts:
        count = _int(parts["COUNT"][0], "COUNT")
        if count < 1:
            raise RecurrenceParseError(f"COUNT must be positive: {value!r}")
    until = parts.get("UNTIL", [None])[0]
    if until is not None and not isinstance(until, date):
        raise RecurrenceParseError(f"UNTIL is not a date or date-time: {value!r}")
    wkst = Weekday.MO
    if "WKST" in parts:
        code = str(parts["WKST"][0]).upper()
        if code not in WEEKDAY_CODES:
            raise RecurrenceParseError(f"WKST must be a weekday: {value!r}")
        wkst = Weekday(WEEKDAY_CODES.index(code))
    byday: list[tuple[int | None, Weekday]] = []
    for item in parts.get("BYDAY", []):
        match = _BYDAY.match(str(item).strip().upper())
        if not match:
            raise RecurrenceParseError(f"malformed BYDAY value {item!r}")
        sign, digits, code = match.groups()
        n = None
        if digits is not None:
            n = int(digits) * (-1 if sign == "-" else 1)
            if not 1 <= abs(n) <= 53:
                raise RecurrenceParseError(f"BYDAY ordinal out of range: {item!r}")
        elif sign:
            raise RecurrenceParseError(f"malformed BYDAY value {item!r}")
        byday.append((n, Weekday(WEEKDAY_CODES.index(code))))
    lists: dict[str, tuple[int, ...]] = {}
    for name, (low, high, signed) in _RANGES.items():
        if name not in parts:
            continue
        numbers = tuple(_int(v, name) for v in parts[name])
        for n in numbers:
            ok = low <= abs(n) <= high if signed else low <= n <= high
            if not ok or (signed and n == 0):
                raise RecurrenceParseError(f"{name} value {n} out of range in {value!r}")
        lists[name] = numbers
    scale = str(parts["RSCALE"][0]).upper() if "RSCALE" in parts else None
    skip = None
    if "SKIP" in parts:  # icalendar checks the value (OMIT, BACKWARD, FORWARD)
        raw_skip = parts["SKIP"][0]
        skip = str(getattr(raw_skip, "value", raw_skip)).upper()
    return RecurParts(freq, interval, count, until, wkst, tuple(byday), lists, scale, skip)


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError as error:
            raise RecurrenceParseError(f"{name} must be an integer, not {value!r}") from error
    return value


def _unfold(lines: str | Iterable[str]) -> list[str]:
    raw = lines.splitlines() if isinstance(lines, str) else list(lines)
    out: list[str] = []
    for line in raw:
        if not isinstance(line, str):
            raise RecurrenceParseError(
                f"recurrence lines must be strings, not {type(line).__name__}"
            )
        if line[:1] in (" ", "\t") and out:  # RFC 5545 §3.1 folding
            out[-1] += line[1:]
        elif line.strip():
            out.append(line.strip())
    return out


@dataclass(frozen=True)
class Lines:
    rrules: tuple[str, ...]
    exdates: tuple[datetime | date, ...]
    rdates: tuple[datetime | date, ...]
    rdate_lines: int
    odd_rdates: bool  # an RDATE that is a PERIOD, or unreadable: never held
    exrules: int
    empty_rrules: int  # ``RRULE:`` with nothing in it


def split_lines(lines: str | Iterable[str], zone: tzinfo | None) -> Lines:
    rrules: list[str] = []
    exdates: list[datetime | date] = []
    rdates: list[datetime | date] = []
    rdate_lines = exrules = empty = 0
    odd_rdates = False
    for line in _unfold(lines):
        if line.upper().startswith("FREQ="):  # a bare RRULE value, as some callers store it
            rrules.append(line)
            continue
        try:
            name, params, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
        except Exception as error:
            raise RecurrenceParseError(f"malformed recurrence line {line!r}") from error
        name = str(name).upper()
        if name == "RRULE":
            # Public holiday feeds ship ``RRULE:`` (and ``RRULE:;``): no rule part at all, whose
            # clear meaning is no repetition.
            if str(value).strip(" ;"):
                rrules.append(str(value))
            else:
                empty += 1
        elif name == "EXRULE":
            exrules += 1
        elif name == "RDATE":
            rdate_lines += 1
            try:
                rdates.extend(_parse_dates(str(value), params.get("TZID"), zone, line))
            except RecurrenceParseError:
                odd_rdates = True  # refused as an RDATE, as before it was read
        elif name == "EXDATE":
            exdates.extend(_parse_dates(str(value), params.get("TZID"), zone, line))
        else:
            raise RecurrenceParseError(f"unexpected line in a recurrence: {line!r}")
    return Lines(
        tuple(rrules), tuple(exdates), tuple(rdates), rdate_lines, odd_rdates, exrules, empty
    )


def _parse_dates(value: str, tzid: object, zone: tzinfo | None, line: str) -> list[datetime | date]:
    try:
        values = vDDDLists.from_ical(value)  # type: ignore[no-untyped-call]
    except Exception as error:
        raise RecurrenceParseError(f"malformed date list in {line!r}") from error
    # An unknown TZID is read in the series' zone: the value still names a wall time.
    named = resolve_zone(str(tzid)) if tzid else None
    out: list[datetime | date] = []
    for v in values:
        if isinstance(v, datetime) and v.tzinfo is None and tzid:
            v = v.replace(tzinfo=named or zone)
        if not isinstance(v, date):
            raise RecurrenceParseError(f"not a date in {line!r}")
        out.append(v)
    return out


# -- reading -------------------------------------------------------------------------------------


def from_rrule(
    lines: str | Iterable[str],
    start: datetime | date,
    *,
    far_future: date = FAR_FUTURE,
    all_day_zone: tzinfo = UTC,
) -> Translation:
    """Read RFC 5545 recurrence lines (``RRULE:``, ``EXDATE``, ``RDATE``, ``EXRULE``; a bare
    ``FREQ=...`` value is read as an RRULE) for a series whose first occurrence is ``start``: an
    aware datetime, whose zone is the expansion zone, or a date for an all-day series.

    ``far_future`` ends a series without COUNT or UNTIL (NO_END). ``all_day_zone`` is the calendar's
    zone, used only to read a date-time UNTIL or EXDATE of an all-day series; UTC by default, which
    is what dateutil does with the ``Z`` dropped.

    Raises ``RecurrenceParseError`` for malformed input; everything else is a ``Translation``.
    """
    series = make_series(start)
    parsed = split_lines(lines, series.zone)
    if not parsed.rrules:
        if parsed.rdate_lines:
            return unsupported_translation(
                series, [Text.of(gettext_noop("consists of separately added dates (RDATE)"))]
            )
        if parsed.empty_rrules:
            return _no_repetition(series)
        raise RecurrenceParseError("no RRULE line in the recurrence")
    rules = [parse_recur(v) for v in parsed.rrules]  # checks every rule, even if several
    limit = max(far_future, series.day)
    parts = _one_rule(rules, series, limit, all_day_zone)
    reasons: list[Text] = []
    if parts is None:
        reasons.append(Text.of(gettext_noop("combines several repetition rules (RRULE)")))
        parts = rules[0]
    if parsed.odd_rdates:
        reasons.append(RDATE_REASON)
    if parsed.exrules:
        reasons.append(Text.of(gettext_noop("has an exclusion rule (EXRULE)")))
    shape = shape_of(parts, series)
    if isinstance(shape, Unsupported):
        reasons = [*shape.reasons, *reasons]
    elif parsed.rdates and isinstance(shape, Daily) and shape.weekly is None:
        reasons.append(RDATE_REASON)  # a daily rule without weekly form is not expanded
    if reasons:
        return unsupported_translation(series, reasons)
    reading = Reading(
        series=series,
        shape=shape,
        external=external_rrule(parts, series.local),
        end=end_of(parts),
        week_start=parts.wkst,
        exdates=parsed.exdates,
        rdates=parsed.rdates,
        skip=parts.skip if parts.skip in ("BACKWARD", "FORWARD") else None,
    )
    return finish(reading, far_future=far_future, all_day_zone=all_day_zone)


def _no_repetition(series: Series) -> Translation:
    message = Message(
        Flag.EMPTY_RULE,
        Text.of(
            gettext_noop(
                "This event has an empty repetition rule (an RRULE line with nothing in it), so "
                "it was synchronised as a single event on %(date)s. Tip: if it should repeat, "
                "set its repetition again in your calendar app."
            ),
            date=series.day.isoformat(),
        ),
    )
    return Translation(None, series.start, frozenset({Flag.EMPTY_RULE}), (message,))


def _one_rule(
    rules: Sequence[RecurParts], series: Series, limit: date, all_day_zone: tzinfo
) -> RecurParts | None:
    """The one rule that several RRULEs amount to, or None when they give more dates than any
    one of them (RFC 5545: the set is the union of every rule's occurrences).

    The same rule written twice is one rule. Otherwise it is decided by dates: a rule whose every
    occurrence (up to ``limit``) another one has adds nothing. Only rules the model could hold
    are expanded (dateutil walks to year 9999 looking for the first occurrence of a rule that
    has none)."""
    distinct: dict[tuple[object, ...], RecurParts] = {}
    for parts in rules:
        distinct.setdefault(parts.key(), parts)
    if len(distinct) == 1:
        return rules[0]
    expansions: list[tuple[RecurParts, set[datetime]]] = []
    for parts in distinct.values():
        shape = shape_of(parts, series)
        if not isinstance(shape, Candidate):
            return None
        try:
            shape.rule(series.day).check_start(series.day)
        except RuleError:
            return None
        external = external_rrule(parts, series.local)
        if next(iter(external), None) != series.local:
            return None
        reading = Reading(series, shape, external, end_of(parts), parts.wkst)
        last, _ = last_date(reading, external, all_day_zone, limit)
        expansions.append((parts, set(dates_through(external, last or limit))))
    for parts, dates in expansions:
        if all(other <= dates for _, other in expansions):
            return parts
    return None


def end_of(parts: RecurParts) -> End:
    if parts.count is not None:
        return Count(parts.count)
    until = parts.until
    if until is None:
        return None
    if not isinstance(until, datetime):
        return UntilDate(until)
    if until.tzinfo is None:
        return UntilLocal(until)
    return UntilInstant(until.astimezone(UTC))


def external_rrule(parts: RecurParts, dtstart: datetime) -> du.rrule:
    """The provider's rule as dateutil expands it, unbounded (the end is applied by ``finish``)."""
    kwargs: dict[str, Any] = {
        "dtstart": dtstart,
        "interval": parts.interval,
        "wkst": DU_WEEKDAYS[parts.wkst],
        "cache": False,
    }
    if parts.byday:
        kwargs["byweekday"] = [
            DU_WEEKDAYS[d] if n is None else DU_WEEKDAYS[d](n) for n, d in parts.byday
        ]
    names = {"BYSECOND": "bysecond", "BYMINUTE": "byminute", "BYHOUR": "byhour",
             "BYMONTHDAY": "bymonthday", "BYYEARDAY": "byyearday", "BYWEEKNO": "byweekno",
             "BYMONTH": "bymonth", "BYSETPOS": "bysetpos"}  # fmt: skip
    for name, value in parts.lists.items():
        kwargs[names[name]] = value
    try:
        return du.rrule(_FREQS[parts.freq], **kwargs)  # type: ignore[arg-type]
    except Exception as error:  # dateutil's own checks, as the one documented error
        raise RecurrenceParseError(f"invalid rule: {error}") from error


def shape_of(parts: RecurParts, series: Series) -> Shape:
    """What the internal model can make of the rule, judged on its parts alone."""
    reasons: list[Text] = []

    def no(template: str, **params: str | int | Text) -> None:
        reasons.extend(unsupported(template, **params).reasons)

    lists = parts.lists
    # RFC 7529: RSCALE=GREGORIAN is the plain rule (with SKIP=OMIT, its default, exactly; other
    # SKIP values are checked by dates in ``finish``).
    if parts.calendar_scale not in (None, "GREGORIAN"):
        no(
            gettext_noop("uses another calendar system (RSCALE=%(value)s)"),
            value=parts.calendar_scale,
        )
    if parts.freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        no(gettext_noop("repeats several times a day (FREQ=%(value)s)"), value=parts.freq)
    for name in ("BYSECOND", "BYMINUTE", "BYHOUR"):
        wanted = getattr(series.local, name[2:].lower())
        if name in lists and (series.all_day or lists[name] != (wanted,)):
            no(
                gettext_noop("sets its own times of day (%(part)s=%(value)s)"),
                part=name,
                value=parts.text(name),
            )
    if "BYWEEKNO" in lists:
        no(gettext_noop("uses week numbers (BYWEEKNO=%(value)s)"), value=parts.text("BYWEEKNO"))
    if "BYYEARDAY" in lists:
        no(
            gettext_noop("uses days of the year (BYYEARDAY=%(value)s)"),
            value=parts.text("BYYEARDAY"),
        )
    if parts.freq == "DAILY":
        return _daily_shape(parts, series) if not reasons else Daily(None)
    if reasons:
        return Unsupported(tuple(reasons))
    limit = check_interval(parts.interval)
    if parts.freq == "WEEKLY":
        shape = _weekly_shape(parts, series)
    elif parts.freq == "MONTHLY":
        shape = _monthly_shape(parts, series)
    else:
        shape = _yearly_shape(parts, series)
        if isinstance(shape, Candidate) and shape.frequency is Frequency.MONTHLY:
            limit = check_interval(parts.interval, unit_months=12)
    if limit is not None and not isinstance(shape, Unsupported):
        return limit
    return shape


def _daily_shape(parts: RecurParts, series: Series) -> Daily:
    lists = parts.lists
    if set(lists) - {"BYSECOND", "BYMINUTE", "BYHOUR"} or any(
        n is not None for n, _ in parts.byday
    ):
        return Daily(None)
    days = frozenset(d for _, d in parts.byday)
    return Daily(weekly_for_daily(parts.interval, days, series.day))


def _by_position(parts: RecurParts) -> tuple[int, Weekday] | None:
    """BYSETPOS=n with one plain BYDAY weekday is "the nth such weekday" (Apple and Outlook write
    "the second Tuesday" that way): exactly BYDAY=nTU, so it is not treated as unsupported."""
    positions = parts.lists.get("BYSETPOS")
    if positions is None or len(positions) != 1 or len(parts.byday) != 1:
        return None
    n, day = parts.byday[0]
    if n is not None:
        return None
    return positions[0], day


def _nth_shape(n: int, day: Weekday, interval: int, value: str) -> Shape:
    if n not in (1, 2, 3, 4, 5, -1):
        return unsupported(
            gettext_noop(
                "counts weekdays of the month in a way the practice calendar cannot (%(value)s)"
            ),
            value=value,
        )
    return Candidate(Frequency.MONTHLY, interval, nth=n, nth_weekday=day)


def _weekly_shape(parts: RecurParts, series: Series) -> Shape:
    extra = [n for n in ("BYMONTH", "BYMONTHDAY", "BYSETPOS") if n in parts.lists]
    if extra:
        return _named_parts(parts, extra)
    if any(n is not None for n, _ in parts.byday):
        return unsupported(
            gettext_noop("numbers weekdays inside a weekly repetition (BYDAY=%(value)s)"),
            value=parts.text("BYDAY"),
        )
    days = frozenset(d for _, d in parts.byday) or frozenset({Weekday(series.day.weekday())})
    return Candidate(Frequency.WEEKLY, parts.interval, days)


def _monthly_shape(parts: RecurParts, series: Series) -> Shape:
    lists = parts.lists
    if "BYMONTH" in lists:
        return _named_parts(parts, ["BYMONTH"])
    positioned = _by_position(parts)
    if positioned is not None and "BYMONTHDAY" not in lists:
        n, day = positioned
        return _nth_shape(n, day, parts.interval, f"BYSETPOS={n};BYDAY={WEEKDAY_CODES[day]}")
    if "BYSETPOS" in lists:
        return _named_parts(parts, ["BYSETPOS"])
    if parts.byday and "BYMONTHDAY" in lists:
        return unsupported(
            gettext_noop(
                "combines weekdays and days of the month (BYDAY=%(days)s;BYMONTHDAY=%(value)s)"
            ),
            days=parts.text("BYDAY"),
            value=parts.text("BYMONTHDAY"),
        )
    if "BYMONTHDAY" in lists:
        days = lists["BYMONTHDAY"]
        if len(days) > 1:
            return unsupported(
                gettext_noop("repeats on several days of the month (BYMONTHDAY=%(value)s)"),
                value=parts.text("BYMONTHDAY"),
            )
        if days[0] < 0:
            return unsupported(
                gettext_noop("counts days from the end of the month (BYMONTHDAY=%(value)s)"),
                value=parts.text("BYMONTHDAY"),
            )
        return Candidate(Frequency.MONTHLY, parts.interval, month_day=days[0])
    if parts.byday:
        return _monthly_byday(parts, parts.interval)
    return Candidate(Frequency.MONTHLY, parts.interval, month_day=series.day.day)


def _monthly_byday(parts: RecurParts, interval: int) -> Shape:
    if len(parts.byday) > 1:
        return unsupported(
            gettext_noop("repeats on several weekdays of the month (BYDAY=%(value)s)"),
            value=parts.text("BYDAY"),
        )
    n, day = parts.byday[0]
    if n is None:
        return unsupported(
            gettext_noop("repeats on every %(weekday)s of the month (BYDAY=%(value)s)"),
            weekday=WEEKDAY_TEXT[day],
            value=parts.text("BYDAY"),
        )
    return _nth_shape(n, day, interval, f"BYDAY={parts.text('BYDAY')}")


def _yearly_shape(parts: RecurParts, series: Series) -> Shape:
    lists = parts.lists
    months = lists.get("BYMONTH", ())
    month_days = lists.get("BYMONTHDAY", ())
    if (len(months) == 1 and months[0] != series.day.month) or (
        len(month_days) == 1 and not parts.byday and month_days[0] != series.day.day
    ):
        return not_on_pattern(series)
    if len(months) > 1:
        return unsupported(
            gettext_noop("repeats in several months of the year (BYMONTH=%(value)s)"),
            value=parts.text("BYMONTH"),
        )
    if parts.byday or "BYSETPOS" in lists:
        if not months:
            return unsupported(
                gettext_noop("repeats on weekdays across the whole year (BYDAY=%(value)s)"),
                value=parts.text("BYDAY") or parts.text("BYSETPOS"),
            )
        if "BYMONTHDAY" in lists:
            return _named_parts(parts, ["BYDAY", "BYMONTHDAY"])
        # "The second Sunday of March every N years" is "the second Sunday of every 12*N
        # months" starting in March: the internal monthly rule holds it exactly.
        positioned = _by_position(parts)
        if positioned is not None:
            n, day = positioned
            return _nth_shape(
                n, day, parts.interval * 12, f"BYSETPOS={n};BYDAY={WEEKDAY_CODES[day]}"
            )
        if "BYSETPOS" in lists:
            return _named_parts(parts, ["BYSETPOS"])
        return _monthly_byday(parts, parts.interval * 12)
    if month_days and not months:
        return unsupported(
            gettext_noop(
                "repeats on a day of every month inside a yearly repetition (BYMONTHDAY=%(value)s)"
            ),
            value=parts.text("BYMONTHDAY"),
        )
    if len(month_days) > 1:
        return unsupported(
            gettext_noop("repeats on several days of the month (BYMONTHDAY=%(value)s)"),
            value=parts.text("BYMONTHDAY"),
        )
    if month_days and month_days[0] < 0:
        return unsupported(
            gettext_noop("counts days from the end of the month (BYMONTHDAY=%(value)s)"),
            value=parts.text("BYMONTHDAY"),
        )
    # Month and day are the start's (checked by expansion: the start must be the first occurrence).
    return Candidate(Frequency.YEARLY, parts.interval)


def _named_parts(parts: RecurParts, names: Sequence[str]) -> Unsupported:
    value = ";".join(f"{n}={parts.text(n)}" for n in names)
    return unsupported(
        gettext_noop(
            "uses %(value)s, which the practice calendar cannot hold in a %(freq)s repetition"
        ),
        value=value,
        freq=parts.freq.lower(),
    )


# -- writing -------------------------------------------------------------------------------------


def to_rrule(
    rule: Rule, start: datetime | date, *, far_future: date | None = FAR_FUTURE
) -> list[str]:
    """The RFC 5545 lines of ``rule`` for a series starting at ``start``: one ``RRULE:`` line,
    always with ``WKST=MO`` (the internal week start; Google and CalDAV default otherwise).

    UNTIL is the end of the last day in the series' zone, in UTC, as RFC 5545 requires when DTSTART
    has a zone: every occurrence of that day is included and none of the next. All-day series get
    a DATE UNTIL. A rule ending on ``far_future`` is written without end (it was imported as
    NO_END); pass ``far_future=None`` to always write UNTIL. Raises ``RuleError`` for an invalid
    rule (or a start off its pattern).
    """
    series = make_series(start)
    rule.check_start(series.day)
    parts = [f"FREQ={rule.frequency.value.upper()}", "WKST=MO"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.frequency is Frequency.WEEKLY:
        parts.append("BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in sorted(rule.weekdays)))
    elif rule.frequency is Frequency.MONTHLY and rule.month_day is not None:
        parts.append(f"BYMONTHDAY={rule.month_day}")
    elif rule.frequency is Frequency.MONTHLY:
        assert rule.nth is not None and rule.nth_weekday is not None
        parts.append(f"BYDAY={rule.nth}{WEEKDAY_CODES[rule.nth_weekday]}")
    if far_future is None or rule.until != far_future:
        parts.append("UNTIL=" + _until_value(rule.until, series))
    return ["RRULE:" + ";".join(parts)]


def _until_value(until: date, series: Series) -> str:
    zone = series.zone
    if zone is None:
        return until.strftime("%Y%m%d")
    end_of_day = localize(datetime.combine(until, time(23, 59, 59)), zone)
    # A zone that skips 23:59:59 (a DST jump at midnight) would push it to the next day; the
    # start of the next day minus a second is then the right instant.
    instant = end_of_day
    if until < date.max:
        next_day = localize(datetime.combine(until + timedelta(days=1), time()), zone)
        instant = min(end_of_day, next_day - timedelta(seconds=1))
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
