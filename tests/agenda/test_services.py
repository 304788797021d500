"""The agenda's services: validation, the change sequence, tombstones, confirmations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from agenda.changeseq import next_change_seq
from agenda.models import Confirmation, Meeting, MeetingAttendee, MeetingKind, nearest_reminder
from agenda.selectors import meetings_changed_since
from agenda.services import (
    MeetingData,
    meeting_create,
    meeting_data,
    meeting_delete,
    meeting_update,
)
from recurrence import Frequency, Rule, Weekday
from tests.factories import ClientFactory, ResourceFactory, UserFactory, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db


def data_of(meeting: Meeting, **changes: object) -> MeetingData:
    return replace(meeting_data(meeting), **changes)  # type: ignore[arg-type]


def test_the_database_is_postgresql() -> None:
    # The suite promises real PostgreSQL; a silent SQLite fallback would hide sequence behaviour.
    assert connection.vendor == "postgresql"


def test_change_numbers_increase_on_create_update_and_delete(staff: User) -> None:
    first = make_meeting(staff, title="One")
    second = make_meeting(staff, title="Two")
    assert second.change_seq > first.change_seq

    updated = meeting_update(meeting=first, data=data_of(first, title="One, renamed"))
    assert updated.change_seq > second.change_seq

    meeting_delete(meeting=second)
    tombstone = Meeting.all_objects.get(pk=second.pk)
    assert tombstone.deleted_at is not None
    assert tombstone.change_seq > updated.change_seq
    assert not Meeting.objects.filter(pk=second.pk).exists()  # hidden from every page


def test_saving_without_a_change_keeps_the_change_number(staff: User, colleague: User) -> None:
    meeting = make_meeting(staff, attendees=(colleague,))
    before = meeting.change_seq
    again = meeting_update(meeting=meeting, data=data_of(meeting))
    assert again.change_seq == before


def test_changed_since_returns_writes_and_tombstones_in_one_query(
    staff: User, colleague: User
) -> None:
    watermark = next_change_seq(staff.pk)
    kept = make_meeting(staff, title="Kept")
    gone = make_meeting(staff, title="Gone")
    make_meeting(colleague, title="Someone else's")
    meeting_delete(meeting=gone)
    with CaptureQueriesContext(connection) as queries:
        changed = list(meetings_changed_since(staff, watermark))
    assert len(queries) == 1
    assert [(m.title, m.is_deleted) for m in changed] == [("Kept", False), ("Gone", True)]
    assert kept.change_seq < changed[-1].change_seq


def test_change_sequence_survives_a_rolled_back_transaction(staff: User) -> None:
    # Numbers are never reused, even when the transaction that took one rolls back.
    with pytest.raises(RuntimeError), transaction.atomic():
        taken = make_meeting(staff).change_seq
        raise RuntimeError("roll back")
    assert make_meeting(staff).change_seq > taken


def test_time_change_clears_confirmations_other_changes_keep_them(
    staff: User, colleague: User
) -> None:
    meeting = make_meeting(staff, attendees=(colleague,))
    MeetingAttendee.objects.filter(meeting=meeting).update(confirmation=Confirmation.ACCEPTED)

    meeting_update(meeting=meeting, data=data_of(meeting, title="New title"))
    assert MeetingAttendee.objects.get(meeting=meeting).confirmation == Confirmation.ACCEPTED

    meeting.refresh_from_db()
    later = meeting.start + timedelta(hours=2)
    meeting_update(
        meeting=meeting, data=data_of(meeting, start=later, end=later + timedelta(hours=1))
    )
    assert MeetingAttendee.objects.get(meeting=meeting).confirmation == Confirmation.PENDING


def test_attendees_are_replaced_not_duplicated(staff: User, colleague: User, tenant) -> None:  # type: ignore[no-untyped-def]
    third = UserFactory(tenant=tenant, role=Role.STAFF)
    meeting = make_meeting(staff, attendees=(colleague,))
    meeting_update(meeting=meeting, data=data_of(meeting, attendees=(colleague, third)))
    meeting_update(meeting=meeting, data=data_of(meeting, attendees=(third,)))
    assert list(meeting.attendance.values_list("user_id", flat=True)) == [third.pk]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"end_offset": timedelta(minutes=-30)}, "end", "end after it starts"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "not a known time zone"),
        ({"title": "   "}, "title", "title"),
        ({"other_attendees": ("not-an-address",)}, "other_attendees", "e-mail"),
    ],
)
def test_invalid_meetings_are_refused_with_field_errors(
    staff: User, change: dict[str, object], field: str, fragment: str
) -> None:
    start = datetime(2026, 11, 23, 9, tzinfo=AMS)
    end = start + change.pop("end_offset", timedelta(hours=1))  # type: ignore[operator]
    data = MeetingData(title="Valid", start=start, end=end, time_zone="Europe/Amsterdam")
    with pytest.raises(ValidationError) as caught:
        meeting_create(owner=staff, data=replace(data, **change))  # type: ignore[arg-type]
    assert fragment in " ".join(caught.value.message_dict[field])
    assert not Meeting.all_objects.exists()


def test_objects_of_another_tenant_are_refused(staff: User, outsider: User) -> None:
    foreign_client = ClientFactory(tenant=outsider.tenant)
    foreign_room = ResourceFactory(tenant=outsider.tenant)
    start = datetime(2026, 11, 23, 9, tzinfo=AMS)
    data = MeetingData(
        title="Leaky",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="Europe/Amsterdam",
        client=foreign_client,
        resources=(foreign_room,),
        attendees=(outsider,),
    )
    with pytest.raises(ValidationError) as caught:
        meeting_create(owner=staff, data=data)
    assert set(caught.value.message_dict) == {"client", "resources", "attendees"}
    assert not Meeting.all_objects.exists()


def test_personal_meetings_have_no_client(staff: User) -> None:
    with pytest.raises(ValidationError) as caught:
        make_meeting(staff, kind=MeetingKind.PERSONAL, client=ClientFactory(tenant=staff.tenant))
    assert "personal" in caught.value.message_dict["client"][0]


def test_administrators_have_no_calendar(admin_user: User) -> None:
    with pytest.raises(ValidationError, match="Only staff"):
        make_meeting(admin_user)


def test_repetition_must_match_its_first_occurrence(staff: User) -> None:
    # 2026-11-23 is a Monday; a weekly rule on Tuesday and Friday does not include it.
    rule = Rule(
        Frequency.WEEKLY,
        until=date(2027, 1, 31),
        weekdays=frozenset({Weekday.TU, Weekday.FR}),
    )
    with pytest.raises(ValidationError) as caught:
        make_meeting(staff, rule=rule)
    assert "Monday" in caught.value.message_dict["repeat"][0]


def test_database_refuses_a_repetition_without_an_end(staff: User) -> None:
    # The services never write one; the constraint guards every other path.
    meeting = make_meeting(staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        Meeting.all_objects.filter(pk=meeting.pk).update(repeat="weekly", repeat_until=None)


def test_database_refuses_an_end_before_the_start(staff: User) -> None:
    meeting = make_meeting(staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        Meeting.all_objects.filter(pk=meeting.pk).update(end=meeting.start)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, 0),
        (3, 5),
        (7, 5),
        (8, 10),
        (20, 15),
        (25, 30),
        (45, 60),
        (90, 120),
        (600, 120),
        (1000, 1440),
        (100000, 10080),
    ],
)
def test_incoming_reminders_round_to_the_nearest_choice(minutes: int, expected: int) -> None:
    assert nearest_reminder(minutes) == expected
