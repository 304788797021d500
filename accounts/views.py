"""Login, My Account, and the administrators' Settings area."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import services, throttle
from accounts.access import admin_required, current_user, member_required, tenant_of
from accounts.busy import BUSY_MESSAGE
from accounts.forms import (
    AcceptInvitationForm,
    EmailAuthenticationForm,
    PracticeForm,
    ProfileForm,
    SignupForm,
    ThrottledPasswordResetForm,
)
from accounts.models import Invitation, Role, User
from accounts.selectors import checklist_for
from accounts.services import (
    InvitationLinkError,
    SignupData,
    SignupLinkError,
    user_update_profile,
)
from agenda.forms import COMMON_ZONES


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "signup_open": settings.ACCOUNTS_SIGNUP_OPEN}


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
                # Said in the language just chosen: the next page is in it.
                translation.activate(
                    user.language or translation.get_language_from_request(request)
                )
                request.LANGUAGE_CODE = translation.get_language()
                messages.success(request, gettext("Your details were saved."))
                return redirect("accounts:my_account")
    else:
        form = ProfileForm(
            initial={
                "full_name": user.full_name,
                "time_zone": user.time_zone,
                "language": user.language,
            }
        )
    return render(request, "accounts/my_account.html", {"form": form, "common_zones": COMMON_ZONES})


@admin_required
@require_http_methods(["GET", "POST"])
def settings_home(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    if request.method == "POST":
        form = PracticeForm(request.POST, instance=tenant)
        if form.is_valid():
            form.save()
            messages.success(request, gettext("The practice details were saved."))
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
            "staff": [u for u in members if u.role == Role.STAFF and u.is_active],
            "admins": [u for u in members if u.role == Role.ADMIN and u.is_active],
            "resources": tenant.resources.all(),
            "clients": tenant.clients.all(),
            "common_zones": COMMON_ZONES,
        },
    )


# --- sign-up (docs/features.md, 40) ---------------------------------------------------------------


def _signed_in(request: HttpRequest, user: User) -> None:
    """Log ``user`` in after they proved their mailbox (verification, an accepted invitation),
    and trust this browser for the login throttle (accounts.throttle)."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    throttle.trust_this_device(request, user.email)


def _signup_open() -> None:
    if not settings.ACCOUNTS_SIGNUP_OPEN:
        # Invite-only installation: the page does not exist.
        raise Http404("Sign-up is closed on this installation.")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    _signup_open()
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        data = SignupData(
            practice_name=form.cleaned_data["practice_name"],
            time_zone=form.cleaned_data["time_zone"],
            full_name=form.cleaned_data["full_name"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        try:
            services.signup_request(
                data=data,
                link=lambda token: request.build_absolute_uri(
                    reverse("accounts:signup_verify", args=[token])
                ),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form.add_error(None, exc)
            else:
                form.add_error("password1", exc)  # Django's password validators
        except OperationalError:
            form.add_error(None, BUSY_MESSAGE)
        else:
            request.session["signup_email"] = data.email
            return redirect("accounts:signup_sent")
    return render(request, "accounts/signup.html", {"form": form, "common_zones": COMMON_ZONES})


@require_GET
def signup_sent(request: HttpRequest) -> HttpResponse:
    _signup_open()
    return render(
        request,
        "accounts/signup_sent.html",
        {
            "email": request.session.get("signup_email", ""),
            "hours": settings.ACCOUNTS_SIGNUP_LINK_HOURS,
        },
    )


SIGNUP_LINK_PROBLEMS = {
    "invalid": _(
        "This confirmation link is not valid. Use the link of the newest e-mail, or sign up again."
    ),
    "expired": _("This confirmation link is too old. Sign up again to get a new one."),
    "used": _("This e-mail address is confirmed already and its practice exists: log in."),
    "taken": _(
        "An account with this e-mail address was made in the meantime: log in, or reset your "
        "password."
    ),
}


@require_GET
def signup_verify(request: HttpRequest, token: str) -> HttpResponse:
    _signup_open()
    try:
        user = services.signup_verify(link_token=token)
    except SignupLinkError as exc:
        return render(
            request,
            "accounts/link_problem.html",
            {
                "title": gettext("Confirm your e-mail address"),
                "problem": SIGNUP_LINK_PROBLEMS[exc.kind],
                "signup": exc.kind in ("invalid", "expired"),
            },
            status=400 if exc.kind in ("invalid", "expired") else 200,
        )
    _signed_in(request, user)
    messages.success(
        request,
        gettext("Welcome to CalSync: %(practice)s is ready, and you are its administrator.")
        % {"practice": user.tenant},
    )
    return redirect("welcome")


# --- invitations --------------------------------------------------------------------------------

INVITATION_PROBLEMS = {
    "invalid": _(
        "This invitation link is not valid. Use the link of the newest invitation e-mail, or ask "
        "the practice's administrator to send it again."
    ),
    "expired": _("This invitation is too old. Ask the practice's administrator to send it again."),
    "used": _("This invitation was accepted already: log in."),
    "cancelled": _(
        "This invitation was cancelled. Ask the practice's administrator if you should have one."
    ),
    "taken": _(
        "An account with this e-mail address exists already: log in, or reset your password."
    ),
}


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    def problem(kind: str) -> HttpResponse:
        return render(
            request,
            "accounts/link_problem.html",
            {
                "title": gettext("Your invitation"),
                "problem": INVITATION_PROBLEMS[kind],
                "signup": False,
            },
            status=400 if kind in ("invalid", "expired") else 200,
        )

    try:
        invitation: Invitation = services.invitation_for_link(token)
    except InvitationLinkError as exc:
        return problem(exc.kind)
    form = AcceptInvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                link_token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except InvitationLinkError as exc:
            return problem(exc.kind)
        except ValidationError as exc:
            form.add_error("password1", exc)
        except OperationalError:
            form.add_error(None, BUSY_MESSAGE)
        else:
            if request.user.is_authenticated:
                # Someone else was logged in on this browser: the invitee takes over.
                request.session.flush()
            _signed_in(request, user)
            messages.success(
                request,
                gettext("Welcome to %(practice)s on CalSync.")
                % {"practice": invitation.tenant.name},
            )
            return redirect("welcome")
    return render(
        request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation}
    )


# --- the first screen -----------------------------------------------------------------------------


@member_required
@require_GET
def welcome(request: HttpRequest) -> HttpResponse:
    """A short checklist after signing up or accepting an invitation."""
    user = current_user(request)
    return render(request, "accounts/welcome.html", {"items": checklist_for(user)})
