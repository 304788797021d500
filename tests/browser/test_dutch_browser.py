"""CalSync in Dutch in a real browser (issue 18 §11): a Dutch Chromium gets Dutch pages before
anyone chooses, dates in Dutch, and My Account's choice wins over the browser's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import Role
from recurrence import Frequency, Rule, Weekday
from tests.factories import PASSWORD, UserFactory, make_meeting

pytestmark = pytest.mark.browser
AMS = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def dutch(browser: Browser) -> Iterator[Page]:
    """A browser set to Dutch: it sends ``Accept-Language: nl-NL``, as a Dutch practice's does."""
    context = browser.new_context(timezone_id="Europe/Amsterdam", locale="nl-NL")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_dutch_browser_gets_dutch_pages_until_my_account_says_otherwise(
    dutch: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    base = live_server.url
    staff = UserFactory(
        role=Role.STAFF, email="anna@praktijk.example.test", full_name="Anna Visser"
    )
    series = make_meeting(
        staff,
        title="Weekoverleg",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMS),
        rule=Rule(Frequency.WEEKLY, until=date(2027, 6, 29), weekdays=frozenset([Weekday(1)])),
    )

    dutch.goto(f"{base}/account/login/")
    expect(dutch.locator("html")).to_have_attribute("lang", "nl")
    dutch.get_by_label("E-mailadres").fill(staff.email)
    dutch.get_by_label("Wachtwoord").fill(PASSWORD)
    dutch.get_by_role("button", name="Inloggen").click()
    expect(dutch.get_by_role("link", name="Mijn account")).to_be_visible()

    # A date in Dutch, from the named formats: "3 november 2026".
    dutch.goto(f"{base}/calendar/meetings/{series.pk}/")
    expect(dutch.get_by_text(re.compile(r"3 november 2026"))).to_be_visible()
    expect(dutch.get_by_text("Elke week op dinsdag", exact=False).first).to_be_visible()

    # My Account: English, although the browser is Dutch.
    dutch.get_by_role("link", name="Mijn account").click()
    dutch.get_by_label("Taal").select_option("en")
    dutch.get_by_role("button", name="Opslaan").click()
    expect(dutch.get_by_text("Your details were saved.")).to_be_visible()
    expect(dutch.locator("html")).to_have_attribute("lang", "en")
    dutch.goto(f"{base}/calendar/meetings/{series.pk}/")
    expect(dutch.get_by_text(re.compile(r"3 November 2026"))).to_be_visible()

    # Back to the browser's language.
    dutch.goto(f"{base}/account/")
    dutch.get_by_label("Language").select_option("")
    dutch.get_by_role("button", name="Save").click()
    expect(dutch.locator("html")).to_have_attribute("lang", "nl")
    expect(dutch.get_by_role("link", name="Mijn account")).to_be_visible()
