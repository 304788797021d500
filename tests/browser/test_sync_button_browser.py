"""*Synchronize* in a real browser: the press, the progress text and the result, with no page
reload (the run is eager in tests: the worker's part is proven in tests/test_worker_sync.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.models import CalendarLink
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav
from tests.factories import PASSWORD, UserFactory, entitle, make_meeting

pytestmark = pytest.mark.browser


def test_press_synchronize_and_see_the_result_without_a_reload(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = entitle(UserFactory(role=Role.STAFF, email="sync@example.test"))
    make_meeting(staff, title="Pushed by the button", start=timezone.now() + timedelta(days=2))
    link, reader = link_caldav(staff, radicale)
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/account/calendarsync/")
    # A marker on the window: a full reload would remove it.
    page.evaluate("window.notReloaded = true")

    page.get_by_role("button", name="Synchronize").click()
    output = page.locator(f"#sync-output-{link.pk}")
    expect(output).to_have_attribute("data-done", "1", timeout=30_000)
    expect(output).to_contain_text("Last run: ok")
    expect(output).to_contain_text("Last success")
    assert page.evaluate("window.notReloaded") is True
    assert [i.event.title for i in reader.full_listing().items] == ["Pushed by the button"]
    link.refresh_from_db()
    assert link.last_success_at is not None
    assert CalendarLink.objects.count() == 1
