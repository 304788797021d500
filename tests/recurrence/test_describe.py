"""A rule in words (issue 18 §11): ``recurrence.describe`` is translatable, and its English is the
English ``Rule.describe`` always wrote; ``RuleError`` carries its translatable form too."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurrence import Frequency, Rule, RuleError, Weekday
from recurrence.describe import describe

NTH = st.sampled_from([1, 2, 3, 4, 5, -1])
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def english_as_before(rule: Rule, start: date) -> str:
    """``Rule.describe`` before it was translatable, verbatim."""
    unit = {"weekly": "week", "monthly": "month", "yearly": "year"}[rule.frequency.value]
    every = f"Every {unit}" if rule.interval == 1 else f"Every {rule.interval} {unit}s"
    if rule.frequency is Frequency.WEEKLY:
        what = " on " + ", ".join(_NAMES[d] for d in sorted(rule.weekdays))
    elif rule.frequency is Frequency.MONTHLY and rule.month_day is not None:
        what = f" on day {rule.month_day}"
    elif rule.frequency is Frequency.MONTHLY:
        assert rule.nth is not None and rule.nth_weekday is not None
        what = f" on the {_ORDINALS[rule.nth]} {_NAMES[rule.nth_weekday]}"
    else:
        what = f" on {start:%B} {start.day}"
    return f"{every}{what} until {rule.until.isoformat()}"


@st.composite
def rules(draw: st.DrawFn) -> tuple[Rule, date]:
    frequency = draw(st.sampled_from(list(Frequency)))
    start = draw(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
    until = draw(st.dates(start, date(2099, 12, 31)))
    interval = draw(st.integers(1, 99))
    kwargs: dict[str, Any] = {}
    if frequency is Frequency.WEEKLY:
        kwargs["weekdays"] = draw(st.frozensets(st.sampled_from(list(Weekday)), min_size=1))
    elif frequency is Frequency.MONTHLY:
        if draw(st.booleans()):
            kwargs["month_day"] = draw(st.integers(1, 31))
        else:
            kwargs["nth"] = draw(NTH)
            kwargs["nth_weekday"] = draw(st.sampled_from(list(Weekday)))
    return Rule(frequency, until=until, interval=interval, **kwargs), start


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rules())
def test_the_english_description_is_what_it_always_was(case: tuple[Rule, date]) -> None:
    rule, start = case
    assert rule.describe(start) == english_as_before(rule, start)
    assert describe(rule, start).render() == english_as_before(rule, start)


def shouting(message: str) -> str:
    """A stand-in catalogue: every template and name in capitals, placeholders kept."""
    parts = re.split(r"(%\(\w+\)s)", message)
    return "".join(p if p.startswith("%(") else p.upper() for p in parts)


def test_every_word_of_a_description_goes_through_the_catalogue() -> None:
    weekly = Rule(
        Frequency.WEEKLY, until=date(2027, 6, 29), interval=2, weekdays=frozenset(Weekday)
    )
    rendered = describe(weekly, date(2026, 11, 2)).render(shouting)
    assert rendered.startswith("EVERY 2 WEEKS ON MONDAY, TUESDAY")
    nth = Rule(Frequency.MONTHLY, until=date(2027, 6, 29), nth=-1, nth_weekday=Weekday.TU)
    assert describe(nth, date(2026, 12, 29)).render(shouting) == (
        "EVERY MONTH ON THE LAST TUESDAY UNTIL 2027-06-29"
    )
    yearly = Rule(Frequency.YEARLY, until=date(2036, 6, 29))
    assert describe(yearly, date(2026, 5, 2)).render(shouting) == (
        "EVERY YEAR ON MAY 2 UNTIL 2036-06-29"
    )
    assert (
        describe(yearly, date(2026, 5, 2), until="29 June 2036")
        .render()
        .endswith("until 29 June 2036")
    )


def test_a_rule_error_is_english_and_translatable() -> None:
    rule = Rule(Frequency.WEEKLY, until=date(2027, 1, 1), weekdays=frozenset([Weekday.TU]))
    with pytest.raises(RuleError) as caught:
        rule.check_start(date(2026, 11, 23))
    assert str(caught.value) == (
        "The first occurrence is on a Monday, which is not one of the chosen weekdays."
    )
    assert caught.value.text.render(shouting) == (
        "THE FIRST OCCURRENCE IS ON A MONDAY, WHICH IS NOT ONE OF THE CHOSEN WEEKDAYS."
    )
    with pytest.raises(RuleError, match=r"^Repeat every 1 to 99 periods\.$"):
        Rule(Frequency.YEARLY, until=date(2027, 1, 1), interval=100).validate()
