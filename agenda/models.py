"""The practice's own calendar (PRODUCT 9-16, 19).

A ``Meeting`` belongs to its owner (a staff user) and, for scoping, to the owner's tenant. Its
times are stored as aware UTC datetimes together with the IANA zone the meeting was planned in;
the zone decides the local wall time of every occurrence of a repeating meeting.

Writes go through ``agenda.services`` only: each write takes a new value from the change sequence
(``agenda.changeseq``) and a delete leaves a tombstone (``deleted_at``), so sync can ask "what
changed since N" in one indexed query, deletions included.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant, validate_time_zone
from accounts.validators import validate_name
from recurrence import Frequency, Rule, Weekday
from recurrence.model import nth_of_month


class Resource(models.Model):
    """A room or a piece of equipment that meetings reserve (PRODUCT 11)."""

    # The verbose names make Django's "Resource with this Tenant and Name already exists.", what
    # Settings shows for a name taken, translatable.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="resources", verbose_name=_("tenant")
    )
    name = models.CharField(max_length=120, validators=[validate_name], verbose_name=_("name"))

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="resource_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Client(models.Model):
    """A client of the practice; a meeting with a client is a client appointment."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="clients")
    name = models.CharField(max_length=200, validators=[validate_name])
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MeetingKind(models.TextChoices):
    # "Meeting", as the week view's legend says: with a client it is a client appointment.
    APPOINTMENT = "appointment", _("Meeting")
    PERSONAL = "personal", _("Personal")


class MeetingStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    TENTATIVE = "tentative", _("Tentative")


class Repeat(models.TextChoices):
    NONE = "", _("Does not repeat")
    WEEKLY = Frequency.WEEKLY.value, _("Weekly")
    MONTHLY = Frequency.MONTHLY.value, _("Monthly")
    YEARLY = Frequency.YEARLY.value, _("Yearly")


class MonthlyBy(models.TextChoices):
    DAY_OF_MONTH = "day", _("On the same day of the month")
    NTH_WEEKDAY = "weekday", _("On the same weekday of the month (e.g. the 2nd Tuesday)")
    LAST_WEEKDAY = "last", _("On the last such weekday of the month")


class Reminder(models.IntegerChoices):
    """The reminders the internal calendar offers, in minutes before the start. An incoming
    reminder is rounded to the closest of these (PRODUCT 13, ``nearest_reminder``)."""

    AT_START = 0, _("At the start")
    MIN_5 = 5, _("5 minutes before")
    MIN_10 = 10, _("10 minutes before")
    MIN_15 = 15, _("15 minutes before")
    MIN_30 = 30, _("30 minutes before")
    HOUR_1 = 60, _("1 hour before")
    HOUR_2 = 120, _("2 hours before")
    DAY_1 = 1440, _("1 day before")
    DAY_2 = 2880, _("2 days before")
    WEEK_1 = 10080, _("1 week before")


def nearest_reminder(minutes: int) -> int:
    """The internal reminder closest to ``minutes``; on a tie the earlier warning (more minutes)."""
    return min(Reminder.values, key=lambda choice: (abs(choice - minutes), -choice))


class LiveMeetingManager(models.Manager["Meeting"]):
    """Meetings that are not deleted: what every page shows."""

    def get_queryset(self) -> models.QuerySet[Meeting]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Meeting(models.Model):
    # No single-column indexes on these two: the composite indexes below lead with them.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="meetings", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetings", db_index=False
    )
    kind = models.CharField(
        max_length=12, choices=MeetingKind.choices, default=MeetingKind.APPOINTMENT
    )
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.RESTRICT, related_name="meetings"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.CONFIRMED
    )

    # Times. For all-day meetings start is local midnight of the first day and end local midnight
    # after the last day (exclusive), in ``time_zone``, as iCalendar DATE values do.
    start = models.DateTimeField()
    end = models.DateTimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    all_day = models.BooleanField(default=False)

    location = models.CharField(max_length=255, blank=True)
    resources = models.ManyToManyField(Resource, blank=True, related_name="meetings")
    attendees: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="MeetingAttendee",
        related_name="attended_meetings",
        blank=True,
    )
    # "Attendees (other)": addresses that are not users of the tenant (PRODUCT 10).
    other_attendees = models.JSONField(default=list, blank=True)
    reminder_minutes = models.PositiveIntegerField(null=True, blank=True, choices=Reminder.choices)
    visible_for_all = models.BooleanField(
        default=False, help_text=_("Internal only: never synced (PRODUCT 12).")
    )

    # Repetition (PRODUCT 19); ``rule`` assembles these into a ``recurrence.Rule``.
    repeat = models.CharField(max_length=10, choices=Repeat.choices, blank=True, default="")
    repeat_interval = models.PositiveSmallIntegerField(default=1)
    # Weekly: ISO weekday numbers Monday=0 ... Sunday=6, sorted.
    repeat_weekdays = models.JSONField(default=list, blank=True)
    repeat_monthly_by = models.CharField(
        max_length=10, choices=MonthlyBy.choices, blank=True, default=""
    )
    repeat_until = models.DateField(null=True, blank=True)

    # Sync bookkeeping: a value from the change sequence on every write, and a tombstone.
    change_seq = models.BigIntegerField(db_index=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[LiveMeetingManager] = LiveMeetingManager()
    all_objects: ClassVar[models.Manager[Meeting]] = models.Manager()

    class Meta:
        # The default manager hides tombstones; related lookups and the admin use all_objects
        # where they must see them.
        base_manager_name = "all_objects"
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="meeting_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(repeat="") | models.Q(repeat_until__isnull=False),
                name="meeting_repeat_has_end",
            ),
            models.UniqueConstraint(fields=["change_seq"], name="meeting_change_seq_unique"),
        ]
        indexes = [
            # "What changed for this owner since N": one index range scan.
            models.Index(fields=["owner", "change_seq"], name="meeting_owner_seq"),
            # The week view: live meetings of an owner overlapping a window.
            models.Index(fields=["owner", "start"], name="meeting_owner_start"),
            models.Index(fields=["tenant", "start"], name="meeting_tenant_start"),
        ]

    def __str__(self) -> str:
        return self.title

    # -- derived values ---------------------------------------------------------------------------

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.zone)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def is_client_appointment(self) -> bool:
        return self.client_id is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def rule(self) -> Rule | None:
        """The repetition as the internal model's value type, or None for a single meeting."""
        if not self.repeat:
            return None
        assert self.repeat_until is not None  # guaranteed by meeting_repeat_has_end
        return rule_from_fields(
            repeat=self.repeat,
            interval=self.repeat_interval,
            weekdays=self.repeat_weekdays,
            monthly_by=self.repeat_monthly_by,
            until=self.repeat_until,
            first_day=self.local_start.date(),
        )

    def occurrences(self, window_start: datetime, window_end: datetime) -> list[Occurrence]:
        """The occurrences of this meeting that overlap ``[window_start, window_end)``."""
        rule = self.rule
        duration = self.duration
        if rule is None:
            starts = [self.start] if self.start < window_end and self.end > window_start else []
        else:
            starts = list(
                rule.occurrences(self.local_start, after=window_start - duration, before=window_end)
            )
        return [
            Occurrence(meeting=self, start=s, end=s + duration)
            for s in starts
            if s + duration > window_start
        ]


def rule_from_fields(
    *,
    repeat: str,
    interval: int,
    weekdays: list[int],
    monthly_by: str,
    until: date,
    first_day: date,
) -> Rule:
    """Assemble a ``recurrence.Rule`` from the meeting's columns (and the form's fields).

    Monthly repetitions take their day, or their weekday and its position, from the first
    occurrence, as every calendar's "monthly on the second Tuesday" does; "last" is its own
    choice because the 4th Friday and the last Friday are different series.
    """
    frequency = Frequency(repeat)
    if frequency is Frequency.WEEKLY:
        return Rule(
            frequency,
            until=until,
            interval=interval,
            weekdays=frozenset(Weekday(d) for d in weekdays),
        )
    if frequency is Frequency.MONTHLY:
        if monthly_by in (MonthlyBy.NTH_WEEKDAY, MonthlyBy.LAST_WEEKDAY):
            nth = -1 if monthly_by == MonthlyBy.LAST_WEEKDAY else nth_of_month(first_day)
            return Rule(
                frequency,
                until=until,
                interval=interval,
                nth=nth,
                nth_weekday=Weekday(first_day.weekday()),
            )
        return Rule(frequency, until=until, interval=interval, month_day=first_day.day)
    return Rule(frequency, until=until, interval=interval)


def fields_from_rule(rule: Rule | None) -> dict[str, object]:
    """The meeting columns for ``rule`` (the inverse of ``rule_from_fields``, for sync).

    The rule must match the meeting's start (``Rule.check_start``), since the columns take the
    monthly day and weekday from the start.
    """
    if rule is None:
        return {
            "repeat": "",
            "repeat_interval": 1,
            "repeat_weekdays": [],
            "repeat_monthly_by": "",
            "repeat_until": None,
        }
    monthly_by = ""
    if rule.frequency is Frequency.MONTHLY:
        if rule.month_day is not None:
            monthly_by = MonthlyBy.DAY_OF_MONTH.value
        elif rule.nth == -1:
            monthly_by = MonthlyBy.LAST_WEEKDAY.value
        else:
            monthly_by = MonthlyBy.NTH_WEEKDAY.value
    return {
        "repeat": rule.frequency.value,
        "repeat_interval": rule.interval,
        "repeat_weekdays": sorted(int(d) for d in rule.weekdays),
        "repeat_monthly_by": monthly_by,
        "repeat_until": rule.until,
    }


class Occurrence:
    """One occurrence of a meeting in a window (what the week view draws)."""

    __slots__ = ("end", "meeting", "start")

    def __init__(self, *, meeting: Meeting, start: datetime, end: datetime) -> None:
        self.meeting = meeting
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"<Occurrence {self.meeting.title!r} {self.start.isoformat()}>"


class Confirmation(models.TextChoices):
    PENDING = "pending", _("Not yet confirmed")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")


class MeetingAttendee(models.Model):
    """A tenant user invited to a meeting, with their confirmation (PRODUCT 10, 14)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendance"
    )
    confirmation = models.CharField(
        max_length=10, choices=Confirmation.choices, default=Confirmation.PENDING
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "user"], name="attendee_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.meeting}"


class ChangeCounter(models.Model):
    """The change sequence on databases without sequences (SQLite, the embedded default).

    One row; ``agenda.changeseq`` increments it inside the writing transaction. On PostgreSQL the
    real sequence ``agenda_change_seq`` is used instead and this table stays empty.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"change counter at {self.value}"


def clean_other_attendees(addresses: list[str]) -> list[str]:
    """Validated, lower-cased, de-duplicated e-mail addresses in their original order."""
    seen: dict[str, None] = {}
    for address in addresses:
        address = address.strip().lower()
        if address:
            validate_email(address)
            seen.setdefault(address, None)
    return list(seen)
