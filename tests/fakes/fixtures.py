"""Pytest fixtures for the provider fakes.

Register them for the whole suite from ``tests/conftest.py`` with
``pytest_plugins = ["tests.fakes.fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import LOGIN_HOST, MicrosoftFake
from tests.fakes.stripe import StripeFake


@pytest.fixture
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib settings for plain-http local IdPs (PROTOCOLS.md §1.2, §5.3)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


@pytest.fixture
def google_fake(oauth_env: None) -> Iterator[GoogleFake]:
    """A started :class:`GoogleFake` on a free port, fresh for each test.

    The test fails if a request crashed a handler: a crash would otherwise pass for a Google 500.
    """
    fake = GoogleFake()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.crashes:
        pytest.fail("the Google fake crashed:\n" + "\n".join(fake.crashes), pytrace=False)


@pytest.fixture
def microsoft_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[MicrosoftFake]:
    """A started :class:`MicrosoftFake`, fresh for each test. msal's identity requests to
    ``https://login.microsoftonline.com`` reach it through the transport mounted on the session
    msal is given (PROTOCOLS.md §2.8); Graph is reached at ``fake.graph_endpoint``."""
    from connectors.microsoft import oauth

    fake = MicrosoftFake()
    fake.start()
    monkeypatch.setattr(
        oauth, "TRANSPORT_OVERRIDES", {f"https://{LOGIN_HOST}/": fake.identity_adapter()}
    )
    # msal caches the openid-configuration per process; each fake has its own address in it.
    monkeypatch.setattr(oauth, "HTTP_CACHE", {})
    try:
        yield fake
    finally:
        fake.stop()
    if fake.crashes:
        pytest.fail("the Microsoft fake crashed:\n" + "\n".join(fake.crashes), pytrace=False)


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    """A started :class:`StripeFake` with a webhook endpoint registered (at CalSync's webhook
    path on the Django test client's host: tests post the events themselves with
    ``fake.signed(event)``, or point ``fake.endpoint.url`` at a live server)."""
    fake = StripeFake()
    fake.start()
    fake.add_webhook_endpoint("http://testserver/billing/stripe/webhook/")
    try:
        yield fake
    finally:
        fake.stop()
    if fake.crashes:
        pytest.fail("the Stripe fake crashed:\n" + "\n".join(fake.crashes), pytrace=False)
