"""Every write to the practice calendar.

Views, the demo seeder and (later) the sync engine call these functions; nothing else saves a
``Meeting``. Each write, in one transaction:

* validates everything, including tenant membership of every related object, and raises
  ``django.core.exceptions.ValidationError`` keyed by field so a form can show it,
* takes a new number from the change sequence,
* on a time change clears the attendees' confirmations (PRODUCT 14),
* on delete leaves a tombstone rather than removing the row, so sync can push the deletion.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import Tenant, User, available_time_zones
from agenda import hooks, limits
from agenda.changeseq import next_change_seq
from agenda.models import (
    Client,
    Confirmation,
    Meeting,
    MeetingAttendee,
    MeetingKind,
    MeetingStatus,
    Resource,
    clean_other_attendees,
    fields_from_rule,
)
from recurrence import Frequency, Rule, RuleError


@dataclass(frozen=True)
class MeetingData:
    """Everything a meeting holds, as the form (or sync) hands it to the services.

    ``start`` and ``end`` are aware. For an all-day meeting they are local midnights in
    ``time_zone`` (end exclusive); ``all_day_bounds`` builds them.
    """

    title: str
    start: datetime
    end: datetime
    time_zone: str
    all_day: bool = False
    kind: str = MeetingKind.APPOINTMENT
    client: Client | None = None
    description: str = ""
    location: str = ""
    status: str = MeetingStatus.CONFIRMED
    resources: tuple[Resource, ...] = ()
    attendees: tuple[User, ...] = ()
    other_attendees: tuple[str, ...] = ()
    reminder_minutes: int | None = None
    visible_for_all: bool = False
    rule: Rule | None = None


def all_day_bounds(first_day: date, last_day: date, time_zone: str) -> tuple[datetime, datetime]:
    """Local midnight of ``first_day`` and local midnight after ``last_day`` in ``time_zone``."""
    zone = zoneinfo.ZoneInfo(time_zone)
    start = datetime.combine(first_day, time(), tzinfo=zone)
    end = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def _push_after_commit(owner_id: int) -> None:
    """Tell subscribers (sync pushes the change to the owner's linked calendars within seconds,
    feature 25 of docs/features.md) once the transaction commits, so a worker never reads a
    change that could still roll back. ``agenda.hooks`` says why it runs in the writer's context."""
    hooks.meetings_changed(owner_id)


def _validate(owner: User, data: MeetingData) -> None:
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if not owner.is_practice_staff or owner.tenant is None:
        raise ValidationError(_("Only staff members have a calendar."))
    tenant_id = owner.tenant_id
    if not data.title.strip():
        add("title", _("Give the meeting a title."))
    _check_sizes(data, add)
    zone_ok = data.time_zone in available_time_zones()
    if not zone_ok:
        add("time_zone", _("%(zone)s is not a known time zone.") % {"zone": repr(data.time_zone)})
    if data.start.tzinfo is None or data.end.tzinfo is None:
        raise ValueError("MeetingData times must be timezone-aware")
    if data.end <= data.start:
        add("end", _("The meeting must end after it starts."))
    elif zone_ok and not limits.times_in_range(
        data.start, data.end, zoneinfo.ZoneInfo(data.time_zone)
    ):
        # Checked before anything converts the times to a zone: near year 1 or 9999 that
        # overflows (agenda/limits.py has the range and why).
        add("start", limits.date_range_message())
        zone_ok = False  # the repetition checks below would convert the start
    if data.rule is not None and not limits.date_in_range(data.rule.until):
        add("repeat_until", limits.date_range_message())
    if data.kind not in MeetingKind.values:
        add("kind", _("Choose appointment or personal."))
    if data.status not in MeetingStatus.values:
        add("status", _("Choose confirmed or tentative."))
    if data.client is not None:
        if data.client.tenant_id != tenant_id:
            add("client", _("That client is not one of this practice's clients."))
        if data.kind == MeetingKind.PERSONAL:
            add("client", _("A personal meeting has no client; make it an appointment."))
    for resource in data.resources:
        if resource.tenant_id != tenant_id:
            add(
                "resources",
                _("%(resource)s is not one of this practice's resources.") % {"resource": resource},
            )
    for user in data.attendees:
        if user.tenant_id != tenant_id or not user.is_practice_staff:
            add(
                "attendees",
                _("%(user)s is not a staff member of this practice.") % {"user": user},
            )
        elif user.pk == owner.pk:
            add("attendees", _("The owner of a meeting is not one of its attendees."))
    try:
        clean_other_attendees(list(data.other_attendees))
    except ValidationError:
        add("other_attendees", _("Enter valid e-mail addresses, one per line."))
    if data.rule is not None and zone_ok and limits.date_in_range(data.rule.until):
        first_day = data.start.astimezone(zoneinfo.ZoneInfo(data.time_zone)).date()
        try:
            data.rule.check_start(first_day)
        except RuleError as exc:
            add("repeat", exc.text.render(_))
        if data.rule.frequency is Frequency.WEEKLY and data.end - data.start > timedelta(days=7):
            # Its occurrences would overlap each other.
            add("repeat", _("A weekly repeating meeting cannot last longer than a week."))
    if errors:
        raise ValidationError(errors)


def _check_sizes(data: MeetingData, add: Callable[[str, str], None]) -> None:
    """The size limits of ``agenda.limits``, each with a message that says the limit."""
    too_long = {
        "title": _("The title is %(length)s characters long; at most %(limit)s are allowed."),
        "location": _("The location is %(length)s characters long; at most %(limit)s are allowed."),
        "description": _(
            "The description is %(length)s characters long; at most %(limit)s are allowed."
        ),
    }
    for name, value, limit in (
        ("title", data.title.strip(), limits.TITLE_MAX_LENGTH),
        ("location", data.location.strip(), limits.LOCATION_MAX_LENGTH),
        ("description", data.description, limits.DESCRIPTION_MAX_LENGTH),
    ):
        if len(value) > limit:
            add(name, too_long[name] % {"length": _count(len(value)), "limit": _count(limit)})
    count = len(data.attendees) + len(data.other_attendees)
    if count > limits.MAX_ATTENDEES:
        add(
            "attendees",
            _(
                "The meeting has %(count)s attendees; at most %(limit)s are allowed "
                "(colleagues and other attendees together)."
            )
            % {"count": _count(count), "limit": _count(limits.MAX_ATTENDEES)},
        )
    long = [a for a in data.other_attendees if len(a.strip()) > limits.EMAIL_MAX_LENGTH]
    if long:
        add(
            "other_attendees",
            _("An e-mail address has at most %(limit)s characters; %(count)s of these are longer.")
            % {"limit": limits.EMAIL_MAX_LENGTH, "count": len(long)},
        )


def _count(number: int) -> str:
    """A count with the language's thousands separator ("32,768", in Dutch "32.768")."""
    return number_format(number, force_grouping=True)


def _apply(meeting: Meeting, data: MeetingData) -> None:
    meeting.title = data.title.strip()
    meeting.description = data.description
    meeting.kind = data.kind
    meeting.client = data.client
    meeting.status = data.status
    meeting.start = data.start
    meeting.end = data.end
    meeting.time_zone = data.time_zone
    meeting.all_day = data.all_day
    meeting.location = data.location.strip()
    meeting.other_attendees = clean_other_attendees(list(data.other_attendees))
    meeting.reminder_minutes = data.reminder_minutes
    meeting.visible_for_all = data.visible_for_all
    for name, value in fields_from_rule(data.rule).items():
        setattr(meeting, name, value)


def _set_attendees(meeting: Meeting, users: Iterable[User], *, times_changed: bool) -> None:
    wanted = {user.pk for user in users}
    MeetingAttendee.objects.filter(meeting=meeting).exclude(user_id__in=wanted).delete()
    existing = set(
        MeetingAttendee.objects.filter(meeting=meeting).values_list("user_id", flat=True)
    )
    MeetingAttendee.objects.bulk_create(
        [MeetingAttendee(meeting=meeting, user_id=pk) for pk in wanted - existing]
    )
    if times_changed:
        # PRODUCT 14: a new time needs a new confirmation from everyone.
        MeetingAttendee.objects.filter(meeting=meeting).exclude(
            confirmation=Confirmation.PENDING
        ).update(confirmation=Confirmation.PENDING)


@transaction.atomic
def meeting_create(*, owner: User, data: MeetingData) -> Meeting:
    _validate(owner, data)
    assert owner.tenant is not None
    meeting = Meeting(tenant=owner.tenant, owner=owner)
    _apply(meeting, data)
    meeting.change_seq = next_change_seq(owner.pk)
    meeting.created_at = meeting.updated_at = timezone.now()
    meeting.full_clean()
    meeting.save()
    meeting.resources.set(data.resources)
    _set_attendees(meeting, data.attendees, times_changed=False)
    _push_after_commit(owner.pk)
    return meeting


def _snapshot(meeting: Meeting) -> tuple[object, ...]:
    """What a user can change on a meeting, for "did anything change?"."""
    return (
        meeting.title,
        meeting.description,
        meeting.kind,
        meeting.client_id,
        meeting.status,
        meeting.start,
        meeting.end,
        meeting.time_zone,
        meeting.all_day,
        meeting.location,
        tuple(meeting.other_attendees),
        meeting.reminder_minutes,
        meeting.visible_for_all,
        meeting.repeat,
        meeting.repeat_interval,
        tuple(meeting.repeat_weekdays),
        meeting.repeat_monthly_by,
        meeting.repeat_until,
    )


@transaction.atomic
def meeting_update(*, meeting: Meeting, data: MeetingData) -> Meeting:
    """Apply ``data`` to ``meeting``. Saving without a change writes nothing and keeps the change
    number, so sync does not push a meeting that did not change."""
    owner = meeting.owner
    _validate(owner, data)
    locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
    before = _snapshot(locked)
    times_before = (locked.start, locked.end, locked.all_day)
    before_resources = set(locked.resources.values_list("pk", flat=True))
    before_attendees = set(locked.attendance.values_list("user_id", flat=True))
    _apply(locked, data)
    times_changed = (locked.start, locked.end, locked.all_day) != times_before
    unchanged = (
        _snapshot(locked) == before
        and {r.pk for r in data.resources} == before_resources
        and {u.pk for u in data.attendees} == before_attendees
    )
    if unchanged:
        return locked
    locked.change_seq = next_change_seq(owner.pk)
    locked.updated_at = timezone.now()
    locked.full_clean()
    locked.save()
    locked.resources.set(data.resources)
    _set_attendees(locked, data.attendees, times_changed=times_changed)
    _push_after_commit(owner.pk)
    return locked


@transaction.atomic
def meeting_delete(*, meeting: Meeting) -> None:
    """Delete ``meeting``, leaving a tombstone with a new change number for sync."""
    now = timezone.now()
    deleted = Meeting.all_objects.filter(pk=meeting.pk, deleted_at__isnull=True).update(
        deleted_at=now, updated_at=now, change_seq=next_change_seq(meeting.owner_id)
    )
    meeting.deleted_at = now
    if deleted:
        _push_after_commit(meeting.owner_id)


@transaction.atomic
def attendance_confirm(*, meeting: Meeting, user: User, accept: bool) -> MeetingAttendee:
    """An attendee accepts or declines. Not a change to the meeting itself: no new change number,
    since external calendars do not carry our internal confirmations."""
    attendance = MeetingAttendee.objects.select_for_update().get(meeting=meeting, user=user)
    attendance.confirmation = Confirmation.ACCEPTED if accept else Confirmation.DECLINED
    attendance.save(update_fields=["confirmation"])
    return attendance


def resource_create(*, tenant: Tenant, name: str) -> Resource:
    resource = Resource(tenant=tenant, name=name.strip())
    resource.full_clean()  # includes the per-tenant unique name
    resource.save()
    return resource


def client_create(*, tenant: Tenant, name: str, email: str = "", phone: str = "") -> Client:
    client = Client(tenant=tenant, name=name.strip(), email=email.strip().lower(), phone=phone)
    client.full_clean()
    client.save()
    return client


@transaction.atomic
def meeting_restore(*, meeting: Meeting) -> Meeting:
    """Bring a deleted meeting back from its tombstone (an undo, issue 16 §2). A normal edit: it
    takes a new change number, so sync sends it out again like any other change. Restoring a
    live meeting changes nothing."""
    locked = Meeting.all_objects.select_for_update().get(pk=meeting.pk)
    if locked.deleted_at is None:
        return locked
    _validate(locked.owner, meeting_data(locked))
    locked.deleted_at = None
    locked.updated_at = timezone.now()
    locked.change_seq = next_change_seq(locked.owner_id)
    locked.save(update_fields=["deleted_at", "updated_at", "change_seq"])
    _push_after_commit(locked.owner_id)
    return locked


def meeting_data(meeting: Meeting) -> MeetingData:
    """A meeting's own content as ``MeetingData``: to validate it again before a restore (its
    owner may have lost their calendar meanwhile), or as the start of an edit or a copy
    (``dataclasses.replace``)."""
    return MeetingData(
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        time_zone=meeting.time_zone,
        all_day=meeting.all_day,
        kind=meeting.kind,
        client=meeting.client,
        description=meeting.description,
        location=meeting.location,
        status=meeting.status,
        resources=tuple(meeting.resources.all()),
        attendees=tuple(a.user for a in meeting.attendance.select_related("user")),
        other_attendees=tuple(meeting.other_attendees),
        reminder_minutes=meeting.reminder_minutes,
        visible_for_all=meeting.visible_for_all,
        rule=meeting.rule,
    )
