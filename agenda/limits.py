"""What a meeting of the practice calendar may hold: one place for the forms, the services and
the sync engine (which imports provider events through ``agenda.services``, so an event outside
these limits is refused there, with a message on that one item).

Dates. A meeting's start, end and repetition end lie between ``EARLIEST_DATE`` and
``LATEST_DATE`` (local dates in the meeting's zone):

* 1900-01-01: yearly series of birthdays and anniversaries start in the year of birth (Google
  and Outlook keep contacts' birthdays so), and the agenda must be able to take them in. Before
  1900 many IANA zones use local mean time with offsets in seconds that neither RRULE expansion
  nor the providers handle alike. (Zone history before 1970 is thinner: icalendar writes
  VTIMEZONE transitions from 1970 unless asked for more, Windows zones (Graph) carry none; a
  timed meeting that old may show an hour off there, which a birthday, all day, does not.)
* 2099-12-31 leaves room for the far-future end given to series without one
  (``CALSYNC_NO_END_DATE``, 2078-12-31; a system check keeps it inside), and is far enough from
  ``date.max`` (9999-12-31) that no arithmetic on a date in range (a week around it, a zone's
  offset, a day of slack in a query) can overflow ``datetime``, in any zone: year 1 and 9999
  overflow today.

Sizes, in characters (what the providers accept is the guide):

* title and location: 255, Exchange's subject limit and what the model's columns hold.
* description: 32,768, Exchange's common size for a whole appointment; Google's web client keeps
  about 8,192, so a longer description written to Google may be refused there as one item.
* attendees: 500 in all (practice and other), Microsoft Graph's documented maximum for an event.
* an e-mail address: 254, RFC 5321's 256-octet path less its angle brackets.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.translation import gettext

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)

TITLE_MAX_LENGTH = 255
LOCATION_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 32_768
MAX_ATTENDEES = 500
EMAIL_MAX_LENGTH = 254


def date_range_message() -> str:
    """What a date outside the range gets, in the current language ("Choose a date from
    1 January 1900 to 31 December 2099: …", the dates in the language's ``DATE_FORMAT``)."""
    return gettext(
        "Choose a date from %(first)s to %(last)s: the calendar holds meetings in those years only."
    ) % {
        "first": date_format(EARLIEST_DATE, "DATE_FORMAT"),
        "last": date_format(LATEST_DATE, "DATE_FORMAT"),
    }


# The same, rendered when it is read (a page, a form error) rather than at import.
DATE_RANGE_MESSAGE: str = lazy(date_range_message, str)()


def date_in_range(day: date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


def range_bounds(zone: tzinfo) -> tuple[datetime, datetime]:
    """The first moment in range in ``zone`` and the first moment after it (local midnights)."""
    first = datetime.combine(EARLIEST_DATE, time(), tzinfo=zone)
    after = datetime.combine(LATEST_DATE + timedelta(days=1), time(), tzinfo=zone)
    return first, after


def times_in_range(start: datetime, end: datetime, zone: tzinfo) -> bool:
    """Whether a meeting from ``start`` to ``end`` (exclusive, aware) lies in range in ``zone``.

    Compares aware values against the range's bounds in ``zone``, never converting ``start`` or
    ``end`` to a zone, so values near ``datetime.min`` or ``datetime.max`` (which no zone can
    hold) give False rather than an OverflowError.
    """
    first, after = range_bounds(zone)
    return first <= start < after and first < end <= after
