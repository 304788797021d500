"""Login, My Account, and the administrators' Settings area."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts import throttle
from accounts.access import admin_required, current_user, member_required, tenant_of
from accounts.forms import (
    EmailAuthenticationForm,
    PracticeForm,
    ProfileForm,
    ThrottledPasswordResetForm,
)
from accounts.models import Role
from accounts.services import user_update_profile
from agenda.forms import COMMON_ZONES


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")
    form_class = ThrottledPasswordResetForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: SetPasswordForm[Any]) -> HttpResponse:
        response = super().form_valid(form)
        # The reset proved the mailbox: lift the account's login lock and trust this browser,
        # so an attacker who keeps the account locked cannot keep its owner out
        # (accounts.throttle explains the device cookie).
        throttle.account_unlocked(form.user.email)
        throttle.trust_this_device(self.request, form.user.email)
        return response


def home(request: HttpRequest) -> HttpResponse:
    """Where "/" leads: staff to their week, administrators to Settings, operators to the admin."""
    user = request.user
    if not user.is_authenticated:
        return redirect("accounts:login")
    account = current_user(request)
    if account.is_practice_staff:
        return redirect("agenda:week")
    if account.is_practice_admin:
        return redirect("settings")
    if account.is_operator:
        return redirect("admin:index")
    return redirect("accounts:my_account")


@member_required
@require_http_methods(["GET", "POST"])
def my_account(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                user_update_profile(user=user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Your details were saved.")
                return redirect("accounts:my_account")
    else:
        form = ProfileForm(initial={"full_name": user.full_name, "time_zone": user.time_zone})
    return render(request, "accounts/my_account.html", {"form": form, "common_zones": COMMON_ZONES})


@admin_required
@require_http_methods(["GET", "POST"])
def settings_home(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    if request.method == "POST":
        form = PracticeForm(request.POST, instance=tenant)
        if form.is_valid():
            form.save()
            messages.success(request, "The practice details were saved.")
            return redirect("settings")
    else:
        form = PracticeForm(instance=tenant)
    members = tenant.users.order_by("role", "full_name", "email")
    return render(
        request,
        "accounts/settings.html",
        {
            "form": form,
            "tenant": tenant,
            "staff": [u for u in members if u.role == Role.STAFF],
            "admins": [u for u in members if u.role == Role.ADMIN],
            "resources": tenant.resources.all(),
            "clients": tenant.clients.all(),
            "common_zones": COMMON_ZONES,
        },
    )
