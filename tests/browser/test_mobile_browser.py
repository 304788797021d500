"""Every page at 390 px, a phone's width (issue 18 §7): nothing wider than the screen, a
collapsible menu, the week as a list of days, tables as cards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import Role
from billing.services import credits_grant, subscription_purchase
from calsync.models import CalendarLink, Provider, SyncMessage
from tests.factories import PASSWORD, UserFactory, make_meeting
from tests.test_scheduler import make_link

pytestmark = pytest.mark.browser
WIDTH = 390


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": WIDTH, "height": 844},
        timezone_id="Europe/Amsterdam",
        locale="en-GB",
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/account/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def assert_fits(page: Page, url: str) -> None:
    page.goto(url)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{url} is {width} px wide"


def test_every_page_fits_a_phone(
    phone: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    base = live_server.url
    admin = UserFactory(role=Role.ADMIN, email="admin.phone@example.test")
    staff = UserFactory(
        tenant=admin.tenant,
        role=Role.STAFF,
        email="a.practitioner.with.a.long.address@example.test",
        full_name="Philippa Long-Surname",
    )
    subscription_purchase(tenant=admin.tenant, user=staff, actor=admin)
    credits_grant(tenant=admin.tenant, amount=100, reason="Welcome credits for the practice")
    start = (timezone.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    meeting = make_meeting(
        staff, title="A meeting with a rather long title for a phone", start=start
    )
    link = make_link(
        staff,
        cursor="t",
        last_success_at=timezone.now(),
        calendar_name="CS_Philippa Long-Surname",
    )
    CalendarLink.objects.filter(pk=link.pk).update(provider=Provider.CALDAV)
    SyncMessage.objects.create(
        link=link,
        subject=str(meeting.pk),
        code="invalid",
        text="The external calendar refused this meeting: https://caldav.example.com/a/very/long/path/",
        fingerprint="f",
    )

    log_in(phone, base, staff.email)
    # The menu is collapsed behind one button; Log out is reachable, not clipped.
    menu = phone.get_by_role("button", name="Menu")
    expect(phone.get_by_role("button", name="Log out")).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    logout = phone.get_by_role("button", name="Log out")
    expect(logout).to_be_visible()
    box = logout.bounding_box()
    assert box is not None and box["x"] + box["width"] <= WIDTH

    week = f"{base}/calendar/"
    assert_fits(phone, week)
    # The week is a list: the days stand one under the other.
    days = phone.locator("section.day")
    first, second = days.nth(0).bounding_box(), days.nth(1).bounding_box()
    assert first and second and first["x"] == second["x"] and second["y"] > first["y"]
    for path in (
        "/calendar/meetings/new/",
        f"/calendar/meetings/{meeting.pk}/",
        f"/calendar/meetings/{meeting.pk}/edit/",
        "/account/",
        "/account/calendarsync/",
        "/account/calendarsync/caldav/",
        f"/account/calendarsync/{link.pk}/reconnect/",
    ):
        assert_fits(phone, base + path)
    # The repetition fieldset of the meeting form fits.
    phone.goto(f"{base}/calendar/meetings/new/")
    for fieldset in phone.locator("fieldset").all():
        box = fieldset.bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTH

    phone.context.clear_cookies()
    log_in(phone, base, admin.email)
    for path in (
        "/settings/",
        "/settings/people/",
        "/settings/integrations/",
        "/settings/integrations/credits/",
        "/settings/integrations/calendar-sync/buy/",
    ):
        assert_fits(phone, base + path)
    # Tables are cards: each cell says its column.
    phone.goto(f"{base}/settings/integrations/")
    cell = phone.locator("#subscriptions td[data-label='State']").first
    expect(cell).to_be_visible()
    label = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"State: "'
    assert_fits(phone, f"{base}/account/login/")
