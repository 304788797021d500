"""Push in tests: the providers' fakes deliver their notifications (and Graph its validation
handshake) into this process's Django through the test client, as if over the network to
``CALSYNC_PUBLIC_URL``; end-to-end tests use a live server and real HTTP instead."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from calsync.models import ChannelState, PushChannel

PUBLIC_URL = "https://calsync.test"


class DjangoTransport:
    """A fake's courier transport that POSTs into Django's test client."""

    def __init__(self, base: str = PUBLIC_URL) -> None:
        self.base = base
        self.client = Client()

    def __call__(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        if not url.startswith(self.base):
            return 0, {}, b""  # nothing listens there
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = self.client.post(
            path,
            data=body,
            content_type=headers.get("Content-Type", "application/octet-stream"),
            headers=extra,
        )
        return response.status_code, dict(response.headers), response.content


@pytest.fixture
def push_on(settings: Any, google_fake: Any, microsoft_fake: Any) -> Iterator[None]:
    """Push switched on (``CALSYNC_PUBLIC_URL``), both fakes pointed at this process, and the
    Google and Microsoft settings pointing at the fakes."""
    settings.CALSYNC_PUBLIC_URL = PUBLIC_URL
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    settings.CALSYNC_MICROSOFT_CLIENT_ID = microsoft_fake.client_id
    settings.CALSYNC_MICROSOFT_CLIENT_SECRET = microsoft_fake.client_secret
    settings.CALSYNC_MICROSOFT_AUTHORITY = microsoft_fake.authority
    settings.CALSYNC_MICROSOFT_GRAPH_ENDPOINT = microsoft_fake.graph_endpoint
    google_fake.courier.transport = DjangoTransport()
    microsoft_fake.courier.transport = DjangoTransport()
    yield


def current(link: Any) -> PushChannel:
    """The link's one active channel."""
    return PushChannel.objects.get(link=link, state=ChannelState.ACTIVE)
