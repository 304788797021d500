"""Production refuses to start when its settings point at the demo's stand-ins (issue 15
part 4): local or plain-http provider and payment addresses, or the development switches."""

from __future__ import annotations

import pytest

from tests.test_settings_and_deploy import PROD_ENV, load_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CALSYNC_GOOGLE_AUTH_URI", "http://127.0.0.1:8101/o/oauth2/auth"),
        ("CALSYNC_GOOGLE_TOKEN_URI", "https://localhost:8101/token"),
        ("CALSYNC_GOOGLE_API_ENDPOINT", "https://10.0.0.8/calendar/v3/"),
        ("CALSYNC_MICROSOFT_GRAPH_ENDPOINT", "http://127.0.0.1:8102/v1.0"),
        ("CALSYNC_MICROSOFT_AUTHORITY", "https://[::1]/common"),
        ("STRIPE_API_BASE", "http://127.0.0.1:8103"),
        ("CALSYNC_MICROSOFT_LOGIN_STANDIN", "http://127.0.0.1:8102"),
        ("CALSYNC_DEMO_STANDINS", "true"),
    ],
)
def test_production_refuses_the_demos_stand_ins(name: str, value: str) -> None:
    result = load_settings({**PROD_ENV, name: value}, "s.DEBUG")
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name} is " in result.stderr


def test_production_accepts_the_real_services() -> None:
    result = load_settings(
        {
            **PROD_ENV,
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
        },
        "s.STRIPE_API_BASE, s.CALSYNC_GOOGLE_AUTH_URI",
    )
    assert result.returncode == 0, result.stderr
    assert "https://api.stripe.com" in result.stdout


def test_a_stripe_key_without_the_webhook_secret_refuses_to_start() -> None:
    result = load_settings({**PROD_ENV, "STRIPE_SECRET_KEY": "sk_live_x"}, "s.DEBUG")
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not" in result.stderr
