"""Billing in a real browser (Playwright driving Debian's Chromium): an administrator buys
calendar synchronisation on Settings > Integrations and the practitioner sees it on their
CalendarSync page; then the renewal run lapses it, a grant resumes it, and the administrator
cancels a paid month."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from billing.models import Subscription
from billing.services import renewals_run
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.browser


def log_in(tab: Page, base: str, user: User) -> None:
    tab.goto(f"{base}/account/login/")
    tab.get_by_label("E-mail address").fill(user.email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()


def log_out(tab: Page) -> None:
    tab.get_by_role("button", name="Log out").click()
    expect(tab.get_by_role("button", name="Log in")).to_be_visible()


def practice() -> tuple[User, User]:
    tenant = TenantFactory(name="Harbour Physio", slug="harbour")
    admin = UserFactory(
        tenant=tenant, role=Role.ADMIN, email="ada@example.test", full_name="Ada Admin"
    )
    staff = UserFactory(
        tenant=tenant, role=Role.STAFF, email="petra@example.test", full_name="Petra Physio"
    )
    UserFactory(tenant=tenant, role=Role.STAFF, email="quinn@example.test", full_name="Quinn")
    return admin, staff


def buy_in_browser(tab: Page, base: str, admin: User, staff: User) -> None:
    log_in(tab, base, admin)
    expect(tab.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    tab.get_by_role("link", name="Settings › Integrations").click()
    expect(tab.get_by_role("heading", name="Calendar Integration")).to_be_visible()
    expect(tab.locator("#balance")).to_have_text("0")
    tab.get_by_role("link", name="Buy Calendar Synchronisation").click()
    tab.get_by_label("Practitioner").select_option(
        label=f"Petra Physio ({staff.email}): free for 30 days, then 25 credits a month"
    )
    tab.get_by_role("button", name="Purchase").click()
    # The confirm step: what is charged now and the balance after (issue 18 §5).
    expect(tab.locator("#charge-now")).to_contain_text("Nothing: the first 30 days are free")
    expect(tab.locator("#balance-after")).to_have_text("0 credits")
    tab.get_by_role("button", name="Confirm purchase").click()


def test_purchase_from_integrations_to_the_practitioners_page(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    admin, staff = practice()
    buy_in_browser(page, live_server.url, admin, staff)

    status = page.get_by_role("status")
    expect(status).to_contain_text("the first 30 days are free")
    expect(status).to_contain_text(
        "Petra Physio can now Add Calendar Synchronisation on their CalendarSync page"
    )
    row = page.locator("#subscriptions tr", has_text="Petra Physio")
    expect(row.locator(".sub-state")).to_have_text("Free trial")
    sub = Subscription.objects.get(user=staff)
    trial_end = f"{sub.period_end.astimezone(staff.zone()):%-d %B %Y}"
    expect(row).to_contain_text(trial_end)
    page.screenshot(path=str(tmp_path / "integrations.png"), full_page=True)
    log_out(page)

    log_in(page, live_server.url, staff)
    page.get_by_role("link", name="My Account").click()
    page.get_by_role("link", name="CalendarSync").click()
    entitlement = page.locator("#sync-entitlement")
    expect(entitlement).to_contain_text(
        f"Your practice has bought calendar synchronisation for you: free trial until {trial_end}"
    )
    expect(entitlement).to_contain_text("You can Add Calendar Synchronisation below.")
    expect(entitlement).to_have_attribute("data-allowed", "true")
    page.screenshot(path=str(tmp_path / "calendarsync.png"), full_page=True)


def test_lapse_resume_and_cancel_in_the_browser(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    admin, staff = practice()
    buy_in_browser(page, live_server.url, admin, staff)
    expect(page.get_by_role("status")).to_contain_text("first 30 days are free")
    sub = Subscription.objects.get(user=staff)

    # The trial ends with no credits: the renewal run (what beat runs) lapses it.
    assert renewals_run(now=sub.period_end) == {"lapsed": 1}
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text(
        "Calendar synchronisation for Petra Physio is paused"
    )
    expect(page.locator("#subscriptions .sub-state")).to_have_text("Lapsed (credits ran out)")

    # An operator grants credits; the next run resumes sync and charges the month.
    call_command("grant_credits", "harbour", "100", "--reason", "Invoice 1", "--key", "inv-1")
    assert renewals_run(now=sub.period_end + timedelta(minutes=15)) == {"resumed": 1}
    page.reload()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#subscriptions .sub-state")).to_have_text("Active")
    expect(page.locator("#balance")).to_have_text("75")
    expect(page.locator("#ledger")).to_contain_text("CalendarSync for Petra Physio")
    expect(page.locator("#ledger")).to_contain_text("-25")

    # Cancelling a paid month: it runs to its end.
    page.locator("#subscriptions tr", has_text="Petra Physio").get_by_role(
        "link", name="Cancel"
    ).click()
    expect(page.get_by_role("heading", name="Cancel calendar synchronisation")).to_be_visible()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_role("status")).to_contain_text("keeps running until the paid month ends on")
    expect(page.locator("#subscriptions .sub-state")).to_have_text("Cancelled")
    log_out(page)

    log_in(page, live_server.url, staff)
    page.goto(f"{live_server.url}/account/calendarsync/")
    expect(page.locator("#sync-entitlement")).to_contain_text("keeps syncing, until")
