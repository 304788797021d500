"""The pages of the privacy levels (issue 16 §1): *Settings > Privacy* for administrators, and the
level form of each link on *My Account > CalendarSync* (``calsync/_privacy.html``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import (
    admin_required,
    current_user,
    get_object_for_tenant,
    staff_required,
    tenant_of,
)
from calsync.models import CalendarLink
from calsync.privacy import link_privacy_update, practice_privacy, practice_privacy_update
from calsync.privacy_forms import LinkPrivacyForm, PracticePrivacyForm

# Where a Setup's chosen levels wait for the link to be saved (after the provider's consent page
# for Google and Microsoft, after the calendar choice for CalDAV).
SETUP_PRIVACY = "calsync:setup-privacy"


@admin_required
@require_http_methods(["GET", "POST"])
def settings_privacy(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    rules = practice_privacy(tenant)
    form = PracticePrivacyForm(request.POST or None, rules=rules)
    if request.method == "POST" and form.is_valid():
        try:
            practice_privacy_update(
                tenant=tenant,
                actor=current_user(request),
                levels=form.levels(),
                staff_may_loosen=form.cleaned_data["staff_may_loosen"],
                titles=form.titles(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _(
                    "The privacy rules were saved. Calendars they change are rewritten at their "
                    "next synchronisation, which starts now."
                ),
            )
            return redirect("settings_privacy")
    return render(request, "calsync/settings_privacy.html", {"form": form})


@staff_required
@require_POST
def link_privacy(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a link's levels; the run this asks for rewrites the existing copies."""
    # Tenant-scoped and the user's own: another's link id is a 404.
    link = get_object_for_tenant(
        CalendarLink.objects.filter(user=current_user(request)), request, pk=pk
    )
    form = LinkPrivacyForm(
        request.POST, rules=practice_privacy(link.tenant_id), link=link, prefix=f"privacy-{link.pk}"
    )
    if not form.is_valid():
        errors = [e for field in form.errors.values() for e in field]
        messages.error(request, " ".join(str(e) for e in errors))
        return redirect("calsync:calendarsync")
    try:
        changed = link_privacy_update(link=link, actor=current_user(request), levels=form.levels())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if changed:
            messages.success(
                request,
                _("Privacy levels saved. Your outside calendar's copies are being rewritten now."),
            )
    return redirect("calsync:calendarsync")


def setup_privacy_form(request: HttpRequest) -> LinkPrivacyForm:
    """The level choice on a Setup page, at the practice's defaults."""
    user = current_user(request)
    assert user.tenant_id is not None
    return LinkPrivacyForm(
        request.POST or None, rules=practice_privacy(user.tenant_id), prefix="privacy"
    )


def remember_setup_privacy(request: HttpRequest, form: LinkPrivacyForm) -> None:
    request.session[SETUP_PRIVACY] = form.levels()
