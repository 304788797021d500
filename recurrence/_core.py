"""Machinery shared by the RRULE and Graph readers.

A reader turns the provider's data into a ``Reading``: the series' start, the *shape* the internal
model could hold (a ``Candidate`` rule without its end, a ``Daily`` repetition, or ``Unsupported``),
the provider's own expansion as an unbounded dateutil rule over naive local wall times (the ground
truth for that provider's semantics: WKST, Outlook's month-end clamping), and the end (COUNT, UNTIL,
end date or none). ``finish`` then decides the end date, checks what must be checked by expansion,
and raises the flags.

Why expansion at all, when the shape maps structurally? Three questions can only be answered by the
dates: where COUNT or an UTC UNTIL ends in local dates, whether a non-Monday week start really
changes the dates of *this* series, and whether Outlook's clamping of day 29-31 is ever hit within
the series. Everything else is exact by construction (each candidate is the same dateutil rule as
the provider's), which the test suite checks by expansion.
"""

from __future__ import annotations

import calendar
import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from recurrence.errors import RecurrenceParseError
from recurrence.model import WEEKDAY_NAMES, Frequency, Rule, RuleError, Weekday, localize
from recurrence.translation import (
    Flag,
    Meeting,
    Message,
    Suggestion,
    SuggestionKind,
    Text,
    Translation,
    gettext_noop,
)

FAR_FUTURE = date(2078, 12, 31)
"""Default end of a series without end (PRODUCT 21); the Django setting passes its own value."""

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DU_WEEKDAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)


# Weekday names for messages, translatable: the model's own names (``Weekday.label``).
WEEKDAY_TEXT = tuple(Text(name) for name in WEEKDAY_NAMES)


def weekday_list(days: Iterable[Weekday]) -> Text:
    """ "Monday, Wednesday, Sunday" as one translatable ``Text``."""
    names = [WEEKDAY_TEXT[d] for d in sorted(days)]
    joined = names[0]
    for name in names[1:]:
        joined = Text.of("%(first)s, %(next)s", first=joined, next=name)
    return joined


# -- the series' start ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """The first occurrence: an aware datetime (its zone is the expansion zone) or a date."""

    start: datetime | date

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def zone(self) -> tzinfo | None:
        return self.start.tzinfo if isinstance(self.start, datetime) else None

    @property
    def local(self) -> datetime:
        """Naive local wall time of the first occurrence (midnight for all-day series)."""
        if isinstance(self.start, datetime):
            return self.start.replace(tzinfo=None)
        return datetime.combine(self.start, time())

    @property
    def day(self) -> date:
        return self.local.date()

    def value(self, local: datetime) -> datetime | date:
        """An expanded naive wall time as this series' occurrence value."""
        zone = self.zone
        return local.date() if zone is None else localize(local, zone)


def make_series(start: object) -> Series:
    if isinstance(start, datetime):
        if start.tzinfo is None or start.utcoffset() is None:
            raise RecurrenceParseError("start must be timezone-aware (or a date for all-day)")
        if not 1000 <= start.year <= 9000:  # room for zone and expansion arithmetic
            raise RecurrenceParseError(f"start {start.isoformat()} is out of range")
        # Calendars have whole seconds (Graph's 7 fractional digits are zeros), and dateutil drops
        # microseconds from its start: keep the two in step.
        return Series(start.replace(microsecond=0))
    if isinstance(start, date):
        if not 1000 <= start.year <= 9000:
            raise RecurrenceParseError(f"start {start.isoformat()} is out of range")
        return Series(start)
    raise RecurrenceParseError(f"start must be a datetime or a date, not {type(start).__name__}")


def resolve_zone(name: str | None) -> tzinfo | None:
    """An IANA or Windows zone name as a zone, or None when unknown (callers fall back)."""
    if not name or not isinstance(name, str):
        return None
    name = name.strip()
    for candidate in (name, WINDOWS_TO_OLSON.get(name)):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    if name.upper() in {"UTC", "Z", "GMT", "ETC/UTC"}:
        return UTC
    return None


# -- the end of a series -------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    n: int


@dataclass(frozen=True)
class UntilInstant:
    """RRULE ``UNTIL=...Z``: inclusive, compared with each occurrence's instant."""

    at: datetime


@dataclass(frozen=True)
class UntilLocal:
    """RRULE ``UNTIL`` without ``Z`` on a timed series: a floating wall time, inclusive."""

    at: datetime


@dataclass(frozen=True)
class UntilDate:
    """Graph ``endDate``, or RRULE ``UNTIL=YYYYMMDD``: inclusive, on local dates."""

    day: date


End = Count | UntilInstant | UntilLocal | UntilDate | None


# -- shapes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An internal rule without its end date."""

    frequency: Frequency
    interval: int
    weekdays: frozenset[Weekday] = frozenset()
    month_day: int | None = None
    nth: int | None = None
    nth_weekday: Weekday | None = None

    def rule(self, until: date) -> Rule:
        return Rule(
            frequency=self.frequency,
            until=until,
            interval=self.interval,
            weekdays=self.weekdays,
            month_day=self.month_day,
            nth=self.nth,
            nth_weekday=self.nth_weekday,
        )


@dataclass(frozen=True)
class Daily:
    """A daily repetition; ``weekly`` is the weekly rule giving exactly the same dates, if any."""

    weekly: Candidate | None


@dataclass(frozen=True)
class Unsupported:
    reasons: tuple[Text, ...]


Shape = Candidate | Daily | Unsupported


@dataclass(frozen=True)
class Reading:
    series: Series
    shape: Shape
    external: du.rrule | None  # unbounded, naive local wall times, the provider's semantics
    end: End
    week_start: Weekday = Weekday.MO
    # When set, the whole series is compared by expansion and a difference makes it UNSUPPORTED
    # for this reason (Outlook clamps days 29-31 where RFC 5545 and the internal model skip).
    whole_series_reason: Text | None = None
    exdates: tuple[datetime | date, ...] = field(default=())
    # RDATE values (RFC 5545): held when they are occurrences already, or extend the end.
    rdates: tuple[datetime | date, ...] = field(default=())
    # RFC 7529 SKIP=BACKWARD or FORWARD: refused only where it moves a date.
    skip: str | None = None


def unsupported(template: str, **params: str | int | Text) -> Unsupported:
    return Unsupported((Text.of(template, **params),))


def not_on_pattern(series: Series) -> Unsupported:
    # RFC 5545 leaves a DTSTART that does not match its rule undefined (§3.8.5.3), and the
    # internal model requires the start to be the first occurrence: nothing exact is possible.
    return unsupported(
        gettext_noop("does not include its own start (%(date)s is not one of the repeated dates)"),
        date=series.day.isoformat(),
    )


def check_interval(interval: int, *, unit_months: int = 1) -> Unsupported | None:
    # The internal model, like Exchange, allows 1..99 periods.
    if interval * unit_months > 99:
        return unsupported(
            gettext_noop("repeats every %(interval)s periods, and at most 99 are possible"),
            interval=interval * unit_months,
        )
    return None


def weekly_for_daily(interval: int, days: frozenset[Weekday], start: date) -> Candidate | None:
    """The weekly rule equal to a daily one, when there is one: every day limited to some weekdays
    is weekly on those weekdays; every 7k days is every k weeks on the start's weekday."""
    if interval == 1:
        return Candidate(Frequency.WEEKLY, 1, days or frozenset(Weekday))
    if interval % 7 == 0 and interval // 7 <= 99:
        weekday = Weekday(start.weekday())
        if not days or weekday in days:
            return Candidate(Frequency.WEEKLY, interval // 7, frozenset({weekday}))
    return None


# -- expansion helpers ---------------------------------------------------------------------------


def last_date(
    reading: Reading, external: du.rrule, all_day_zone: tzinfo, limit: date
) -> tuple[date | None, bool]:
    """The local date of the last occurrence (None for a series without end), and whether the
    series was cut at ``limit``.

    The series always includes its first occurrence (RFC 5545: DTSTART is the first instance), so
    an UNTIL before the start leaves a series of one. Expansion never goes past ``limit`` (the
    far-future date): a series ending later is cut there. That keeps the work bounded, and keeps
    absurd ends (COUNT=1000000000, UNTIL in year 9999) from reaching dateutil's year 9999, where
    it fails with a bare ValueError.
    """
    series, end = reading.series, reading.end
    if end is None:
        return None, False
    horizon = datetime.combine(limit, time.max)  # naive, the last wall time expanded
    if isinstance(end, Count):
        last: datetime | None = None
        seen = 0
        within = itertools.takewhile(lambda d: d <= horizon, external)
        for occurrence in itertools.islice(within, end.n):
            last, seen = occurrence, seen + 1
        return _last_day(last, series), seen < end.n
    test = _end_test(end, series, all_day_zone, horizon)
    if test is None:
        return series.day, False
    included, cutoff = test
    last = external.before(cutoff, inc=True)
    while last is not None and not included(last):
        last = external.before(last)
    capped = False
    if cutoff >= horizon:  # the end lies beyond the limit: is anything really cut off?
        try:
            following = external.after(last or series.local)
        except (ValueError, OverflowError):  # nothing before dateutil's year 9999
            following = None
        capped = following is not None and included(following)
    return _last_day(last, series), capped


def _last_day(last: datetime | None, series: Series) -> date:
    return series.day if last is None else max(last.date(), series.day)


def _end_test(
    end: UntilInstant | UntilLocal | UntilDate,
    series: Series,
    all_day_zone: tzinfo,
    horizon: datetime,
) -> tuple[Callable[[datetime], bool], datetime] | None:
    """Whether a naive local occurrence is within ``end``, and the wall time to search back from
    (never past ``horizon``); None when the end is before the start (a series of one)."""
    if isinstance(end, UntilDate):
        day = end.day
        return (lambda d: d.date() <= day), min(datetime.combine(day, time.max), horizon)
    if isinstance(end, UntilLocal):
        at = end.at
        return (lambda d: d <= at), min(at, horizon)
    at = end.at
    zone = series.zone
    # Compared in UTC first, so that no extreme year is ever moved into another zone (overflow).
    start_instant = localize(series.local, zone or all_day_zone)
    if at < start_instant - timedelta(days=1):
        return None
    if at > horizon.replace(tzinfo=UTC) + timedelta(days=2):
        return (lambda d: True), horizon
    if zone is None:
        # An all-day occurrence is the day starting at midnight in the calendar's zone: it is
        # included when that midnight is not after UNTIL, that is when its date is not after
        # UNTIL's date in that zone.
        day = at.astimezone(all_day_zone).date()
        return (lambda d: d.date() <= day), min(datetime.combine(day, time.max), horizon)
    # A first guess in wall time, generous by a few hours for any UTC offset change; occurrences
    # whose real instant is after UNTIL are then stepped over.
    guess = at.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3)
    return (lambda d: localize(d, zone) <= at), min(guess, horizon)


def _through(rr: Iterable[datetime], last: date) -> Iterator[datetime]:
    return itertools.takewhile(lambda d: d.date() <= last, rr)


def dates_through(rr: Iterable[datetime], last: date) -> list[datetime]:
    return list(_through(rr, last))


# -- which dates name an occurrence --------------------------------------------------------------


@dataclass(frozen=True)
class Occurrences:
    """The provider's own occurrences of a series (its expansion through its last date), to tell
    which EXDATE, RECURRENCE-ID or exception start names a real one (RFC 5545 §3.8.5.1: an
    EXDATE that matches no instance removes nothing; a RECURRENCE-ID names an instance of the
    set, §3.8.4.4).

    A value names an occurrence when, in the series' zone, it is that occurrence:

    * on a timed series, a DATE-TIME must be its instant (a floating one, its wall time); a DATE
      names that day's occurrence (invalid RFC 5545, but clients write it, and a series has at
      most one occurrence a day);
    * on an all-day series, a DATE is its day; a DATE-TIME is read in the calendar's zone, or
      as Graph's ``originalStart`` of an all-day slot (midnight in the event's own zone, which
      the nearest UTC midnight gives for any zone within twelve hours of UTC).
    """

    series: Series
    external: du.rrule
    last: date  # the provider's last date, inclusive
    all_day_zone: tzinfo

    def find(self, values: Iterable[datetime | date]) -> list[datetime | date | None]:
        """For each value, the occurrence it names (in the series' zone, or a date), or None."""
        values = list(values)
        days = [self._days(v) for v in values]
        wanted = [d for ds in days for d in ds if self.series.day <= d <= self.last]
        if not wanted:
            return [None] * len(values)
        # One expansion for all of them (at most one occurrence a day).
        by_day = {d.date(): d for d in dates_through(self.external, max(wanted))}
        out: list[datetime | date | None] = []
        for value, candidates in zip(values, days, strict=True):
            found: datetime | date | None = None
            for day in candidates:
                local = by_day.get(day)
                if local is not None and self._names(value, local):
                    found = self.series.value(local)
                    break
            out.append(found)
        return out

    def _days(self, value: datetime | date) -> list[date]:
        """The local dates ``value`` may name; none when it is far outside the series (which
        also keeps extreme years away from any zone conversion)."""
        own = _day(value)
        if not self.series.day - timedelta(days=2) <= own <= self.last + timedelta(days=2):
            return []
        if not isinstance(value, datetime) or value.tzinfo is None:
            return [own]
        zone = self.series.zone
        if zone is not None:
            return [value.astimezone(zone).date()]
        in_zone = value.astimezone(self.all_day_zone).date()
        slot = (value.astimezone(UTC) + timedelta(hours=12)).date()
        return [in_zone] if slot == in_zone else [in_zone, slot]

    def _names(self, value: datetime | date, local: datetime) -> bool:
        zone = self.series.zone
        if zone is None or not isinstance(value, datetime):
            return True  # the day was matched
        if value.tzinfo is None:
            return value == local
        return localize(local, zone) == value


# -- finishing a reading -------------------------------------------------------------------------


def unsupported_translation(series: Series, reasons: Iterable[Text]) -> Translation:
    reasons = tuple(reasons)
    what = reasons[0]
    for extra in reasons[1:]:
        what = Text.of(gettext_noop("%(first)s; it also %(second)s"), first=what, second=extra)
    message = Message(
        Flag.UNSUPPORTED,
        Text.of(
            gettext_noop(
                "This repeated meeting was not synchronised, because it %(what)s: the practice "
                "calendar cannot repeat a meeting that way. Tip: change it to repeat weekly, "
                "monthly or yearly on a single pattern (or create separate meetings); it will "
                "then be synchronised."
            ),
            what=what,
        ),
    )
    return Translation(None, series.start, frozenset({Flag.UNSUPPORTED}), (message,))


def _describe(rule: Rule, start: date) -> Text:
    """The rule as a translatable sentence (``recurrence.describe``; its English rendering is
    ``Rule.describe``), so a message that names the repetition reads wholly in its reader's
    language."""
    # Imported here: recurrence.describe takes this module's weekday names.
    from recurrence.describe import describe

    return describe(rule, start)


def finish(reading: Reading, *, far_future: date, all_day_zone: tzinfo) -> Translation:
    series, shape = reading.series, reading.shape
    if isinstance(shape, Unsupported):
        return unsupported_translation(series, shape.reasons)
    if isinstance(shape, Daily) and shape.weekly is None:
        return _daily(series, shape, None)  # nothing to expand: no suggestion to prove
    if isinstance(shape, Candidate):
        # Checked on the structure first: dateutil walks up to year 9999 looking for the first
        # occurrence of a rule that has none (BYMONTH=2;BYMONTHDAY=30), which takes seconds.
        try:
            shape.rule(series.day).check_start(series.day)
        except RuleError:
            return unsupported_translation(series, not_on_pattern(series).reasons)
    external = reading.external
    assert external is not None
    # On the pattern, the first occurrence is the start itself, found at once.
    on_pattern = next(iter(external), None) == series.local
    if not on_pattern and not isinstance(shape, Daily):
        return unsupported_translation(series, not_on_pattern(series).reasons)
    limit = max(far_future, series.day)
    last, capped = last_date(reading, external, all_day_zone, limit)
    if reading.rdates:
        extended = (
            _with_rdates(reading, external, last, capped, limit, all_day_zone)
            if on_pattern
            else None
        )
        if extended is None:
            return unsupported_translation(series, [RDATE_REASON])
        last, capped = extended
    until = last if last is not None else limit

    if isinstance(shape, Daily):
        return _daily(series, shape, until if on_pattern else None)

    if reading.skip is not None:
        moved = _skip_moves_a_date(reading, shape, external, all_day_zone, limit)
        if moved is not None:
            return unsupported_translation(series, [moved])

    rule = shape.rule(until)

    if reading.whole_series_reason is not None:
        external_dates = dates_through(external, until)
        if external_dates != list(rule.to_dateutil(series.local)):
            return unsupported_translation(series, [reading.whole_series_reason])

    ended = last is not None
    if ended:
        # The end is the rule's own last occurrence: the provider's last date is one only when
        # the dates are the same (a Sunday-week series may end on a day the Monday-week rule
        # does not have), and reading the rule back must give the same rule (issue 13).
        rule = replace(rule, until=rule.last_date(series.day) or until)
    occurrences = Occurrences(series, external, until, all_day_zone)
    tr = Translation(rule, series.start, occurrences=occurrences)
    if last is None:
        tr = tr.with_message(
            Message(
                Flag.NO_END,
                Text.of(
                    gettext_noop(
                        "This repeated meeting has no end date, and it repeats with no end date "
                        "in the practice calendar too. Tip: give the meeting an end date if it "
                        "should stop."
                    ),
                    until=until.isoformat(),
                ),
            )
        )
    if capped:
        tr = tr.with_message(
            Message(
                Flag.NO_END,
                Text.of(
                    gettext_noop(
                        "This repeated meeting ends after %(limit)s, later than the practice "
                        "calendar holds, so it repeats until %(until)s there. Tip: give it an "
                        "earlier end date if it should stop sooner."
                    ),
                    limit=limit.isoformat(),
                    until=until.isoformat(),
                ),
            )
        )
    tr = _week_start(tr, reading, external, rule, until, ended)
    return with_exception_starts(tr, reading.exdates)


RDATE_REASON = Text.of(gettext_noop("has separately added dates (RDATE)"))


def _with_rdates(
    reading: Reading,
    external: du.rrule,
    last: date | None,
    capped: bool,
    limit: date,
    all_day_zone: tzinfo,
) -> tuple[date | None, bool] | None:
    """The series' end with its RDATEs (RFC 5545 §3.8.5.2), or None when they add a date the rule
    does not give: decided by dates, as the week start is.

    An RDATE changes nothing when it is an occurrence already; RDATEs just after the end extend
    it when, with the EXDATEs, they leave no gap: ``UNTIL=20200204T151459Z`` with ``RDATE`` on
    the 16:15 occurrence of that day is the rule ending a day later. Each RDATE must be exactly
    an occurrence of the rule: its instant on a timed series (a DATE there, or a PERIOD, is
    another kind of instance), its date on an all-day one.
    """
    series = reading.series
    if any(isinstance(v, datetime) != (not series.all_day) for v in reading.rdates):
        return None
    unbounded = Occurrences(series, external, limit, all_day_zone)
    found = unbounded.find(reading.rdates)
    if any(v is None for v in found):
        return None
    excluded = {v for v in unbounded.find(reading.exdates) if v is not None}
    added = {v for v in found if v is not None and v not in excluded}
    if last is None or capped:
        return last, capped  # every occurrence up to the limit is in the series already
    later = [v for v in added if _day(v) > last]
    if not later:
        return last, capped
    new_last = max(_day(v) for v in later)
    for local in dates_through(external, new_last):
        value = series.value(local)
        if local.date() > last and value not in added and value not in excluded:
            return None  # a gap: the RDATEs are not the rule with a later end
    return new_last, False


def _skip_moves_a_date(
    reading: Reading, shape: Candidate, external: du.rrule, all_day_zone: tzinfo, limit: date
) -> Text | None:
    """The reason to refuse a rule with RFC 7529 ``SKIP=BACKWARD`` or ``FORWARD``, or None when
    the series never meets a day its months lack, so SKIP changes nothing (it only acts on
    invalid dates: day 29-31 of a shorter month, February 29 of a common year).

    Before the first such month the two rules have the same dates, so they differ exactly when
    the date SKIP puts there (the month's last day, or the next month's first) is still within
    the series' end, COUNT and UNTIL counted as RFC 7529 does, after the skip."""
    series = reading.series
    moved = _first_moved(shape, series, reading.skip, limit)
    if moved is None:
        return None
    end = reading.end
    within: bool
    if end is None:
        within = True
    elif isinstance(end, Count):
        before = itertools.takewhile(lambda d: d < moved, external)
        within = sum(1 for _ in itertools.islice(before, end.n)) < end.n
    else:
        test = _end_test(end, series, all_day_zone, datetime.combine(limit, time.max))
        within = test is not None and test[0](moved)
    if not within:
        return None
    return Text.of(
        gettext_noop(
            "moves its date in months without day %(day)s (SKIP=%(skip)s), where the practice "
            "calendar skips that month"
        ),
        day=series.day.day,
        skip=str(reading.skip),
    )


def _first_moved(
    shape: Candidate, series: Series, skip: str | None, limit: date
) -> datetime | None:
    """The local wall time SKIP first moves an invalid date to, or None before ``limit``."""
    wall = series.local.time()
    if shape.frequency is Frequency.MONTHLY and shape.month_day is not None:
        day, step = shape.month_day, shape.interval
    elif shape.frequency is Frequency.YEARLY and (series.day.month, series.day.day) == (2, 29):
        day, step = 29, 12 * shape.interval
    else:
        return None  # weekdays and nth weekdays never name a day a month lacks
    months = 0
    while True:
        year, month = divmod(series.day.month - 1 + months, 12)
        year += series.day.year
        if date(year, month + 1, 1) > limit:
            return None
        length = calendar.monthrange(year, month + 1)[1]
        if length < day:
            moved = (
                date(year, month + 1, length)
                if skip == "BACKWARD"
                else date(year, month + 1, length) + timedelta(days=1)
            )
            return datetime.combine(moved, wall)
        months += step


def _daily(series: Series, shape: Daily, until: date | None) -> Translation:
    suggestions: tuple[Suggestion, ...] = ()
    tip = Text.of(
        gettext_noop(
            "Tip: most daily meetings can be described as a weekly repetition on the working "
            "days; change it that way and it will be synchronised."
        )
    )
    if shape.weekly is not None and until is not None:
        rule = shape.weekly.rule(until)
        described = _describe(rule, series.day)
        offer = Message(
            Flag.DAILY,
            Text.of(gettext_noop("Repeat weekly instead: %(rule)s."), rule=described),
        )
        suggestions = (
            Suggestion(SuggestionKind.WEEKLY, Flag.DAILY, (Meeting(rule, series.start),), offer),
        )
        tip = Text.of(
            gettext_noop(
                "Tip: the same dates can be described as a weekly repetition (%(rule)s); accept "
                "the suggestion to convert it in one click."
            ),
            rule=described,
        )
    message = Message(
        Flag.DAILY,
        Text.of(
            gettext_noop(
                "This meeting repeats daily, and the practice calendar has no daily repetition, "
                "so it was not synchronised. %(tip)s"
            ),
            tip=tip,
        ),
    )
    return Translation(None, series.start, frozenset({Flag.DAILY}), (message,), suggestions)


def _week_start(
    tr: Translation, reading: Reading, external: du.rrule, rule: Rule, until: date, ended: bool
) -> Translation:
    """SUNDAY_WEEK_START, raised only when the provider's week start changes this series' dates.

    Both expansions repeat with a period of ``interval`` weeks from the start, so if they agree on
    the first ``interval`` weeks (or on the whole series, if shorter) they agree everywhere.
    ``until`` is the provider's last date; when the series ``ended`` there (not the far-future
    end of an open series), each meeting of the split ends on its own last occurrence.
    """
    wkst = reading.week_start
    if (
        rule.frequency is not Frequency.WEEKLY
        or wkst is Weekday.MO
        or rule.interval == 1
        or len(rule.weekdays) < 2
    ):
        return tr
    series = reading.series
    window = min(until, series.day + timedelta(weeks=rule.interval, days=1))
    internal = rule.to_dateutil(series.local)
    if dates_through(external, window) == dates_through(internal, window):
        return tr

    # The exact alternative: in the provider's weeks, the days from its week start through Sunday
    # come first and lie in one Monday week; the days from Monday up to its week start lie in the
    # next Monday week. Each group alone is therefore the same in both week systems.
    groups = [
        frozenset(d for d in rule.weekdays if d >= wkst),
        frozenset(d for d in rule.weekdays if d < wkst),
    ]
    meetings: list[Meeting] = []
    for group in groups:
        if not group:
            continue
        first = next((d for d in _through(external, until) if Weekday(d.weekday()) in group), None)
        if first is not None:
            part = Rule(Frequency.WEEKLY, until, rule.interval, group)
            if ended:
                part = replace(part, until=part.last_date(first.date()) or until)
            meetings.append(Meeting(part, series.value(first)))
    descriptions = [_describe(m.rule, _day(m.start)) for m in meetings]
    split_text = descriptions[0]
    for more in descriptions[1:]:
        split_text = Text.of(
            gettext_noop("%(first)s, and %(second)s"), first=split_text, second=more
        )
    offer = Message(
        Flag.SUNDAY_WEEK_START,
        Text.of(
            gettext_noop("Split it into two weekly meetings: %(meetings)s."), meetings=split_text
        ),
    )
    message = Message(
        Flag.SUNDAY_WEEK_START,
        Text.of(
            gettext_noop(
                "This meeting repeats every %(interval)s weeks on %(days)s, in a calendar whose "
                "weeks start on %(week_start)s. The practice calendar starts weeks on Monday, so "
                "the two calendars show some of its dates differently. The meeting was "
                "synchronised as normal. Tip: split it into two weekly meetings, one for "
                "%(first_days)s and one for the other days; both calendars will then show the "
                "same dates."
            ),
            interval=rule.interval,
            days=weekday_list(rule.weekdays),
            week_start=WEEKDAY_TEXT[wkst],
            first_days=weekday_list(groups[0]),
        ),
    )
    split = Suggestion(SuggestionKind.SPLIT, Flag.SUNDAY_WEEK_START, tuple(meetings), offer)
    tr = tr.with_message(message)
    return replace(tr, suggestions=(*tr.suggestions, split))


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def with_exception_starts(tr: Translation, starts: Iterable[datetime | date]) -> Translation:
    """Add EXCEPTION for occurrences removed or moved externally (PRODUCT 21): the internal series
    keeps them, and the user is told which."""
    if tr.rule is None:
        return tr  # the series itself is not synced; its own message says so
    if tr.occurrences is not None:
        # Only a start that names a real occurrence of the provider's series removes or moves
        # one (a stale override, or an EXDATE off the pattern, changes nothing there).
        starts = [s for s in tr.occurrences.find(starts) if s is not None]
    merged = list(tr.exceptions)
    for start in starts:
        if isinstance(tr.start, datetime) and isinstance(start, datetime):
            assert tr.start.tzinfo is not None
            with contextlib.suppress(OverflowError):  # an absurd year: listed as given
                start = start.astimezone(tr.start.tzinfo)
        if start not in merged:
            merged.append(start)
    if not merged:
        return tr
    merged.sort(key=_sort_key)
    listed = ", ".join(_display(s) for s in merged)
    message = Message(
        Flag.EXCEPTION,
        Text.of(
            gettext_noop(
                "Your external calendar has an exception on this repeated meeting: the occurrence "
                "of %(dates)s was moved or deleted there. The practice calendar does not allow "
                "exceptions on a repeated meeting, so the series was synchronised without it. "
                "Tip: add a separate meeting to your calendar to remind you of the exception."
            ),
            dates=listed,
        ),
    )
    return replace(tr.with_message(message), exceptions=tuple(merged))


def _sort_key(value: datetime | date) -> tuple[date, str]:
    return (_day(value), value.isoformat())


def _display(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()
