"""Operators: the grant_credits command and the Django admin (ledger read-only, grants through
the service, plans editable per tenant)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from accounts.models import AuditEntry, Tenant, User
from billing.models import BillingPlan, LedgerEntry
from billing.selectors import balance_of, plan_for
from tests.billing.conftest import grant

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("grant_credits", *args, stdout=out)
    return out.getvalue()


def test_grant_credits_command(tenant: Tenant) -> None:
    output = run(tenant.slug, "100", "--reason", "Invoice 2026-117")
    assert "Granted 100 credits" in output and "Balance: 100 credits" in output
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.reason) == ("grant", 100, "Invoice 2026-117")
    assert AuditEntry.objects.get().action == "billing.grant"
    # Without a key every run grants again.
    run(tenant.slug, "5", "--reason", "Goodwill")
    assert balance_of(tenant) == 105


def test_grant_credits_with_a_key_is_idempotent(tenant: Tenant) -> None:
    run(tenant.slug, "50", "--reason", "Invoice 7", "--key", "invoice-7")
    output = run(tenant.slug, "50", "--reason", "Invoice 7", "--key", "invoice-7")
    assert "nothing changed" in output
    assert balance_of(tenant) == 50 and LedgerEntry.objects.count() == 1
    assert AuditEntry.objects.count() == 1
    with pytest.raises(CommandError, match="used already"):
        run(tenant.slug, "60", "--reason", "Invoice 7", "--key", "invoice-7")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-practice", "10", "--reason", "x"], "No practice"),
        (["{slug}", "0", "--reason", "x"], "positive"),
        (["{slug}", "-5", "--reason", "x"], "positive"),
    ],
)
def test_grant_credits_refuses_bad_input(tenant: Tenant, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*[a.format(slug=tenant.slug) for a in args])
    assert not LedgerEntry.objects.exists()


@pytest.fixture
def operator_client() -> HttpClient:
    User.objects.create_superuser("ops@example.test", "ops-password-123")
    client = HttpClient()
    assert client.login(username="ops@example.test", password="ops-password-123")
    return client


def test_the_ledger_is_read_only_in_the_admin(operator_client: HttpClient, tenant: Tenant) -> None:
    entry = grant(tenant, 30)
    assert operator_client.get("/admin/billing/ledgerentry/").status_code == 200
    change = operator_client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/")
    assert change.status_code == 200 and b'name="amount"' not in change.content
    operator_client.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"amount": 999})
    assert operator_client.get(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
    assert balance_of(tenant) == 30


def test_an_operator_grants_in_the_admin(operator_client: HttpClient, tenant: Tenant) -> None:
    response = operator_client.post(
        "/admin/billing/ledgerentry/add/",
        {"tenant": tenant.pk, "amount": 75, "reason": "Invoice 9", "grant_key": "inv-9"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    operator_client.post(
        "/admin/billing/ledgerentry/add/",
        {"tenant": tenant.pk, "amount": 75, "reason": "Invoice 9", "grant_key": "inv-9"},
    )
    assert balance_of(tenant) == 75
    audit = AuditEntry.objects.get(action="billing.grant")
    assert audit.actor is not None and audit.actor.email == "ops@example.test"
    refused = operator_client.post(
        "/admin/billing/ledgerentry/add/", {"tenant": tenant.pk, "amount": -5, "reason": "x"}
    )
    assert refused.status_code == 200 and balance_of(tenant) == 75


def test_an_operator_sets_a_tenants_plan_in_the_admin(
    operator_client: HttpClient, tenant: Tenant
) -> None:
    response = operator_client.post(
        "/admin/billing/billingplan/add/",
        {"tenant": tenant.pk, "price_credits": 30, "trial_days": "", "mode": "tenant_wide"},
    )
    assert response.status_code == 302
    assert BillingPlan.objects.get(tenant=tenant).price_credits == 30
    plan = plan_for(tenant)
    assert (plan.price_credits, plan.trial_days, plan.tenant_wide) == (30, 30, True)


def test_subscriptions_and_audit_entries_are_read_only_in_the_admin(
    operator_client: HttpClient,
) -> None:
    assert operator_client.get("/admin/billing/subscription/").status_code == 200
    assert operator_client.get("/admin/billing/subscription/add/").status_code == 403
    assert operator_client.get("/admin/accounts/auditentry/").status_code == 200
    assert operator_client.get("/admin/accounts/auditentry/add/").status_code == 403


def test_audit_entries_refuse_changes(tenant: Tenant) -> None:
    grant(tenant, 1)
    audit = AuditEntry.objects.get()
    audit.target = "edited"
    with pytest.raises(ValueError, match="never changed"):
        audit.save()
    with pytest.raises(ValueError, match="never deleted"):
        audit.delete()
