"""Settings > Integrations and the CalendarSync page's billing part, through HTTP."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Role, Tenant, User
from billing.models import Subscription
from billing.selectors import balance_of
from billing.services import renewals_run, subscription_purchase
from tests.billing.conftest import grant
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

INTEGRATIONS = reverse("billing:integrations")
BUY = reverse("billing:buy")
# The practitioner's page, by path: its URL name moves into the calsync namespace with the
# connectors' rewrite of that page, the address stays.
CALENDARSYNC = "/account/calendarsync/"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def choices(response) -> str:  # type: ignore[no-untyped-def]
    """The practitioner <select> of the Buy page."""
    found = re.search(r"<select.*?</select>", text(response))
    assert found is not None
    return found.group(0)


def test_settings_link_to_integrations(admin_user: User) -> None:
    page = text(login(admin_user).get(reverse("settings")))
    assert f'href="{INTEGRATIONS}"' in page and "Settings › Integrations" in page


def test_the_integrations_page_shows_balance_subscriptions_and_ledger(
    admin_user: User, staff: User, tenant: Tenant, outsider: User
) -> None:
    grant(tenant, 40)
    grant(outsider.tenant, 999)  # type: ignore[arg-type]
    subscription_purchase(tenant=tenant, user=staff, actor=admin_user)
    page = text(login(admin_user).get(INTEGRATIONS))
    assert "Calendar Integration" in page
    assert '<strong id="balance">40</strong>' in page
    assert "Sam Staff" in page and "Free trial" in page
    assert "Test credits" in page and "+40" in page
    assert "999" not in page and "Otto Outsider" not in page
    # Everyone has sync: nothing left to buy.
    assert "Every practitioner has calendar synchronisation already" in page


def test_purchase_from_the_page(admin_user: User, staff: User, colleague: User) -> None:
    client = login(admin_user)
    options = choices(client.get(BUY))
    assert "Sam Staff" in options and "Cleo Colleague" in options and "Ada Admin" not in options
    # Purchase shows what it costs first; nothing is bought before the confirmation.
    confirm = text(client.post(BUY, {"user": staff.pk}))
    assert 'id="charge-now">Nothing: the first 30 days are free, until' in confirm
    assert 'id="balance-after">0 credits' in confirm and "Confirm purchase" in confirm
    assert not Subscription.objects.exists()
    response = client.post(BUY, {"user": staff.pk, "confirm": "1"}, follow=True)
    assert response.redirect_chain == [(INTEGRATIONS, 302)]
    page = text(response)
    assert "the first 30 days are free" in page
    assert "Sam Staff can now Add Calendar Synchronisation on their CalendarSync page" in page
    sub = Subscription.objects.get(user=staff)
    assert sub.state == "trial" and sub.created_by == admin_user
    assert AuditEntry.objects.filter(action="billing.purchase", actor=admin_user).count() == 1
    # The practitioner sees it on their CalendarSync page.
    their_page = text(login(staff).get(CALENDARSYNC))
    assert "Your practice has bought calendar synchronisation for you: free trial until" in (
        their_page
    )
    options = choices(client.get(BUY))
    assert "Cleo Colleague" in options and "Sam Staff" not in options


def test_another_tenants_practitioner_cannot_be_bought(
    admin_user: User, staff: User, outsider: User
) -> None:
    response = login(admin_user).post(BUY, {"user": outsider.pk})
    assert response.status_code == 200
    assert "Choose one of the practitioners in the list." in text(response)
    assert not Subscription.objects.exists()


def test_a_second_purchase_without_credits_explains_why(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    client = login(admin_user)
    client.post(BUY, {"user": staff.pk, "confirm": "1"})
    sub = Subscription.objects.get()
    client.post(reverse("billing:cancel", args=[sub.pk]))
    # No Buy button that cannot succeed: the trial is used and there are no credits.
    page = text(client.get(INTEGRATIONS))
    assert "Buy Calendar Synchronisation" not in page
    assert "needs 25 credits (their free trial was used); the balance is 0" in page
    assert "Not enough credits" in text(client.get(BUY))
    response = client.post(BUY, {"user": staff.pk, "confirm": "1"})
    assert response.status_code == 200
    assert "Not enough credits" in text(response)
    assert Subscription.objects.count() == 1
    grant(tenant, 25)
    assert "Sam Staff (" in choices(client.get(BUY))
    confirm = text(client.post(BUY, {"user": staff.pk}))
    assert "25 credits for the first month (the free trial was used before)" in confirm
    assert 'id="balance-after">0 credits' in confirm
    response = client.post(BUY, {"user": staff.pk, "confirm": "1"}, follow=True)
    assert "25 credits were charged for the first month" in text(response)
    assert balance_of(tenant) == 0


def test_cancel_asks_first_then_cancels(admin_user: User, staff: User, tenant: Tenant) -> None:
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user)
    client = login(admin_user)
    url = reverse("billing:cancel", args=[sub.pk])
    confirm = text(client.get(url))
    assert "This ends the free trial now" in confirm
    sub.refresh_from_db()
    assert sub.state == "trial"
    response = client.post(url, follow=True)
    assert "Cancelled: calendar synchronisation for Sam Staff stopped now." in text(response)
    sub.refresh_from_db()
    assert sub.state == "cancelled"
    # Cancelling twice is explained, not a 500.
    assert "cancelled already" in text(client.post(url, follow=True))


def test_cancel_in_a_paid_month_says_until_when(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    grant(tenant, 25)
    started = timezone.now() - timedelta(days=31)
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user, now=started)
    renewals_run()
    sub.refresh_from_db()
    response = login(admin_user).post(reverse("billing:cancel", args=[sub.pk]), follow=True)
    assert "keeps running until the paid month ends on" in text(response)
    page = text(login(staff).get(CALENDARSYNC))
    assert "keeps syncing, until" in page


def test_lapse_is_shown_to_administrator_and_practitioner(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    subscription_purchase(
        tenant=tenant, user=staff, actor=admin_user, now=timezone.now() - timedelta(days=31)
    )
    assert renewals_run() == {"lapsed": 1}
    page = text(login(admin_user).get(INTEGRATIONS))
    assert "Calendar synchronisation for Sam Staff is paused" in page
    assert "Lapsed (credits ran out)" in page
    staff_page = text(login(staff).get(CALENDARSYNC))
    assert "Calendar synchronisation is paused: your practice's credits ran out" in staff_page


def test_not_bought_is_said_on_the_calendarsync_page(staff: User) -> None:
    page = text(login(staff).get(CALENDARSYNC))
    assert "has not bought calendar synchronisation for you yet: ask your administrator" in page
    assert 'data-allowed="false"' in page


def test_tenant_wide_mode_shows_activate_instead_of_buy(
    tenant_wide: Tenant, admin_user: User, staff: User, colleague: User
) -> None:
    client = login(admin_user)
    page = text(client.get(INTEGRATIONS))
    assert "Activate CalendarSync" in page and "Buy Calendar Synchronisation" not in page
    assert "all 2 staff users: 50 credits a month" in page
    assert client.get(BUY)["Location"] == INTEGRATIONS
    response = client.post(reverse("billing:activate"), follow=True)
    assert "CalendarSync is active for all staff" in text(response)
    assert Subscription.objects.get().scope == "tenant"
    assert "activated for all staff" in text(client.get(INTEGRATIONS))
    assert "for all its staff" in text(login(colleague).get(CALENDARSYNC))
    again = client.post(reverse("billing:activate"), follow=True)
    assert "active for this practice already" in text(again)


def test_activate_is_refused_for_a_per_practitioner_practice(admin_user: User) -> None:
    response = login(admin_user).post(reverse("billing:activate"), follow=True)
    assert "buys calendar synchronisation per practitioner" in text(response)
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("url_name", ["billing:buy", "billing:activate"])
def test_forms_need_the_csrf_token(url_name: str, admin_user: User, staff: User) -> None:
    client = HttpClient(enforce_csrf_checks=True)
    assert client.login(username=admin_user.email, password=PASSWORD)
    assert client.post(reverse(url_name), {"user": staff.pk}).status_code == 403
    assert not Subscription.objects.exists()


def test_cancel_needs_the_csrf_token(admin_user: User, staff: User, tenant: Tenant) -> None:
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user)
    client = HttpClient(enforce_csrf_checks=True)
    assert client.login(username=admin_user.email, password=PASSWORD)
    assert client.post(reverse("billing:cancel", args=[sub.pk])).status_code == 403
    sub.refresh_from_db()
    assert sub.state == "trial"


def test_pages_are_not_for_staff_or_other_tenants_admins(
    admin_user: User, staff: User, tenant: Tenant, other_tenant: Tenant
) -> None:
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin_user)
    other_admin = UserFactory(tenant=other_tenant, role=Role.ADMIN)
    assert login(staff).get(INTEGRATIONS).status_code == 403
    assert login(other_admin).get(reverse("billing:cancel", args=[sub.pk])).status_code == 404
    assert "Sam Staff" not in text(login(other_admin).get(INTEGRATIONS))


def test_buying_during_a_cancelled_paid_month_says_until_when(
    admin_user: User, staff: User, tenant: Tenant
) -> None:
    grant(tenant, 25)
    sub = subscription_purchase(
        tenant=tenant, user=staff, actor=admin_user, now=timezone.now() - timedelta(days=31)
    )
    renewals_run()
    client = login(admin_user)
    client.post(reverse("billing:cancel", args=[sub.pk]))
    grant(tenant, 25)  # enough for a month, so Sam is a choice and the service has its say
    response = client.post(BUY, {"user": staff.pk, "confirm": "1"})
    assert response.status_code == 200
    assert "Sam Staff's cancelled subscription is paid until" in text(response)
    assert Subscription.objects.count() == 1
