"""The one question calsync asks billing: may this user sync now?

``sync_entitlement(user)`` is called by the CalendarSync page before *Setup* and by billing itself
when it pauses or resumes links. It reads; it never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import User
from billing.models import Scope, Subscription, SubscriptionState


@dataclass(frozen=True)
class Entitlement:
    """``allowed``: whether the user may set up and run sync. ``reason``: one sentence for the
    user. ``code``: the case, for templates and tests (``admin``, ``none``, ``trial``, ``active``,
    ``ending``, ``lapsed``, ``ended``). ``until``: the date the reason names (trial end, next
    renewal, last day, or the day credits ran out), in the user's zone."""

    allowed: bool
    reason: str
    code: str
    subscription: Subscription | None = None
    until: date | None = None


def _day(moment: datetime | None, user: User) -> date | None:
    return moment.astimezone(user.zone()).date() if moment is not None else None


def _words(day: date | None) -> str:
    return date_format(day, "DATE_FORMAT") if day is not None else ""


def sync_entitlement(user: User, *, now: datetime | None = None) -> Entitlement:
    """Whether ``user`` may sync at ``now`` (default: now), and why.

    Administrators never may (they have no calendar). A staff user may while a subscription of
    their own, or the tenant-wide activation, is in its trial, in a paid month, or cancelled but
    paid until a later date. A trial or paid month that is past its end but not yet renewed still
    counts: the renewal run decides (at most one beat interval later) whether it continues.
    """
    now = now or timezone.now()
    if not user.is_practice_staff or user.tenant_id is None:
        return Entitlement(
            allowed=False,
            code="admin",
            reason=_("Administrators have no calendar and cannot use calendar synchronisation."),
        )
    candidates = list(
        Subscription.objects.filter(tenant_id=user.tenant_id)
        .filter(Q(scope=Scope.PRACTITIONER, user=user) | Q(scope=Scope.TENANT))
        .order_by("-started_at", "-id")
    )
    running = [s for s in candidates if s.runs_at(now)]
    if running:
        # The one that runs longest says the most useful thing (a live one before a cancelled one).
        best = sorted(running, key=lambda s: (s.state == SubscriptionState.CANCELLED,))[0]
        return _running(user, best)
    lapsed = next((s for s in candidates if s.state == SubscriptionState.LAPSED), None)
    if lapsed is not None:
        until = _day(lapsed.lapsed_at, user)
        return Entitlement(
            allowed=False,
            code="lapsed",
            subscription=lapsed,
            until=until,
            reason=_(
                "Calendar synchronisation is paused: your practice's credits ran out on "
                "%(day)s. Your links and calendars are kept; sync resumes once your "
                "administrator has credits added."
            )
            % {"day": _words(until)},
        )
    if candidates:
        ended = candidates[0]
        until = _day(ended.ends_at, user)
        return Entitlement(
            allowed=False,
            code="ended",
            subscription=ended,
            until=until,
            reason=_(
                "Your practice cancelled calendar synchronisation; it ended on %(day)s. "
                "Ask your administrator if you need it again."
            )
            % {"day": _words(until)},
        )
    return Entitlement(
        allowed=False,
        code="none",
        reason=_(
            "Your practice has not bought calendar synchronisation for you yet: ask your "
            "administrator (Settings › Integrations › Buy Calendar Synchronisation)."
        ),
    )


def _running(user: User, sub: Subscription) -> Entitlement:
    everyone = sub.scope == Scope.TENANT
    if sub.state == SubscriptionState.TRIAL:
        until = _day(sub.period_end, user)
        if everyone:
            reason = _(
                "Your practice has bought calendar synchronisation for all its staff: free trial "
                "until %(day)s. You can Add Calendar Synchronisation below."
            )
        else:
            reason = _(
                "Your practice has bought calendar synchronisation for you: free trial until "
                "%(day)s. You can Add Calendar Synchronisation below."
            )
        return Entitlement(
            allowed=True,
            code="trial",
            subscription=sub,
            until=until,
            reason=reason % {"day": _words(until)},
        )
    if sub.state == SubscriptionState.ACTIVE:
        until = _day(sub.period_end, user)
        if everyone:
            reason = _(
                "Your practice has bought calendar synchronisation for all its staff; it renews "
                "on %(day)s. You can Add Calendar Synchronisation below."
            )
        else:
            reason = _(
                "Your practice has bought calendar synchronisation for you; it renews on "
                "%(day)s. You can Add Calendar Synchronisation below."
            )
        return Entitlement(
            allowed=True,
            code="active",
            subscription=sub,
            until=until,
            reason=reason % {"day": _words(until)},
        )
    until = _day(sub.ends_at, user)
    return Entitlement(
        allowed=True,
        code="ending",
        subscription=sub,
        until=until,
        reason=_(
            "Your practice cancelled calendar synchronisation; it is paid, and keeps syncing, "
            "until %(day)s."
        )
        % {"day": _words(until)},
    )
