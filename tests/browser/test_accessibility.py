"""axe-core over every page in each role (issue 18 §8): any violation fails, with the rule, the
elements and axe's explanation. axe-core comes with axe-playwright-python (pinned in
pyproject.toml, installed with the rest of the dev group), so CI on a fresh machine has it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page

from accounts.models import Role
from billing.services import credits_grant, subscription_purchase
from calsync.models import LinkState, SyncMessage
from recurrence import Frequency, Rule, Weekday
from tests.factories import PASSWORD, UserFactory, make_meeting
from tests.test_scheduler import make_link

pytestmark = pytest.mark.browser
AXE = Axe()
AMS = ZoneInfo("Europe/Amsterdam")


def violations(page: Page, url: str) -> list[str]:
    page.goto(url)
    results = AXE.run(page)
    found = []
    for violation in results.response["violations"]:
        targets = [", ".join(node["target"]) for node in violation["nodes"]][:5]
        found.append(f"{url}: {violation['id']} ({violation['help']}) at {targets}")
    return found


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/account/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def check(page: Page, base: str, paths: list[str]) -> None:
    found = [v for path in paths for v in violations(page, base + path)]
    assert not found, "axe found:\n" + "\n".join(found)


def test_every_page_has_no_axe_violation_for_anonymous_visitors(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    check(
        page,
        live_server.url,
        [
            "/account/login/",
            "/account/signup/",
            "/account/password-reset/",
            "/no/such/page/",
        ],
    )


def test_every_page_has_no_axe_violation_for_a_practitioner(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    admin = UserFactory(role=Role.ADMIN, email="axe.admin@example.test")
    staff = UserFactory(tenant=admin.tenant, role=Role.STAFF, email="axe.staff@example.test")
    subscription_purchase(tenant=admin.tenant, user=staff, actor=admin)
    series = make_meeting(
        staff,
        title="Weekly review",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMS),
        rule=Rule(Frequency.WEEKLY, until=date(2027, 6, 29), weekdays=frozenset([Weekday(1)])),
    )
    single = make_meeting(staff, title="Intake", start=timezone.now() + timedelta(days=1))
    link = make_link(staff, cursor="t", last_success_at=timezone.now(), calendar_name="CS_Axe")
    broken = make_link(staff, state=LinkState.NEEDS_RECONNECT, calendar_name="Old calendar")
    SyncMessage.objects.create(
        link=link, subject=str(single.pk), code="invalid", text="Refused.", fingerprint="f"
    )
    log_in(page, live_server.url, staff.email)
    check(
        page,
        live_server.url,
        [
            "/calendar/",
            "/calendar/meetings/new/",
            f"/calendar/meetings/{series.pk}/?on=2026-12-01",
            f"/calendar/meetings/{series.pk}/edit/",
            f"/calendar/meetings/{single.pk}/",
            f"/calendar/meetings/{single.pk}/delete/",
            "/account/",
            "/account/calendarsync/",
            "/account/calendarsync/caldav/",
            "/account/calendarsync/caldav/?icloud=1",
            f"/account/calendarsync/{broken.pk}/reconnect/",
            "/welcome/",
            "/settings/",  # an administrator's page: the 403 page
        ],
    )


def test_every_page_has_no_axe_violation_for_an_administrator(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    admin = UserFactory(role=Role.ADMIN, email="axe.boss@example.test")
    staff = UserFactory(tenant=admin.tenant, role=Role.STAFF, email="axe.p@example.test")
    sub = subscription_purchase(tenant=admin.tenant, user=staff, actor=admin)
    UserFactory(tenant=admin.tenant, role=Role.STAFF, email="axe.q@example.test")
    credits_grant(tenant=admin.tenant, amount=10, reason="Test credits")
    make_link(staff, cursor="t", last_success_at=timezone.now())
    log_in(page, live_server.url, admin.email)
    check(
        page,
        live_server.url,
        [
            "/settings/",
            "/settings/people/",
            f"/settings/people/{staff.pk}/deactivate/",
            "/settings/integrations/",
            "/settings/integrations/calendar-sync/buy/",
            f"/settings/integrations/calendar-sync/{sub.pk}/cancel/",
            "/settings/integrations/credits/",
            "/welcome/",
            "/calendar/",  # a practitioner's page: the administrator is told why not
        ],
    )
