"""*Settings > People*: the practice's administrators invite people, resend and cancel
invitations, change roles, deactivate and reactivate people (docs/features.md, 40).

Administrators only; every id is looked up within the administrator's practice through
``accounts.access``, so another practice's id is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST

from accounts import people, services
from accounts.access import admin_required, current_user, get_object_for_tenant, tenant_of
from accounts.busy import BUSY_MESSAGE
from accounts.forms import InviteForm, RoleForm
from accounts.models import Invitation, Role, User
from accounts.selectors import open_invitations_of, people_of
from calsync.models import CalendarLink


def _invitation_link(request: HttpRequest) -> Callable[[str], str]:
    return lambda token: request.build_absolute_uri(
        reverse("accounts:invitation_accept", args=[token])
    )


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _day(moment: datetime) -> str:
    """A date in the administrator's zone (UserTimeZoneMiddleware activates it)."""
    return date_format(timezone.localtime(moment), "DATE_FORMAT")


def _ended_words(name: str, ended: people.CalendarsEnded) -> str:
    parts: list[str] = []
    if ended.links_revoked:
        links = "link was" if ended.links_revoked == 1 else "links were"
        parts.append(f"{name}'s {ended.links_revoked} calendar {links} revoked")
        if ended.links_unconfirmed:
            parts.append(
                "the provider could not be reached to confirm it, so the stored credentials "
                "were deleted and the access can be removed at the provider"
            )
    for sub in ended.subscriptions:
        if sub.closed_at is not None:
            parts.append("the free trial of calendar synchronisation ended now")
        elif sub.ends_at is not None:
            parts.append(
                "calendar synchronisation is cancelled: the paid month runs out on "
                f"{_day(sub.ends_at)} and is not renewed"
            )
    return "; ".join(parts)


@admin_required
@require_http_methods(["GET", "POST"])
def people_page(request: HttpRequest) -> HttpResponse:
    """The list of people and open invitations; POST invites someone."""
    tenant = tenant_of(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(
                tenant=tenant,
                actor=current_user(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                link=_invitation_link(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except OperationalError:
            form.add_error(None, BUSY_MESSAGE)
        else:
            messages.success(
                request,
                f"An invitation was sent to {invitation.email}. The link works for "
                f"{settings.ACCOUNTS_INVITATION_DAYS} days.",
            )
            return redirect("settings_people")
    return render(
        request,
        "accounts/people.html",
        {
            "form": form,
            "people": people_of(tenant),
            "invitations": open_invitations_of(tenant),
            "me": current_user(request),
            "roles": Role.choices,
            "invitation_days": settings.ACCOUNTS_INVITATION_DAYS,
        },
    )


def _invitation(request: HttpRequest, pk: int) -> Invitation:
    found: Invitation = get_object_for_tenant(
        Invitation.objects.select_related("tenant"), request, pk=pk
    )
    return found


@admin_required
@require_POST
def invitation_resend(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = _invitation(request, pk)
    try:
        services.invitation_resend(
            invitation=invitation, actor=current_user(request), link=_invitation_link(request)
        )
    except ValidationError as exc:
        _errors(request, exc)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
    else:
        messages.success(
            request, f"The invitation was sent again to {invitation.email}; older links stop."
        )
    return redirect("settings_people")


@admin_required
@require_POST
def invitation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = _invitation(request, pk)
    try:
        services.invitation_cancel(invitation=invitation, actor=current_user(request))
    except ValidationError as exc:
        _errors(request, exc)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
    else:
        messages.success(request, f"The invitation of {invitation.email} was cancelled.")
    return redirect("settings_people")


def _person(request: HttpRequest, pk: int) -> User:
    found: User = get_object_for_tenant(User.objects.select_related("tenant"), request, pk=pk)
    return found


@admin_required
@require_POST
def person_role(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose staff or administrator.")
        return redirect("settings_people")
    role = form.cleaned_data["role"]
    try:
        ended = people.user_set_role(user=person, role=role, actor=current_user(request))
    except ValidationError as exc:
        _errors(request, exc)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
    else:
        name = person.get_full_name()
        text = f"{name} is now {Role(role).label.lower()}."
        details = _ended_words(name, ended)
        if details:
            text += f" Administrators have no calendar: {details}."
        messages.success(request, text)
    return redirect("settings_people")


@admin_required
@require_http_methods(["GET", "POST"])
def person_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (saying what happens); POST deactivates."""
    person = _person(request, pk)
    if request.method == "POST":
        try:
            ended = people.user_deactivate(user=person, actor=current_user(request))
        except ValidationError as exc:
            _errors(request, exc)
        except OperationalError:
            messages.error(request, BUSY_MESSAGE)
        else:
            name = person.get_full_name()
            details = _ended_words(name, ended)
            messages.success(
                request,
                f"{name} is deactivated and can no longer log in"
                + (f"; {details}." if details else ".")
                + " Their meetings stay in the calendar.",
            )
        return redirect("settings_people")
    return render(
        request,
        "accounts/person_deactivate.html",
        {
            "person": person,
            "links": CalendarLink.objects.filter(user=person),
            "is_me": person.pk == current_user(request).pk,
        },
    )


@admin_required
@require_POST
def person_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(request, pk)
    try:
        people.user_reactivate(user=person, actor=current_user(request))
    except ValidationError as exc:
        _errors(request, exc)
    except OperationalError:
        messages.error(request, BUSY_MESSAGE)
    else:
        text = f"{person.get_full_name()} can log in again."
        if person.is_practice_staff:
            text += (
                " Their old calendar links stay revoked: buy calendar synchronisation for them "
                "again if they need it, and they set up their link anew."
            )
        messages.success(request, text)
    return redirect("settings_people")
