"""The low-balance warning by e-mail (issue 18 §5): administrators hear once, before a renewal
would lapse, that the balance will not cover it; once per practice and renewal, on real
PostgreSQL with Django's locmem outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from accounts.models import Role, Tenant, User
from billing.models import LowBalanceWarning, Subscription
from billing.services import low_balance_warnings_send, subscription_purchase
from billing.tasks import warn_low_balance
from calsync.celery import app
from tests.billing.conftest import NOW, grant
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_administrators_are_warned_once_per_renewal(
    tenant: Tenant,
    admin_user: User,
    staff: User,
    colleague: User,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    other_admin = UserFactory(tenant=tenant, role=Role.ADMIN, email="second-admin@example.test")
    for user in (staff, colleague):
        subscription_purchase(tenant=tenant, user=user, actor=admin_user, now=NOW)
    grant(tenant, 30)
    renewal = NOW + timedelta(days=3)
    Subscription.objects.update(period_end=renewal)

    # Renewals further away than BILLING_LOW_BALANCE_DAYS (7) are not warned about yet.
    with django_capture_on_commit_callbacks(execute=True):
        assert low_balance_warnings_send(now=renewal - timedelta(days=8)) == 0
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        assert low_balance_warnings_send(now=NOW) == 1
    # The administrators only (practitioners cannot buy credits), each their own e-mail.
    assert sorted(m.to[0] for m in mail.outbox) == sorted([admin_user.email, other_admin.email])
    body = mail.outbox[0].body
    assert "2 renewals due within 7 days need 50 credits and the balance is 30" in body
    assert "Buy at least 20 credits" in body
    assert mail.outbox[0].subject.startswith(f"CalendarSync at {tenant.name}: buy credits before")

    # Every later run of the same period, and the beat task itself, sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert low_balance_warnings_send(now=NOW + timedelta(hours=1)) == 0
        assert low_balance_warnings_send(now=NOW + timedelta(days=2)) == 0
        assert warn_low_balance.apply().get() == 0
    assert len(mail.outbox) == 2
    assert LowBalanceWarning.objects.filter(tenant=tenant).count() == 1

    # The next renewal period is a new renewal: it may warn again, once.
    mail.outbox.clear()
    Subscription.objects.update(period_end=renewal + timedelta(days=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert low_balance_warnings_send(now=NOW + timedelta(days=28)) == 1
        assert low_balance_warnings_send(now=NOW + timedelta(days=29)) == 0
    assert len(mail.outbox) == 2


def test_a_covered_renewal_or_another_practice_is_not_warned(
    tenant: Tenant,
    admin_user: User,
    staff: User,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    subscription_purchase(tenant=tenant, user=staff, actor=admin_user, now=NOW)
    grant(tenant, 25)
    other = TenantFactory(name="Another Practice")
    other_admin = UserFactory(tenant=other, role=Role.ADMIN, email="other-admin@example.test")
    other_staff = UserFactory(tenant=other, role=Role.STAFF)
    subscription_purchase(tenant=other, user=other_staff, actor=other_admin, now=NOW)
    Subscription.objects.update(period_end=NOW + timedelta(days=2))

    with django_capture_on_commit_callbacks(execute=True):
        # tenant's 25 credits cover its renewal; the other practice has none.
        assert low_balance_warnings_send(now=NOW) == 1
    assert [m.to for m in mail.outbox] == [[other_admin.email]]
    assert not LowBalanceWarning.objects.filter(tenant=tenant).exists()


def test_beat_runs_the_warning() -> None:
    entry = app.conf.beat_schedule["billing-low-balance"]
    assert entry["task"] == warn_low_balance.name == "billing.tasks.warn_low_balance"
