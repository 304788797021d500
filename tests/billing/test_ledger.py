"""The credit ledger: derived balance, idempotent keys, append-only in the model and in
PostgreSQL, and no overdraft under concurrent charges."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction

from accounts.models import AuditEntry, Tenant
from billing.models import AppendOnlyError, LedgerEntry
from billing.selectors import balance_of
from billing.services import (
    InsufficientCreditsError,
    credits_grant,
    ledger_charge,
    ledger_purge_tenant,
)
from tests.billing.conftest import grant
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_the_balance_is_the_sum_of_the_ledger(tenant: Tenant, other_tenant: Tenant) -> None:
    assert balance_of(tenant) == 0
    grant(tenant, 100)
    grant(other_tenant, 7)
    entry, created = ledger_charge(tenant_id=tenant.pk, amount=25, reason="x", key="k1")
    assert created and entry.amount == -25 and entry.kind == "charge"
    assert balance_of(tenant) == 75
    assert balance_of(other_tenant) == 7


def test_a_key_charges_once(tenant: Tenant) -> None:
    grant(tenant, 100)
    first, created = ledger_charge(
        tenant_id=tenant.pk, amount=25, reason="x", key="renewal:1:2027-01"
    )
    again, created_again = ledger_charge(
        tenant_id=tenant.pk, amount=25, reason="x", key="renewal:1:2027-01"
    )
    assert created and not created_again and again.pk == first.pk
    assert balance_of(tenant) == 75


def test_the_unique_key_holds_in_the_database(tenant: Tenant) -> None:
    grant(tenant, 100)
    ledger_charge(tenant_id=tenant.pk, amount=25, reason="x", key="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(tenant=tenant, kind="charge", amount=-25, reason="x", key="dup")


def test_a_charge_above_the_balance_is_refused(tenant: Tenant) -> None:
    grant(tenant, 20)
    with pytest.raises(InsufficientCreditsError) as info:
        ledger_charge(tenant_id=tenant.pk, amount=25, reason="x", key="k")
    assert (info.value.balance, info.value.amount) == (20, 25)
    assert balance_of(tenant) == 20 and not LedgerEntry.objects.filter(key="k").exists()


def test_signs_match_kinds_in_the_database(tenant: Tenant) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(tenant=tenant, kind="grant", amount=-5, reason="x", key="neg")


def test_the_model_refuses_updates_and_deletes(tenant: Tenant) -> None:
    entry = grant(tenant, 10)
    entry.amount = 1000
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1000)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert balance_of(tenant) == 10


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE billing_ledgerentry SET amount = 1000 WHERE id = %s",
        "UPDATE billing_ledgerentry SET reason = 'edited' WHERE id = %s",
        "DELETE FROM billing_ledgerentry WHERE id = %s",
    ],
)
def test_postgresql_refuses_updates_and_deletes(tenant: Tenant, sql: str) -> None:
    assert connection.vendor == "postgresql"
    entry = grant(tenant, 10)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])
    with connection.cursor() as cursor:
        cursor.execute("SELECT amount, reason FROM billing_ledgerentry WHERE id = %s", [entry.pk])
        assert cursor.fetchone() == (10, "Test credits")


def test_only_the_purge_of_a_deleted_tenant_removes_entries(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    grant(tenant, 10)
    kept = grant(other_tenant, 5)
    with transaction.atomic():
        assert ledger_purge_tenant(tenant=tenant) == 1
        # The purge names one tenant; another tenant's rows stay protected in that transaction.
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM billing_ledgerentry WHERE id = %s", [kept.pk])
    assert balance_of(tenant) == 0 and balance_of(other_tenant) == 5
    tenant.delete()  # PROTECT no longer blocks: the ledger is gone
    # Outside the purge's transaction the setting is gone again.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM billing_ledgerentry WHERE id = %s", [kept.pk])


def test_grants_are_audited_and_idempotent_with_a_key(tenant: Tenant, other_tenant: Tenant) -> None:
    entry, created = credits_grant(tenant=tenant, amount=50, reason="Invoice 12", key="inv-12")
    again, created_again = credits_grant(
        tenant=tenant, amount=50, reason="Invoice 12", key="inv-12"
    )
    assert created and not created_again and again.pk == entry.pk and entry.key == "grant:inv-12"
    assert balance_of(tenant) == 50
    audit = AuditEntry.objects.get(action="billing.grant")
    assert audit.tenant == tenant and audit.details["amount"] == 50 and audit.actor is None
    with pytest.raises(ValidationError, match="used already"):
        credits_grant(tenant=other_tenant, amount=50, reason="Invoice 12", key="inv-12")
    with pytest.raises(ValidationError):
        credits_grant(tenant=tenant, amount=0, reason="nothing")
    with pytest.raises(ValidationError):
        credits_grant(tenant=tenant, amount=5, reason="  ")


def _in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; each thread has its own database
    connection (Django's connections are per thread) and closes it."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_never_overdraw() -> None:
    tenant = TenantFactory()
    grant(tenant, 100)
    results = _in_threads(
        16, lambda i: ledger_charge(tenant_id=tenant.pk, amount=25, reason="x", key=f"k{i}")
    )
    charged = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InsufficientCreditsError)]
    assert (len(charged), len(refused)) == (4, 12), results
    assert balance_of(tenant) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_with_one_key_charge_once() -> None:
    tenant = TenantFactory()
    grant(tenant, 100)
    results = _in_threads(
        16, lambda i: ledger_charge(tenant_id=tenant.pk, amount=25, reason="x", key="same")
    )
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(1 for r in results if isinstance(r, tuple) and r[1]) == 1
    assert LedgerEntry.objects.filter(key="same").count() == 1
    assert balance_of(tenant) == 75
