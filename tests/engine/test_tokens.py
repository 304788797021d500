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
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
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
