"""Figures for the practice calendar: query counts and cost ratios as a calendar grows.

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/agenda_bench.py

Runs against the real PostgreSQL of the test settings, in a throwaway database (created and
dropped here). Prints counts and ratios, not bare timings, because the machine is noisy: each
ratio compares runs made moments apart in the same process.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

from accounts.models import Role, Tenant, User  # noqa: E402
from agenda.selectors import meetings_changed_since, occurrences_between  # noqa: E402
from agenda.services import MeetingData, meeting_create  # noqa: E402
from recurrence import Frequency, Rule, Weekday  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = date(2026, 11, 23)
WINDOW = (datetime(2026, 11, 23, tzinfo=AMS), datetime(2026, 11, 30, tzinfo=AMS))
SIZES = (10, 100, 1000)


def fill(owner: User, count: int, start_index: int) -> None:
    """``count`` meetings: a third weekly series overlapping the window, the rest single
    meetings spread over two years (so most are outside the window, as in a real calendar)."""
    for i in range(start_index, start_index + count):
        if i % 3 == 0:
            first = datetime(2026, 1, 5, 8, tzinfo=AMS) + timedelta(
                days=i % 5, minutes=15 * (i % 30)
            )
            rule = Rule(
                Frequency.WEEKLY,
                until=date(2027, 12, 31),
                weekdays=frozenset({Weekday(first.weekday())}),
            )
        else:
            first = datetime(2026, 1, 1, 9, tzinfo=AMS) + timedelta(days=(i * 7) % 730, hours=i % 8)
            rule = None
        meeting_create(
            owner=owner,
            data=MeetingData(
                title=f"Meeting {i}",
                start=first,
                end=first + timedelta(minutes=30),
                time_zone="Europe/Amsterdam",
                rule=rule,
            ),
        )


def best_of(runs: int, fn: object) -> float:
    timings = []
    for _ in range(runs):
        begin = time.perf_counter()
        fn()  # type: ignore[operator]
        timings.append(time.perf_counter() - begin)
    return min(timings)


def main() -> None:
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        tenant = Tenant.objects.create(name="Bench", slug="bench")
        owner = User.objects.create_user(
            "bench@example.test", "bench-password-1", tenant=tenant, role=Role.STAFF
        )
        client = HttpClient()
        client.force_login(owner)
        rows = []
        created = 0
        for size in SIZES:
            fill(owner, size - created, created)
            created = size
            # CaptureQueriesContext reads a bounded log; after thousands of inserts it is full.
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as selector_queries:
                occurrences = occurrences_between(owner, *WINDOW)
            client.get("/calendar/?week=2026-11-23")  # warm up the session and last_seen_at
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as page_queries:
                response = client.get(f"/calendar/?week={MONDAY.isoformat()}")
            assert response.status_code == 200
            seconds = best_of(5, lambda: occurrences_between(owner, *WINDOW))
            rows.append((size, len(occurrences), len(selector_queries), len(page_queries), seconds))

        print("Week view as a calendar grows (a third of the meetings are weekly series)")
        print(
            f"{'meetings':>9} {'occurrences':>12} {'selector SQL':>13} {'page SQL':>9} "
            f"{'cost vs 10':>11}"
        )
        base = rows[0][4]
        for size, occ, sel, page, seconds in rows:
            print(f"{size:>9} {occ:>12} {sel:>13} {page:>9} {seconds / base:>10.1f}x")

        with connection.cursor() as cursor:
            sql, params = meetings_changed_since(owner, created - 5).query.sql_with_params()
            cursor.execute("ANALYZE agenda_meeting")
            cursor.execute("EXPLAIN " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as changed_queries:
            changed = list(meetings_changed_since(owner, created - 5))
        index_line = next((line for line in plan if "Index" in line), plan[0])
        print()
        print(
            f"meetings_changed_since: {len(changed)} rows in {len(changed_queries)} query; "
            f"plan: {index_line.strip()}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
