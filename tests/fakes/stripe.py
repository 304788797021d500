"""A local stand-in for the part of Stripe that CalSync uses: Checkout Sessions in payment mode,
the hosted payment page, and signed webhook events.

It follows Stripe's documented API (https://docs.stripe.com/api/checkout/sessions) closely enough
for the real, unmodified ``stripe`` library to talk to it (``StripeClient(...,
base_addresses={"api": fake.url})``):

* ``POST /v1/checkout/sessions`` (form-encoded, nested ``a[b][0][c]`` keys, as the library
  sends them), ``GET /v1/checkout/sessions/{id}``, ``POST /v1/checkout/sessions/{id}/expire``;
  secret-key authentication (``Authorization: Bearer sk_...``, or HTTP Basic with the key as
  the user name); unknown parameters refused as Stripe does ("Received unknown parameter");
  ``Idempotency-Key``: the same key with the same parameters replays the first answer
  (``Idempotent-Replayed: true``), with other parameters it is a 400 ``idempotency_error``;
  errors in Stripe's shape ``{"error": {"type", "code", "message", "param"}}`` with a
  ``Request-Id`` header.
* The hosted payment page at ``session.url`` (``/c/pay/{id}``): the line items and total, an
  e-mail field, a card form and a *Pay* button (``#pay``), and a back link to ``cancel_url``
  (``#cancel``). Stripe's test cards decide the outcome (https://docs.stripe.com/testing):
  ``4242 4242 4242 4242`` pays; ``4000 0000 0000 0002`` is declined ("Your card was declined."),
  ``4000 0000 0000 9995`` is declined for insufficient funds, a number that fails the Luhn check
  is "Your card number is invalid."; a declined card leaves the session open, as Checkout does,
  so the customer can try another card. Paying redirects (303) to ``success_url`` with
  ``{CHECKOUT_SESSION_ID}`` replaced by the session's id.
* Events (https://docs.stripe.com/api/events/object): ``checkout.session.completed`` on payment,
  ``checkout.session.expired`` on expiry (API or ``expires_at`` passed), ``payment_intent.
  payment_failed`` on a declined card. Each is delivered to the webhook endpoint when it is one
  of ``enabled_events``, signed as Stripe documents
  (https://docs.stripe.com/webhooks#verify-manually): ``Stripe-Signature: t=<unix time>,v1=<hex
  HMAC-SHA256 of "<t>.<raw body>" with the endpoint secret>``. ``auto_deliver`` POSTs them at
  once (the demo); otherwise they wait in ``pending`` for ``deliver()`` / ``signed()`` (tests).
  A delivery that does not get a 2xx stays pending, as Stripe retries it.

Not reproduced: every other Stripe object and parameter (customers, prices by id, subscriptions,
tax, discounts, payment methods other than cards, 3-D Secure, embedded and custom UI modes),
live mode, Stripe's own retry schedule (``deliver_pending()`` stands in), API versions (one
shape), rate limits (use ``faults``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import requests

from tests.fakes.server import (
    FakeServer,
    HttpProblem,
    JsonBody,
    Request,
    Response,
    html_response,
    json_response,
)

API_VERSION = "2026-10-29.clover"
DEFAULT_EVENTS = (
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
)
SESSION_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "customer_email",
        "metadata",
        "expires_at",
        "payment_method_types",
        "locale",
        "submit_type",
        "expand",
    }
)
# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
CARD_OUTCOMES = {
    "4242424242424242": None,
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def stripe_error(
    status: int, message: str, *, type_: str = "invalid_request_error", **extra: str
) -> HttpProblem:
    body: dict[str, Any] = {"type": type_, "message": message, **extra}
    if "code" in extra:
        body["doc_url"] = f"https://docs.stripe.com/error-codes/{extra['code'].replace('_', '-')}"
    return HttpProblem(
        json_response(status, {"error": body}, {"Request-Id": f"req_{secrets.token_hex(7)}"})
    )


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: ``a[b][0][c]=v`` becomes ``{"a": {"b": [{"c": "v"}]}}``."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return result


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return len(digits) >= 12 and total % 10 == 0


def money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:.2f} {currency.upper()}"


@dataclass
class Delivery:
    event_id: str
    status: int | None  # None: the endpoint could not be reached
    time: float


@dataclass
class WebhookEndpoint:
    url: str
    secret: str
    enabled_events: tuple[str, ...] = DEFAULT_EVENTS


@dataclass
class StoredIdempotency:
    path: str
    params: dict[str, Any]
    response: Response


@dataclass
class StripeFakeState:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    idempotency: dict[str, StoredIdempotency] = field(default_factory=dict)
    declines: list[tuple[str, str]] = field(default_factory=list)  # (session id, decline code)


class StripeFake(FakeServer):
    """Stripe Checkout (sessions, hosted payment page) and signed webhooks on a local port."""

    def __init__(self, host: str = "127.0.0.1", *, auto_deliver: bool = False) -> None:
        super().__init__(host)
        self.secret_key = f"sk_test_{secrets.token_hex(12)}"
        self.endpoint: WebhookEndpoint | None = None
        self.auto_deliver = auto_deliver
        self.state = StripeFakeState()
        self._deliver_lock = threading.Lock()
        self.add_route("POST", r"/v1/checkout/sessions", self._create)
        self.add_route("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._retrieve)
        self.add_route("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire", self._expire)
        self.add_route("GET", r"/c/pay/(?P<id>[^/]+)", self._page)
        self.add_route("POST", r"/c/pay/(?P<id>[^/]+)", self._pay)

    # -- configuration -----------------------------------------------------------------------------

    def add_webhook_endpoint(
        self, url: str, enabled_events: Iterable[str] = DEFAULT_EVENTS
    ) -> WebhookEndpoint:
        """Register the endpoint events go to (Stripe's dashboard or ``/v1/webhook_endpoints``);
        its signing secret is ``whsec_...``."""
        self.endpoint = WebhookEndpoint(
            url=url, secret=f"whsec_{secrets.token_hex(16)}", enabled_events=tuple(enabled_events)
        )
        return self.endpoint

    @property
    def webhook_secret(self) -> str:
        if self.endpoint is None:
            raise RuntimeError("no webhook endpoint: call add_webhook_endpoint(url) first")
        return self.endpoint.secret

    def django_settings(self) -> dict[str, str]:
        """The ``STRIPE_*`` settings that point CalSync's Stripe code at this fake."""
        return {
            "STRIPE_SECRET_KEY": self.secret_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": self.url,
        }

    def error_body(self, status: int) -> JsonBody:
        return {"error": {"type": "api_error", "message": "An unknown error occurred."}}

    def not_found(self, request: Request) -> Response:
        raise stripe_error(404, f"Unrecognized request URL ({request.method}: {request.path}).")

    # -- requests ----------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization") or ""
        key = ""
        if header.startswith("Bearer "):
            key = header[len("Bearer ") :]
        elif header.startswith("Basic "):
            import base64

            key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
        if not key:
            raise stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if not hmac.compare_digest(key, self.secret_key):
            raise stripe_error(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")

    def _idempotent(self, request: Request, params: dict[str, Any]) -> Response | None:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return None
        stored = self.state.idempotency.get(key)
        if stored is None:
            return None
        if stored.path != request.path or stored.params != params:
            raise stripe_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                "were first used with. Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                type_="idempotency_error",
            )
        replay = Response(
            stored.response.status, stored.response.body, dict(stored.response.headers)
        )
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    def _remember(self, request: Request, params: dict[str, Any], response: Response) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key:
            self.state.idempotency[key] = StoredIdempotency(request.path, params, response)
        response.headers.setdefault("Request-Id", f"req_{secrets.token_hex(7)}")
        response.headers["Stripe-Version"] = API_VERSION
        return response

    def _create(self, request: Request, match: re.Match[str]) -> Response:
        self._authenticate(request)
        params = parse_form(request.body)
        replay = self._idempotent(request, params)
        if replay is not None:
            return replay
        for name in params:
            if name not in SESSION_PARAMS:
                raise stripe_error(400, f"Received unknown parameter: {name}", param=name)
        mode = params.get("mode")
        if mode is None:
            raise stripe_error(
                400, "Missing required param: mode.", code="parameter_missing", param="mode"
            )
        if mode != "payment":
            raise stripe_error(
                400, f"This stand-in only supports mode=payment, not {mode!r}.", param="mode"
            )
        success_url = params.get("success_url")
        if not success_url:
            raise stripe_error(
                400,
                "You must provide a success_url.",
                code="parameter_missing",
                param="success_url",
            )
        for name in ("success_url", "cancel_url"):
            value = params.get(name)
            if value is not None and not re.match(r"https?://", value):
                raise stripe_error(400, "Not a valid URL", code="url_invalid", param=name)
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise stripe_error(
                400,
                "You must provide at least one line item for payment mode.",
                code="parameter_missing",
                param="line_items",
            )
        line_items, currency, total = self._line_items(items)
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 50:
            raise stripe_error(400, "Invalid metadata: at most 50 keys.", param="metadata")
        for key, value in metadata.items():
            if len(key) > 40 or len(str(value)) > 500:
                raise stripe_error(
                    400,
                    "Metadata keys may be up to 40 characters and values up to 500.",
                    param=f"metadata[{key}]",
                )
        reference = params.get("client_reference_id")
        if reference is not None and len(reference) > 200:
            raise stripe_error(
                400,
                "Invalid client_reference_id: at most 200 characters.",
                param="client_reference_id",
            )
        created = int(self.now.timestamp())
        expires_at = created + 24 * 3600
        if "expires_at" in params:
            expires_at = self._int(params["expires_at"], "expires_at")
            if not created + 30 * 60 <= expires_at <= created + 24 * 3600:
                raise stripe_error(
                    400,
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                    "Checkout Session creation.",
                    param="expires_at",
                )
        session_id = f"cs_test_{secrets.token_urlsafe(45).replace('-', 'a').replace('_', 'b')}"
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "created": created,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "metadata": dict(metadata),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.url}/c/pay/{session_id}",
            "_line_items": line_items,
        }
        self.state.sessions[session_id] = session
        return self._remember(request, params, json_response(200, self._public(session)))

    @staticmethod
    def _int(value: Any, param: str) -> int:
        try:
            return int(str(value))
        except ValueError:
            raise stripe_error(400, f"Invalid integer: {value}", param=param) from None

    def _line_items(self, items: list[Any]) -> tuple[list[dict[str, Any]], str, int]:
        result: list[dict[str, Any]] = []
        currencies: set[str] = set()
        total = 0
        for index, item in enumerate(items):
            where = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise stripe_error(400, "Invalid object", param=where)
            if "price" in item:
                raise stripe_error(
                    400,
                    f"No such price: '{item['price']}'",
                    code="resource_missing",
                    param=f"{where}[price]",
                )
            data = item.get("price_data")
            if not isinstance(data, dict):
                raise stripe_error(
                    400,
                    "You must specify either `price` or `price_data` in each line item.",
                    param=where,
                )
            currency = str(data.get("currency", "")).lower()
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise stripe_error(400, "Invalid currency", param=f"{where}[price_data][currency]")
            amount = self._int(data.get("unit_amount"), f"{where}[price_data][unit_amount]")
            if amount < 0:
                raise stripe_error(
                    400, "Invalid unit_amount", param=f"{where}[price_data][unit_amount]"
                )
            product = data.get("product_data")
            if not isinstance(product, dict) or not product.get("name"):
                raise stripe_error(
                    400,
                    "Missing required param: line_items[0][price_data][product_data][name].",
                    code="parameter_missing",
                    param=f"{where}[price_data][product_data][name]",
                )
            quantity = self._int(item.get("quantity", "1"), f"{where}[quantity]")
            if quantity < 1:
                raise stripe_error(400, "Invalid quantity", param=f"{where}[quantity]")
            currencies.add(currency)
            total += amount * quantity
            result.append({"name": product["name"], "unit_amount": amount, "quantity": quantity})
        if len(currencies) != 1:
            raise stripe_error(
                400, "All line items must use the same currency.", param="line_items"
            )
        return result, currencies.pop(), total

    @staticmethod
    def _public(session: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.state.sessions.get(session_id)
        if session is None:
            raise stripe_error(
                404,
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
                param="session",
            )
        self._expire_if_due(session)
        return session

    def _expire_if_due(self, session: dict[str, Any]) -> None:
        if session["status"] == "open" and self.now.timestamp() >= session["expires_at"]:
            self._mark_expired(session)

    def _mark_expired(self, session: dict[str, Any]) -> None:
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", self._public(session))

    def _retrieve(self, request: Request, match: re.Match[str]) -> Response:
        self._authenticate(request)
        return self._remember(
            request, {}, json_response(200, self._public(self._session(match["id"])))
        )

    def _expire(self, request: Request, match: re.Match[str]) -> Response:
        self._authenticate(request)
        params = parse_form(request.body)
        replay = self._idempotent(request, params)
        if replay is not None:
            return replay
        session = self._session(match["id"])
        if session["status"] != "open":
            raise stripe_error(
                400, "Only Checkout Sessions with a status of 'open' can be expired."
            )
        self._mark_expired(session)
        return self._remember(request, params, json_response(200, self._public(session)))

    # -- the hosted payment page -------------------------------------------------------------------

    def _page(self, request: Request, match: re.Match[str], error: str = "") -> Response:
        session = self.state.sessions.get(match["id"])
        if session is None:
            return html_response(
                404,
                self._html(
                    "Something went wrong",
                    "<p>The page you were looking for could not be found.</p>",
                ),
            )
        self._expire_if_due(session)
        if session["status"] == "expired":
            return html_response(
                200,
                self._html(
                    "This Checkout Session is no longer active",
                    "<p id='expired'>This Checkout Session is no longer active.</p>",
                ),
            )
        if session["status"] == "complete":
            target = html.escape(self._success_url(session))
            return html_response(
                200,
                self._html(
                    "Payment complete",
                    "<p id='paid'>This payment is complete.</p>"
                    f"<p><a href='{target}'>Return</a></p>",
                ),
            )
        rows = "".join(
            f"<tr><td>{html.escape(item['name'])}</td><td>× {item['quantity']}</td>"
            f"<td>{money(item['unit_amount'] * item['quantity'], session['currency'])}</td></tr>"
            for item in session["_line_items"]
        )
        email = html.escape(session.get("customer_email") or "")
        cancel = session.get("cancel_url")
        back = f'<p><a id="cancel" href="{html.escape(cancel)}">← Back</a></p>' if cancel else ""
        problem = (
            f"<p id='card-error' role='alert' class='error'>{html.escape(error)}</p>"
            if error
            else ""
        )
        total = money(session["amount_total"], session["currency"])
        action = f"/c/pay/{html.escape(session['id'])}"
        body = "\n".join(
            [
                '<p class="standin">Local stand-in for Stripe Checkout: no money moves. Test '
                "cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.</p>",
                f'<table>{rows}<tr><th colspan="2">Total due</th>'
                f'<th id="total">{total}</th></tr></table>',
                f'<form method="post" action="{action}">',
                problem,
                f'<label>Email <input type="email" name="email" value="{email}" required></label>',
                '<label>Card number <input name="cardnumber" inputmode="numeric" '
                'value="4242 4242 4242 4242" autocomplete="cc-number"></label>',
                '<label>Expiry (MM / YY) <input name="exp" value="12 / 34" '
                'autocomplete="cc-exp"></label>',
                '<label>CVC <input name="cvc" value="123" autocomplete="cc-csc"></label>',
                '<label>Cardholder name <input name="name" value="" autocomplete="cc-name">'
                "</label>",
                '<button type="submit" id="pay">Pay</button>',
                "</form>",
                back,
            ]
        )
        return html_response(200, self._html("Pay with card", body))

    @staticmethod
    def _html(title: str, body: str) -> str:
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)} · Stripe (local stand-in)</title>"
            "<style>body{font:15px system-ui;max-width:32rem;margin:2rem auto;padding:0 1rem}"
            "label{display:block;margin:.5rem 0}input{display:block;width:100%;padding:.4rem}"
            "button{margin-top:1rem;padding:.6rem 1.4rem;background:#635bff;color:#fff;border:0;"
            "border-radius:6px;font:inherit}.error{color:#b00020}.standin{background:#fff5d6;"
            "padding:.5rem}table{width:100%}td,th{text-align:left;padding:.2rem}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
        )

    @staticmethod
    def _success_url(session: Mapping[str, Any]) -> str:
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", str(session["id"]))

    def _pay(self, request: Request, match: re.Match[str]) -> Response:
        session = self.state.sessions.get(match["id"])
        if session is None or session["status"] != "open":
            return self._page(request, match)
        self._expire_if_due(session)
        if session["status"] != "open":
            return self._page(request, match)
        form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        number = re.sub(r"[\s-]", "", form.get("cardnumber", ""))
        email = form.get("email", "").strip() or session.get("customer_email") or ""
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            return self._page(request, match, error="Your email address is incomplete.")
        if not number.isdigit() or not luhn_ok(number):
            return self._page(request, match, error="Your card number is invalid.")
        outcome = CARD_OUTCOMES.get(number)
        intent = session["payment_intent"] or _id("pi")
        session["payment_intent"] = intent
        if outcome is not None:
            code, decline_code, message = outcome
            self.state.declines.append((session["id"], decline_code))
            self._emit(
                "payment_intent.payment_failed",
                {
                    "id": intent,
                    "object": "payment_intent",
                    "amount": session["amount_total"],
                    "currency": session["currency"],
                    "status": "requires_payment_method",
                    "last_payment_error": {
                        "type": "card_error",
                        "code": code,
                        "decline_code": decline_code,
                        "message": message,
                    },
                },
            )
            return self._page(request, match, error=message)
        session["status"] = "complete"
        session["payment_status"] = "paid"
        session["url"] = None
        session["customer_details"] = {
            "email": email,
            "name": form.get("name") or None,
            "address": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        self._emit("checkout.session.completed", self._public(session))
        return Response(303, b"", {"Location": self._success_url(session)})

    # -- events ------------------------------------------------------------------------------------

    def _emit(self, event_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(self.now.timestamp()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.state.events.append(event)
        endpoint = self.endpoint
        if endpoint is not None and event_type in endpoint.enabled_events:
            self.state.pending.append(event)
            if self.auto_deliver:
                # After this request's answer, as Stripe sends events asynchronously.
                threading.Thread(target=self.deliver_pending, daemon=True).start()
        return event

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.state.events if e["type"] == event_type]

    def sign(self, payload: bytes, timestamp: int | None = None, secret: str | None = None) -> str:
        """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
        t = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secret).encode("utf-8")
        digest = hmac.new(key, f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={t},v1={digest}"

    def signed(self, event: Mapping[str, Any], timestamp: int | None = None) -> tuple[bytes, str]:
        """``(body, Stripe-Signature)`` of ``event`` as Stripe would POST it."""
        body = json.dumps(event, indent=2).encode("utf-8")
        return body, self.sign(body, timestamp)

    def deliver(self, event: Mapping[str, Any], timeout: float = 10) -> int | None:
        """POST ``event`` to the endpoint now; its HTTP status, or None when unreachable. A
        2xx takes it off ``pending``."""
        endpoint = self.endpoint
        if endpoint is None:
            raise RuntimeError("no webhook endpoint")
        body, signature = self.signed(event)
        status: int | None
        try:
            answer = requests.post(
                endpoint.url,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature,
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
                timeout=timeout,
                allow_redirects=False,
            )
            status = answer.status_code
        except requests.RequestException:
            status = None
        with self.lock:
            self.state.deliveries.append(Delivery(str(event["id"]), status, time.time()))
            if status is not None and 200 <= status < 300:
                self.state.pending = [e for e in self.state.pending if e["id"] != event["id"]]
        return status

    def deliver_pending(self) -> list[int | None]:
        """Deliver every pending event once (Stripe's retries, on demand)."""
        with self._deliver_lock:
            with self.lock:
                pending = list(self.state.pending)
            return [self.deliver(event) for event in pending]

    # -- a browser without a browser ---------------------------------------------------------------

    def pay(
        self, session_url: str, card: str = "4242 4242 4242 4242", email: str = ""
    ) -> requests.Response:
        """Open the hosted page and press *Pay* over real HTTP; the answer is not followed."""
        page = requests.get(session_url, timeout=10)
        assert page.status_code == 200, page.text[:300]
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None, "no payment form on the page"
        prefilled = re.search(r'name="email" value="([^"]*)"', page.text)
        return requests.post(
            self.url + html.unescape(action.group(1)),
            data={
                "email": email
                or html.unescape(prefilled.group(1) if prefilled else "")
                or "payer@example.test",
                "cardnumber": card,
                "exp": "12 / 34",
                "cvc": "123",
                "name": "Test Payer",
            },
            allow_redirects=False,
            timeout=10,
        )

    def advance_past_expiry(self, session_id: str) -> None:
        session = self.state.sessions[session_id]
        self.advance(timedelta(seconds=session["expires_at"] - self.now.timestamp() + 1))
