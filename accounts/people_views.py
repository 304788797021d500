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
from django.utils.translation import gettext, ngettext
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
    """What ending ``name``'s calendar did, as clauses joined by semicolons: each clause is one
    whole translated text."""
    parts: list[str] = []
    if ended.links_revoked:
        parts.append(
            ngettext(
                "%(name)s's %(count)s calendar link was revoked",
                "%(name)s's %(count)s calendar links were revoked",
                ended.links_revoked,
            )
            % {"name": name, "count": ended.links_revoked}
        )
        if ended.links_unconfirmed:
            parts.append(
                gettext(
                    "the provider could not be reached to confirm it, so the stored credentials "
                    "were deleted and the access can be removed at the provider"
                )
            )
    for sub in ended.subscriptions:
        if sub.closed_at is not None:
            parts.append(gettext("the free trial of calendar synchronisation ended now"))
        elif sub.ends_at is not None:
            parts.append(
                gettext(
                    "calendar synchronisation is cancelled: the paid month runs out on "
                    "%(date)s and is not renewed"
                )
                % {"date": _day(sub.ends_at)}
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
            days = settings.ACCOUNTS_INVITATION_DAYS
            messages.success(
                request,
                ngettext(
                    "An invitation was sent to %(email)s. The link works for %(days)s day.",
                    "An invitation was sent to %(email)s. The link works for %(days)s days.",
                    days,
                )
                % {"email": invitation.email, "days": days},
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
            request,
            gettext("The invitation was sent again to %(email)s; older links stop.")
            % {"email": invitation.email},
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
        messages.success(
            request,
            gettext("The invitation of %(email)s was cancelled.") % {"email": invitation.email},
        )
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
        messages.error(request, gettext("Choose staff or administrator."))
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
        if role == Role.ADMIN:
            sentences = [gettext("%(name)s is now administrator.") % {"name": name}]
        else:
            sentences = [gettext("%(name)s is now staff.") % {"name": name}]
        details = _ended_words(name, ended)
        if details:
            sentences.append(
                gettext("Administrators have no calendar: %(details)s.") % {"details": details}
            )
        messages.success(request, " ".join(sentences))
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
            if details:
                first = gettext(
                    "%(name)s is deactivated and can no longer log in; %(details)s."
                ) % {"name": name, "details": details}
            else:
                first = gettext("%(name)s is deactivated and can no longer log in.") % {
                    "name": name
                }
            messages.success(
                request, " ".join([first, gettext("Their meetings stay in the calendar.")])
            )
        return redirect("settings_people")
    links = list(CalendarLink.objects.filter(user=person))
    return render(
        request,
        "accounts/person_deactivate.html",
        {
            "person": person,
            "links": links,
            # One text for the sentence that names them (a loop cannot run inside a translation).
            "providers": ", ".join(str(link.provider_label) for link in links),
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
        sentences = [gettext("%(name)s can log in again.") % {"name": person.get_full_name()}]
        if person.is_practice_staff:
            sentences.append(
                gettext(
                    "Their old calendar links stay revoked: buy calendar synchronisation for them "
                    "again if they need it, and they set up their link anew."
                )
            )
        messages.success(request, " ".join(sentences))
    return redirect("settings_people")
