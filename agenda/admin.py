from __future__ import annotations

from django.contrib import admin

from agenda.models import Client, Meeting, MeetingAttendee, Resource


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin[Resource]):
    list_display = ("name", "tenant")
    list_filter = ("tenant",)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin[Client]):
    list_display = ("name", "email", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name", "email")


class AttendeeInline(admin.TabularInline[MeetingAttendee, Meeting]):
    model = MeetingAttendee
    extra = 0
    readonly_fields = ("user", "confirmation")
    can_delete = False


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin[Meeting]):
    """Read-only: meetings change through the practice's own pages (services), so the change
    sequence and tombstones stay right."""

    list_display = ("title", "owner", "tenant", "start", "repeat", "change_seq", "deleted_at")
    list_filter = ("tenant", "kind", "repeat")
    search_fields = ("title",)
    inlines = [AttendeeInline]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return Meeting.all_objects.select_related("owner", "tenant")

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
