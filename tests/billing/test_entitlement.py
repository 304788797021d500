"""sync_entitlement(user): the answer the CalendarSync page gets, in every state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Tenant, User
from billing.entitlement import Entitlement, sync_entitlement
from billing.services import (
    subscription_cancel,
    subscription_purchase,
    subscription_renew,
    tenant_activate,
)
from tests.billing.conftest import NOW, grant

pytestmark = pytest.mark.django_db


def test_administrators_never_may_sync(tenant_wide: Tenant, admin_user: User) -> None:
    tenant_activate(tenant=tenant_wide, actor=admin_user, now=NOW)
    entitlement = sync_entitlement(admin_user, now=NOW)
    assert entitlement == Entitlement(
        allowed=False,
        code="admin",
        reason="Administrators have no calendar and cannot use calendar synchronisation.",
    )


def test_not_bought_yet_says_whom_to_ask(staff: User) -> None:
    entitlement = sync_entitlement(staff)
    assert not entitlement.allowed and entitlement.code == "none"
    assert "ask your administrator" in entitlement.reason and entitlement.until is None


def test_a_colleagues_subscription_does_not_cover_me(
    admin_user: User, staff: User, colleague: User
) -> None:
    subscription_purchase(tenant=admin_user.tenant, user=colleague, actor=admin_user, now=NOW)  # type: ignore[arg-type]
    assert sync_entitlement(colleague, now=NOW).allowed
    assert not sync_entitlement(staff, now=NOW).allowed


def test_the_states_in_words(admin_user: User, staff: User, tenant: Tenant) -> None:
    grant(tenant, 25)
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user, now=NOW)
    trial = sync_entitlement(staff, now=NOW)
    assert (trial.allowed, trial.code, trial.subscription) == (True, "trial", sub)
    assert trial.reason == (
        "Your practice has bought calendar synchronisation for you: free trial until "
        "21 December 2026. You can Add Calendar Synchronisation below."
    )
    # Past the trial's end but before the renewal run: still allowed, the run decides.
    assert sync_entitlement(staff, now=sub.period_end + timedelta(minutes=5)).allowed

    subscription_renew(subscription_id=sub.pk, now=sub.period_end)
    active = sync_entitlement(staff, now=sub.period_end)
    assert (active.allowed, active.code) == (True, "active")
    assert "renews on 21 January 2027" in active.reason

    sub.refresh_from_db()
    subscription_renew(subscription_id=sub.pk, now=sub.period_end)  # no credits left: lapses
    lapsed = sync_entitlement(staff, now=sub.period_end)
    assert (lapsed.allowed, lapsed.code) == (False, "lapsed")
    assert "paused" in lapsed.reason and "credits ran out on 21 January 2027" in lapsed.reason

    sub.refresh_from_db()
    subscription_cancel(subscription=sub, actor=admin_user, now=sub.period_end)
    ended = sync_entitlement(staff, now=sub.period_end + timedelta(days=1))
    assert (ended.allowed, ended.code) == (False, "ended")


def test_tenant_wide_activation_covers_every_staff_user(
    tenant_wide: Tenant, admin_user: User, staff: User, colleague: User
) -> None:
    tenant_activate(tenant=tenant_wide, actor=admin_user, now=NOW)
    for user in (staff, colleague):
        entitlement = sync_entitlement(user, now=NOW)
        assert entitlement.allowed and "for all its staff" in entitlement.reason
