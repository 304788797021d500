"""Privacy levels in a real browser (issue 16 §1): a staff member sets *Busy only* for client
appointments on the CalendarSync page, and the copy the Google fake stores is rewritten without
the client's name, description, attendees or location; the administrator's *Settings > Privacy*
sets the neutral title that copy then shows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.engine.run import run_link
from calsync.models import CalendarLink, EventMapping
from tests.browser.test_sync_button_browser import log_in
from tests.engine.helpers import link_google
from tests.factories import ClientFactory, UserFactory, entitle, make_meeting
from tests.fakes.google import GoogleFake

pytestmark = pytest.mark.browser


def test_set_busy_only_and_see_the_redacted_copy_at_google(
    page: Page, live_server: Any, google_fake: GoogleFake, settings: Any
) -> None:
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    staff = entitle(UserFactory(role=Role.STAFF, email="privacy@example.test"))
    assert staff.tenant is not None
    admin = UserFactory(tenant=staff.tenant, role=Role.ADMIN, email="privacy-admin@example.test")
    meeting = make_meeting(
        staff,
        title="Intake Marit Jansen",
        start=timezone.now() + timedelta(days=2),
        client=ClientFactory(tenant=staff.tenant, name="Marit Jansen"),
        description="anxiety, referred by GP",
        location="Kerkstraat 1",
        other_attendees=("marit@client.example",),
    )
    link, calendar_id = link_google(staff, google_fake)
    assert run_link(link.pk).counts == {"created_there": 1}
    external_id = EventMapping.objects.get(link=link, meeting=meeting).external_id

    def stored() -> str:
        return json.dumps(google_fake.event(calendar_id, external_id), ensure_ascii=False)

    assert "Marit Jansen" in stored()  # full details, as links had before levels

    # The administrator names the busy copies of client appointments.
    log_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("link", name="Settings › Privacy").click()
    titles = page.get_by_label("Title of a busy copy")
    titles.first.fill("Practice appointment")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The privacy rules were saved")).to_be_visible()
    page.context.clear_cookies()

    # The staff member chooses Busy only for client appointments.
    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/account/calendarsync/")
    privacy = page.locator(f"#privacy-{link.pk}")
    privacy.locator("summary").click()
    privacy.get_by_label("Client appointments").select_option(label="Busy only")
    privacy.get_by_role("button", name="Save privacy levels").click()
    expect(page.get_by_text("being rewritten now")).to_be_visible()
    # The run the save asked for (eager in tests, on the interactive queue in production)
    # rewrote the copy at Google.
    item = stored()
    for secret in ("Marit", "Jansen", "anxiety", "Kerkstraat", "marit@client.example"):
        assert secret not in item, (secret, item)
    assert google_fake.event(calendar_id, external_id)["summary"] == "Practice appointment"
    link.refresh_from_db()
    assert link.privacy_client == "busy" and link.privacy_applied == link.privacy_version
    page.reload()
    expect(page.locator(f"#privacy-{link.pk} summary")).to_contain_text(
        "Busy only for client appointments"
    )
    meeting.refresh_from_db()
    assert meeting.title == "Intake Marit Jansen"  # nothing lost here
    assert CalendarLink.objects.count() == 1
