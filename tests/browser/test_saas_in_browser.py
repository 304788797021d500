"""A practice starts on its own in a real browser (issue 15, "Done means"): sign up, verify the
address, invite a practitioner who accepts and logs in, links Google through the consent page,
and is deactivated: the link is revoked at Google's fake and the subscription ends."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import override_settings
from playwright.sync_api import Browser, Page, expect

from accounts.models import Role, Tenant, User
from billing.models import Subscription, SubscriptionState
from calsync.models import CalendarLink, LinkState
from tests.fakes.google import GoogleFake

pytestmark = pytest.mark.browser


def link_from(pattern: str) -> str:
    found = re.search(pattern, str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return found.group(0)


def test_sign_up_invite_link_and_deactivate(
    page: Page,
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    google_fake: GoogleFake,
) -> None:
    # Sign up from the login page.
    page.goto(f"{live_server.url}/account/login/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Practice name").fill("Lighthouse Osteopathy")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    page.get_by_label("Your name").fill("Lena Lighthouse")
    page.get_by_label("Your e-mail address").fill("lena@lighthouse.example")
    page.get_by_label("Password", exact=True).fill("lighthouse beams 2027")
    page.get_by_label("Password again").fill("lighthouse beams 2027")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your mailbox")).to_be_visible()
    assert not Tenant.objects.exists()

    # The e-mailed link: the practice exists, Lena is its administrator, the checklist shows.
    page.goto(link_from(r"http://[^\s]+/account/signup/verify/[^\s]+/"))
    expect(page.get_by_role("status")).to_contain_text("Lighthouse Osteopathy is ready")
    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("Invite your practitioners")
    expect(checklist).to_contain_text("Buy calendar synchronisation")
    lena = User.objects.get(email="lena@lighthouse.example")
    assert lena.role == Role.ADMIN and lena.tenant is not None

    # Invite a practitioner.
    page.get_by_role("link", name="Invite people").click()
    page.get_by_label("E-mail address").fill("pim@lighthouse.example")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("An invitation was sent to pim@")
    expect(page.locator("#invitations")).to_contain_text("pim@lighthouse.example")
    invitation = link_from(r"http://[^\s]+/account/invitation/[^\s]+/")

    # Pim accepts in his own browser and lands on his checklist, logged in.
    pim_context = browser.new_context(timezone_id="Europe/Amsterdam", locale="en-GB")
    pim_page = pim_context.new_page()
    pim_page.set_default_timeout(15_000)
    pim_page.goto(invitation)
    expect(pim_page.get_by_role("heading", name="Join Lighthouse Osteopathy")).to_be_visible()
    pim_page.get_by_label("Your name").fill("Pim Practitioner")
    pim_page.get_by_label("Password", exact=True).fill("pims own secret 99")
    pim_page.get_by_label("Password again").fill("pims own secret 99")
    pim_page.get_by_role("button", name="Join").click()
    expect(pim_page.locator("#checklist")).to_contain_text("Link your calendar")
    pim = User.objects.get(email="pim@lighthouse.example")
    assert (pim.role, pim.tenant_id) == (Role.STAFF, lena.tenant_id)

    # Lena buys calendar synchronisation for Pim (his free trial).
    page.goto(f"{live_server.url}/settings/integrations/calendar-sync/buy/")
    page.get_by_label("Practitioner").select_option(
        label="Pim Practitioner (pim@lighthouse.example): free for 30 days, then 25 credits a month"
    )
    page.get_by_role("button", name="Purchase").click()
    page.get_by_role("button", name="Confirm purchase").click()
    expect(page.get_by_role("status")).to_contain_text("bought for Pim Practitioner")

    # Pim links Google through the consent page.
    google_fake.client_config(f"{live_server.url}/account/calendarsync/google/callback/")
    google_fake.add_account("pim@gmail.example")
    with override_settings(**google_fake.django_settings()):
        pim_page.goto(f"{live_server.url}/account/calendarsync/")
        pim_page.get_by_role("link", name="Set up Google Calendar").click()
        pim_page.get_by_role("button", name="Continue to Google").click()
        pim_page.get_by_label("Choose an account").fill("pim@gmail.example")
        pim_page.locator("#allow").click()
        expect(pim_page.get_by_role("status")).to_contain_text("Linked Google Calendar")

        # Lena deactivates Pim.
        page.goto(f"{live_server.url}/settings/people/")
        page.locator(f"tr[data-person='{pim.pk}']").get_by_role("link", name="Deactivate").click()
        expect(page.get_by_role("heading", name="Deactivate Pim Practitioner?")).to_be_visible()
        page.get_by_role("button", name="Deactivate").click()
        expect(page.get_by_role("status")).to_contain_text(
            "is deactivated and can no longer log in"
        )
        expect(page.locator(f"tr[data-person='{pim.pk}'] .person-state")).to_have_text(
            "Deactivated"
        )

    # Revoked at Google's fake, credentials gone; the trial ended; Pim is logged out.
    assert len(google_fake.requests_to(method="POST", path="/revoke")) == 1
    link = CalendarLink.all_objects.get(user=pim)
    assert (link.state, link.credentials) == (LinkState.REVOKED, "")
    sub = Subscription.objects.get(user=pim)
    assert sub.state == SubscriptionState.CANCELLED and sub.closed_at is not None
    pim_page.goto(f"{live_server.url}/calendar/")
    expect(pim_page.get_by_role("button", name="Log in")).to_be_visible()
    pim_page.get_by_label("E-mail address").fill("pim@lighthouse.example")
    pim_page.get_by_label("Password").fill("pims own secret 99")
    pim_page.get_by_role("button", name="Log in").click()
    expect(pim_page.get_by_role("alert")).to_be_visible()
    pim_context.close()
