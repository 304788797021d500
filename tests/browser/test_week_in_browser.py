"""A staff member in a real browser (Playwright driving Debian's Chromium): log in, create a
meeting repeating weekly on two weekdays, and see its occurrences in the week view."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from agenda.models import Meeting
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser


def test_staff_creates_a_weekly_meeting_and_sees_it_in_the_week(
    page: Page,
    live_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    staff = UserFactory(role=Role.STAFF, email="petra@example.test", full_name="Petra Physio")
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)

    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Week of")).to_be_visible()

    page.get_by_role("link", name="New meeting").click()
    page.get_by_label("Title").fill("Physio intake")
    page.get_by_label("Start date").fill(monday.isoformat())
    page.get_by_label("Start time").fill("09:30")
    page.get_by_label("End date").fill(monday.isoformat())
    page.get_by_label("End time").fill("10:15")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_label("Monday").check()
    page.get_by_label("Wednesday").check()
    page.get_by_label("Until").fill((monday + timedelta(weeks=4)).isoformat())
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("“Physio intake” was created.")
    occurrences = page.locator(".occ", has_text="Physio intake")
    expect(occurrences).to_have_count(2)
    expect(page.locator(f'[data-date="{monday.isoformat()}"] .occ')).to_contain_text("09:30–10:15")
    wednesday = monday + timedelta(days=2)
    expect(page.locator(f'[data-date="{wednesday.isoformat()}"] .occ')).to_contain_text(
        "Physio intake"
    )
    page.screenshot(path=str(tmp_path / "week.png"), full_page=True)

    # The series goes on in the following week, and ends after its end date.
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator(".occ", has_text="Physio intake")).to_have_count(2)
    page.goto(f"{live_server.url}/calendar/?week={(monday + timedelta(weeks=5)).isoformat()}")
    expect(page.locator(".occ", has_text="Physio intake")).to_have_count(0)

    meeting = Meeting.objects.get(title="Physio intake")
    assert (meeting.repeat, meeting.repeat_weekdays) == ("weekly", [0, 2])


def test_bad_input_is_explained_in_the_browser(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    staff = UserFactory(role=Role.STAFF, email="quinn@example.test")
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/calendar/meetings/new/")
    page.get_by_label("Title").fill("Backwards")
    page.get_by_label("Start time").fill("11:00")
    page.get_by_label("End time").fill("10:00")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#field-end_time .error")).to_have_text(
        "The meeting must end after it starts."
    )
    expect(page.locator("#field-repeat_until .error")).to_contain_text("needs an end date")
    assert not Meeting.all_objects.exists()


def test_times_are_24_hour_in_an_en_us_browser(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    """An en-US Chromium shows ``type=time`` with AM/PM; the form's time fields are 24-hour
    text whatever the browser's locale (issue 18 §4)."""
    staff = UserFactory(role=Role.STAFF, email="usa@example.test")
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/calendar/meetings/new/")
    page.get_by_label("Title").fill("Late session")
    page.get_by_label("Start time").fill("9:30 PM")
    page.get_by_label("End time").fill("22:15")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#field-start_time .error").first).to_have_text(
        "Enter the time as hh:mm on the 24-hour clock, e.g. 14:30."
    )
    expect(page.get_by_label("End time")).to_have_value("22:15")
    page.get_by_label("Start time").fill("21:30")
    page.get_by_role("button", name="Save").click()
    meeting = Meeting.objects.get(title="Late session")
    page.goto(f"{live_server.url}/calendar/meetings/{meeting.pk}/edit/")
    expect(page.get_by_label("Start time")).to_have_value("21:30")
    expect(page.get_by_label("End time")).to_have_value("22:15")
    context.close()
