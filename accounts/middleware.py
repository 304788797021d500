"""Activity tracking: ``User.last_seen_at`` tells the scheduler who is active (PRODUCT 23)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from accounts import throttle
from accounts.services import user_mark_seen

BACKGROUND_HEADER = "X-CalSync-Background"


class ActivityMiddleware:
    """Records that an authenticated user used the application.

    The write is skipped while the stored value is younger than
    ``ACCOUNTS_ACTIVITY_RESOLUTION_SECONDS``, so a busy user costs one UPDATE a minute, not one per
    request. The check uses the value loaded with the user (no extra query).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        # A page's own background polls (the week view following changes, the CalendarSync page
        # following a run) say so in this header: an open tab is not use, and would otherwise
        # keep its user on the 3-minute cadence all day.
        background = request.headers.get(BACKGROUND_HEADER) == "1"
        if user is not None and user.is_authenticated and not background:
            now = timezone.now()
            resolution = timedelta(seconds=settings.ACCOUNTS_ACTIVITY_RESOLUTION_SECONDS)
            if user.last_seen_at is None or now - user.last_seen_at >= resolution:
                window = timedelta(minutes=settings.CALSYNC_ACTIVE_WINDOW_MINUTES)
                returning = user.last_seen_at is None or now - user.last_seen_at >= window
                user_mark_seen(user=user, now=now)
                if returning:
                    # PRODUCT 23: back to the 3-minute cadence at once, not after the pending
                    # 50-minute slot. Imported here: calsync imports accounts, not the reverse.
                    from calsync.scheduler import user_returned

                    user_returned(user.pk, now=now)
        return self.get_response(request)


class UserTimeZoneMiddleware:
    """Renders times in the logged-in user's zone (Django converts aware datetimes to the active
    zone in templates); anonymous pages use the settings' zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(user.zone())
        else:
            timezone.deactivate()
        return self.get_response(request)


class UserLanguageMiddleware:
    """Pages in the user's own language when they chose one in My Account (issue 18 §11).

    Django's LocaleMiddleware, earlier in the chain, has already activated the browser's language
    (Accept-Language) and set ``request.LANGUAGE_CODE``; a user who never chose keeps that one, so
    a Dutch browser gets Dutch pages before anyone opens My Account."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        response = self.get_response(request)
        # The same URL answers in more than one language: caches must keep them apart.
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response


class DeviceCookieMiddleware:
    """Gives the browser the device cookie a login or a password reset asked for
    (``accounts.throttle.trust_this_device``): forms cannot set cookies, and the Django admin's
    login view is not ours to extend."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        value = getattr(request, throttle.DEVICE_COOKIE_REQUEST_ATTRIBUTE, None)
        if value:
            response.set_cookie(
                throttle.DEVICE_COOKIE,
                value,
                max_age=settings.ACCOUNTS_DEVICE_COOKIE_DAYS * 86400,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
