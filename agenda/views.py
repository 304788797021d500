"""Staff pages: the week view, the meeting page and the meeting form.

Every meeting is reached through ``_meeting_for`` (the tenant-scoped lookup), so another
tenant's meeting id, or a colleague's meeting that the user neither owns nor attends, is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import current_user, get_object_for_tenant, staff_required
from accounts.busy import BUSY_MESSAGE
from accounts.models import User
from agenda import limits
from agenda.forms import COMMON_ZONES, MeetingForm
from agenda.models import Meeting, MeetingAttendee, Occurrence
from agenda.selectors import occurrences_between, week_start
from agenda.services import (
    MeetingData,
    attendance_confirm,
    meeting_create,
    meeting_delete,
    meeting_update,
)
from recurrence.describe import describe


@dataclass(frozen=True)
class Day:
    date: date
    all_day: list[Occurrence]
    timed: list[Occurrence]


def _meeting_for(request: HttpRequest, pk: int, *, owner_only: bool = False) -> Meeting:
    user = current_user(request)
    visible = Q(owner=user) if owner_only else Q(owner=user) | Q(attendance__user=user)
    return get_object_for_tenant(Meeting.objects.filter(visible).distinct(), request, pk=pk)


def _parse_week(value: str | None, today: date) -> date | None:
    """The Monday of ``?week=``; None when it is not a date (the caller shows this week)."""
    if not value:
        return week_start(today)
    try:
        return week_start(date.fromisoformat(value))
    except ValueError:
        return None


# The weeks the calendar shows: those that hold a date of its range (agenda.limits).
FIRST_WEEK = week_start(limits.EARLIEST_DATE)
LAST_WEEK = week_start(limits.LATEST_DATE)


@staff_required
def week(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    zone = user.zone()
    today = datetime.now(zone).date()
    parsed = _parse_week(request.GET.get("week"), today)
    if parsed is None:
        # A mistyped or truncated address: this week, and say so, rather than an error page.
        messages.info(request, _("That week is not a date (YYYY-MM-DD), so this week is shown."))
        parsed = week_start(today)
    monday = parsed
    if not FIRST_WEEK <= monday <= LAST_WEEK:
        # A date the calendar cannot hold (year 1, year 9999 …): show the nearest week it has
        # and say why, rather than compute windows that overflow.
        messages.info(request, limits.date_range_message())
        monday = min(max(monday, FIRST_WEEK), LAST_WEEK)
    window_start = datetime.combine(monday, time(), tzinfo=zone)
    window_end = datetime.combine(monday + timedelta(days=7), time(), tzinfo=zone)
    occurrences = occurrences_between(user, window_start, window_end)
    days = [Day(monday + timedelta(days=i), [], []) for i in range(7)]
    for occ in occurrences:
        if occ.meeting.all_day:
            # An all-day meeting covers its dates in its own zone, whatever the viewer's zone.
            first = occ.start.astimezone(occ.meeting.zone).date()
            last = (occ.end.astimezone(occ.meeting.zone) - timedelta(days=1)).date()
            for day in days:
                if first <= day.date <= last:
                    day.all_day.append(occ)
        else:
            local = occ.start.astimezone(zone).date()
            for day in days:
                if day.date == local:
                    day.timed.append(occ)
    return render(
        request,
        "agenda/week.html",
        {
            "days": days,
            "monday": monday,
            "sunday": monday + timedelta(days=6),
            "previous_week": monday - timedelta(days=7) if monday > FIRST_WEEK else None,
            "next_week": monday + timedelta(days=7) if monday < LAST_WEEK else None,
            "today": today,
            "zone": zone,
            "occurrence_count": len(occurrences),
        },
    )


def _occurrence_on(meeting: Meeting, value: str | None) -> Occurrence | None:
    """The occurrence of ``meeting`` on the local day ``value`` (``?on=YYYY-MM-DD``, what the
    week view links to), or None when there is none that day or the value is not a date."""
    if not value or not meeting.repeat:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if not limits.date_in_range(day):
        return None
    zone = meeting.zone
    start = datetime.combine(day, time(), tzinfo=zone)
    found = [
        occ
        for occ in meeting.occurrences(start, start + timedelta(days=1))
        if occ.start.astimezone(zone).date() == day
    ]
    return found[0] if found else None


@staff_required
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_for(request, pk)
    user = current_user(request)
    attendance = list(meeting.attendance.select_related("user"))
    mine = next((a for a in attendance if a.user_id == user.pk), None)
    rule = meeting.rule
    occurrence = _occurrence_on(meeting, request.GET.get("on"))
    first_day = meeting.local_start.date()
    return render(
        request,
        "agenda/meeting_detail.html",
        {
            "meeting": meeting,
            "attendance": attendance,
            "my_attendance": mine,
            "is_owner": meeting.owner_id == user.pk,
            # In the reader's language: the description's sentence and names through gettext.
            "repetition": describe(rule, first_day).render(_) if rule else "",
            "occurrence": occurrence,
            "occurrence_day": (
                occurrence.start.astimezone(meeting.zone).date() if occurrence else None
            ),
            # "This and following" splits the series there; on its first day it is the series.
            "can_split": (
                occurrence is not None
                and occurrence.start.astimezone(meeting.zone).date() > first_day
            ),
        },
    )


def _as_post(initial: dict[str, Any]) -> dict[str, Any]:
    """A form's initial values as the POST data that would submit them."""
    data: dict[str, Any] = {}
    for key, value in initial.items():
        if value is None or value is False:
            continue
        if value is True:
            data[key] = "on"
        elif isinstance(value, (date, time)):
            data[key] = value.strftime("%H:%M") if isinstance(value, time) else value.isoformat()
        elif isinstance(value, list):
            data[key] = [getattr(v, "pk", v) for v in value]
        else:
            data[key] = value
    return data


@staff_required
@require_POST
def meeting_split(request: HttpRequest, pk: int) -> HttpResponse:
    """*This and following*: the series ends the day before the chosen occurrence, and a new
    series with the same details starts on it (the internal model has no per-occurrence
    exceptions, PRODUCT 19, but two series hold the same dates). Then the new one is edited."""
    user = current_user(request)
    meeting = _meeting_for(request, pk, owner_only=True)
    occurrence = _occurrence_on(meeting, request.POST.get("on"))
    first_day = meeting.local_start.date()
    if occurrence is None or occurrence.start.astimezone(meeting.zone).date() <= first_day:
        messages.error(
            request, _("Choose an occurrence after the first one to split the series at.")
        )
        return redirect("agenda:meeting", pk=meeting.pk)
    day = occurrence.start.astimezone(meeting.zone).date()
    initial = MeetingForm.initial_for(meeting)
    length = initial["end_date"] - initial["start_date"]
    before = MeetingForm(_as_post({**initial, "repeat_until": day - timedelta(days=1)}), owner=user)
    after = MeetingForm(
        _as_post({**initial, "start_date": day, "end_date": day + length}), owner=user
    )
    if not (before.is_valid() and after.is_valid()):
        problems = [str(e) for f in (before, after) for errs in f.errors.values() for e in errs]
        messages.error(request, _split_failed(problems))
        return redirect("agenda:meeting", pk=meeting.pk)
    try:
        with transaction.atomic():
            meeting_update(meeting=meeting, data=before.meeting_data())
            created = meeting_create(owner=user, data=after.meeting_data())
    except ValidationError as exc:
        messages.error(request, _split_failed(exc.messages))
        return redirect("agenda:meeting", pk=meeting.pk)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
        return redirect("agenda:meeting", pk=meeting.pk)
    messages.success(
        request,
        _(
            "“%(title)s” now ends on %(last)s; from %(first)s on it is a series of its own. "
            "Change it below."
        )
        % {
            "title": meeting.title,
            "last": date_format(day - timedelta(days=1), "DATE_FORMAT"),
            "first": date_format(day, "DATE_FORMAT"),
        },
    )
    return redirect("agenda:meeting_edit", pk=created.pk)


def _split_failed(problems: list[str]) -> str:
    return _("The series could not be split: %(problems)s") % {"problems": " ".join(problems)}


def _meeting_form_page(
    request: HttpRequest,
    *,
    meeting: Meeting | None,
    initial: dict[str, object],
    save: Callable[[MeetingData], Meeting],
    done: str,
) -> HttpResponse:
    """The form page for a new or an existing meeting: validate, call ``save`` (a service), and
    show the service's errors on the form if it refuses. ``done``: the message after saving,
    translated, with a ``%(title)s``."""
    user = current_user(request)
    if request.method == "POST":
        form = MeetingForm(request.POST, owner=user)
        if form.is_valid():
            try:
                saved = save(form.meeting_data())
            except ValidationError as exc:
                form.add_service_errors(exc)
            except OperationalError:
                form.add_error(None, BUSY_MESSAGE)
            else:
                messages.success(request, done % {"title": saved.title})
                return redirect(_week_url(saved, user))
    else:
        form = MeetingForm(owner=user, initial=initial)
    return render(
        request,
        "agenda/meeting_form.html",
        {"form": form, "meeting": meeting, "common_zones": COMMON_ZONES},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def meeting_new(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    return _meeting_form_page(
        request,
        meeting=None,
        initial=_initial_from_query(request, user),
        save=lambda data: meeting_create(owner=user, data=data),
        done=_("“%(title)s” was created."),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def meeting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_for(request, pk, owner_only=True)
    return _meeting_form_page(
        request,
        meeting=meeting,
        initial=MeetingForm.initial_for(meeting),
        save=lambda data: meeting_update(meeting=meeting, data=data),
        done=_("“%(title)s” was saved."),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def meeting_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user = current_user(request)
    meeting = _meeting_for(request, pk, owner_only=True)
    if request.method == "POST":
        meeting_delete(meeting=meeting)
        messages.success(request, _("“%(title)s” was deleted.") % {"title": meeting.title})
        return redirect(_week_url(meeting, user))
    return render(request, "agenda/meeting_confirm_delete.html", {"meeting": meeting})


@staff_required
@require_POST
def meeting_respond(request: HttpRequest, pk: int) -> HttpResponse:
    user = current_user(request)
    meeting = _meeting_for(request, pk)
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        messages.error(request, _("Choose accept or decline."))
    elif not MeetingAttendee.objects.filter(meeting=meeting, user=user).exists():
        messages.error(request, _("You are not an attendee of this meeting."))
    else:
        attendance_confirm(meeting=meeting, user=user, accept=answer == "accept")
        messages.success(request, _("Your answer was saved."))
    return redirect("agenda:meeting", pk=meeting.pk)


def _week_url(meeting: Meeting, user: User) -> str:
    day = meeting.start.astimezone(user.zone()).date()
    return f"{reverse('agenda:week')}?week={week_start(day).isoformat()}"


def _initial_from_query(request: HttpRequest, user: User) -> dict[str, object]:
    """Prefill the start day from ``?date=YYYY-MM-DD`` (the week view's "+" links)."""
    initial: dict[str, object] = {"time_zone": user.time_zone}
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        day = datetime.now(user.zone()).date()
    if not limits.date_in_range(day):
        day = datetime.now(user.zone()).date()
    initial.update(start_date=day, end_date=day, start_time=time(9), end_time=time(10))
    return initial
