"""Sync state, in its own tables (STYLE 6): the links between a staff member's calendar and an
external calendar. Event mappings, runs and messages join them with the engine issue.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import Tenant
from connectors.caldav.hosts import is_icloud_url


class Provider(models.TextChoices):
    GOOGLE = "google", _("Google Calendar")
    MICROSOFT = "microsoft", _("Microsoft 365 / Outlook")
    CALDAV = "caldav", _("iCloud / CalDAV")


class Target(models.TextChoices):
    DEDICATED = "dedicated", _("A dedicated calendar")
    PRIMARY = "primary", _("The account's primary calendar")
    EXISTING = "existing", _("An existing calendar")


class LinkState(models.TextChoices):
    """The connection's health. Billing is a separate flag (``billing_paused``): a link can need
    a reconnect and be unpaid at the same time, and each must be undone on its own."""

    ACTIVE = "active", _("Active")
    NEEDS_RECONNECT = "needs_reconnect", _("Needs reconnect")
    REVOKED = "revoked", _("Revoked")


class PrivacyLevel(models.TextChoices):
    """What a link's outside copy of a meeting holds (issue 16 §1; ``calsync.engine.fields``
    applies it): loosest first."""

    FULL = "full", _("Full details")
    TITLE = "title", _("Title and time")
    BUSY = "busy", _("Busy only")


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
        default=False, help_text=_("Sync paused because the subscription lapsed or ended.")
    )
    # Sync bookkeeping, owned by the engine and the scheduler.
    cursor = models.TextField(blank=True)
    pushed_seq = models.BigIntegerField(default=0)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # When a run last read the whole calendar and diffed it against the mappings (the first sync,
    # an expired cursor, or the daily reconcile that runs whatever push says: engine/run.py).
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The run lease: one run per link at a time. ``lease_token`` is a fencing token: every write a
    # run makes to sync state checks it, so a run whose lease expired cannot write after another
    # run took over.
    lease_token = models.BigIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Progress of the run holding the lease, for the page: how many of the run's planned writes
    # (one per meeting) are done. Written by the engine at most about once a second and reset when
    # the run ends; only meaningful while the lease is held.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Set by the user on the page after a run stopped at the mass-delete guard (PRODUCT 18).
    allow_mass_delete = models.BooleanField(default=False)
    # The privacy level per kind of meeting (issue 16 §1), as the staff member chose it; the
    # practice's rules may make it stricter (``calsync.privacy.link_privacy``). Links from
    # before levels existed send full details, as they did.
    privacy_client = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    privacy_other = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    privacy_personal = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    # Bumped by every change of the levels or of the practice's privacy rules; a run that
    # rewrote the copies at a version stores it in ``privacy_applied`` (fenced, with the cursor).
    privacy_version = models.PositiveIntegerField(default=0)
    privacy_applied = models.PositiveIntegerField(default=0)

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
        return f"{self.provider_label} · {self.account} ({self.user})"

    @property
    def provider_label(self) -> str:
        """What staff read for this link: a CalDAV link says what it is, "iCloud" only when the
        server is iCloud's, else "CalDAV" (the choice label "iCloud / CalDAV" names the kind)."""
        if self.provider == Provider.CALDAV:
            return "iCloud" if is_icloud_url(self.server_url) else "CalDAV"
        return str(self.get_provider_display())

    @property
    def syncs(self) -> bool:
        """Whether the scheduler should poll this link."""
        return self.state == LinkState.ACTIVE and not self.billing_paused

    def is_running(self, now: datetime) -> bool:
        """Whether a run holds the lease now."""
        return self.lease_until is not None and self.lease_until > now

    def progress(self, now: datetime) -> dict[str, int] | None:
        """How far the run under way is (meetings written of those it will write), or None
        when no run is under way or it has not planned its writes yet."""
        if not self.is_running(now) or not self.progress_total:
            return None
        return {"done": self.progress_done, "total": self.progress_total}

    @property
    def display_state(self) -> str:
        if self.state == LinkState.REVOKED:
            return str(_("Revoked"))
        if self.billing_paused:
            return str(_("Paused for billing"))
        return str(self.get_state_display())


class EventMapping(models.Model):
    """One meeting and its copy on one link's calendar, with the content both had when they were
    last in step (the base of the three-way merge and of echo suppression, QUALITY I5, I6)."""

    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="mappings")
    meeting = models.ForeignKey(
        "agenda.Meeting", on_delete=models.CASCADE, related_name="sync_mappings"
    )
    external_id = models.CharField(max_length=1024)
    etag = models.CharField(max_length=255, blank=True)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # QUALITY I2: one external event per meeting per link, and back.
            models.UniqueConstraint(fields=["link", "external_id"], name="mapping_external_unique"),
            models.UniqueConstraint(fields=["link", "meeting"], name="mapping_meeting_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.meeting_id} <-> {self.external_id}"


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    OK = "ok", _("Finished")
    STOPPED = "stopped", _("Stopped: needs your decision")
    FAILED = "failed", _("Failed")


class SyncRun(models.Model):
    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    # Counts per action ("created_here", "updated_there", ...) and the conflicts resolved.
    counts = models.JSONField(default=dict)
    conflicts = models.JSONField(default=list)
    error = models.TextField(blank=True)
    # The lease (fencing) token the run held: with the link it names the run in the logs
    # (``run_id``, see ``run_id`` below and calsync/logcontext.py).
    lease_token = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["link", "-started_at"], name="syncrun_link_recent")]

    def __str__(self) -> str:
        return f"run {self.pk} of link {self.link_id}: {self.status}"

    @property
    def run_id(self) -> str:
        """The id the run's log lines carry: ``<link>.<lease token>``, unique per run."""
        return f"{self.link_id}.{self.lease_token}"

    def summary(self) -> str:
        """The counts in words, for the CalendarSync page (in the active language)."""
        parts = [
            RUN_COUNT_LABELS[k] % {"count": n}
            if k in RUN_COUNT_LABELS
            else f"{n} {k.replace('_', ' ')}"
            for k, n in sorted(self.counts.items())
        ]
        return "; ".join(parts) + "." if parts else str(_("Nothing changed."))


# The English reads the same for one and for many ("1 copies recognised again", as it always
# did); the plural forms are there for languages whose words change with the count.
RUN_COUNT_LABELS = {
    "created_here": ngettext_lazy(
        "%(count)s new from the external calendar",
        "%(count)s new from the external calendar",
        "count",
    ),
    "updated_here": ngettext_lazy(
        "%(count)s updated from the external calendar",
        "%(count)s updated from the external calendar",
        "count",
    ),
    "deleted_here": ngettext_lazy(
        "%(count)s deleted here after removal there",
        "%(count)s deleted here after removal there",
        "count",
    ),
    "created_there": ngettext_lazy(
        "%(count)s sent to the external calendar",
        "%(count)s sent to the external calendar",
        "count",
    ),
    "updated_there": ngettext_lazy(
        "%(count)s updated in the external calendar",
        "%(count)s updated in the external calendar",
        "count",
    ),
    "deleted_there": ngettext_lazy(
        "%(count)s removed from the external calendar",
        "%(count)s removed from the external calendar",
        "count",
    ),
    "recovered": ngettext_lazy(
        "%(count)s copies recognised again", "%(count)s copies recognised again", "count"
    ),
    "skipped": ngettext_lazy(
        "%(count)s skipped (see messages)", "%(count)s skipped (see messages)", "count"
    ),
    "retry_next_run": ngettext_lazy(
        "%(count)s changed meanwhile, retried next time",
        "%(count)s changed meanwhile, retried next time",
        "count",
    ),
}


class SyncMessage(models.Model):
    """What a run wants the user to know (PRODUCT 21, 22): one problem of one meeting or event is
    reported once, until its content changes (``fingerprint``)."""

    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="messages")
    # The item it is about: our meeting id or the provider's id (either may be empty).
    subject = models.CharField(max_length=1100)
    code = models.CharField(max_length=40)
    # The English words, for the admin, the logs and rows from before ``source``.
    text = models.TextField()
    # What the pages and e-mails render in their reader's language: the message's template and
    # parameters (calsync/texts.py). Null for rows written before it existed: they show ``text``.
    source = models.JSONField(null=True, blank=True)
    # The item's title and start (ISO date or date-time) when the run knew them: the card names
    # an event that never became a meeting here by these.
    title = models.CharField(max_length=255, blank=True)
    start = models.CharField(max_length=40, blank=True)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # The user put it away on the page. The row stays: it is what keeps the same problem from
    # being reported (and mailed) again until the item's content changes.
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "subject", "code", "fingerprint"], name="message_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"

    def rendered(self) -> str:
        """The message in the active language (its English ``text`` for rows without source)."""
        from calsync.texts import render

        return render(self.source) if self.source else self.text


class ChannelState(models.TextChoices):
    """Where a push channel is in its life (calsync/push.py).

    ``creating``: the row exists and the provider is being asked (its secret is known, so a
    notification that beats the provider's answer is recognised); ``active``: the provider
    confirmed it; ``retiring``: an overlapping successor is being made (Google cannot renew);
    ``stopping``: we want it gone but the provider did not confirm the stop yet; ``stopped`` and
    ``failed`` are final. Notifications count only for ``creating``, ``active`` and ``retiring``.
    """

    CREATING = "creating", _("Being created")
    ACTIVE = "active", _("Active")
    RETIRING = "retiring", _("Being replaced")
    STOPPING = "stopping", _("Stop not confirmed")
    STOPPED = "stopped", _("Stopped")
    FAILED = "failed", _("Could not be created")


LIVE_CHANNEL_STATES = (ChannelState.CREATING, ChannelState.ACTIVE, ChannelState.RETIRING)


class PushChannel(models.Model):
    """One provider push channel of one link (PRODUCT 36): a Google watch channel or a Graph
    subscription. Its own table, not columns on the link: a link has a history of channels, and
    two overlap while a Google channel is replaced."""

    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="push_channels")
    # Ours, random: the Google channel id, and the first part of a Graph clientState. It names
    # the channel in every notification, so the secret can be checked against this one row.
    key = models.CharField(max_length=64, unique=True)
    # The provider's id: the Graph subscription id (Google: the same as ``key``).
    provider_id = models.CharField(max_length=255, blank=True)
    # Google's resourceId (needed to stop the channel); Graph: the subscribed resource.
    resource_id = models.CharField(max_length=255, blank=True)
    # SHA-256 (hex) of the secret the provider echoes (Google channel token, the secret part of
    # Graph's clientState): the secret itself is sent once and never stored.
    secret_hash = models.CharField(max_length=64)
    state = models.CharField(
        max_length=10, choices=ChannelState.choices, default=ChannelState.CREATING
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    renewed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_notification_at = models.DateTimeField(null=True, blank=True)
    notifications = models.PositiveIntegerField(default=0)
    # Set when a poll found outside changes that no notification announced; cleared by a
    # notification. A channel suspect for long enough is replaced (calsync/push.py).
    suspect_since = models.DateTimeField(null=True, blank=True)
    # Why it stopped (revoked, billing pause, replaced, expired, removed by the provider...).
    reason = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one current channel per link (a retiring one may overlap it): two
            # concurrent "make a channel" tasks cannot both succeed.
            models.UniqueConstraint(
                fields=["link"],
                condition=models.Q(state__in=["creating", "active"]),
                name="pushchannel_one_current",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="pushchannel_state_expiry"),
        ]

    def __str__(self) -> str:
        return f"push channel {self.key[:8]} of link {self.link_id}: {self.state}"

    @property
    def live(self) -> bool:
        """Whether notifications on this channel count."""
        return self.state in LIVE_CHANNEL_STATES

    def healthy(self, now: datetime) -> bool:
        """Active, not expired and not suspected of having died silently."""
        return (
            self.state == ChannelState.ACTIVE
            and self.expires_at is not None
            and self.expires_at > now
            and self.suspect_since is None
        )


class ChangeReason(models.TextChoices):
    """Why sync changed a meeting or its outside copy (issue 16 §2, PRODUCT 38)."""

    OUTSIDE_EDIT = "outside_edit", _("Edited in the external calendar")
    EDIT_HERE = "edit_here", _("Edited here")
    MERGE = "merge", _("Both sides edited: merged field by field")
    CONFLICT = "conflict", _("Conflict: the most recently modified side won")
    DELETION = "deletion", _("Deleted on the other side")
    RECURRENCE = "recurrence", _("Repetition flagged (see the message)")
    RECOVERED = "recovered", _("Copy recognised again")


class ChangeDirection(models.TextChoices):
    HERE = "here", _("From the external calendar to CalSync")
    THERE = "there", _("From CalSync to the external calendar")


class ConflictState(models.TextChoices):
    NONE = "", _("No conflict")
    OPEN = "open", _("To review")
    KEPT = "kept", _("Result kept")
    TAKEN = "taken", _("Other side taken")


class SyncChange(models.Model):
    """One change a sync run applied to a meeting or to its outside copy: the per-meeting sync
    history (PRODUCT 38). Exactly one row per applied meeting write, inserted in the same
    transaction as the change it describes (calsync/history.py), so the history never claims a
    change that rolled back nor misses one that committed. ``fields`` holds the changed fields
    only, as ``{name: [old, new]}`` in snapshot form: what the engine compared and sent, so a
    redacted copy (PRODUCT 37) is recorded as it was sent. Rows older than
    CALSYNC_HISTORY_RETENTION_DAYS are removed by a beat task."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="sync_changes")
    meeting = models.ForeignKey(
        "agenda.Meeting", on_delete=models.CASCADE, related_name="sync_changes"
    )
    # The run's lease token: with the link it names the run (``SyncRun.run_id``), which is what
    # "undo the last run" selects by.
    lease_token = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    direction = models.CharField(max_length=5, choices=ChangeDirection.choices)
    # "created", "updated" or "deleted": what happened to the side named by ``direction``.
    action = models.CharField(max_length=8)
    reason = models.CharField(max_length=16, choices=ChangeReason.choices)
    # The planner's own words for the action ("changed there", "edited here, recreated there").
    detail = models.CharField(max_length=80, blank=True)
    fields = models.JSONField(default=dict)
    # The fields changed on both sides (PRODUCT 17): [{field, here, there, winner}].
    conflicts = models.JSONField(default=list, blank=True)
    conflict_state = models.CharField(
        max_length=5, choices=ConflictState.choices, default=ConflictState.NONE, blank=True
    )
    # Set when the user undid this change (or resolved its conflict); an undone change is not
    # offered again.
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["meeting", "-created_at"], name="syncchange_meeting_recent"),
            models.Index(fields=["link", "lease_token"], name="syncchange_link_run"),
            models.Index(fields=["created_at"], name="syncchange_created"),
            models.Index(
                fields=["link"],
                condition=models.Q(conflict_state="open"),
                name="syncchange_open_conflicts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.direction} of meeting {self.meeting_id} ({self.reason})"

    @property
    def run_id(self) -> str:
        return f"{self.link_id}.{self.lease_token}"

    def field_rows(self) -> list[tuple[str, object, object]]:
        """(field, old, new) sorted by field, for the pages."""
        return [(name, pair[0], pair[1]) for name, pair in sorted(self.fields.items())]


class PracticePrivacy(models.Model):
    """A practice's privacy rules for its staff's links (issue 16 §1): the level a new link
    starts at per kind of meeting, whether staff may choose a looser one, and the neutral titles
    of busy copies. A practice without a row has the defaults (full details, loosening allowed)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="privacy")
    client_level = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    other_level = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    personal_level = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.FULL
    )
    staff_may_loosen = models.BooleanField(default=True)
    client_title = models.CharField(max_length=120, default="Client appointment")
    other_title = models.CharField(max_length=120, default="Busy")
    personal_title = models.CharField(max_length=120, default="Busy")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"privacy of {self.tenant_id}"
