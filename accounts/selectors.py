"""Reads for the accounts pages: the welcome checklist and a practice's people."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Invitation, InvitationState, Tenant, User


@dataclass(frozen=True)
class ChecklistItem:
    title: str
    text: str
    url: str
    action: str
    done: bool


def checklist_for(user: User) -> list[ChecklistItem]:
    """The first steps of a new practice (administrators) or a new practitioner (staff), in the
    active language (the page's)."""
    # Imported here: billing and calsync import accounts, not the reverse at module level.
    from billing.models import Subscription
    from calsync.models import CalendarLink

    items: list[ChecklistItem] = []
    tenant = user.tenant
    if tenant is None:
        return items
    if user.is_practice_admin:
        others = User.objects.filter(tenant=tenant).exclude(pk=user.pk).exists()
        invited = Invitation.objects.filter(tenant=tenant).exists()
        items.append(
            ChecklistItem(
                title=_("Invite your practitioners"),
                text=_(
                    "Each practitioner gets an e-mail to set their name and password; they "
                    "then have a calendar here."
                ),
                url=reverse("settings_people"),
                action=_("Invite people"),
                done=others or invited,
            )
        )
        items.append(
            ChecklistItem(
                title=_("Buy calendar synchronisation"),
                text=_(
                    "Two-way sync with Google, Microsoft 365 / Outlook, iCloud or CalDAV, per "
                    "practitioner, with a free trial first."
                ),
                url=reverse("billing:integrations"),
                action=_("Settings › Integrations"),
                done=Subscription.objects.filter(tenant=tenant).exists(),
            )
        )
    if user.is_practice_staff:
        items.append(
            ChecklistItem(
                title=_("Link your calendar"),
                text=_(
                    "Keep your CalSync calendar and your Google, Microsoft 365, iCloud or "
                    "CalDAV calendar in step, both ways."
                ),
                url=reverse("calsync:calendarsync"),
                action=_("My Account › CalendarSync"),
                done=CalendarLink.objects.filter(user=user).exists(),
            )
        )
    return items


def people_of(tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant).order_by("-is_active", "role", "full_name", "email")


def open_invitations_of(tenant: Tenant) -> QuerySet[Invitation]:
    return Invitation.objects.filter(tenant=tenant, state=InvitationState.OPEN).select_related(
        "invited_by"
    )
