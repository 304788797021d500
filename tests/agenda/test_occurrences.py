"""Occurrences (issue 18 §6): the week view opens the occurrence clicked, not the series start;
"this and following" splits the series in two; a single occurrence cannot differ (PRODUCT 19)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import User
from agenda.models import Meeting
from recurrence import Frequency, Rule, Weekday
from tests.conftest import login
from tests.factories import make_meeting

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")


def weekly(staff: User) -> Meeting:
    """Every Tuesday 09:00-10:00 from 3 November 2026 to 29 December 2026."""
    return make_meeting(
        staff,
        title="Team meeting",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMS),
        rule=Rule(Frequency.WEEKLY, until=date(2026, 12, 29), weekdays=frozenset([Weekday(1)])),
    )


def test_the_week_view_links_each_occurrence_to_its_own_day(staff: User) -> None:
    meeting = weekly(staff)
    page = login(staff).get(reverse("agenda:week") + "?week=2026-11-30").content.decode()
    assert f"{reverse('agenda:meeting', args=[meeting.pk])}?on=2026-12-01" in page


def test_the_detail_of_an_occurrence_says_which_and_what_can_change(staff: User) -> None:
    meeting = weekly(staff)
    client = login(staff)
    url = reverse("agenda:meeting", args=[meeting.pk])
    page = client.get(url + "?on=2026-12-01").content.decode()
    assert "This occurrence:</strong> Tuesday 1 December 2026, 09:00 – 10:00" in page
    assert "one of a series that starts on 3 November 2026" in page
    assert "A single occurrence cannot differ from its series" in page
    assert "Edit the whole series" in page and "Edit this and following" in page
    # A day without an occurrence, or nonsense, shows the series as before.
    for value in ("2026-12-02", "not-a-date", "99999-01-01"):
        other = client.get(f"{url}?on={value}")
        assert other.status_code == 200 and "This occurrence" not in other.content.decode()
    # On the first occurrence "this and following" is the whole series: no split offered.
    assert "Edit this and following" not in client.get(url + "?on=2026-11-03").content.decode()


def test_this_and_following_splits_the_series_with_the_same_dates(staff: User) -> None:
    meeting = weekly(staff)
    before = [
        o.start
        for o in meeting.occurrences(
            datetime(2026, 11, 1, tzinfo=AMS), datetime(2027, 1, 1, tzinfo=AMS)
        )
    ]
    response = login(staff).post(
        reverse("agenda:meeting_split", args=[meeting.pk]), {"on": "2026-12-01"}, follow=True
    )
    page = response.content.decode()
    assert "now ends on 30 November 2026; from 1 December 2026 on it is a series of its own" in page
    meeting.refresh_from_db()
    assert meeting.repeat_until == date(2026, 11, 30)
    new = Meeting.objects.exclude(pk=meeting.pk).get(owner=staff)
    assert response.redirect_chain[-1][0] == reverse("agenda:meeting_edit", args=[new.pk])
    assert (new.title, new.local_start, new.repeat_until) == (
        "Team meeting",
        datetime(2026, 12, 1, 9, 0, tzinfo=AMS),
        date(2026, 12, 29),
    )
    window = (datetime(2026, 11, 1, tzinfo=AMS), datetime(2027, 1, 1, tzinfo=AMS))
    after = sorted(o.start for m in (meeting, new) for o in m.occurrences(*window))
    assert after == before


def test_a_split_on_the_first_day_or_not_an_occurrence_is_refused(staff: User) -> None:
    meeting = weekly(staff)
    client = login(staff)
    for value in ("2026-11-03", "2026-12-02", "x"):
        page = client.post(
            reverse("agenda:meeting_split", args=[meeting.pk]), {"on": value}, follow=True
        ).content.decode()
        assert "Choose an occurrence after the first one" in page
    assert Meeting.objects.filter(owner=staff).count() == 1
