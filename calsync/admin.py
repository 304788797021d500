"""Operators' view of sync in the Django admin: link health (with its push channel's state and
expiry), sync now, pause and resume all, the runs that changed something (with the ``run_id``
their log lines carry), and push channels with renew and recreate actions.

Read-only apart from the actions: links are made and revoked by their users (the services keep
credentials and state consistent), so nothing here edits a link's fields directly.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from calsync import push, scheduler, tasks
from calsync.models import LIVE_CHANNEL_STATES, CalendarLink, PushChannel, SyncChange, SyncRun


class ReadOnly:
    """Sync state is written by its services and the engine only; the admin shows it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CalendarLink)
class CalendarLinkAdmin(ReadOnly, admin.ModelAdmin[CalendarLink]):
    list_display = (
        "pk",
        "tenant",
        "user",
        "provider",
        "state",
        "billing_paused",
        "last_success_at",
        "failure_count",
        "next_sync_at",
        "push_state",
        "push_expires_at",
        "last_error",
    )
    list_filter = ("state", "provider", "billing_paused")
    search_fields = ("account", "user__email", "tenant__name")
    ordering = ("next_sync_at",)
    actions = ("sync_now", "pause_all_sync", "resume_all_sync")
    exclude = ("credentials", "cursor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarLink]:
        current = PushChannel.objects.filter(
            link=OuterRef("pk"), state__in=LIVE_CHANNEL_STATES
        ).order_by("-created_at")
        return CalendarLink.all_objects.select_related("tenant", "user").annotate(
            push_state_value=Subquery(current.values("state")[:1]),
            push_expiry_value=Subquery(current.values("expires_at")[:1]),
        )

    @admin.display(description="push channel")
    def push_state(self, link: CalendarLink) -> str:
        state = getattr(link, "push_state_value", None)
        if state:
            return str(state)
        return "none" if push.enabled() and push.supports(link.provider) else "-"

    @admin.display(description="push expires")
    def push_expires_at(self, link: CalendarLink) -> Any:
        return getattr(link, "push_expiry_value", None)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if scheduler.sync_paused():
            self.message_user(
                request, "All sync is paused (action “Resume all sync”).", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Sync the selected links now (interactive queue)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[CalendarLink]) -> None:
        queued = sum(scheduler.request_sync(link.pk) for link in queryset if link.syncs)
        self.message_user(request, f"{queued} link(s) queued.")

    @admin.action(description="Pause ALL sync (whatever is selected)")
    def pause_all_sync(self, request: HttpRequest, queryset: QuerySet[CalendarLink]) -> None:
        scheduler.set_sync_paused(True)
        self.message_user(request, "All sync paused.", messages.WARNING)

    @admin.action(description="Resume all sync")
    def resume_all_sync(self, request: HttpRequest, queryset: QuerySet[CalendarLink]) -> None:
        scheduler.set_sync_paused(False)
        self.message_user(request, "All sync resumed.")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnly, admin.ModelAdmin[SyncRun]):
    """Runs that changed something, stopped or failed (quiet polls leave no row). ``run_id`` is
    what to search the logs for."""

    list_display = ("run_id", "link", "status", "started_at", "finished_at", "summary", "error")
    list_filter = ("status",)
    list_select_related = ("link", "link__user")
    search_fields = ("=link__id", "link__account", "link__user__email")
    ordering = ("-started_at",)


@admin.register(PushChannel)
class PushChannelAdmin(ReadOnly, admin.ModelAdmin[PushChannel]):
    """Provider push channels (calsync/push.py): one current per syncing Google or Microsoft
    link, with stopped and failed ones kept for 30 days. The actions queue provider calls."""

    list_display = (
        "key",
        "link",
        "state",
        "expires_at",
        "last_notification_at",
        "notifications",
        "suspect_since",
        "reason",
        "last_error",
    )
    list_filter = ("state", "link__provider")
    list_select_related = ("link", "link__user")
    search_fields = ("=link__id", "key", "provider_id", "link__account", "link__user__email")
    ordering = ("-created_at",)
    exclude = ("secret_hash",)
    actions = ("renew", "recreate")

    @admin.action(description="Renew the selected channels (Google: replace them)")
    def renew(self, request: HttpRequest, queryset: QuerySet[PushChannel]) -> None:
        channels = list(queryset.filter(state="active"))
        for channel in channels:
            tasks.push_renew.apply_async((channel.pk,), queue="interactive")
        self.message_user(request, f"{len(channels)} channel(s) queued for renewal.")

    @admin.action(description="Recreate: a new channel for each, then stop the old one")
    def recreate(self, request: HttpRequest, queryset: QuerySet[PushChannel]) -> None:
        channels = list(queryset.filter(state="active"))
        for channel in channels:
            tasks.push_replace.apply_async(
                (channel.pk, "recreated by an operator"), queue="interactive"
            )
        self.message_user(request, f"{len(channels)} channel(s) queued to be recreated.")


@admin.register(SyncChange)
class SyncChangeAdmin(ReadOnly, admin.ModelAdmin[SyncChange]):
    """The per-meeting sync history, as the meeting page shows it (issue 16 §2): read-only.
    Search by meeting id or title, filter by link, or follow a run by its ``run_id``."""

    list_display = (
        "created_at",
        "tenant",
        "link",
        "meeting_id",
        "meeting",
        "direction",
        "action",
        "reason",
        "changed_fields",
        "conflict_state",
        "undone_at",
        "run_id",
    )
    list_filter = ("direction", "action", "reason", "conflict_state")
    search_fields = ("=meeting__id", "meeting__title", "link__account", "tenant__name")
    raw_id_fields = ("tenant", "link", "meeting")
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncChange]:
        return super().get_queryset(request).select_related("tenant", "link", "meeting")

    @admin.display(description="Fields")
    def changed_fields(self, obj: SyncChange) -> str:
        return ", ".join(sorted(obj.fields))
