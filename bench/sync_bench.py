"""Figures for the sync engine against the local Google fake (QUALITY.md, Performance).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/sync_bench.py [--meetings N]

* a no-change run: SQL queries, provider requests, and its CPU time against the bare
  client-library request it makes (ratio, measured in the same process moments apart);
* the first sync of N future meetings (default 1,000): wall time and provider requests;
* the no-change run again with 10 and with N mapped events (queries and requests must not grow);
* the sync history's cost: INSERTs per applied write on the first sync (at most one), and
  none on a quiet run (its query count above);
* the no-change run of a link with a live push channel (calsync/push.py): push must cost a quiet
  poll no query and no request.

Runs in a throwaway database created and dropped here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

from accounts.models import Role, Tenant, User  # noqa: E402
from agenda.services import MeetingData, meeting_create  # noqa: E402
from billing.services import subscription_purchase  # noqa: E402
from calsync.engine.run import run_link  # noqa: E402
from connectors.google.connector import service_for  # noqa: E402
from tests.engine.helpers import link_google  # noqa: E402
from tests.fakes.google import SCOPE_APP_CREATED, GoogleFake  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")


def cpu(fn: object, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        begin = time.process_time()
        fn()  # type: ignore[operator]
        best = min(best, time.process_time() - begin)
    return best


def make_user(slug: str) -> User:
    tenant = Tenant.objects.create(name=slug, slug=slug)
    user = User.objects.create_user(
        f"{slug}@example.test", "pw-bench-1", tenant=tenant, role=Role.STAFF
    )
    admin = User.objects.create_user(
        f"admin-{slug}@example.test", "pw-bench-1", tenant=tenant, role=Role.ADMIN
    )
    subscription_purchase(tenant=tenant, user=user, actor=admin)
    return user


def add_meetings(user: User, count: int) -> None:
    start = datetime.now(AMS).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for i in range(count):
        begin = start + timedelta(hours=i % 10, days=i // 10)
        meeting_create(
            owner=user,
            data=MeetingData(
                title=f"Meeting {i}",
                start=begin,
                end=begin + timedelta(minutes=30),
                time_zone="Europe/Amsterdam",
            ),
        )


def quiet_run(fake: GoogleFake, link_id: int) -> tuple[int, int]:
    fake.clear_log()
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        outcome = run_link(link_id)
    assert outcome.status == "ok" and outcome.counts == {}, outcome
    return len(queries), len(fake.requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meetings", type=int, default=1000)
    size = parser.parse_args().meetings

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    fake = GoogleFake().start()
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)
    try:
        small_user, big_user = make_user("small"), make_user("big")
        add_meetings(small_user, 10)
        add_meetings(big_user, size)
        small_link, _ = link_google(small_user, fake)
        big_link, calendar_id = link_google(big_user, fake)

        run_link(small_link.pk)
        fake.clear_log()
        begin = time.perf_counter()
        statements: list[str] = []

        def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            statements.append(sql)
            return execute(sql, params, many, context)

        # Counted with a wrapper: the debug query log keeps only the last 9,000 statements.
        with connection.execute_wrapper(count):
            first = run_link(big_link.pk)
        seconds = time.perf_counter() - begin
        first_requests = len(fake.requests)
        print(
            f"First sync of {size} future meetings: {seconds:.1f} s, "
            f"{first_requests} provider requests "
            f"({first_requests / size:.2f} per meeting), counts {first.counts}"
        )
        # The sync history (calsync/history.py): one INSERT per applied meeting write.
        history_inserts = sum('INSERT INTO "calsync_syncchange"' in q for q in statements)
        applied = sum((first.counts or {}).values())
        print(
            f"Sync history of the first sync: {history_inserts} INSERTs for {applied} applied "
            f"writes ({history_inserts / max(applied, 1):.2f} per write), "
            f"{len(statements)} SQL statements in all ({len(statements) / size:.1f} per meeting)"
        )

        # Each link's next run reads its first sync's own writes back (echoes, no writes);
        # the runs measured after that are the steady state of a quiet poll.
        quiet_run(fake, big_link.pk)
        quiet_run(fake, small_link.pk)
        small_q, small_r = quiet_run(fake, small_link.pk)
        big_q, big_r = quiet_run(fake, big_link.pk)
        if os.environ.get("BENCH_SHOW_SQL"):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as shown:
                run_link(big_link.pk)
            for q in shown.captured_queries:
                print("   ", q["sql"][:150])
        print(
            f"No-change run, 10 mapped events: {small_q} SQL queries, {small_r} provider request(s)"
        )
        print(
            f"No-change run, {size} mapped events: {big_q} SQL queries, {big_r} provider request(s)"
        )
        # The same link with a healthy push channel (the fake does not call the address).
        from calsync import push
        from calsync.models import ChannelState

        settings.CALSYNC_PUBLIC_URL = "https://calsync.bench"
        channel = push.channel_open(link_id=big_link.pk)
        assert channel is not None and channel.state == ChannelState.ACTIVE, channel
        fake.courier.outbox.clear()
        push_q, push_r = quiet_run(fake, big_link.pk)
        settings.CALSYNC_PUBLIC_URL = ""
        print(
            f"No-change run, {size} mapped events, with a live push channel: {push_q} SQL "
            f"queries, {push_r} provider request(s)"
        )

        # CPU of a quiet run against the bare client-library request it makes.
        tokens = fake.issue_tokens(big_link.account, [SCOPE_APP_CREATED])
        service = service_for(tokens.credentials(), api_endpoint=fake.api_endpoint, timeout=10)
        cursor = type(big_link).objects.get(pk=big_link.pk).cursor

        def bare() -> None:
            service.events().list(
                calendarId=calendar_id,
                syncToken=cursor,
                singleEvents=False,
                showDeleted=True,
                maxResults=250,
            ).execute()

        bare_cpu = cpu(bare)
        run_cpu = cpu(lambda: run_link(big_link.pk))
        print(
            f"No-change run CPU vs the bare events.list request: {run_cpu / bare_cpu:.1f}x "
            f"({run_cpu * 1000:.1f} ms vs {bare_cpu * 1000:.1f} ms of this process's CPU)"
        )
    finally:
        fake.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
