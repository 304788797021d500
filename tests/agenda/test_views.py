"""The week view and the meeting form through HTTP: what a user sees, and clear messages for bad
input (never a 500)."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import User
from agenda.models import Confirmation, Meeting, MeetingAttendee
from tests.factories import ClientFactory, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db


def form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "Planning",
        "kind": "appointment",
        "status": "confirmed",
        "start_date": "2026-11-23",
        "start_time": "10:00",
        "end_date": "2026-11-23",
        "end_time": "11:00",
        "time_zone": "Europe/Amsterdam",
        "repeat": "",
        "repeat_interval": "1",
        "repeat_monthly_by": "day",
    }
    data.update(overrides)
    return data


def errors(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'class="error" role="alert">([^<]*)<', response.content.decode())


def test_create_weekly_meeting_and_see_its_occurrences(staff_client: HttpClient) -> None:
    response = staff_client.post(
        reverse("agenda:meeting_new"),
        form(repeat="weekly", repeat_weekdays=["0", "2"], repeat_until="2026-12-31"),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("agenda:week") + "?week=2026-11-23"
    meeting = Meeting.objects.get()
    assert (meeting.repeat, meeting.repeat_weekdays) == ("weekly", [0, 2])
    week = staff_client.get(reverse("agenda:week") + "?week=2026-11-30").content.decode()
    # Monday 30 Nov and Wednesday 2 Dec, each at 10:00-11:00 Amsterdam time.
    assert re.findall(r'data-date="(2026-1\d-\d\d)"', week)[0] == "2026-11-30"
    assert week.count(f'data-meeting="{meeting.pk}"') == 2
    assert "10:00–11:00" in week


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end_time": "09:00"}, "The meeting must end after it starts."),
        ({"time_zone": "Europe/Atlantis"}, "Unknown time zone Europe/Atlantis."),
        ({"repeat": "weekly", "repeat_weekdays": ["0"]}, "A repeating meeting needs an end date."),
        (
            {"repeat": "weekly", "repeat_weekdays": ["1"], "repeat_until": "2027-01-01"},
            "The first occurrence is on a Monday, which is not one of the chosen weekdays.",
        ),
        ({"repeat": "weekly", "repeat_until": "2027-01-01"}, "Choose at least one weekday."),
        ({"title": ""}, "This field is required."),
        ({"start_date": "11/23/2026"}, "Enter the date as dd/mm/yyyy"),
        ({"start_time": ""}, "Enter a start time, or tick All day."),
        ({"other_attendees": "friend@example.com, not-an-address"}, "Not an e-mail address"),
        ({"repeat_interval": "0"}, "greater than or equal to 1"),
        (
            {"repeat": "monthly", "repeat_monthly_by": "last", "repeat_until": "2027-06-01"},
            "not on the chosen weekday of the month",
        ),
    ],
)
def test_bad_input_gets_a_clear_message(
    staff_client: HttpClient, overrides: dict[str, object], message: str
) -> None:
    response = staff_client.post(reverse("agenda:meeting_new"), form(**overrides))
    assert response.status_code == 200
    assert any(message in e for e in errors(response)), errors(response)
    assert not Meeting.all_objects.exists()


def test_attendee_or_client_of_another_tenant_is_refused(
    staff_client: HttpClient, outsider: User
) -> None:
    foreign_client = ClientFactory(tenant=outsider.tenant)
    response = staff_client.post(
        reverse("agenda:meeting_new"),
        form(attendees=[str(outsider.pk)], client=str(foreign_client.pk)),
    )
    assert response.status_code == 200
    found = errors(response)
    assert any(f"{outsider.pk} is not one of the available choices" in e for e in found), found
    assert any("That choice is not one of the available choices" in e for e in found), found
    assert not Meeting.all_objects.exists()


def test_edit_keeps_values_and_moving_clears_confirmations(
    staff: User, staff_client: HttpClient, colleague: User
) -> None:
    meeting = make_meeting(staff, title="Review", attendees=(colleague,))
    MeetingAttendee.objects.update(confirmation=Confirmation.ACCEPTED)
    page = staff_client.get(reverse("agenda:meeting_edit", args=[meeting.pk])).content.decode()
    assert 'value="Review"' in page and 'value="23/11/2026"' in page

    response = staff_client.post(
        reverse("agenda:meeting_edit", args=[meeting.pk]),
        form(title="Review", start_time="14:00", end_time="15:00", attendees=[str(colleague.pk)]),
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.start == datetime(2026, 11, 23, 14, tzinfo=AMS)
    assert MeetingAttendee.objects.get().confirmation == Confirmation.PENDING


def test_delete_asks_first_then_leaves_a_tombstone(staff: User, staff_client: HttpClient) -> None:
    meeting = make_meeting(staff, title="Obsolete")
    url = reverse("agenda:meeting_delete", args=[meeting.pk])
    assert b"Delete \xe2\x80\x9cObsolete\xe2\x80\x9d?" in staff_client.get(url).content
    assert Meeting.objects.filter(pk=meeting.pk).exists()
    assert staff_client.post(url).status_code == 302
    assert not Meeting.objects.filter(pk=meeting.pk).exists()
    assert Meeting.all_objects.get(pk=meeting.pk).deleted_at is not None


def test_attendee_accepts(staff: User, colleague: User) -> None:
    meeting = make_meeting(colleague, attendees=(staff,))
    from tests.conftest import login

    client = login(staff)
    client.post(reverse("agenda:meeting_respond", args=[meeting.pk]), {"answer": "accept"})
    assert MeetingAttendee.objects.get(user=staff).confirmation == Confirmation.ACCEPTED
    response = client.post(reverse("agenda:meeting_respond", args=[meeting.pk]), {"answer": "x"})
    assert response.status_code == 302
    assert MeetingAttendee.objects.get(user=staff).confirmation == Confirmation.ACCEPTED


def test_week_view_tells_kinds_apart(staff: User, staff_client: HttpClient) -> None:
    make_meeting(staff, title="Team")
    make_meeting(staff, title="Dentist", kind="personal")
    make_meeting(staff, title="Treatment", client=ClientFactory(tenant=staff.tenant))
    page = staff_client.get(reverse("agenda:week") + "?week=2026-11-23").content.decode()
    kinds = dict(
        (title, kind)
        for kind, title in re.findall(
            r'class="occ (\w+)[^"]*".*?<span class="title">([^<]+)</span>', page, re.S
        )
    )
    assert kinds == {"Team": "meeting", "Dentist": "personal", "Treatment": "client"}


def test_week_view_defaults_to_this_week_in_the_users_zone(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("agenda:week")).content.decode()
    today = datetime.now(AMS).date()
    monday = date.fromordinal(today.toordinal() - today.weekday())
    assert f'data-date="{monday.isoformat()}"' in page
