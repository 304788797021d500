"""The user's answers to the sync history (issue 16 §2): undo a change, undo a link's last run,
review a conflict, and the one-click conversion of a repetition message.

Every object is reached through the user's own links within their tenant, so another tenant's
or a colleague's change, link or message id is a 404 (tests/test_access.py). Each view is a POST
that redirects back (to ``next`` when it is a page of this site, else CalendarSync).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.access import current_user, get_object_for_tenant, staff_required, tenant_of
from calsync import conversion, history
from calsync.models import CalendarLink, SyncChange, SyncMessage


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("calsync:calendarsync")


def _change_for(request: HttpRequest, pk: int) -> SyncChange:
    return get_object_for_tenant(
        SyncChange.objects.filter(link__user=current_user(request)), request, pk=pk
    )


@staff_required
@require_POST
def change_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """*Restore* a meeting sync deleted, or *Undo* the fields a change set."""
    change = _change_for(request, pk)
    try:
        done = history.undo_change(change)
    except history.UndoError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "The meeting was restored; it is synchronised again."
            if done.restored
            else "The change was undone; the meeting is synchronised with its earlier values.",
        )
    return _back(request)


@staff_required
@require_POST
def undo_last_run(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_for_tenant(
        CalendarLink.objects.filter(user=current_user(request)), request, pk=pk
    )
    try:
        done = history.undo_last_run(link)
    except history.UndoError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Undone: %(meetings)s restored, %(changes)s reverted. They are synchronised again.")
            % {
                "meetings": ngettext("%(n)s meeting", "%(n)s meetings", done.restored)
                % {"n": done.restored},
                "changes": ngettext("%(n)s change", "%(n)s changes", done.reverted)
                % {"n": done.reverted},
            },
        )
    return _back(request)


@staff_required
@require_POST
def conflict_keep(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        history.conflict_keep(_change_for(request, pk))
    except history.UndoError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The merged result stays as it is."))
    return _back(request)


@staff_required
@require_POST
def conflict_take(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        history.conflict_take_other(_change_for(request, pk))
    except history.UndoError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The other side's value was taken; it is synchronised now."))
    return _back(request)


@staff_required
@require_POST
def message_convert(request: HttpRequest, pk: int) -> HttpResponse:
    """The one-click conversion a repetition message offers (PRODUCT 21)."""
    message = get_object_or_404(
        SyncMessage.objects.select_related("link__user").filter(
            link__user=current_user(request), link__tenant=tenant_of(request)
        ),
        pk=pk,
    )
    try:
        messages.success(request, conversion.convert(message))
    except conversion.ConversionError as exc:
        messages.error(request, str(exc))
    return _back(request)
