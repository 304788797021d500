"""Billing in Dutch (issue 18 §11): the low-balance e-mail in each administrator's own language,
and the ledger's words in the reader's language whatever language wrote them.

The Dutch e-mail test reads the real catalogue (locale/nl): it passes once billing's
translations are merged into it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import translation

from accounts.models import Role, Tenant, User
from billing.models import LedgerEntry, Subscription
from billing.money import format_money
from billing.services import low_balance_warnings_send, subscription_purchase
from tests.billing.conftest import NOW, grant, set_plan
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_low_balance_e_mail_is_in_each_administrators_language(
    tenant: Tenant,
    admin_user: User,
    staff: User,
    colleague: User,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    dutch = UserFactory(
        tenant=tenant, role=Role.ADMIN, email="beheerder@example.test", full_name="Dirk de Vries"
    )
    dutch.language = "nl"
    dutch.save(update_fields=["language"])
    for user in (staff, colleague):
        subscription_purchase(tenant=tenant, user=user, actor=admin_user, now=NOW)
    grant(tenant, 30)
    Subscription.objects.update(period_end=NOW + timedelta(days=3))

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        assert low_balance_warnings_send(now=NOW) == 1
    by_address = {m.to[0]: m for m in mail.outbox}

    nl = by_address[dutch.email]
    # The renewal is on 24 November 2026, 10:00 in the practice's zone: a Dutch month name.
    assert nl.subject == (
        f"CalendarSync bij {tenant.name}: koop credits vóór 24 november 2026, 10:00"
    )
    assert nl.body.startswith("Hallo Dirk,\n\n")
    assert "2 verlengingen binnen 7 dagen hebben 50 credits nodig en het saldo is 30." in nl.body
    assert "De eerste verlenging valt op 24 november 2026, 10:00." in nl.body
    assert "Koop vóór die tijd minstens 20 credits" in nl.body
    assert "Deze e-mail wordt één keer per verlenging verstuurd." in nl.body
    for english in ("Hello", "renewals due", "Buy at least", "This e-mail is sent"):
        assert english not in nl.body

    # The other administrator has chosen no language: English, as before, in the same run.
    en = by_address[admin_user.email]
    assert (
        en.subject == f"CalendarSync at {tenant.name}: buy credits before 24 November 2026, 10:00"
    )
    assert "2 renewals due within 7 days need 50 credits and the balance is 30" in en.body


def test_the_ledger_says_a_charge_in_the_readers_language(
    tenant: Tenant, admin_user: User, staff: User
) -> None:
    set_plan(tenant, trial_days=0)
    grant(tenant, 100)
    with translation.override("nl"):
        # Bought on a Dutch page: the stored reason is English all the same.
        subscription_purchase(tenant=tenant, user=staff, actor=admin_user, now=NOW)
    charge = LedgerEntry.objects.get(kind="charge")
    assert charge.reason == f"CalendarSync for {staff}, November 2026"
    assert charge.reason_args == {"what": "renewal", "user": str(staff), "month": "2026-11"}
    with translation.override("en"):
        assert charge.description == charge.reason
    with translation.override("nl"):
        # "november" is Django's own Dutch; the sentence around it is billing's.
        assert "november 2026" in charge.description
        assert "November" not in charge.description
    # An operator's grant says what the operator wrote, in every language.
    grant_entry = LedgerEntry.objects.get(kind="grant")
    with translation.override("nl"):
        assert grant_entry.description == "Test credits"


def test_money_is_written_in_the_readers_number_format() -> None:
    with translation.override("en"):
        assert format_money(123450, "eur") == "EUR 1,234.50"
        assert format_money(1500, "jpy") == "JPY 1,500"
    with translation.override("nl"):
        assert format_money(123450, "eur") == "EUR 1.234,50"
