"""The demo practice shows billing: credits, and Alice in her free trial. Its reset deletes the
tenant, ledger included, through the one sanctioned purge (the PostgreSQL trigger allows it)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Tenant
from agenda.demo import DEMO_SLUG
from billing.entitlement import sync_entitlement
from billing.models import LedgerEntry, Subscription
from billing.selectors import balance_of

pytestmark = pytest.mark.django_db


def test_the_demo_has_credits_and_a_trial_and_resets_cleanly() -> None:
    call_command("seed_demo")
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    assert balance_of(tenant) == 100
    alice = tenant.users.get(email="alice@demo.calsync.test")
    assert sync_entitlement(alice).code == "trial"
    bob = tenant.users.get(email="bob@demo.calsync.test")
    assert sync_entitlement(bob).code == "none"
    call_command("seed_demo", "--reset")
    fresh = Tenant.objects.get(slug=DEMO_SLUG)
    assert fresh.pk != tenant.pk
    assert LedgerEntry.objects.filter(tenant=fresh).count() == 1
    assert not LedgerEntry.objects.filter(tenant_id=tenant.pk).exists()
    assert Subscription.objects.count() == 1
