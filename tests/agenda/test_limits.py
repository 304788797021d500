"""The limits of ``agenda.limits``: dates and sizes outside them get a clear error from the forms
and from the services (which the sync engine's imports go through too), never a 500 or an
overflow; the week view shows the nearest week it has for a date it cannot show."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import User
from agenda import limits
from agenda.models import Meeting
from agenda.services import MeetingData, meeting_create, meeting_update
from recurrence import Frequency, Rule, Weekday
from tests.agenda.test_views import errors, form
from tests.factories import make_meeting

pytestmark = pytest.mark.django_db

AMS = ZoneInfo("Europe/Amsterdam")


def _data(**overrides: object) -> MeetingData:
    start = datetime(2026, 11, 23, 9, tzinfo=AMS)
    base = MeetingData(
        title="Planning", start=start, end=start + timedelta(hours=1), time_zone="Europe/Amsterdam"
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _refused(owner: User, data: MeetingData) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        meeting_create(owner=owner, data=data)
    return caught.value.message_dict


# --- the week view and ?date= ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "shown"), [("9999-12-31", "2099-12-28"), ("0001-01-01", "1900-01-01")]
)
def test_a_week_out_of_range_shows_the_nearest_week_with_a_message(
    staff_client: HttpClient, asked: str, shown: str
) -> None:
    response = staff_client.get(reverse("agenda:week") + f"?week={asked}")
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f'data-date="{shown}"' in page
    assert "the calendar holds meetings in those years only" in page
    # No link leads further out of range.
    assert 'rel="next"' not in page if asked.startswith("9999") else 'rel="prev"' not in page


def test_the_first_and_last_weeks_show_without_a_message(staff_client: HttpClient) -> None:
    for week in ("1900-01-01", "2099-12-31"):
        page = staff_client.get(reverse("agenda:week") + f"?week={week}").content.decode()
        assert "in those years only" not in page


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_new_meeting_ignores_a_prefill_date_out_of_range(
    staff_client: HttpClient, day: str
) -> None:
    response = staff_client.get(reverse("agenda:meeting_new") + f"?date={day}")
    assert response.status_code == 200
    assert f'value="{day}"' not in response.content.decode()


# --- the meeting form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_date": "9999-12-31", "end_date": "9999-12-31"},
        {"all_day": "on", "start_date": "9999-12-31", "end_date": "9999-12-31"},
        {"start_date": "0001-01-01", "end_date": "0001-01-01", "time_zone": "Asia/Tokyo"},
        {"start_date": "1899-12-31", "end_date": "1900-01-01"},
        {"end_date": "2100-01-01"},
    ],
    ids=["timed-9999", "all-day-9999", "year-1-tokyo", "1899", "end-2100"],
)
def test_the_form_refuses_dates_out_of_range(
    staff_client: HttpClient, overrides: dict[str, str]
) -> None:
    response = staff_client.post(reverse("agenda:meeting_new"), form(**overrides))
    assert response.status_code == 200
    assert limits.DATE_RANGE_MESSAGE in [html.unescape(e) for e in errors(response)]
    assert not Meeting.objects.exists()


def test_the_form_refuses_a_repetition_end_out_of_range(staff_client: HttpClient) -> None:
    response = staff_client.post(
        reverse("agenda:meeting_new"),
        form(
            repeat="weekly", repeat_weekdays=[str(d) for d in range(7)], repeat_until="9999-12-31"
        ),
    )
    assert response.status_code == 200
    assert limits.DATE_RANGE_MESSAGE in [html.unescape(e) for e in errors(response)]
    assert not Meeting.objects.exists()


def test_the_form_accepts_the_ends_of_the_range(staff_client: HttpClient) -> None:
    first = staff_client.post(
        reverse("agenda:meeting_new"),
        form(start_date="1900-01-01", end_date="1900-01-01", time_zone="Pacific/Kiritimati"),
    )
    last = staff_client.post(
        reverse("agenda:meeting_new"),
        form(
            start_date="2099-12-31",
            end_date="2099-12-31",
            start_time="22:00",
            end_time="23:59",
            time_zone="America/Los_Angeles",
            repeat="yearly",
            repeat_until="2099-12-31",
        ),
    )
    assert (first.status_code, last.status_code) == (302, 302)
    assert Meeting.objects.count() == 2


def test_the_form_carries_the_limits_to_the_browser(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("agenda:meeting_new")).content.decode()

    def tag(name: str) -> str:
        found = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', page)
        assert found is not None, name
        return found.group(0)

    # Dates are text in the language's format (issue 18 §4), so the range is the server's to
    # check (test_the_form_refuses_dates_out_of_range); the field states
    # the format and refuses what is no date at all.
    for name in ("start_date", "end_date", "repeat_until"):
        assert 'placeholder="dd/mm/yyyy"' in tag(name) and "pattern=" in tag(name)
    assert 'maxlength="255"' in tag("title") and 'maxlength="255"' in tag("location")
    assert 'maxlength="32768"' in tag("description")


def test_the_form_refuses_oversized_text(staff_client: HttpClient) -> None:
    response = staff_client.post(
        reverse("agenda:meeting_new"),
        form(title="t" * 256, description="d" * 32_769, location="l" * 256),
    )
    assert response.status_code == 200
    assert [e for e in errors(response) if "at most" in e] == [
        "Ensure this value has at most 255 characters (it has 256).",
        "Ensure this value has at most 255 characters (it has 256).",
        "Ensure this value has at most 32768 characters (it has 32769).",
    ]
    assert not Meeting.objects.exists()


def test_the_form_refuses_too_many_or_too_long_addresses(staff_client: HttpClient) -> None:
    many = "\n".join(f"guest{i}@example.test" for i in range(limits.MAX_ATTENDEES + 1))
    response = staff_client.post(reverse("agenda:meeting_new"), form(other_attendees=many))
    assert "at most 500 are allowed" in " ".join(errors(response))
    long = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".test"  # 262 chars
    response = staff_client.post(reverse("agenda:meeting_new"), form(other_attendees=long))
    assert response.status_code == 200 and errors(response)
    assert not Meeting.objects.exists()


# --- the services (what sync's imports go through) -------------------------------------------


@pytest.mark.parametrize(
    ("start", "zone"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "Asia/Tokyo"),
        (datetime(1, 1, 1, 10, tzinfo=ZoneInfo("Asia/Tokyo")), "Asia/Tokyo"),
        (datetime(9999, 12, 31, 22, tzinfo=ZoneInfo("America/Los_Angeles")), "America/Los_Angeles"),
        (datetime(9999, 12, 31, tzinfo=UTC), "UTC"),
        (datetime(1899, 12, 31, 23, tzinfo=UTC), "UTC"),
        (datetime(2100, 1, 1, tzinfo=AMS), "Europe/Amsterdam"),
    ],
    ids=["year-1-utc", "year-1-tokyo", "9999-la", "9999-utc", "1899", "2100"],
)
def test_the_services_refuse_times_out_of_range(staff: User, start: datetime, zone: str) -> None:
    end = start + timedelta(minutes=30) if start.year < 9999 else start + timedelta(minutes=1)
    assert _refused(staff, _data(start=start, end=end, time_zone=zone)) == {
        "start": [limits.DATE_RANGE_MESSAGE]
    }


def test_the_services_refuse_a_series_without_end_in_range(staff: User) -> None:
    rule = Rule(Frequency.WEEKLY, until=date(9999, 12, 31), weekdays=frozenset(Weekday))
    assert _refused(staff, _data(rule=rule)) == {"repeat_until": [limits.DATE_RANGE_MESSAGE]}


def test_an_update_out_of_range_is_refused_and_keeps_the_meeting(staff: User) -> None:
    meeting = make_meeting(staff)
    start = datetime(9999, 12, 31, 22, tzinfo=ZoneInfo("America/Los_Angeles"))
    with pytest.raises(ValidationError):
        meeting_update(meeting=meeting, data=_data(start=start, end=start + timedelta(minutes=30)))
    meeting.refresh_from_db()
    assert meeting.start.year == 2026


def test_the_services_refuse_oversized_text_and_attendee_lists(staff: User) -> None:
    errors = _refused(
        staff,
        _data(
            title="t" * 256,
            location="l" * 256,
            description="d" * (limits.DESCRIPTION_MAX_LENGTH + 1),
            other_attendees=tuple(f"g{i}@example.test" for i in range(limits.MAX_ATTENDEES + 1)),
        ),
    )
    assert set(errors) == {"title", "location", "description", "attendees"}
    assert "at most 255" in errors["title"][0]
    long = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".test"
    assert "other_attendees" in _refused(staff, _data(other_attendees=(long,)))


def test_the_services_accept_what_the_limits_allow(staff: User) -> None:
    meeting = meeting_create(
        owner=staff,
        data=_data(
            title="t" * 255,
            description="d" * limits.DESCRIPTION_MAX_LENGTH,
            other_attendees=tuple(f"g{i}@example.test" for i in range(limits.MAX_ATTENDEES)),
            rule=Rule(Frequency.WEEKLY, until=limits.LATEST_DATE, weekdays=frozenset([Weekday(0)])),
        ),
    )
    assert len(meeting.other_attendees) == limits.MAX_ATTENDEES


def test_the_no_end_date_must_be_inside_the_range() -> None:
    from django.test.utils import override_settings

    from agenda.checks import no_end_date_in_range

    assert no_end_date_in_range() == []  # the default, 2078-12-31
    with override_settings(CALSYNC_NO_END_DATE=date(2100, 1, 1)):
        assert [e.id for e in no_end_date_in_range()] == ["agenda.E001"]


@pytest.mark.parametrize("value", ["9" * 30, str(2**63), "0", "-1", "1e3", " 12x"])
def test_impossible_ids_are_invalid_choices_before_any_query(staff: User, value: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.fields import IdChoiceField, IdMultipleChoiceField

    with CaptureQueriesContext(connection) as queries:
        for field in (IdChoiceField(User.objects.all()), IdMultipleChoiceField(User.objects.all())):
            with pytest.raises(ValidationError) as caught:
                field.clean([value] if isinstance(field, IdMultipleChoiceField) else value)
            assert caught.value.code == "invalid_choice"
    assert len(queries) == 0
    assert IdMultipleChoiceField(User.objects.all()).clean([str(staff.pk)]).get() == staff
