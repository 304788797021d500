"""Expansion of meetings into the occurrences the week view shows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from agenda.models import MonthlyBy, rule_from_fields
from agenda.selectors import occurrences_between
from agenda.services import MeetingData, all_day_bounds, meeting_create, meeting_delete
from recurrence import Frequency, Rule, Weekday
from tests.factories import make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db


def week_window(monday: date, zone: ZoneInfo = AMS) -> tuple[datetime, datetime]:
    return (
        datetime.combine(monday, time(), tzinfo=zone),
        datetime.combine(monday + timedelta(days=7), time(), tzinfo=zone),
    )


def test_weekly_series_expands_into_each_week(staff: User) -> None:
    rule = Rule(
        Frequency.WEEKLY,
        until=date(2026, 12, 31),
        weekdays=frozenset({Weekday.MO, Weekday.TH}),
    )
    make_meeting(staff, title="Team", start=datetime(2026, 11, 2, 8, 30, tzinfo=AMS), rule=rule)
    occurrences = occurrences_between(staff, *week_window(date(2026, 11, 23)))
    assert [o.start for o in occurrences] == [
        datetime(2026, 11, 23, 8, 30, tzinfo=AMS),
        datetime(2026, 11, 26, 8, 30, tzinfo=AMS),
    ]
    # After the end date nothing remains.
    assert occurrences_between(staff, *week_window(date(2027, 1, 4))) == []


def test_series_keeps_its_local_time_across_daylight_saving(staff: User) -> None:
    rule = Rule(Frequency.WEEKLY, until=date(2026, 11, 30), weekdays=frozenset({Weekday.FR}))
    make_meeting(staff, start=datetime(2026, 10, 16, 9, 0, tzinfo=AMS), rule=rule)
    before = occurrences_between(staff, *week_window(date(2026, 10, 19)))
    after = occurrences_between(staff, *week_window(date(2026, 10, 26)))  # CET from Oct 25
    assert [o.start.astimezone(AMS).time() for o in before + after] == [time(9), time(9)]
    assert before[0].start.utcoffset() != after[0].start.utcoffset()


def test_every_second_week_counts_weeks_from_monday(staff: User) -> None:
    # First occurrence Sunday 2026-11-22; every 2 weeks on Monday and Sunday with Monday weeks:
    # Sun 22, then the week of Mon 30 Nov: Mon 30 and Sun 6 Dec.
    rule = Rule(
        Frequency.WEEKLY,
        until=date(2026, 12, 31),
        interval=2,
        weekdays=frozenset({Weekday.MO, Weekday.SU}),
    )
    make_meeting(staff, start=datetime(2026, 11, 22, 10, tzinfo=AMS), rule=rule)
    days = [
        o.start.date()
        for o in occurrences_between(
            staff, datetime(2026, 11, 16, tzinfo=AMS), datetime(2026, 12, 14, tzinfo=AMS)
        )
    ]
    assert days == [date(2026, 11, 22), date(2026, 11, 30), date(2026, 12, 6)]


def test_monthly_last_weekday_and_yearly(staff: User) -> None:
    start = datetime(2026, 11, 27, 15, tzinfo=AMS)  # the last Friday of November 2026
    rule = rule_from_fields(
        repeat="monthly",
        interval=1,
        weekdays=[],
        monthly_by=MonthlyBy.LAST_WEEKDAY,
        until=date(2027, 3, 31),
        first_day=start.date(),
    )
    make_meeting(staff, title="Last Friday", start=start, rule=rule)
    found = occurrences_between(
        staff, datetime(2026, 11, 1, tzinfo=AMS), datetime(2027, 4, 1, tzinfo=AMS)
    )
    assert [o.start.date() for o in found] == [
        date(2026, 11, 27),
        date(2026, 12, 25),
        date(2027, 1, 29),
        date(2027, 2, 26),
        date(2027, 3, 26),
    ]


def test_all_day_meetings_cover_their_days(staff: User) -> None:
    start, end = all_day_bounds(date(2026, 11, 24), date(2026, 11, 25), "Europe/Amsterdam")
    meeting_create(
        owner=staff,
        data=MeetingData(
            title="Course", start=start, end=end, time_zone="Europe/Amsterdam", all_day=True
        ),
    )
    occurrences = occurrences_between(staff, *week_window(date(2026, 11, 23)))
    assert len(occurrences) == 1
    assert occurrences[0].end - occurrences[0].start == timedelta(days=2)


def test_attended_meetings_show_deleted_ones_do_not(staff: User, colleague: User) -> None:
    theirs = make_meeting(colleague, title="Invited", attendees=(staff,))
    gone = make_meeting(staff, title="Cancelled")
    meeting_delete(meeting=gone)
    titles = [o.meeting.title for o in occurrences_between(staff, *week_window(date(2026, 11, 23)))]
    assert titles == [theirs.title]


def test_week_query_count_does_not_grow_with_the_calendar(staff: User, colleague: User) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            occurrences_between(staff, *week_window(date(2026, 11, 23)))
        return len(queries)

    make_meeting(staff, attendees=(colleague,))
    small = count()
    for hour in range(10, 16):
        make_meeting(
            staff,
            start=datetime(2026, 11, 24, hour, tzinfo=AMS),
            minutes=30,
            attendees=(colleague,),
            rule=Rule(Frequency.WEEKLY, until=date(2027, 6, 1), weekdays=frozenset({Weekday.TU})),
        )
    assert count() == small == 2
