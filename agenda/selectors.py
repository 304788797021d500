"""Reads of the practice calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from agenda.models import Meeting, MeetingAttendee, Occurrence


def calendar_meetings(user: User) -> QuerySet[Meeting]:
    """Live meetings in ``user``'s calendar: the ones they own and the ones they attend."""
    return (
        Meeting.objects.filter(tenant=user.tenant)
        .filter(Q(owner=user) | Q(attendance__user=user))
        .distinct()
    )


def occurrences_between(user: User, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence in ``user``'s calendar overlapping ``[start, end)``, repeating meetings
    expanded, sorted by start. Two queries (meetings, then their attendance) whatever the size."""
    candidates = (
        calendar_meetings(user)
        .filter(start__lt=end)
        # A single meeting must end after the window starts; a series must not have ended
        # before it (the until date is local, so allow a day of slack and let expansion decide).
        .filter(
            Q(repeat="", end__gt=start)
            | (~Q(repeat="") & Q(repeat_until__gte=(start - timedelta(days=1)).date()))
        )
        .select_related("client", "owner")
        .prefetch_related(
            Prefetch("attendance", queryset=MeetingAttendee.objects.select_related("user"))
        )
    )
    occurrences = [occ for meeting in candidates for occ in meeting.occurrences(start, end)]
    occurrences.sort(key=lambda occ: (occ.start, occ.meeting.pk))
    return occurrences


def meetings_changed_since(owner: User, change_seq: int) -> QuerySet[Meeting]:
    """Meetings of ``owner`` written after change number ``change_seq``, tombstones included,
    in change order: what sync pushes (index ``meeting_owner_seq``)."""
    return Meeting.all_objects.filter(owner=owner, change_seq__gt=change_seq).order_by("change_seq")


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks start on Monday, PRODUCT 19)."""
    return day - timedelta(days=day.weekday())
