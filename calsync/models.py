"""Sync state, in its own tables (STYLE 6): the links between a staff member's calendar and an
external calendar. Event mappings, runs and messages join them with the engine issue.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Tenant


class Provider(models.TextChoices):
    GOOGLE = "google", "Google Calendar"
    MICROSOFT = "microsoft", "Microsoft 365 / Outlook"
    CALDAV = "caldav", "iCloud / CalDAV"


class Target(models.TextChoices):
    DEDICATED = "dedicated", "A dedicated calendar"
    PRIMARY = "primary", "The account's primary calendar"
    EXISTING = "existing", "An existing calendar"


class LinkState(models.TextChoices):
    """The connection's health. Billing is a separate flag (``billing_paused``): a link can need
    a reconnect and be unpaid at the same time, and each must be undone on its own."""

    ACTIVE = "active", "Active"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    REVOKED = "revoked", "Revoked"


class LiveLinkManager(models.Manager["CalendarLink"]):
    def get_queryset(self) -> models.QuerySet[CalendarLink]:
        return super().get_queryset().exclude(state=LinkState.REVOKED)


class CalendarLink(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calendar_links")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_links"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # The external account as the provider names it (an e-mail address, a CalDAV user name).
    account = models.CharField(max_length=320)
    # CalDAV only: the server the user entered (after discovery, the calendar home's origin).
    server_url = models.URLField(max_length=500, blank=True)
    target = models.CharField(max_length=12, choices=Target.choices, default=Target.DEDICATED)
    calendar_id = models.CharField(max_length=1024, blank=True)
    calendar_name = models.CharField(max_length=255, blank=True)
    # Fernet token (connectors/credentials.py); empty once revoked.
    credentials = models.TextField(blank=True)

    state = models.CharField(max_length=20, choices=LinkState.choices, default=LinkState.ACTIVE)
    billing_paused = models.BooleanField(
        default=False, help_text="Sync paused because the subscription lapsed or ended."
    )
    # Sync bookkeeping, owned by the engine and the scheduler.
    cursor = models.TextField(blank=True)
    pushed_seq = models.BigIntegerField(default=0)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[LiveLinkManager] = LiveLinkManager()
    all_objects: ClassVar[models.Manager[CalendarLink]] = models.Manager()

    class Meta:
        base_manager_name = "all_objects"
        ordering = ["created_at"]
        constraints = [
            # One live link per user and external calendar; revoked links stay for history.
            models.UniqueConstraint(
                fields=["user", "provider", "account", "calendar_id"],
                condition=~models.Q(state="revoked"),
                name="calendarlink_live_unique",
            ),
        ]
        indexes = [models.Index(fields=["next_sync_at"], name="calendarlink_next_sync")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} · {self.account} ({self.user})"

    @property
    def syncs(self) -> bool:
        """Whether the scheduler should poll this link."""
        return self.state == LinkState.ACTIVE and not self.billing_paused

    @property
    def display_state(self) -> str:
        if self.state == LinkState.REVOKED:
            return "Revoked"
        if self.billing_paused:
            return "Paused for billing"
        return self.get_state_display()
