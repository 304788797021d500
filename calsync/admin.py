"""Operators' view of sync in the Django admin: link health, sync now, pause and resume all, and
the runs that changed something (with the ``run_id`` their log lines carry).

Read-only apart from the actions: links are made and revoked by their users (the services keep
credentials and state consistent), so nothing here edits a link's fields directly.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from calsync import scheduler
from calsync.models import CalendarLink, SyncRun


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
        "last_error",
    )
    list_filter = ("state", "provider", "billing_paused")
    search_fields = ("account", "user__email", "tenant__name")
    ordering = ("next_sync_at",)
    actions = ("sync_now", "pause_all_sync", "resume_all_sync")
    exclude = ("credentials", "cursor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarLink]:
        return CalendarLink.all_objects.select_related("tenant", "user")

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
