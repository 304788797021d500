"""Helpers for the billing tests: a fixed clock, credits, and a calendar link to watch pause."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Tenant, User
from billing.models import BillingMode, BillingPlan, LedgerEntry
from billing.services import credits_grant
from calsync.models import CalendarLink, Provider

AMS = ZoneInfo("Europe/Amsterdam")
# The tests' "now": a Saturday in November, 10:00 in the tenants' zone (Europe/Amsterdam).
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=AMS)


def grant(tenant: Tenant, amount: int, key: str | None = None) -> LedgerEntry:
    entry, _ = credits_grant(tenant=tenant, amount=amount, reason="Test credits", key=key)
    return entry


def link_for(user: User, account: str = "acct") -> CalendarLink:
    return CalendarLink.objects.create(
        tenant=user.tenant,
        user=user,
        provider=Provider.CALDAV,
        account=account,
        calendar_id=f"/{account}/calendar/",
    )


def paused(link: CalendarLink) -> bool:
    link.refresh_from_db()
    return link.billing_paused


def set_plan(tenant: Tenant, **values: object) -> BillingPlan:
    plan, _ = BillingPlan.objects.update_or_create(tenant=tenant, defaults=values)
    return plan


@pytest.fixture
def tenant_wide(tenant: Tenant) -> Tenant:
    set_plan(tenant, mode=BillingMode.TENANT_WIDE)
    return tenant
