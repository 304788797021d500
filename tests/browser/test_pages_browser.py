"""The pages a practice lives in (issue 18), in a real browser: message cards, and more."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.engine.run import run_link
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav
from tests.factories import PASSWORD, UserFactory, entitle
from tests.test_message_cards import daily_series

pytestmark = pytest.mark.browser
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/account/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_message_card_names_the_meeting_and_can_be_dismissed(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = entitle(UserFactory(role=Role.STAFF, email="cards@example.test"))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    start: datetime = (timezone.now() + timedelta(days=2)).astimezone(AMSTERDAM)
    start = start.replace(hour=7, minute=30, second=0, microsecond=0)
    daily_series(reader, "Early huddle", start)
    run_link(link.pk)

    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/account/calendarsync/")
    card = page.locator(".message-card", has_text="Early huddle")
    expect(card.get_by_role("heading")).to_contain_text(
        f"Early huddle · {start:%a} {start.day} {start:%b %Y}, 07:30"
    )
    expect(card).to_contain_text("daily")
    card.get_by_role("button", name="Dismiss the message about Early huddle").click()
    expect(page.get_by_role("status")).to_contain_text("The message was dismissed.")
    expect(page.locator(".message-card", has_text="Early huddle")).to_have_count(0)
