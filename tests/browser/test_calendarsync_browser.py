"""CalendarSync in a real browser: CalDAV setup against a real Radicale, a wrong password's
message, and revoking."""

from __future__ import annotations

import pytest
from django.test import override_settings
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.models import CalendarLink, LinkState
from tests.caldav_servers import CalDAVServer
from tests.factories import PASSWORD, UserFactory, entitle
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake

pytestmark = pytest.mark.browser


def test_link_a_caldav_calendar_then_revoke_it(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = entitle(
        UserFactory(role=Role.STAFF, email="rosa@example.test", full_name="Rosa Therapist")
    )
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="My Account").click()
    page.get_by_role("link", name="CalendarSync").click()
    expect(page.get_by_text("You have no linked calendars.")).to_be_visible()
    page.get_by_role("link", name="Set up CalDAV").click()
    page.get_by_label("Server address").fill(radicale.url)
    page.get_by_label("User name").fill(radicale.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("alert")).to_contain_text("refused the user name or password")
    assert not CalendarLink.all_objects.exists()

    page.get_by_label("Password").fill(radicale.password)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_contain_text("Linked “CS_Rosa Therapist”")
    row = page.locator("article[data-link]")
    expect(row).to_contain_text("CalDAV: CS_Rosa Therapist")
    expect(row.locator(".status-line")).to_contain_text("Up to date · synced just now")

    # A page that asks, not a script dialog (issue 18 §8).
    page.get_by_role("link", name="Revoke access").click()
    page.get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")
    expect(page.get_by_text("You have no linked calendars.")).to_be_visible()
    link = CalendarLink.all_objects.get()
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")


def test_link_google_through_the_consent_screen(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    google_fake: GoogleFake,
) -> None:
    callback = f"{live_server.url}/account/calendarsync/google/callback/"
    google_fake.client_config(callback)
    google_fake.add_account("gina@gmail.example")
    staff = entitle(
        UserFactory(role=Role.STAFF, email="gina@example.test", full_name="Gina Physio")
    )
    with override_settings(**google_fake.django_settings()):
        page.goto(f"{live_server.url}/account/login/")
        page.get_by_label("E-mail address").fill(staff.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server.url}/account/calendarsync/")
        page.get_by_role("link", name="Set up Google Calendar").click()
        page.get_by_role("button", name="Continue to Google").click()
        # Google's consent screen (the fake's real HTML page): pick the account, Allow.
        page.get_by_label("Choose an account").fill("gina@gmail.example")
        page.locator("#allow").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Linked Google Calendar “CS_Gina Physio”"
        )
        expect(page.locator("article[data-link]")).to_contain_text(
            "Google Calendar: CS_Gina Physio"
        )

        # A page that asks, not a script dialog (issue 18 §8).
        page.get_by_role("link", name="Revoke access").click()
        page.get_by_role("button", name="Revoke access").click()
        expect(page.get_by_role("status")).to_contain_text("was revoked")
    assert len(google_fake.requests_to(method="POST", path="/revoke")) == 1
    assert CalendarLink.all_objects.get().credentials == ""


def test_link_microsoft_through_the_consent_screen_then_revoke(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    microsoft_fake: MicrosoftFake,
) -> None:
    microsoft_fake.register_redirect_uri(
        f"{live_server.url}/account/calendarsync/microsoft/callback/"
    )
    staff = entitle(UserFactory(role=Role.STAFF, email="mia@example.test", full_name="Mia Osteo"))
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        page.goto(f"{live_server.url}/account/login/")
        page.get_by_label("E-mail address").fill(staff.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server.url}/account/calendarsync/")
        page.get_by_role("link", name="Set up Microsoft 365 / Outlook").click()
        expect(
            page.get_by_label("Create a calendar for CalSync in my Outlook mailbox")
        ).to_be_checked()
        page.get_by_role("button", name="Continue to Microsoft").click()
        # Microsoft's consent screen (the fake's real HTML page): sign in, Accept (#allow).
        page.get_by_label("Email, phone, or Skype").fill("mia@outlook.example")
        page.locator("#allow").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Linked Microsoft 365 / Outlook “CS_Mia Osteo” (mia@outlook.example)"
        )
        row = page.locator("article[data-link]")
        expect(row).to_contain_text("Microsoft 365 / Outlook: CS_Mia Osteo")
        expect(row.locator(".status-line")).to_contain_text("Up to date")
        assert [c.name for c in microsoft_fake.calendars.values() if not c.is_default] == [
            "CS_Mia Osteo"
        ]

        # A page that asks, not a script dialog (issue 18 §8).
        page.get_by_role("link", name="Revoke access").click()
        page.get_by_role("button", name="Revoke access").click()
        expect(page.get_by_role("status")).to_contain_text("Microsoft has no per-app revoke")
        expect(page.get_by_role("status")).to_contain_text(
            "https://account.live.com/consent/Manage"
        )
        expect(page.get_by_text("You have no linked calendars.")).to_be_visible()
    link = CalendarLink.all_objects.get()
    assert (link.provider, link.state, link.credentials) == ("microsoft", LinkState.REVOKED, "")


def test_revoke_then_setup_again_with_the_same_calendar_duplicates_nothing(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    """What a staff member does when told to reconnect (issue 12 §2): *Revoke access*, then
    *Setup* again with the same calendar. The new link recognises CalSync's copies (and the
    events it imported before) instead of importing them as personal meetings and sending
    every meeting a second time."""
    from datetime import timedelta

    from django.utils import timezone

    from agenda.models import Meeting
    from connectors.caldav.connector import CalDAVConnector
    from tests.factories import make_meeting

    staff = entitle(
        UserFactory(role=Role.STAFF, email="ruben@example.test", full_name="Ruben Relink")
    )
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    for n in range(3):
        make_meeting(staff, title=f"Session {n}", start=start + timedelta(days=n))
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    def setup() -> None:
        page.goto(f"{live_server.url}/account/calendarsync/")
        page.get_by_role("link", name="Set up CalDAV").click()
        page.get_by_label("Server address").fill(radicale.url)
        page.get_by_label("User name").fill(radicale.username)
        page.get_by_label("Password").fill(radicale.password)
        page.get_by_role("button", name="Connect").click()
        expect(page.get_by_role("status")).to_contain_text("Linked “CS_Ruben Relink”")

    setup()
    page.reload()
    expect(page.locator("article[data-link]")).to_contain_text("3 sent to the external calendar")
    # A page that asks, not a script dialog (issue 18 §8).
    page.get_by_role("link", name="Revoke access").click()
    page.get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")

    setup()  # the same server, account and dedicated calendar
    page.reload()
    detail = page.locator("article[data-link]")
    expect(detail).to_contain_text("3 copies recognised again")
    expect(detail).not_to_contain_text("new from the external calendar")
    expect(detail).not_to_contain_text("sent to the external calendar")
    live = CalendarLink.objects.get()
    reader = CalDAVConnector(
        calendar_url=live.calendar_id,
        username=radicale.username,
        password=radicale.password,
        timeout=10,
    )
    titles = sorted(i.event.title for i in reader.full_listing().items if i.event)
    assert titles == ["Session 0", "Session 1", "Session 2"]
    assert Meeting.objects.filter(owner=staff).count() == 3


def test_reconnect_a_caldav_calendar_whose_password_stopped_working(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    """Issue 18 §1: *Needs reconnecting* says what is wrong and offers the one button that
    fixes it; the form has the server and user filled in; the link, its copies and its cursor
    stay. The administrator sees the same on *Settings > Integrations*."""
    from datetime import timedelta

    from django.utils import timezone

    from calsync.engine.run import run_link
    from connectors import credentials
    from tests.engine.helpers import link_caldav
    from tests.factories import make_meeting

    staff = entitle(
        UserFactory(role=Role.STAFF, email="rita@example.test", full_name="Rita Reconnect")
    )
    admin = UserFactory(tenant=staff.tenant, role=Role.ADMIN, email="boss@example.test")
    make_meeting(staff, title="Kept once", start=timezone.now() + timedelta(days=2))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    cursor = CalendarLink.objects.get(pk=link.pk).cursor
    CalendarLink.objects.filter(pk=link.pk).update(
        state=LinkState.NEEDS_RECONNECT,
        credentials=credentials.encrypt({"password": "changed-at-the-server"}),
    )

    def log_in(email: str) -> None:
        page.goto(f"{live_server.url}/account/login/")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

    log_in(admin.email)
    page.goto(f"{live_server.url}/settings/integrations/")
    health = page.locator("#sync-health")
    expect(health.locator("tr", has_text="Rita Reconnect")).to_contain_text("Needs reconnecting")
    page.get_by_role("button", name="Log out").click()

    log_in(staff.email)
    page.goto(f"{live_server.url}/account/calendarsync/")
    card = page.locator("article[data-link]")
    expect(card.locator(".status-line")).to_contain_text(
        "Needs reconnecting: CalDAV (" + radicale.username + ") no longer accepts"
    )
    expect(card.get_by_role("button", name="Synchronise")).to_have_count(0)
    card.get_by_role("link", name="Reconnect").click()
    expect(page.get_by_label("Server address")).to_have_value(radicale.url)
    expect(page.get_by_label("User name")).to_have_value(radicale.username)
    page.get_by_label("New password").fill(radicale.password)
    page.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_role("status")).to_contain_text("Reconnected CalDAV")
    expect(card.locator(".status-line")).to_contain_text("Up to date · synced just now")
    assert CalendarLink.all_objects.count() == 1
    assert CalendarLink.objects.get(pk=link.pk).cursor != "" and cursor
    assert [i.event.title for i in reader.full_listing().items if i.event] == ["Kept once"]

    page.get_by_role("button", name="Log out").click()
    log_in(admin.email)
    page.goto(f"{live_server.url}/settings/integrations/")
    expect(health.locator("tr", has_text="Rita Reconnect")).to_contain_text("Up to date")
