"""The meeting form: local dates and times in a zone, repetition, attendees of the tenant.

The form turns its fields into ``MeetingData``; the services validate the meeting as a whole and
their ``ValidationError`` comes back onto the form's fields (``add_service_errors``), so the user
sees every problem next to the field it concerns, and never a 500.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import formats
from django.utils.functional import lazy
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from accounts.fields import IdChoiceField, IdMultipleChoiceField
from accounts.models import Role, User, available_time_zones
from agenda import limits
from agenda.models import (
    Client,
    Meeting,
    MeetingKind,
    MeetingStatus,
    MonthlyBy,
    Reminder,
    Repeat,
    Resource,
    rule_from_fields,
)
from agenda.services import MeetingData, all_day_bounds
from recurrence import RuleError
from recurrence.model import MAX_INTERVAL, localize

WEEKDAY_CHOICES = [
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]
COMMON_ZONES = [
    "Europe/Amsterdam",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Dublin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Australia/Melbourne",
    "Asia/Tokyo",
    "UTC",
]

# Service error keys -> the form field that shows them.
_FIELD_FOR_ERROR = {
    "end": "end_time",
    "repeat": "repeat",
    "time_zone": "time_zone",
    "title": "title",
    "client": "client",
    "resources": "resources",
    "attendees": "attendees",
    "other_attendees": "other_attendees",
    "kind": "kind",
    "status": "status",
    "start": "start_date",
    "repeat_until": "repeat_until",
    "location": "location",
    "description": "description",
}


def date_hint() -> str:
    """How the user's language writes a date in a field: "dd/mm/yyyy" in English, "dd-mm-jjjj"
    in Dutch, from the language's first ``DATE_INPUT_FORMATS`` (calsync/formats/<language>)."""
    pattern = str(formats.get_format("DATE_INPUT_FORMATS")[0])
    for code, letters in (
        ("%d", pgettext("the day in a date's format hint", "dd")),
        ("%m", pgettext("the month in a date's format hint", "mm")),
        ("%Y", pgettext("the year in a date's format hint", "yyyy")),
    ):
        pattern = pattern.replace(code, letters)
    return pattern


def _date_error() -> str:
    example = formats.date_format(date(2026, 12, 1), "DATE_FORMAT")
    written = date(2026, 12, 1).strftime(str(formats.get_format("DATE_INPUT_FORMATS")[0]))
    return gettext("Enter the date as %(hint)s, e.g. %(written)s for %(example)s.") % {
        "hint": date_hint(),
        "written": written,
        "example": example,
    }


def _date_field(**kwargs: Any) -> forms.DateField:
    """A date in the calendar's range (``agenda.limits``), checked before anything computes a
    time from it. A text input in the user's language's format (issue 18 §4): ``type=date`` shows
    the browser's locale (mm/dd/yyyy in an en-US browser) whatever the practice writes. Django's
    DateField reads the active language's ``DATE_INPUT_FORMATS`` (each also takes ISO
    yyyy-mm-dd), and the widget writes the first of them."""
    return forms.DateField(
        widget=forms.DateInput(
            attrs={
                "placeholder": lazy(date_hint, str)(),
                "pattern": r"\d{1,2}[\-\/.]\d{1,2}[\-\/.]\d{4}|\d{4}-\d{1,2}-\d{1,2}",
                "autocomplete": "off",
            }
        ),
        validators=[_validate_date_in_range],
        error_messages={"invalid": lazy(_date_error, str)()},
        **kwargs,
    )


def _time_field(**kwargs: Any) -> forms.TimeField:
    """A 24-hour time (the practice's convention, issue 18 §4) in a text input: ``type=time``
    shows AM/PM in an en-US browser whatever the practice uses, so the page states the format
    and the form parses exactly it."""
    return forms.TimeField(
        required=False,
        input_formats=["%H:%M"],
        widget=forms.TimeInput(
            format="%H:%M",
            attrs={
                "inputmode": "numeric",
                "pattern": "([01]?[0-9]|2[0-3]):[0-5][0-9]",
                "placeholder": _("hh:mm"),
                "autocomplete": "off",
            },
        ),
        help_text=_("24-hour clock, e.g. 14:30."),
        error_messages={"invalid": _("Enter the time as hh:mm on the 24-hour clock, e.g. 14:30.")},
        **kwargs,
    )


def _validate_date_in_range(value: date) -> None:
    if not limits.date_in_range(value):
        raise ValidationError(limits.date_range_message(), code="date_range")


class MeetingForm(forms.Form):
    # Labels are given, not derived from the field names, so that they translate.
    title = forms.CharField(label=_("Title"), max_length=limits.TITLE_MAX_LENGTH)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=MeetingKind.choices, initial=MeetingKind.APPOINTMENT
    )
    client = IdChoiceField(
        queryset=Client.objects.none(),
        required=False,
        label=_("Client"),
        empty_label=_("No client"),
        help_text=_("A meeting with a client is a client appointment."),
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=MeetingStatus.choices, initial=MeetingStatus.CONFIRMED
    )
    all_day = forms.BooleanField(label=_("All day"), required=False)
    start_date = _date_field(label=_("Start date"))
    start_time = _time_field(label=_("Start time"))
    end_date = _date_field(label=_("End date"))
    end_time = _time_field(label=_("End time"))
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
        help_text=_("An IANA zone name such as Europe/Amsterdam."),
    )
    location = forms.CharField(
        label=_("Location"), max_length=limits.LOCATION_MAX_LENGTH, required=False
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=limits.DESCRIPTION_MAX_LENGTH,
        required=False,
    )
    resources = IdMultipleChoiceField(
        label=_("Resources"),
        queryset=Resource.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    attendees = IdMultipleChoiceField(
        label=_("Attendees"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Colleagues of this practice."),
    )
    other_attendees = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        # Room for the most addresses a meeting may have, each as long as an address may be.
        max_length=limits.MAX_ATTENDEES * (limits.EMAIL_MAX_LENGTH + 1),
        required=False,
        label=_("Attendees (other)"),
        help_text=_("E-mail addresses, one per line or separated by commas."),
    )
    reminder_minutes = forms.TypedChoiceField(
        choices=[("", _("No reminder")), *Reminder.choices],
        required=False,
        coerce=int,
        empty_value=None,
        label=_("Reminder"),
    )
    visible_for_all = forms.BooleanField(
        required=False,
        label=_("Visible for all users"),
        help_text=_("Internal only; never sent to external calendars."),
    )
    repeat = forms.ChoiceField(label=_("Repeat"), choices=Repeat.choices, required=False)
    repeat_interval = forms.IntegerField(
        min_value=1, max_value=MAX_INTERVAL, initial=1, required=False, label=_("Every")
    )
    repeat_weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("On"),
    )
    repeat_monthly_by = forms.ChoiceField(
        choices=MonthlyBy.choices,
        required=False,
        initial=MonthlyBy.DAY_OF_MONTH,
        label=_("Monthly"),
    )
    repeat_until = _date_field(required=False, label=_("Until"))

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        tenant = owner.tenant
        # Every choice is scoped to the owner's tenant: an id of another tenant is "not one of
        # the available choices", a form error rather than a leak.
        self.fields["client"].queryset = Client.objects.filter(tenant=tenant)  # type: ignore[attr-defined]
        self.fields["resources"].queryset = Resource.objects.filter(tenant=tenant)  # type: ignore[attr-defined]
        self.fields["attendees"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(tenant=tenant, role=Role.STAFF, is_active=True)
            .exclude(pk=owner.pk)
            .order_by("full_name", "email")
        )
        if not self.is_bound and "time_zone" not in self.initial:
            self.initial["time_zone"] = owner.time_zone

    @classmethod
    def initial_for(cls, meeting: Meeting) -> dict[str, Any]:
        local_start, local_end = meeting.local_start, meeting.local_end
        if meeting.all_day:
            local_end -= timedelta(days=1)  # the form shows the last day, not the exclusive end
        return {
            "title": meeting.title,
            "kind": meeting.kind,
            "client": meeting.client_id,
            "status": meeting.status,
            "all_day": meeting.all_day,
            "start_date": local_start.date(),
            "start_time": None if meeting.all_day else local_start.time(),
            "end_date": local_end.date(),
            "end_time": None if meeting.all_day else local_end.time(),
            "time_zone": meeting.time_zone,
            "location": meeting.location,
            "description": meeting.description,
            "resources": list(meeting.resources.all()),
            "attendees": [a.user for a in meeting.attendance.all()],
            "other_attendees": "\n".join(meeting.other_attendees),
            "reminder_minutes": meeting.reminder_minutes,
            "visible_for_all": meeting.visible_for_all,
            "repeat": meeting.repeat,
            "repeat_interval": meeting.repeat_interval,
            "repeat_weekdays": [str(d) for d in meeting.repeat_weekdays],
            "repeat_monthly_by": meeting.repeat_monthly_by or MonthlyBy.DAY_OF_MONTH,
            "repeat_until": meeting.repeat_until,
        }

    def clean_time_zone(self) -> str:
        value: str = self.cleaned_data["time_zone"].strip()
        if value not in available_time_zones():
            raise ValidationError(
                gettext("Unknown time zone %(zone)s. Use an IANA name such as Europe/Amsterdam."),
                params={"zone": value},
            )
        return value

    def clean_other_attendees(self) -> list[str]:
        raw: str = self.cleaned_data.get("other_attendees") or ""
        addresses = [a for a in re.split(r"[\s,;]+", raw) if a]
        invalid = [a for a in addresses if not _is_email(a)]
        if invalid:
            raise ValidationError(
                gettext("Not an e-mail address: %(list)s."), params={"list": ", ".join(invalid)}
            )
        return addresses

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        zone_name = data.get("time_zone")
        start_date, end_date = data.get("start_date"), data.get("end_date")
        if not zone_name or start_date is None or end_date is None:
            return data  # field errors already explain what is missing
        zone = zoneinfo.ZoneInfo(zone_name)
        if data.get("all_day"):
            if end_date < start_date:
                self.add_error(
                    "end_date", gettext("The last day must not be before the first day.")
                )
                return data
            data["start"], data["end"] = all_day_bounds(start_date, end_date, zone_name)
        else:
            start_time, end_time = data.get("start_time"), data.get("end_time")
            if start_time is None:
                self.add_error("start_time", gettext("Enter a start time, or tick All day."))
            if end_time is None:
                self.add_error("end_time", gettext("Enter an end time, or tick All day."))
            if start_time is None or end_time is None:
                return data
            data["start"] = _aware(start_date, start_time, zone)
            data["end"] = _aware(end_date, end_time, zone)
            if data["end"] <= data["start"]:
                self.add_error("end_time", gettext("The meeting must end after it starts."))
        self._clean_repetition(data, data["start"].astimezone(zone).date())
        return data

    def _clean_repetition(self, data: dict[str, Any], first_day: date) -> None:
        repeat = data.get("repeat") or ""
        data["rule"] = None
        if not repeat:
            return
        until = data.get("repeat_until")
        if "repeat_until" in self.errors:
            return  # out of range: its field error says so
        if until is None:
            self.add_error(
                "repeat_until",
                gettext(
                    "A repeating meeting needs an end date. For a meeting that goes on for years, "
                    "choose a date far ahead."
                ),
            )
            return
        weekdays = [int(d) for d in data.get("repeat_weekdays") or []]
        if repeat == Repeat.WEEKLY and not weekdays:
            self.add_error("repeat_weekdays", gettext("Choose at least one weekday."))
            return
        try:
            rule = rule_from_fields(
                repeat=repeat,
                interval=data.get("repeat_interval") or 1,
                weekdays=weekdays,
                monthly_by=data.get("repeat_monthly_by") or MonthlyBy.DAY_OF_MONTH,
                until=until,
                first_day=first_day,
            )
            rule.check_start(first_day)
        except RuleError as exc:
            self.add_error("repeat", exc.text.render(gettext))
            return
        data["rule"] = rule

    def meeting_data(self) -> MeetingData:
        """The validated form as ``MeetingData`` (call after ``is_valid()``)."""
        d = self.cleaned_data
        return MeetingData(
            title=d["title"],
            start=d["start"],
            end=d["end"],
            time_zone=d["time_zone"],
            all_day=bool(d.get("all_day")),
            kind=d["kind"],
            client=d.get("client"),
            description=d.get("description") or "",
            location=d.get("location") or "",
            status=d["status"],
            resources=tuple(d.get("resources") or ()),
            attendees=tuple(d.get("attendees") or ()),
            other_attendees=tuple(d.get("other_attendees") or ()),
            reminder_minutes=d.get("reminder_minutes"),
            visible_for_all=bool(d.get("visible_for_all")),
            rule=d.get("rule"),
        )

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the services' errors on the matching fields."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                field = _FIELD_FOR_ERROR.get(name)
                if name == "end" and self.cleaned_data.get("all_day"):
                    field = "end_date"
                for item in errors:
                    self.add_error(field, item.messages)
        else:
            self.add_error(None, error.messages)


def _aware(day: date, clock: time, zone: zoneinfo.ZoneInfo) -> datetime:
    # A wall time skipped by a DST jump (02:30 on a spring-forward night) is moved forward by
    # going through UTC, the same choice calendar clients make.
    return localize(datetime.combine(day, clock), zone)


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True
