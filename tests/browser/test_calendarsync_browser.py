"""CalendarSync in a real browser: CalDAV setup against a real Radicale, a wrong password's
message, and revoking."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.models import CalendarLink, LinkState
from tests.caldav_servers import CalDAVServer
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser


def test_link_a_caldav_calendar_then_revoke_it(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = UserFactory(role=Role.STAFF, email="rosa@example.test", full_name="Rosa Therapist")
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="My Account").click()
    page.get_by_role("link", name="CalendarSync").click()
    expect(page.get_by_text("You have no linked calendars.")).to_be_visible()
    page.get_by_role("link", name="Setup CalDAV").click()
    page.get_by_label("Server address").fill(radicale.url)
    page.get_by_label("User name").fill(radicale.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("alert")).to_contain_text("refused the user name or password")
    assert not CalendarLink.all_objects.exists()

    page.get_by_label("Password").fill(radicale.password)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_contain_text("Linked “CS_Rosa Therapist”")
    row = page.locator("tr[data-link]")
    expect(row).to_contain_text("iCloud / CalDAV: CS_Rosa Therapist")
    expect(row).to_contain_text("Active")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")
    expect(page.get_by_text("You have no linked calendars.")).to_be_visible()
    link = CalendarLink.all_objects.get()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")
