"""The quota governor in sync runs (issue 17 §4), on the Google and Graph fakes and the real
Redis: a link over its budget is rescheduled, not failed; a first sync runs at the quota's pace
with its progress written; a big first sync cannot take the tokens other practices' polls
need."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from calsync import scheduler
from calsync.engine.run import run_link
from calsync.models import EventMapping, RunStatus, SyncMessage, SyncRun
from connectors import quota
from tests.engine.helpers import link_google, link_microsoft
from tests.factories import UserFactory, entitle, make_meeting
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


@pytest.fixture
def google(google_fake: GoogleFake) -> Iterator[GoogleFake]:
    with override_settings(**google_fake.django_settings()):
        yield google_fake


@pytest.fixture
def graph(microsoft_fake: MicrosoftFake) -> Iterator[MicrosoftFake]:
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        yield microsoft_fake


def drain(pacer: quota.Pacer) -> None:
    """Spend every token of the pacer's buckets, as other workers' requests would have."""
    for bucket in pacer.buckets:
        level = pacer.governor.level(bucket)
        assert pacer.governor.take([bucket], level - 0.01, reserve=0) == 0


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_link_over_its_budget_is_rescheduled_not_failed(
    staff: User, provider: str, request: pytest.FixtureRequest
) -> None:
    make_meeting(staff, title="Waiting", start=future(2))
    limits = {
        "CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE": 60.0,  # one a second
        "CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES": 600.0,  # one a second
        "CALSYNC_QUOTA_MAX_WAIT_SECONDS": 0.5,
    }
    # The fake's settings first: override_settings contexts must nest, or one leaks.
    fake = request.getfixturevalue("google" if provider == "google" else "graph")
    with override_settings(**limits):
        if provider == "google":
            link, _ = link_google(staff, fake)
            pacer = quota.google_pacer(link.account, batch=50)
        else:
            link, _ = link_microsoft(staff, fake)
            pacer = quota.graph_pacer(link.account, batch=20)
        drain(pacer)
        before = timezone.now()
        outcome = run_link(link.pk)
        assert outcome.status == "deferred", outcome.detail
        assert outcome.retry_after is not None and 0.5 < outcome.retry_after < 60
        link.refresh_from_db()
        # Not a failure: no count, no error, no failed run, no message; the lease is free.
        assert (link.failure_count, link.last_error, link.lease_until) == (0, "", None)
        assert not SyncRun.objects.filter(link=link, status=RunStatus.FAILED).exists()
        assert not SyncMessage.objects.filter(link=link).exists()
        scheduler.run_started(link.pk)
        scheduler.after_run(link.pk, outcome, now=before)
        link.refresh_from_db()
        assert link.next_sync_at is not None
        assert link.next_sync_at >= before + timedelta(seconds=outcome.retry_after - 0.01)
        assert scheduler.is_queued(link.pk)  # a short wait is queued directly
        # When the budget is back (the listing and the create: two tokens), the run goes
        # through.
        time.sleep(outcome.retry_after + 1.2)
        assert run_link(link.pk).counts == {"created_there": 1}


def test_a_first_sync_runs_at_the_quotas_pace_with_its_progress_written(
    staff: User, google: GoogleFake
) -> None:
    """120 meetings at 1,200 calls a minute per user (20 a second, a bucket of 50): the
    listing and the 120 inserts (3 batch requests, each call counted) cannot take less than
    about (121 - 50) / 20 = 3.5 s, and the page's progress is written as the batches land."""
    for n in range(120):
        make_meeting(staff, title=f"Paced {n}", start=future(1 + n % 90, 8 + n % 9))
    with override_settings(
        CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE=1200.0, CALSYNC_QUOTA_BURST_SECONDS=1.0
    ):
        link, _ = link_google(staff, google)
        google.clear_log()
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            outcome = run_link(link.pk)
        took = time.monotonic() - started
    assert outcome.status == "ok" and outcome.counts == {"created_there": 120}
    assert took > 3.0, took
    assert len([r for r in google.requests if r.path == "/batch/calendar/v3"]) == 3
    assert len(google.batch_calls) == 120
    progress = [q["sql"] for q in queries.captured_queries if '"progress_done" =' in q["sql"]]
    assert len(progress) >= 3  # the start and about once a second while it waits


def test_a_big_first_sync_cannot_take_the_tokens_other_practices_polls_need(
    staff: User, google: GoogleFake
) -> None:
    """The project's bucket (all practices share it) holds 100; a first sync of 150 meetings
    is bulk work and stops at the reserve (rescheduled, its first batch committed), and
    another practice's run still gets through at once."""
    for n in range(150):
        make_meeting(staff, title=f"Bulk {n}", start=future(1 + n % 90, 8 + n % 9))
    other_practice = UserFactory(role=Role.STAFF)
    entitle(other_practice)
    make_meeting(other_practice, title="Their meeting", start=future(3))
    with override_settings(
        CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE=600.0,  # 10 a second, a bucket of 100
        CALSYNC_QUOTA_MAX_WAIT_SECONDS=0.2,
    ):
        big, _ = link_google(staff, google)
        theirs, _ = link_google(other_practice, google)
        outcome = run_link(big.pk)
        assert outcome.status == "deferred", outcome.detail
        assert EventMapping.objects.filter(link=big).count() == 50  # the first batch landed
        started = time.monotonic()
        assert run_link(theirs.pk).counts == {"created_there": 1}
        assert time.monotonic() - started < 1.0
