"""The internal repetition model (PRODUCT 19) and its expansion into occurrences.

The practice calendar repeats a meeting

* weekly, on one or more chosen weekdays,
* monthly, on a day of the month (``month_day``) or on the nth weekday of the month
  (``nth`` 1..5 or -1 for "last", with ``nth_weekday``),
* yearly, on the month and day of the first occurrence,

every ``interval`` periods, until an end date (inclusive, in the meeting's own zone). Weeks start
on Monday. There is no daily repetition, no open end and no exception on single occurrences: those
are what the translation module flags when it meets them in a provider's rule.

Contract between a rule and its meeting: the meeting's start *is* the first occurrence, so the start
must match the pattern (``Rule.check_start``). That keeps the meaning of "the meeting" and "its
first occurrence" the same on both sides of a sync.

Months without the chosen day (the 31st, the 5th Tuesday, February 29) are skipped, which is what
RFC 5545 does too; that keeps the translation to RRULE exact.

This module is pure Python (no Django): the connectors and the translation module use it too.
Expansion is delegated to python-dateutil's ``rrule`` with ``wkst=MO``; it is computed on naive
local wall times and then placed in the series' zone, so an occurrence keeps its local time across
a daylight-saving change.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from dateutil import rrule as du

if TYPE_CHECKING:
    from recurrence.translation import Text


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction into the catalogue (``recurrence.translation`` has the same
    function; this module cannot import it, since that module imports this one)."""
    return message


class RuleError(ValueError):
    """A rule, or a rule with its start, that the internal model cannot hold.

    The message is meant for the user: ``str(error)`` is English, ``error.text`` its translatable
    form, which the meeting form renders in the reader's language
    (``error.text.render(django.utils.translation.gettext)``).
    """

    text: Text

    def __init__(self, template: str, **params: str | int | Text) -> None:
        from recurrence.translation import Text  # that module imports this one

        self.text = Text.of(template, **params)
        super().__init__(self.text.render())


class Frequency(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Weekday(enum.IntEnum):
    """Monday is 0, as in ``date.weekday()`` and ``dateutil.rrule``."""

    MO = 0
    TU = 1
    WE = 2
    TH = 3
    FR = 4
    SA = 5
    SU = 6

    @property
    def label(self) -> str:
        return WEEKDAY_NAMES[self]


WEEKDAY_NAMES = (
    gettext_noop("Monday"),
    gettext_noop("Tuesday"),
    gettext_noop("Wednesday"),
    gettext_noop("Thursday"),
    gettext_noop("Friday"),
    gettext_noop("Saturday"),
    gettext_noop("Sunday"),
)


def _weekday_text(day: Weekday) -> Text:
    """The weekday's name as a translatable ``Text`` (a parameter of a ``RuleError``)."""
    from recurrence.translation import Text  # that module imports this one

    return Text(WEEKDAY_NAMES[day])


_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
_DU_WEEKDAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)

# Validation bounds: generous for real use, tight enough that expansion stays cheap.
MAX_INTERVAL = 99


@dataclass(frozen=True)
class Rule:
    """One internal repetition rule. Construct it, then ``validate()`` (the constructor of a frozen
    dataclass cannot report several problems nicely, and forms want the message)."""

    frequency: Frequency
    until: date
    interval: int = 1
    weekdays: frozenset[Weekday] = field(default_factory=frozenset)
    month_day: int | None = None
    nth: int | None = None
    nth_weekday: Weekday | None = None

    # -- validation ------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``RuleError`` when the rule is not one the internal model can hold."""
        if not isinstance(self.interval, int) or not 1 <= self.interval <= MAX_INTERVAL:
            raise RuleError(gettext_noop("Repeat every 1 to %(max)s periods."), max=MAX_INTERVAL)
        if self.frequency is Frequency.WEEKLY:
            if not self.weekdays:
                raise RuleError(
                    gettext_noop("Choose at least one weekday for a weekly repetition.")
                )
            if self.month_day is not None or self.nth is not None or self.nth_weekday is not None:
                raise RuleError(gettext_noop("A weekly repetition takes weekdays only."))
        elif self.frequency is Frequency.MONTHLY:
            if self.weekdays:
                raise RuleError(
                    gettext_noop("A monthly repetition takes a day of the month or an nth weekday.")
                )
            by_day = self.month_day is not None
            by_nth = self.nth is not None or self.nth_weekday is not None
            if by_day == by_nth:
                raise RuleError(
                    gettext_noop(
                        "A monthly repetition is either on a day of the month or on an nth weekday."
                    )
                )
            if by_day and not 1 <= (self.month_day or 0) <= 31:
                raise RuleError(gettext_noop("The day of the month must be between 1 and 31."))
            if by_nth and (self.nth not in _ORDINALS or self.nth_weekday is None):
                raise RuleError(
                    gettext_noop("Choose the first to fifth, or the last, weekday of the month.")
                )
        elif self.frequency is Frequency.YEARLY:
            if self.weekdays or self.month_day is not None or self.nth is not None:
                raise RuleError(
                    gettext_noop("A yearly repetition repeats on the date of its first occurrence.")
                )
        else:  # pragma: no cover - enum exhausted
            raise RuleError(
                gettext_noop("Unknown frequency %(frequency)s."), frequency=repr(self.frequency)
            )

    def check_start(self, start: date) -> None:
        """Raise ``RuleError`` unless ``start`` (the local date of the first occurrence) matches."""
        self.validate()
        if self.until < start:
            raise RuleError(
                gettext_noop("The repetition must end on or after the first occurrence.")
            )
        if self.frequency is Frequency.WEEKLY and Weekday(start.weekday()) not in self.weekdays:
            raise RuleError(
                gettext_noop(
                    "The first occurrence is on a %(weekday)s, which is not one of the chosen "
                    "weekdays."
                ),
                weekday=_weekday_text(Weekday(start.weekday())),
            )
        if self.frequency is Frequency.MONTHLY:
            if self.month_day is not None and start.day != self.month_day:
                raise RuleError(
                    gettext_noop(
                        "The first occurrence is on day %(day)s, not on day %(month_day)s of the "
                        "month."
                    ),
                    day=start.day,
                    month_day=self.month_day,
                )
            if self.nth is not None and (
                self.nth_weekday != start.weekday()
                or (self.nth == -1 and not is_last_of_month(start))
                or (self.nth != -1 and nth_of_month(start) != self.nth)
            ):
                raise RuleError(
                    gettext_noop("The first occurrence is not on the chosen weekday of the month.")
                )

    # -- presentation ----------------------------------------------------------------------------

    def describe(self, start: date) -> str:
        """A short English sentence such as "Every 2 weeks on Monday, Thursday until 2027-03-01"
        (``recurrence.describe.describe`` is its translatable form)."""
        from recurrence.describe import describe  # it imports this module

        return describe(self, start).render()

    # -- expansion -------------------------------------------------------------------------------

    def to_dateutil(self, dtstart: datetime) -> du.rrule:
        """The equivalent ``dateutil`` rule over naive local wall times starting at ``dtstart``."""
        self.validate()
        kwargs: dict[str, Any] = {
            "dtstart": dtstart,
            "interval": self.interval,
            "wkst": du.MO,
            "until": datetime.combine(self.until, time.max),
            "cache": False,
        }
        if self.frequency is Frequency.WEEKLY:
            freq = du.WEEKLY
            kwargs["byweekday"] = [_DU_WEEKDAYS[d] for d in sorted(self.weekdays)]
        elif self.frequency is Frequency.MONTHLY:
            freq = du.MONTHLY
            if self.month_day is not None:
                kwargs["bymonthday"] = self.month_day
            else:
                assert self.nth is not None and self.nth_weekday is not None
                kwargs["byweekday"] = _DU_WEEKDAYS[self.nth_weekday](self.nth)
        else:
            freq = du.YEARLY
            kwargs["bymonth"] = dtstart.month
            kwargs["bymonthday"] = dtstart.day
        return du.rrule(freq, **kwargs)  # type: ignore[arg-type]  # freq is one of the constants

    def occurrences(
        self, start: datetime, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[datetime]:
        """Occurrence starts of a series whose first occurrence starts at ``start`` (aware).

        Each occurrence keeps the local wall time of ``start`` in ``start``'s zone. ``after`` and
        ``before`` (aware) bound the result: occurrences with ``after <= occ < before``.
        """
        zone = start.tzinfo
        if zone is None:
            raise ValueError("start must be timezone-aware")
        local_start = start.replace(tzinfo=None)
        for local in self.to_dateutil(local_start):
            occurrence = localize(local, zone)
            if before is not None and occurrence >= before:
                return
            if after is not None and occurrence < after:
                continue
            yield occurrence

    def dates(self, start: date) -> Iterator[date]:
        """Occurrence dates of an all-day series whose first day is ``start``."""
        for local in self.to_dateutil(datetime.combine(start, time())):
            yield local.date()

    def last_date(self, start: date) -> date | None:
        """The local date of the last occurrence on or before ``until`` of a series whose first
        occurrence is on ``start``; None when there is none (an ``until`` before the start).

        Computed in closed form, period by period from the end, never by walking the series
        from its start: a weekly meeting on seven days until 9999-12-31 took dateutil 14 s of
        CPU and then failed in year 10000 (issue 12). The same dates as ``dates(start)``: the
        first occurrence is ``start`` only when it matches the pattern (``check_start``), as with
        dateutil; periods are counted from ``start``'s week (Monday weeks), month or year."""
        self.validate()
        if self.until < start:
            return None
        if self.frequency is Frequency.WEEKLY:
            return self._last_weekly(start)
        if self.frequency is Frequency.MONTHLY:
            months = (self.until.year - start.year) * 12 + self.until.month - start.month
            step = months - months % self.interval
            # Months without the chosen day are skipped; the pattern of such months repeats
            # within a 400-year Gregorian cycle, so this ends after a bounded number of steps.
            while step >= 0:
                year, month = divmod(start.month - 1 + step, 12)
                day = self._day_in_month(start.year + year, month + 1)
                if day is not None and start <= day <= self.until:
                    return day
                step -= self.interval
            return None
        years = self.until.year - start.year
        step = years - years % self.interval
        while step >= 0:  # yearly: February 29 exists in leap years only
            try:
                day = start.replace(year=start.year + step)
            except ValueError:
                day = None
            if day is not None and day <= self.until:
                return day
            step -= self.interval
        return None

    def _last_weekly(self, start: date) -> date | None:
        first_week = start - timedelta(days=start.weekday())  # Monday of the first week
        weeks = (self.until - first_week).days // 7
        week = weeks - weeks % self.interval
        while week >= 0:
            monday = first_week + timedelta(weeks=week)
            # Days after ``until`` are never built: the week of 9999-12-31 ends in year 10000.
            room = (self.until - monday).days
            days = [monday + timedelta(days=int(d)) for d in self.weekdays if int(d) <= room]
            kept = [d for d in days if d >= start]
            if kept:
                return max(kept)
            week -= self.interval
        return None

    def _day_in_month(self, year: int, month: int) -> date | None:
        """This monthly rule's date in one month, or None when the month lacks it."""
        if self.month_day is not None:
            try:
                return date(year, month, self.month_day)
            except ValueError:
                return None
        assert self.nth is not None and self.nth_weekday is not None
        first = date(year, month, 1)
        offset = (int(self.nth_weekday) - first.weekday()) % 7
        if self.nth == -1:
            days = calendar.monthrange(year, month)[1]
            last = date(year, month, days)
            return last - timedelta(days=(last.weekday() - int(self.nth_weekday)) % 7)
        day = first + timedelta(days=offset + 7 * (self.nth - 1))
        return day if day.month == month else None


def localize(local: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to a naive wall time; a time skipped by a DST jump moves forward, as
    ``zoneinfo`` with ``fold=0`` does (the same choice Google and Outlook make)."""
    aware = local.replace(tzinfo=zone)
    # Normalise through UTC so a non-existent wall time (spring forward) becomes a real instant.
    return aware.astimezone(UTC).astimezone(zone)


def nth_of_month(day: date) -> int:
    """1 for the first such weekday of its month, 2 for the second, ..."""
    return (day.day - 1) // 7 + 1


def is_last_of_month(day: date) -> bool:
    return (day + timedelta(days=7)).month != day.month
