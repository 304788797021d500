"""Figures for the sync dispatcher: claiming and enqueuing 10,000 due links.

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/dispatch_bench.py

Runs in a throwaway database (created and dropped here) on the real PostgreSQL and sends the
tasks to the real Redis broker of the test settings (purged afterwards). Prints figures; asserts
only that every link was claimed once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    override_settings,
    setup_test_environment,
    teardown_test_environment,
)
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Tenant, User  # noqa: E402
from calsync import scheduler  # noqa: E402
from calsync.celery import app  # noqa: E402
from calsync.models import CalendarLink, Provider  # noqa: E402


def make_links(count: int) -> None:
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    now = timezone.now()
    users = User.objects.bulk_create(
        [
            User(
                email=f"u{i}@bench.test",
                full_name=f"U {i}",
                tenant=tenant,
                role=Role.STAFF,
                # Half active, half away: both branches of the cadence.
                last_seen_at=now if i % 2 else now - timedelta(hours=5),
            )
            for i in range(count // 10)
        ]
    )
    CalendarLink.objects.bulk_create(
        [
            CalendarLink(
                tenant=tenant,
                user=users[i % len(users)],
                provider=Provider.GOOGLE,
                account=f"{i}@bench.test",
                calendar_id=f"cal-{i}",
                next_sync_at=now - timedelta(minutes=1),
            )
            for i in range(count)
        ]
    )


def queue_length() -> int:
    """Messages waiting in the background queue of the broker."""
    with app.connection_for_write() as conn:
        return int(conn.default_channel.client.llen("background"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=10_000)
    count = parser.parse_args().links

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    # Send through the broker as production does (the test settings would run tasks eagerly).
    app.conf.task_always_eager = False
    app.control.purge()
    try:
        make_links(count)
        # The claim's share of the time (QUALITY.md: claiming 10,000 due links under 1 s), apart
        # from sending the messages.
        claiming = [0.0, 0]
        claim = scheduler.claim_due_links

        def timed_claim(now: datetime, batch: int) -> list[int]:
            begin = time.perf_counter()
            try:
                return claim(now, batch)
            finally:
                claiming[0] += time.perf_counter() - begin
                claiming[1] += 1

        scheduler.claim_due_links = timed_claim  # type: ignore[assignment]
        # Side by side: every link a message of its own from the dispatcher, then the default
        # (the first CALSYNC_DISPATCH_DIRECT direct, the rest in fan-out messages).
        rounds = [
            ("one message per link", count),
            ("with fan-out", settings.CALSYNC_DISPATCH_DIRECT),
        ]
        for name, direct in rounds:
            CalendarLink.objects.update(next_sync_at=timezone.now() - timedelta(minutes=1))
            claiming[:] = [0.0, 0]
            with (
                override_settings(CALSYNC_DISPATCH_DIRECT=direct),
                CaptureQueriesContext(connection) as queries,
            ):
                before = queue_length()
                begin = time.perf_counter()
                claimed = scheduler.dispatch()
                seconds = time.perf_counter() - begin
                messages = queue_length() - before
            assert len(set(claimed)) == count
            statements = [q for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
            print(
                f"Dispatcher, {name}: {count} due links claimed and enqueued in {seconds:.2f} s "
                f"({count / seconds:.0f} links/s), {messages} messages, {len(queries)} SQL "
                f"queries (batches of {settings.CALSYNC_DISPATCH_BATCH})\n"
                f"  claiming: {claiming[0]:.2f} s in {claiming[1]} claims, "
                f"{len(statements)} statements besides BEGIN/COMMIT; "
                f"sending {messages} messages to Redis: {seconds - claiming[0]:.2f} s"
            )
            app.control.purge()
        scheduler.claim_due_links = claim  # type: ignore[assignment]
        with CaptureQueriesContext(connection) as queries:
            begin = time.perf_counter()
            nothing = scheduler.dispatch()
            seconds = time.perf_counter() - begin
        print(
            f"Dispatcher with nothing due: {len(nothing)} claimed in {seconds * 1000:.1f} ms, "
            f"{len(queries)} SQL queries"
        )
    finally:
        purged = app.control.purge()
        print(f"(purged {purged} messages from the test broker)")
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
