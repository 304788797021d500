"""Buying is clear (issue 18 §5): the price of each choice before *Purchase*, and a warning to
administrators before renewals would lapse for want of credits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Tenant, User
from billing.models import Subscription
from billing.selectors import renewal_shortfall
from billing.services import subscription_purchase
from tests.billing.conftest import grant
from tests.billing.test_views import BUY, INTEGRATIONS, choices, text
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_each_choice_says_what_purchase_costs(
    admin_user: User, staff: User, colleague: User, tenant: Tenant
) -> None:
    # Sam had the trial before (bought and cancelled): his first month is charged.
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user)
    Subscription.objects.filter(pk=sub.pk).update(state="cancelled", ends_at=timezone.now())
    grant(tenant, 30)
    options = choices(login(admin_user).get(BUY))
    assert "Cleo Colleague" in options and "free for 30 days, then 25 credits a month" in options
    assert "Sam Staff" in options and "25 credits now (free trial used), then monthly" in options


def test_a_shortfall_before_renewals_warns_the_administrators(
    admin_user: User, staff: User, colleague: User, tenant: Tenant
) -> None:
    now = timezone.now()
    for user in (staff, colleague):
        subscription_purchase(tenant=tenant, user=user, actor=admin_user)
    # Both trials end in three days; their first paid months need 50 credits.
    Subscription.objects.update(period_end=now + timedelta(days=3))
    grant(tenant, 30)
    shortfall = renewal_shortfall(tenant, now)
    assert shortfall is not None
    assert (shortfall.due, shortfall.needed, shortfall.balance, shortfall.missing) == (
        2,
        50,
        30,
        20,
    )
    page = text(login(admin_user).get(INTEGRATIONS))
    assert "Low balance: 2 renewals due by" in page
    assert "need 50 credits and the balance is 30" in page and "Buy at least 20 credits" in page
    # Renewals further away than BILLING_LOW_BALANCE_DAYS are not warned about yet.
    Subscription.objects.update(period_end=now + timedelta(days=20))
    assert renewal_shortfall(tenant, now) is None
    assert "Low balance" not in text(login(admin_user).get(INTEGRATIONS))
    # Nor are renewals the balance covers.
    Subscription.objects.update(period_end=now + timedelta(days=3))
    grant(tenant, 20)
    assert renewal_shortfall(tenant, now) is None
