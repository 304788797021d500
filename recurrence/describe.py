"""A rule in words, translatable: "Every 2 weeks on Tuesday, Thursday until 2027-06-29".

``describe(rule, start)`` returns a ``Text`` (``recurrence.translation``): whole sentences marked
with ``gettext_noop``, so a translator can order them as the language wants, with the weekday and
month names as translatable parameters. The meeting page renders it with Django's ``gettext`` in
the reader's language; ``Rule.describe`` is its English rendering. Pure Python, like the rest of
the package.

The end date is written as an ISO date (``2027-06-29``) in every language, as it always was; a page
that wants the date in words passes ``until`` already formatted.
"""

from __future__ import annotations

from datetime import date

from recurrence._core import WEEKDAY_TEXT, weekday_list
from recurrence.model import Frequency, Rule
from recurrence.translation import Text, gettext_noop

MONTH_TEXT = tuple(
    Text(name)
    for name in (
        gettext_noop("January"),
        gettext_noop("February"),
        gettext_noop("March"),
        gettext_noop("April"),
        gettext_noop("May"),
        gettext_noop("June"),
        gettext_noop("July"),
        gettext_noop("August"),
        gettext_noop("September"),
        gettext_noop("October"),
        gettext_noop("November"),
        gettext_noop("December"),
    )
)

# "the second Tuesday": the ordinal with its weekday, so a language can inflect the pair.
_NTH_WEEKDAY = {
    1: gettext_noop("the first %(weekday)s"),
    2: gettext_noop("the second %(weekday)s"),
    3: gettext_noop("the third %(weekday)s"),
    4: gettext_noop("the fourth %(weekday)s"),
    5: gettext_noop("the fifth %(weekday)s"),
    -1: gettext_noop("the last %(weekday)s"),
}

# (every period, every n periods) for each kind of repetition: whole sentences.
_WEEKLY = (
    gettext_noop("Every week on %(weekdays)s until %(until)s"),
    gettext_noop("Every %(interval)s weeks on %(weekdays)s until %(until)s"),
)
_MONTHLY_DAY = (
    gettext_noop("Every month on day %(day)s until %(until)s"),
    gettext_noop("Every %(interval)s months on day %(day)s until %(until)s"),
)
_MONTHLY_WEEKDAY = (
    gettext_noop("Every month on %(weekday)s until %(until)s"),
    gettext_noop("Every %(interval)s months on %(weekday)s until %(until)s"),
)
_YEARLY = (
    gettext_noop("Every year on %(month)s %(day)s until %(until)s"),
    gettext_noop("Every %(interval)s years on %(month)s %(day)s until %(until)s"),
)


def describe(rule: Rule, start: date, *, until: str | None = None) -> Text:
    """``rule`` of a series whose first occurrence is on ``start``, as a translatable sentence.

    ``until``: the end date as the page writes it (default: ISO, ``2027-06-29``)."""
    params: dict[str, str | int | Text] = {
        "until": rule.until.isoformat() if until is None else until
    }
    if rule.interval != 1:
        params["interval"] = rule.interval
    pick = 0 if rule.interval == 1 else 1
    if rule.frequency is Frequency.WEEKLY:
        template = _WEEKLY[pick]
        params["weekdays"] = weekday_list(rule.weekdays)
    elif rule.frequency is Frequency.MONTHLY and rule.month_day is not None:
        template = _MONTHLY_DAY[pick]
        params["day"] = rule.month_day
    elif rule.frequency is Frequency.MONTHLY:
        assert rule.nth is not None and rule.nth_weekday is not None
        template = _MONTHLY_WEEKDAY[pick]
        params["weekday"] = Text.of(_NTH_WEEKDAY[rule.nth], weekday=WEEKDAY_TEXT[rule.nth_weekday])
    else:
        template = _YEARLY[pick]
        params["month"] = MONTH_TEXT[start.month - 1]
        params["day"] = start.day
    return Text.of(template, **params)
