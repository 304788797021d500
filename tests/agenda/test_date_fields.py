"""The meeting form's dates in one format per language (issue 18 §4): a text field written and
read as the language writes dates (dd/mm/yyyy in English, dd-mm-jjjj in Dutch), never the
browser's locale (an en-US browser's date picker shows mm/dd/yyyy)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from agenda.forms import MeetingForm, date_hint

FIELD = MeetingForm.base_fields["start_date"]


@pytest.mark.parametrize(
    "typed", ["01/12/2026", "1/12/2026", "01-12-2026", "1.12.2026", "2026-12-01"]
)
def test_an_english_date_field_reads_the_day_first_and_iso(typed: str) -> None:
    with translation.override("en"):
        assert FIELD.clean(typed) == date(2026, 12, 1)


def test_an_english_date_field_writes_and_hints_dd_mm_yyyy() -> None:
    with translation.override("en"):
        html = FIELD.widget.render("start_date", date(2026, 11, 23))
        assert 'value="23/11/2026"' in html
        assert 'placeholder="dd/mm/yyyy"' in html
        assert 'type="text"' in html  # not the browser's locale-bound date picker
        assert date_hint() == "dd/mm/yyyy"


def test_a_date_the_us_way_is_refused_with_the_format_to_use() -> None:
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        FIELD.clean("12/31/2026")
    assert refused.value.messages == [
        "Enter the date as dd/mm/yyyy, e.g. 01/12/2026 for 1 December 2026."
    ]


def test_a_dutch_date_field_writes_dd_mm_jjjj() -> None:
    with translation.override("nl"):
        html = FIELD.widget.render("start_date", date(2026, 11, 23))
        assert 'value="23-11-2026"' in html
        assert 'placeholder="dd-mm-jjjj"' in html
        assert FIELD.clean("1-12-2026") == date(2026, 12, 1)
        assert FIELD.clean("2026-12-01") == date(2026, 12, 1)
