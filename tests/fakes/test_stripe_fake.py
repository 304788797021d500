"""Self-tests of the Stripe stand-in, driven only through the real ``stripe`` library and
requests (no CalSync code): it must answer as Stripe documents."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import stripe

from tests.fakes.stripe import StripeFake, parse_form


def client(fake: StripeFake, key: str | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or fake.secret_key, base_addresses={"api": fake.url}, max_network_retries=0
    )


PARAMS: dict[str, Any] = {
    "mode": "payment",
    "line_items": [
        {
            "price_data": {
                "currency": "eur",
                "unit_amount": 2500,
                "product_data": {"name": "100 credits"},
            },
            "quantity": 1,
        }
    ],
    "success_url": "http://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
    "cancel_url": "http://shop.example/back",
    "client_reference_id": "tenant-7",
    "metadata": {"tenant": "7"},
}


def test_nested_form_parameters_parse_as_stripe_encodes_them() -> None:
    body = b"a[b][0][c]=1&a[b][0][d]=2&a[b][1][c]=3&x=y&m[k]=v"
    assert parse_form(body) == {
        "a": {"b": [{"c": "1", "d": "2"}, {"c": "3"}]},
        "x": "y",
        "m": {"k": "v"},
    }


def test_a_session_through_the_library_and_a_payment(stripe_fake: StripeFake) -> None:
    session = client(stripe_fake).v1.checkout.sessions.create(params=PARAMS)
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.amount_total) == (
        "open",
        "unpaid",
        2500,
    )
    assert session.url and session.url.startswith(stripe_fake.url + "/c/pay/")
    # The library sent an idempotency key with the POST (stripe-python does for every POST).
    create = stripe_fake.requests_to("POST", "/v1/checkout/sessions")[0]
    assert create.headers.get("Idempotency-Key")
    page = requests.get(session.url, timeout=10).text
    assert "EUR" in page and "25.00" in page and 'id="pay"' in page and 'id="cancel"' in page
    answer = stripe_fake.pay(session.url, email="buyer@example.test")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"http://shop.example/ok?session_id={session.id}"
    paid = client(stripe_fake).v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.payment_intent and paid.payment_intent.startswith("pi_")
    assert paid.url is None
    (event,) = stripe_fake.events_of("checkout.session.completed")
    assert event["data"]["object"]["id"] == session.id and event["object"] == "event"
    assert stripe_fake.state.pending == [event]


def test_webhook_signatures_verify_with_the_library(stripe_fake: StripeFake) -> None:
    session = client(stripe_fake).v1.checkout.sessions.create(params=PARAMS)
    stripe_fake.pay(str(session.url))
    body, header = stripe_fake.signed(stripe_fake.state.pending[0])
    assert header.startswith("t=") and ",v1=" in header
    event = stripe.Webhook.construct_event(body, header, stripe_fake.webhook_secret)
    assert event.type == "checkout.session.completed"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body + b" ", header, stripe_fake.webhook_secret)
    old = stripe_fake.sign(body, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, old, stripe_fake.webhook_secret, tolerance=300)


def test_declined_cards_keep_the_session_open(stripe_fake: StripeFake) -> None:
    session = client(stripe_fake).v1.checkout.sessions.create(params=PARAMS)
    declined = stripe_fake.pay(str(session.url), card="4000 0000 0000 0002")
    assert declined.status_code == 200 and "Your card was declined." in declined.text
    broke = stripe_fake.pay(str(session.url), card="4000 0000 0000 9995")
    assert "insufficient funds" in broke.text
    typo = stripe_fake.pay(str(session.url), card="4242 4242 4242 4241")
    assert "Your card number is invalid." in typo.text
    again = client(stripe_fake).v1.checkout.sessions.retrieve(session.id)
    assert (again.status, again.payment_status) == ("open", "unpaid")
    assert not stripe_fake.events_of("checkout.session.completed")
    assert len(stripe_fake.events_of("payment_intent.payment_failed")) == 2
    # payment_intent events are not among the endpoint's enabled events: nothing to deliver.
    assert stripe_fake.state.pending == []
    assert stripe_fake.pay(str(session.url)).status_code == 303  # another card then pays


def test_expire_and_expiry(stripe_fake: StripeFake) -> None:
    api = client(stripe_fake)
    session = api.v1.checkout.sessions.create(params=PARAMS)
    expired = api.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError, match="status of 'open'"):
        api.v1.checkout.sessions.expire(session.id)
    page = requests.get(str(session.url), timeout=10).text
    assert "no longer active" in page and 'id="pay"' not in page
    later = api.v1.checkout.sessions.create(params=PARAMS)
    stripe_fake.advance_past_expiry(later.id)
    assert api.v1.checkout.sessions.retrieve(later.id).status == "expired"
    assert len(stripe_fake.events_of("checkout.session.expired")) == 2


def test_errors_in_stripes_shape(stripe_fake: StripeFake) -> None:
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key"):
        client(stripe_fake, key="sk_test_wrong").v1.checkout.sessions.create(params=PARAMS)
    api = client(stripe_fake)
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour"):
        api.v1.checkout.sessions.create(params={**PARAMS, "colour": "red"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.InvalidRequestError, match=r"No such checkout\.session"):
        api.v1.checkout.sessions.retrieve("cs_test_nope")
    with pytest.raises(stripe.InvalidRequestError, match="success_url"):
        api.v1.checkout.sessions.create(
            params={k: v for k, v in PARAMS.items() if k != "success_url"}
        )  # type: ignore[arg-type]
    raw = requests.post(f"{stripe_fake.url}/v1/checkout/sessions", timeout=10)
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "invalid_request_error"
    assert raw.headers["Request-Id"].startswith("req_")


def test_idempotency_keys_replay_or_refuse(stripe_fake: StripeFake) -> None:
    api = client(stripe_fake)
    first = api.v1.checkout.sessions.create(params=PARAMS, options={"idempotency_key": "k1"})
    second = api.v1.checkout.sessions.create(params=PARAMS, options={"idempotency_key": "k1"})
    assert first.id == second.id and len(stripe_fake.state.sessions) == 1
    with pytest.raises(stripe.IdempotencyError):
        api.v1.checkout.sessions.create(
            params={**PARAMS, "client_reference_id": "other"}, options={"idempotency_key": "k1"}
        )


def test_delivery_posts_signed_events_and_keeps_failures_pending(stripe_fake: StripeFake) -> None:
    received: list[tuple[bytes, str]] = []
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endpoint(BaseHTTPRequestHandler):
        status = 500

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(Endpoint.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stripe_fake.endpoint = stripe_fake.add_webhook_endpoint(
            f"http://127.0.0.1:{server.server_address[1]}/hook"
        )
        session = client(stripe_fake).v1.checkout.sessions.create(params=PARAMS)
        stripe_fake.pay(str(session.url))
        assert stripe_fake.deliver_pending() == [500]
        assert len(stripe_fake.state.pending) == 1  # Stripe retries a failed delivery
        Endpoint.status = 200
        assert stripe_fake.deliver_pending() == [200]
        assert stripe_fake.state.pending == []
        body, header = received[-1]
        event = stripe.Webhook.construct_event(body, header, stripe_fake.webhook_secret)
        assert json.loads(body)["id"] == event.id
    finally:
        server.shutdown()
        server.server_close()
