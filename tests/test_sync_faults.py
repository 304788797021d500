"""Back-off and reconnect through the real engine against the Google fake: a 429 with
Retry-After moves the next poll that far; a revoked grant turns the link to needs reconnect,
tells the user once (page and e-mail) and stops polling it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from calsync import scheduler
from calsync.models import CalendarLink, LinkState, SyncMessage
from calsync.tasks import sync_link
from tests.engine.helpers import link_google
from tests.factories import entitle
from tests.fakes.google import GoogleFake

pytestmark = pytest.mark.django_db


@pytest.fixture
def google_link(staff: User, google_fake: GoogleFake, settings) -> CalendarLink:  # type: ignore[no-untyped-def]
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    link, _ = link_google(entitle(staff), google_fake)
    return link


def test_a_429_with_retry_after_backs_off_that_long(
    google_link: CalendarLink, google_fake: GoogleFake
) -> None:
    google_fake.rate_limit(retry_after=900, times=None)
    before = timezone.now()
    assert sync_link.run(google_link.pk) == "failed"
    google_link.refresh_from_db()
    assert google_link.failure_count == 1 and google_link.state == LinkState.ACTIVE
    assert google_link.next_sync_at is not None
    assert google_link.next_sync_at >= before + timedelta(seconds=900)
    # Not claimed before then.
    assert scheduler.dispatch(now=before + timedelta(seconds=890)) == []


def test_a_5xx_backs_off_exponentially_and_success_resets(
    google_link: CalendarLink,
    google_fake: GoogleFake,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.CALSYNC_BACKOFF_BASE_SECONDS = 60
    google_fake.server_error(status=503, times=None)
    waits = []
    for _ in range(3):
        before = timezone.now()
        assert sync_link.run(google_link.pk) == "failed"
        google_link.refresh_from_db()
        assert google_link.next_sync_at is not None
        waits.append(round((google_link.next_sync_at - before).total_seconds() / 60))
    assert waits == [1, 2, 4]
    google_fake.faults.clear()
    assert sync_link.run(google_link.pk) == "ok"
    google_link.refresh_from_db()
    assert google_link.failure_count == 0 and google_link.last_error == ""


def test_a_revoked_grant_asks_for_reconnect_once_and_stops_polling(
    google_link: CalendarLink, google_fake: GoogleFake, staff: User
) -> None:
    google_fake.revoke_all(google_link.account)
    google_fake.expire_access_tokens(google_link.account)
    assert sync_link.run(google_link.pk) == "needs-reconnect"
    google_link.refresh_from_db()
    assert google_link.state == LinkState.NEEDS_RECONNECT
    assert SyncMessage.objects.filter(link=google_link, code="reconnect").count() == 1
    assert len(mail.outbox) == 1 and "reconnect" in mail.outbox[0].subject
    # Never claimed again, and a stray queued run returns quietly.
    assert scheduler.dispatch(now=timezone.now() + timedelta(days=1)) == []
    assert sync_link.run(google_link.pk) == "gone"
    assert len(mail.outbox) == 1
