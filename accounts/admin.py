"""The Django admin is for operators (``is_operator``), who run the installation."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEntry, Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ("name", "slug", "time_zone", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class CalSyncUserCreationForm(UserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email", "full_name", "tenant", "role")


class CalSyncUserChangeForm(UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]  # stubs want AbstractUser
    form = CalSyncUserChangeForm
    add_form = CalSyncUserCreationForm
    ordering = ("tenant__name", "email")
    list_display = ("email", "full_name", "tenant", "role", "is_active", "last_seen_at")
    list_filter = ("tenant", "role", "is_active", "is_operator")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_seen_at", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Practice"), {"fields": ("full_name", "tenant", "role", "time_zone")}),
        (
            _("Access"),
            {"fields": ("is_active", "is_operator", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Activity"), {"fields": ("last_seen_at", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "tenant", "role", "password1", "password2"),
            },
        ),
    )
    filter_horizontal = ("groups", "user_permissions")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Read-only: the record of who bought, cancelled, granted and (later) linked what."""

    list_display = ("created_at", "tenant", "actor_label", "action", "target")
    list_filter = ("action", "tenant")
    search_fields = ("actor_label", "target", "action")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
