"""Administrators buy credit packs by card through Stripe Checkout, against the Stripe stand-in
(issue 15 part 3, feature 41): the credits come once, from the verified webhook only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.db import connection
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuditEntry, User
from billing.checkout import checkout_completed, format_money
from billing.models import CreditPurchase, LedgerEntry, PurchaseState
from billing.selectors import balance_of
from tests.conftest import login
from tests.factories import UserFactory
from tests.fakes.stripe import StripeFake

pytestmark = pytest.mark.django_db
PACKS = "100=2500,250=5500"


@pytest.fixture
def stripe_on(stripe_fake: StripeFake) -> Iterator[StripeFake]:
    with override_settings(**stripe_fake.django_settings(), BILLING_CREDIT_PACKS=PACKS):
        yield stripe_fake


def buy(client: HttpClient, credits: int = 100) -> str:
    response = client.post(reverse("billing:credits_buy"), {"pack": str(credits)})
    assert response.status_code == 303, response.content
    return str(response["Location"])


def post_event(client: HttpClient, fake: StripeFake, event: dict[str, Any], **kw: Any) -> Any:
    body, signature = fake.signed(event, **kw)
    return client.post(
        reverse("stripe_webhook"),
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )


def completed_event(fake: StripeFake) -> dict[str, Any]:
    (event,) = [e for e in fake.state.pending if e["type"] == "checkout.session.completed"]
    return event


def test_buy_pay_come_back_and_the_webhook_grants_once(
    admin_user: User, stripe_on: StripeFake
) -> None:
    admin = login(admin_user)
    page = admin.get(reverse("billing:credits")).content.decode()
    assert "100 credits" in page and "EUR 25.00" in page and "EUR 55.00" in page
    url = buy(admin)
    assert url.startswith(stripe_on.url + "/c/pay/cs_test_")
    purchase = CreditPurchase.objects.get()
    assert (purchase.state, purchase.credits, purchase.amount, purchase.currency) == (
        PurchaseState.OPEN,
        100,
        2500,
        "eur",
    )
    session = stripe_on.state.sessions[purchase.session_id]
    assert session["customer_email"] == admin_user.email
    assert session["client_reference_id"] == f"tenant-{admin_user.tenant_id}"
    assert session["success_url"].endswith("/credits/return/?session_id={CHECKOUT_SESSION_ID}")
    # Pay on the hosted page; Stripe sends the buyer back.
    answer = stripe_on.pay(url)
    back = answer.headers["Location"]
    assert (
        back
        == f"http://testserver/settings/integrations/credits/return/?session_id={purchase.session_id}"
    )
    # Before the webhook: no credits yet, and the page says they are on their way.
    page = admin.get(back, follow=True).content.decode()
    assert "is being confirmed by Stripe" in page
    assert balance_of(admin_user.tenant) == 0
    # The verified webhook grants them.
    webhook = HttpClient()
    event = completed_event(stripe_on)
    response = post_event(webhook, stripe_on, event)
    assert response.status_code == 200, response.content
    assert balance_of(admin_user.tenant) == 100
    purchase.refresh_from_db()
    assert purchase.state == PurchaseState.PAID and purchase.event_id == event["id"]
    assert purchase.payment_intent.startswith("pi_") and purchase.ledger_entry is not None
    assert purchase.ledger_entry.key == f"grant:stripe-checkout:{purchase.session_id}"
    # Replays (the same event, or Stripe redelivering it) grant nothing more.
    for _ in range(3):
        assert post_event(webhook, stripe_on, event).status_code == 200
    assert balance_of(admin_user.tenant) == 100
    assert LedgerEntry.objects.filter(tenant=admin_user.tenant).count() == 1
    # The Credits page lists the receipt.
    page = admin.get(back, follow=True).content.decode()
    assert "100 credits were added" in page
    assert purchase.payment_intent in page and format_money(2500, "eur") in page
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "billing.checkout" in actions and "billing.card_paid" in actions


def test_bad_signatures_and_old_deliveries_are_refused(
    admin_user: User, stripe_on: StripeFake
) -> None:
    stripe_on.pay(buy(login(admin_user)))
    event = completed_event(stripe_on)
    body, signature = stripe_on.signed(event)
    webhook = HttpClient()

    def post(data: bytes, header: str | None) -> int:
        headers = {"Stripe-Signature": header} if header is not None else {}
        return int(
            webhook.post(
                reverse("stripe_webhook"),
                data=data,
                content_type="application/json",
                headers=headers,
            ).status_code
        )

    assert post(body, None) == 400
    assert post(body, "t=1,v1=00") == 400
    assert post(body, stripe_on.sign(body, secret="whsec_not_ours")) == 400
    tampered = body.replace(b'"amount_total": 2500', b'"amount_total": 1')
    assert tampered != body and post(tampered, signature) == 400
    assert post(b"not json", stripe_on.sign(b"not json")) == 400
    # Signed six minutes ago: outside the replay window (5 minutes).
    assert post(body, stripe_on.sign(body, timestamp=int(time.time()) - 360)) == 400
    assert balance_of(admin_user.tenant) == 0
    assert post(body, signature) == 200
    assert balance_of(admin_user.tenant) == 100


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_grant_once(admin_user: User, stripe_on: StripeFake) -> None:
    stripe_on.pay(buy(login(admin_user)))
    event = completed_event(stripe_on)
    session = event["data"]["object"]
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def deliver() -> None:
        barrier.wait()
        try:
            outcomes.append(checkout_completed(event_id=event["id"], session=session))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(o.split(" ", 1)[1] for o in outcomes) == ["granted 100"] + ["granted already"] * 5
    assert balance_of(admin_user.tenant) == 100
    assert LedgerEntry.objects.filter(tenant=admin_user.tenant).count() == 1


def test_a_declined_card_grants_nothing_and_the_back_link_cancels(
    admin_user: User, stripe_on: StripeFake
) -> None:
    admin = login(admin_user)
    url = buy(admin, 250)
    declined = stripe_on.pay(url, card="4000 0000 0000 0002")
    assert "Your card was declined." in declined.text
    assert not [e for e in stripe_on.state.pending if e["type"] == "checkout.session.completed"]
    purchase = CreditPurchase.objects.get()
    session = stripe_on.state.sessions[purchase.session_id]
    # The buyer gives up: the page's back link.
    page = admin.get(
        session["cancel_url"].replace("{CHECKOUT_SESSION_ID}", purchase.session_id), follow=True
    )
    assert "The payment was cancelled; nothing was charged." in page.content.decode()
    purchase.refresh_from_db()
    assert purchase.state == PurchaseState.CANCELLED
    assert session["status"] == "expired"  # it can no longer be paid at Stripe
    # The expiry event Stripe sends changes nothing more.
    expired = [e for e in stripe_on.state.pending if e["type"] == "checkout.session.expired"]
    assert len(expired) == 1
    assert post_event(HttpClient(), stripe_on, expired[0]).status_code == 200
    purchase.refresh_from_db()
    assert purchase.state == PurchaseState.CANCELLED and balance_of(admin_user.tenant) == 0


def test_an_expired_checkout_is_closed_by_its_webhook(
    admin_user: User, stripe_on: StripeFake
) -> None:
    buy(login(admin_user))
    purchase = CreditPurchase.objects.get()
    stripe_on.advance_past_expiry(purchase.session_id)
    assert (
        "no longer active"
        in requests.get(f"{stripe_on.url}/c/pay/{purchase.session_id}", timeout=10).text
    )
    (event,) = [e for e in stripe_on.state.pending if e["type"] == "checkout.session.expired"]
    assert post_event(HttpClient(), stripe_on, event).status_code == 200
    purchase.refresh_from_db()
    assert purchase.state == PurchaseState.EXPIRED


def test_a_paid_amount_that_differs_grants_nothing(admin_user: User, stripe_on: StripeFake) -> None:
    stripe_on.pay(buy(login(admin_user)))
    event = json.loads(json.dumps(completed_event(stripe_on)))
    event["data"]["object"]["amount_total"] = 1  # signed by Stripe, but not what we asked
    assert post_event(HttpClient(), stripe_on, event).status_code == 200
    assert balance_of(admin_user.tenant) == 0


def test_an_unknown_pack_and_an_unreachable_stripe_charge_nothing(
    admin_user: User, stripe_on: StripeFake
) -> None:
    admin = login(admin_user)
    page = admin.post(reverse("billing:credits_buy"), {"pack": "99999"}, follow=True)
    assert "Choose one of the packs on offer" in page.content.decode()
    page = admin.post(reverse("billing:credits_buy"), {"pack": "x" * 50}, follow=True)
    assert "Choose one of the packs on offer" in page.content.decode()
    stripe_on.faults.add(status=500, method="POST", path="/v1/checkout/sessions", times=None)
    page = admin.post(reverse("billing:credits_buy"), {"pack": "100"}, follow=True)
    assert "could not be reached, so nothing was charged" in page.content.decode()
    assert not CreditPurchase.objects.exists()


def test_another_practices_checkout_is_not_found(
    admin_user: User, outsider: User, stripe_on: StripeFake
) -> None:
    their_admin = UserFactory(tenant=outsider.tenant, role="admin")
    buy(login(their_admin))
    theirs = CreditPurchase.objects.get()
    admin = login(admin_user)
    for name in ("billing:credits_return", "billing:credits_cancelled"):
        response = admin.get(reverse(name) + f"?session_id={theirs.session_id}")
        assert response.status_code == 404
    assert admin.get(reverse("billing:credits_return") + "?session_id=").status_code == 404
    assert (
        admin.get(reverse("billing:credits_return") + "?session_id=" + "x" * 300).status_code == 404
    )
    theirs.refresh_from_db()
    assert theirs.state == PurchaseState.OPEN


def test_without_stripe_the_page_says_who_adds_credits(admin_user: User) -> None:
    page = login(admin_user).get(reverse("billing:credits")).content.decode()
    assert "not set up on this installation" in page and "Buy 100 credits" not in page
    response = HttpClient().post(
        reverse("stripe_webhook"), data=b"{}", content_type="application/json"
    )
    assert response.status_code == 400
