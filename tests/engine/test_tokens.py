"""Refreshed tokens are stored by the run that refreshed them, so the next run needs no refresh
and a rotated refresh token is never lost."""

from __future__ import annotations

import pytest

from accounts.models import User
from calsync.engine.run import run_link
from calsync.models import CalendarLink
from connectors import credentials
from tests.engine.helpers import link_google
from tests.fakes.google import GoogleFake

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def test_google_refresh_is_stored_and_not_repeated(
    staff: User,
    google_fake: GoogleFake,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.CALSYNC_GOOGLE_CLIENT_ID = google_fake.client_id
    settings.CALSYNC_GOOGLE_CLIENT_SECRET = google_fake.client_secret
    settings.CALSYNC_GOOGLE_TOKEN_URI = google_fake.token_uri
    settings.CALSYNC_GOOGLE_API_ENDPOINT = google_fake.api_endpoint
    link, _ = link_google(staff, google_fake)
    assert run_link(link.pk).status == "ok"
    before = credentials.decrypt(CalendarLink.objects.get(pk=link.pk).credentials)["token"]

    google_fake.expire_access_tokens(link.account)
    google_fake.clear_log()
    assert run_link(link.pk).status == "ok"
    assert len(google_fake.requests_to(method="POST", path="/token")) == 1  # refreshed once
    after = credentials.decrypt(CalendarLink.objects.get(pk=link.pk).credentials)["token"]
    assert after != before

    google_fake.clear_log()
    assert run_link(link.pk).status == "ok"
    assert google_fake.requests_to(method="POST", path="/token") == []  # the stored token works
    # A quiet poll is one provider request (QUALITY, performance).
    assert len(google_fake.requests) == 1
