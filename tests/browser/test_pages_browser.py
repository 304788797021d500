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


def test_buying_says_the_price_confirms_with_the_balance_after_and_hides_what_cannot_succeed(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    from billing.models import Subscription
    from billing.services import credits_grant, subscription_purchase

    admin = UserFactory(role=Role.ADMIN, email="buyer@example.test")
    tenant = admin.tenant
    ivo = UserFactory(tenant=tenant, role=Role.STAFF, email="ivo@example.test", full_name="Ivo")
    # Ivo had his free trial (bought, then ended): his first month is charged now.
    sub = subscription_purchase(tenant=tenant, user=ivo, actor=admin)
    Subscription.objects.filter(pk=sub.pk).update(state="cancelled", ends_at=timezone.now())
    credits_grant(tenant=tenant, amount=40, reason="Test credits")

    log_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/settings/integrations/")
    page.get_by_role("link", name="Buy Calendar Synchronisation").click()
    select = page.get_by_label("Practitioner")
    expect(select.locator("option", has_text="Ivo")).to_have_text(
        "Ivo (ivo@example.test): 25 credits now (free trial used), then monthly"
    )
    select.select_option(
        label="Ivo (ivo@example.test): 25 credits now (free trial used), then monthly"
    )
    page.get_by_role("button", name="Purchase").click()
    expect(page.locator("#charge-now")).to_contain_text("25 credits for the first month")
    expect(page.locator("#balance-after")).to_have_text("15 credits")
    assert Subscription.objects.filter(user=ivo, state="active").count() == 0
    page.get_by_role("button", name="Confirm purchase").click()
    expect(page.get_by_role("status")).to_contain_text("25 credits were charged")
    expect(page.locator("#balance")).to_have_text("15")

    # A second practitioner whose trial was used, with 15 credits left: no Buy button, and why.
    una = UserFactory(tenant=tenant, role=Role.STAFF, email="una@example.test", full_name="Una")
    used = subscription_purchase(tenant=tenant, user=una, actor=admin)
    Subscription.objects.filter(pk=used.pk).update(state="cancelled", ends_at=timezone.now())
    page.reload()
    expect(page.get_by_role("link", name="Buy Calendar Synchronisation")).to_have_count(0)
    expect(page.locator("#cannot-buy")).to_contain_text("needs 25 credits")
    expect(page.locator("#cannot-buy")).to_contain_text("the balance is 15")


def test_an_occurrence_opens_itself_and_this_and_following_splits_the_series(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import date

    from agenda.models import Meeting
    from recurrence import Frequency, Rule, Weekday
    from tests.factories import make_meeting

    staff = UserFactory(role=Role.STAFF, email="series@example.test")
    meeting = make_meeting(
        staff,
        title="Weekly review",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMSTERDAM),
        rule=Rule(Frequency.WEEKLY, until=date(2026, 12, 29), weekdays=frozenset([Weekday(1)])),
    )
    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/calendar/?week=2026-11-30")
    page.locator("[data-date='2026-12-01'] .occ", has_text="Weekly review").click()
    expect(page.locator("#occurrence")).to_contain_text(
        "This occurrence: Tuesday 1 December 2026, 09:00 – 10:00"
    )
    expect(page.locator("#occurrence")).to_contain_text(
        "A single occurrence cannot differ from its series"
    )
    expect(page.get_by_role("link", name="Edit the whole series")).to_be_visible()
    page.get_by_role("button", name="Edit this and following").click()
    expect(page.get_by_role("status")).to_contain_text("now ends on 30 November 2026")
    expect(page.get_by_label("Start date")).to_have_value("01/12/2026")
    meeting.refresh_from_db()
    assert meeting.repeat_until == date(2026, 11, 30)
    assert Meeting.objects.filter(owner=staff).count() == 2
