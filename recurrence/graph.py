"""Microsoft Graph ``patternedRecurrence`` to and from the internal model.

Outlook's semantics differ from RFC 5545 in two ways that matter here, and the expansion below
models both (PROTOCOLS §2.3; Exchange's ``AbsoluteMonthlyRecurrence`` reference):

* ``firstDayOfWeek`` defaults to Sunday, where RFC 5545 and the internal model use Monday;
* ``dayOfMonth`` 29-31 is clamped to the last day of a shorter month (RFC 5545 skips that month).
  dateutil expresses the clamp as ``BYMONTHDAY=d,-1;BYSETPOS=1``: the first of "day d" and "the
  last day", whichever exists first.

Graph's ``index`` has no "fifth", and a relative pattern with several ``daysOfWeek`` means "the
first of those days that matches" (one occurrence a month), which the internal model cannot hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from dateutil import rrule as du

from recurrence._core import (
    DU_WEEKDAYS,
    FAR_FUTURE,
    WEEKDAY_TEXT,
    Candidate,
    Count,
    Daily,
    End,
    Reading,
    Series,
    Shape,
    UntilDate,
    check_interval,
    dates_through,
    finish,
    make_series,
    not_on_pattern,
    resolve_zone,
    unsupported,
    weekly_for_daily,
)
from recurrence.errors import NotExpressibleError, RecurrenceParseError
from recurrence.model import Frequency, Rule, Weekday
from recurrence.translation import Text, Translation, gettext_noop

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_INDEX_NAMES = {v: k for k, v in INDEXES.items()}
PATTERN_TYPES = (
    "daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly",
)  # fmt: skip
_TYPE_BY_LOWER = {t.lower(): t for t in PATTERN_TYPES}


# -- reading -------------------------------------------------------------------------------------


def from_graph(
    recurrence: Mapping[str, Any],
    start: datetime | date,
    *,
    far_future: date = FAR_FUTURE,
    all_day_zone: tzinfo = UTC,
) -> Translation:
    """Read a Graph ``patternedRecurrence`` (``{"pattern": {...}, "range": {...}}``) for a series
    whose first occurrence is ``start`` (aware datetime, or a date for all-day).

    Outlook expands in ``range.recurrenceTimeZone`` (an IANA or Windows name); when that zone is
    known, the series is read there and ``Translation.start`` is ``start`` in that zone (Graph
    returns start times in UTC unless asked otherwise, and UTC has no DST). An unknown or missing
    zone means the start's own zone.

    Raises ``RecurrenceParseError`` for malformed input.
    """
    series = make_series(start)
    if not isinstance(recurrence, Mapping):
        raise RecurrenceParseError("a Graph recurrence must be an object")
    pattern = recurrence.get("pattern")
    range_ = recurrence.get("range")
    if not isinstance(pattern, Mapping) or not isinstance(range_, Mapping):
        raise RecurrenceParseError("a Graph recurrence needs a pattern and a range")
    if isinstance(series.start, datetime):
        zone = resolve_zone(range_.get("recurrenceTimeZone"))
        if zone is not None:
            series = Series(series.start.astimezone(zone))
    shape, external, week_start, clamp_day = _read_pattern(pattern, series)
    reason = None
    if clamp_day is not None:
        reason = Text.of(
            gettext_noop(
                "repeats on day %(day)s of the month, which Outlook moves to the last day of "
                "shorter months (the practice calendar skips those months)"
            ),
            day=clamp_day,
        )
    reading = Reading(
        series=series,
        shape=shape,
        external=external,
        end=_read_range(range_),
        week_start=week_start,
        whole_series_reason=reason,
    )
    return finish(reading, far_future=far_future, all_day_zone=all_day_zone)


def _read_pattern(
    pattern: Mapping[str, Any], series: Series
) -> tuple[Shape, du.rrule | None, Weekday, int | None]:
    raw_type = pattern.get("type")
    kind = _TYPE_BY_LOWER.get(str(raw_type).lower()) if isinstance(raw_type, str) else None
    if kind is None:
        raise RecurrenceParseError(f"unknown Graph pattern type {raw_type!r}")
    interval = _positive(pattern.get("interval", 1), "interval")
    week_start = _weekday(pattern.get("firstDayOfWeek") or "sunday", "firstDayOfWeek")
    kwargs: dict[str, Any] = {
        "dtstart": series.local,
        "interval": interval,
        "wkst": DU_WEEKDAYS[week_start],
        "cache": False,
    }
    clamp_day: int | None = None
    shape: Shape
    if kind == "daily":
        freq = du.DAILY
        shape = Daily(weekly_for_daily(interval, frozenset(), series.day))
    elif kind == "weekly":
        freq = du.WEEKLY
        days = _days(pattern)
        kwargs["byweekday"] = [DU_WEEKDAYS[d] for d in sorted(days)]
        shape = Candidate(Frequency.WEEKLY, interval, days)
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        day = _ranged(pattern.get("dayOfMonth"), "dayOfMonth", 1, 31)
        if day >= 29:
            kwargs["bymonthday"], kwargs["bysetpos"] = (day, -1), 1
            clamp_day = day
        else:
            kwargs["bymonthday"] = day
        if kind == "absoluteMonthly":
            freq = du.MONTHLY
            shape = Candidate(Frequency.MONTHLY, interval, month_day=day)
        else:
            freq = du.YEARLY
            kwargs["bymonth"] = _ranged(pattern.get("month"), "month", 1, 12)
            on_start = kwargs["bymonth"] == series.day.month and (
                day >= 29 or day == series.day.day  # 29-31 may be clamped: checked by expansion
            )
            shape = Candidate(Frequency.YEARLY, interval) if on_start else not_on_pattern(series)
    else:  # relativeMonthly, relativeYearly
        days = _days(pattern)
        index = pattern.get("index") or "first"
        if not isinstance(index, str) or index.lower() not in INDEXES:
            raise RecurrenceParseError(f"unknown Graph index {index!r}")
        n = INDEXES[index.lower()]
        months = 1
        if kind == "relativeYearly":
            freq = du.YEARLY
            kwargs["bymonth"] = _ranged(pattern.get("month"), "month", 1, 12)
            months = 12  # "every N years in March" is "every 12N months" from a March start
            if kwargs["bymonth"] != series.day.month:
                return not_on_pattern(series), None, week_start, None
        else:
            freq = du.MONTHLY
        if len(days) > 1:
            names = ",".join(DAY_NAMES[d] for d in sorted(days))
            return (
                unsupported(
                    gettext_noop(
                        "repeats on the %(index)s of several weekdays in a month "
                        "(daysOfWeek=%(days)s)"
                    ),
                    index=index.lower(),
                    days=names,
                ),
                None,
                week_start,
                None,
            )
        (day_of_week,) = days
        kwargs["byweekday"] = DU_WEEKDAYS[day_of_week](n)
        shape = check_interval(interval, unit_months=months) or Candidate(
            Frequency.MONTHLY, interval * months, nth=n, nth_weekday=day_of_week
        )
    if isinstance(shape, Candidate):
        shape = check_interval(shape.interval) or shape
    return shape, du.rrule(freq, **kwargs), week_start, clamp_day  # type: ignore[arg-type]


def _read_range(range_: Mapping[str, Any]) -> End:
    raw_type = range_.get("type")
    kind = str(raw_type).lower() if isinstance(raw_type, str) else None
    if kind == "noend":
        return None
    if kind == "enddate":
        return UntilDate(_date(range_.get("endDate"), "endDate"))
    if kind == "numbered":
        return Count(_positive(range_.get("numberOfOccurrences"), "numberOfOccurrences"))
    raise RecurrenceParseError(f"unknown Graph range type {raw_type!r}")


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecurrenceParseError(f"Graph {name} must be a positive integer, not {value!r}")
    return value


def _ranged(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecurrenceParseError(f"Graph {name} must be {low}..{high}, not {value!r}")
    return value


def _weekday(value: object, name: str) -> Weekday:
    if not isinstance(value, str) or value.lower() not in DAY_NAMES:
        raise RecurrenceParseError(f"Graph {name} must be a day name, not {value!r}")
    return Weekday(DAY_NAMES.index(value.lower()))


def _days(pattern: Mapping[str, Any]) -> frozenset[Weekday]:
    raw = pattern.get("daysOfWeek")
    if not isinstance(raw, list) or not raw:
        raise RecurrenceParseError("Graph daysOfWeek must be a non-empty list")
    return frozenset(_weekday(d, "daysOfWeek") for d in raw)


def _date(value: object, name: str) -> date:
    if not isinstance(value, str):
        raise RecurrenceParseError(f"Graph {name} must be a date string, not {value!r}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as error:
        raise RecurrenceParseError(f"Graph {name} is not a date: {value!r}") from error


# -- writing -------------------------------------------------------------------------------------


def to_graph(
    rule: Rule, start: datetime | date, *, far_future: date | None = FAR_FUTURE
) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` of ``rule`` for a series starting at ``start``.

    ``firstDayOfWeek`` is always ``monday`` (Graph's default is Sunday). ``recurrenceTimeZone`` is
    the start's IANA zone name (omitted for all-day series). A rule ending on ``far_future`` is
    written as ``noEnd`` (it was imported as NO_END); pass ``far_future=None`` to always write
    ``endDate``.

    Raises ``RuleError`` for an invalid rule (or a start off its pattern), and
    ``NotExpressibleError`` when Outlook would show other dates: "the fifth weekday" (Graph
    has no "fifth"; "last" differs in months with four) and day 29-31 or February 29 when Outlook's
    clamping to the month's end would add dates within the series.
    """
    series = make_series(start)
    rule.check_start(series.day)
    pattern: dict[str, Any] = {"type": "", "interval": rule.interval, "firstDayOfWeek": "monday"}
    if rule.frequency is Frequency.WEEKLY:
        pattern["type"] = "weekly"
        pattern["daysOfWeek"] = [DAY_NAMES[d] for d in sorted(rule.weekdays)]
    elif rule.frequency is Frequency.MONTHLY and rule.month_day is not None:
        pattern["type"] = "absoluteMonthly"
        pattern["dayOfMonth"] = rule.month_day
    elif rule.frequency is Frequency.MONTHLY:
        assert rule.nth is not None and rule.nth_weekday is not None
        pattern["type"] = "relativeMonthly"
        pattern["daysOfWeek"] = [DAY_NAMES[rule.nth_weekday]]
        # Graph has no "fifth": "last" is the same date in every month that has a fifth one.
        pattern["index"] = _INDEX_NAMES[-1 if rule.nth == 5 else rule.nth]
    else:
        pattern["type"] = "absoluteYearly"
        pattern["dayOfMonth"] = series.day.day
        pattern["month"] = series.day.month
    range_: dict[str, Any] = {"startDate": series.day.isoformat()}
    if far_future is not None and rule.until == far_future:
        range_["type"] = "noEnd"
    else:
        range_["type"] = "endDate"
        range_["endDate"] = rule.until.isoformat()
    zone_name = _zone_name(series.zone)
    if zone_name:
        range_["recurrenceTimeZone"] = zone_name
    recurrence = {"pattern": pattern, "range": range_}
    _check_expressible(rule, series, recurrence)
    return recurrence


def _check_expressible(rule: Rule, series: Series, recurrence: dict[str, Any]) -> None:
    """Refuse a pattern whose Outlook dates differ from the rule's, over the whole series."""
    risky = rule.nth == 5 or (rule.frequency is not Frequency.WEEKLY and series.day.day >= 29)
    if not risky:
        return
    _, external, _, _ = _read_pattern(recurrence["pattern"], series)
    assert external is not None
    if dates_through(external, rule.until) == list(rule.to_dateutil(series.local)):
        return
    if rule.nth == 5:
        text = Text.of(
            gettext_noop(
                "This meeting repeats on the fifth %(weekday)s of the month, which Outlook cannot "
                "express (it has no “fifth”, only “last”), so it was not "
                "written to Outlook. Tip: repeat it on the last %(weekday)s instead, or create the "
                "occurrences as separate meetings."
            ),
            weekday=WEEKDAY_TEXT[rule.nth_weekday if rule.nth_weekday is not None else 0],
        )
    else:
        text = Text.of(
            gettext_noop(
                "This meeting repeats on day %(day)s, which Outlook moves to the last day of "
                "shorter months while the practice calendar skips those months, so it was not "
                "written to Outlook. Tip: repeat it on an earlier day of the month, or on the "
                "last weekday of the month."
            ),
            day=series.day.day,
        )
    raise NotExpressibleError(text.render(), text)


def _zone_name(zone: tzinfo | None) -> str | None:
    if zone is None:
        return None
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    if zone.utcoffset(None) is not None and zone.utcoffset(None) == UTC.utcoffset(None):
        return "UTC"
    return None


def outlook_rrule(pattern: Mapping[str, Any], series: Series) -> du.rrule | None:
    """The pattern as Outlook expands it (unbounded, naive local wall times), or None for a
    pattern the internal model cannot read at all (several weekdays in a relative pattern)."""
    return _read_pattern(pattern, series)[1]
