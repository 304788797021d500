"""PRODUCT 32: a renewal is charged exactly once, whatever concurrent workers do. Sixteen threads,
each with its own PostgreSQL connection, renew one due subscription at the same instant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Role
from billing.models import LedgerEntry, Subscription
from billing.selectors import balance_of
from billing.services import Outcome, renewals_run, subscription_purchase, subscription_renew
from tests.billing.conftest import NOW, grant
from tests.billing.test_ledger import _in_threads
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 16


def due_subscription() -> Subscription:
    tenant = TenantFactory()
    admin = UserFactory(tenant=tenant, role=Role.ADMIN)
    staff = UserFactory(tenant=tenant, role=Role.STAFF)
    grant(tenant, 1000)
    return subscription_purchase(tenant=tenant, user=staff, actor=admin, now=NOW)


def test_sixteen_concurrent_renewals_charge_once() -> None:
    sub = due_subscription()
    at = sub.period_end + timedelta(minutes=1)
    results = _in_threads(WORKERS, lambda i: subscription_renew(subscription_id=sub.pk, now=at))
    assert sorted(str(r) for r in results) == sorted(
        [Outcome.RENEWED] + [Outcome.NOT_DUE] * (WORKERS - 1)
    ), results
    assert list(LedgerEntry.objects.filter(kind="charge").values_list("key", "amount")) == [
        (f"renewal:{sub.pk}:2026-12", -25)
    ]
    assert balance_of(sub.tenant_id) == 975
    sub.refresh_from_db()
    assert sub.state == "active" and sub.period_index == 0


def test_sixteen_concurrent_renewal_runs_at_different_moments_charge_once_per_month() -> None:
    # Workers with skewed clocks (up to 16 minutes apart) all inside the first paid month.
    sub = due_subscription()
    results = _in_threads(
        WORKERS,
        lambda i: renewals_run(now=sub.period_end + timedelta(minutes=i)),
    )
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.get("renewed", 0) for r in results) == 1  # type: ignore[union-attr]
    assert LedgerEntry.objects.filter(kind="charge").count() == 1
    assert balance_of(sub.tenant_id) == 975
