"""A big first sync completes in one go (issue 17 §3): N future meetings (default 10,000) to the
Google fake, the Graph fake and a real Radicale, each run as the worker runs it: ``run_link``
again while the outcome is ``continues`` (each part commits its batches and stops after
``CALSYNC_RUN_CHUNK_SECONDS``, so the task's soft time limit, 300 s, never fires).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/first_sync_bench.py \
        [--meetings 10000] [--providers google,microsoft,radicale] [--chunk-seconds 120]

Per provider: the parts, the longest part (under the soft limit), the wall time, the HTTP
requests that reached the provider and the calls inside them (Google and Graph count every
call against their quotas), requests and SQL statements per meeting, and a check that the
calendar then holds every meeting once. The fakes answer in about a millisecond, so the wall
time is CPU (ours, the fakes' and PostgreSQL's on one machine), not network; the quota
governor runs with the test settings' budgets (docs/quota.md gives the pace at real quotas:
10,000 meetings to Google cannot take less than about 17 minutes at 600 calls a minute).

Runs in a throwaway database created and dropped here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

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
from calsync.models import CalendarLink, EventMapping  # noqa: E402
from connectors.base import Connector  # noqa: E402
from connectors.microsoft import oauth  # noqa: E402
from tests.caldav_servers import running_radicale  # noqa: E402
from tests.engine.helpers import (  # noqa: E402
    google_reader,
    graph_reader,
    link_caldav,
    link_google,
    link_microsoft,
)
from tests.fakes.google import GoogleFake  # noqa: E402
from tests.fakes.microsoft import LOGIN_HOST, MicrosoftFake  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
SOFT_LIMIT = 300


def make_user(slug: str, meetings: int) -> User:
    tenant = Tenant.objects.create(name=slug, slug=slug)
    user = User.objects.create_user(
        f"{slug}@example.test", "pw-bench-1", tenant=tenant, role=Role.STAFF
    )
    admin = User.objects.create_user(
        f"admin-{slug}@example.test", "pw-bench-1", tenant=tenant, role=Role.ADMIN
    )
    subscription_purchase(tenant=tenant, user=user, actor=admin)
    start = datetime.now(AMS).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for i in range(meetings):
        # 20 a day, so 10,000 lie within Graph's listing window (730 days ahead).
        begin = start + timedelta(minutes=30 * (i % 20), days=i // 20)
        meeting_create(
            owner=user,
            data=MeetingData(
                title=f"Meeting {i}",
                start=begin,
                end=begin + timedelta(minutes=30),
                time_zone="Europe/Amsterdam",
            ),
        )
    return user


@contextmanager
def google() -> Iterator[Callable[[User], tuple[CalendarLink, Connector, Callable[[], Any]]]]:
    fake = GoogleFake().start()
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)

    def link(user: User) -> tuple[CalendarLink, Connector, Callable[[], Any]]:
        made, _ = link_google(user, fake)
        fake.clear_log()
        fake.batch_calls.clear()
        return made, google_reader(fake, made), lambda: (len(fake.requests), len(fake.batch_calls))

    try:
        yield link
    finally:
        fake.stop()


@contextmanager
def microsoft() -> Iterator[Callable[[User], tuple[CalendarLink, Connector, Callable[[], Any]]]]:
    fake = MicrosoftFake().start()
    oauth.TRANSPORT_OVERRIDES = {f"https://{LOGIN_HOST}/": fake.identity_adapter()}
    oauth.HTTP_CACHE = {}
    settings.CALSYNC_MICROSOFT_CLIENT_ID = fake.client_id
    settings.CALSYNC_MICROSOFT_CLIENT_SECRET = fake.client_secret
    settings.CALSYNC_MICROSOFT_AUTHORITY = fake.authority
    settings.CALSYNC_MICROSOFT_GRAPH_ENDPOINT = fake.graph_endpoint

    def counts() -> tuple[int, int]:
        graph = [r for r in fake.requests if r.path.startswith("/v1.0/")]
        return len(graph), len(fake.batch_calls)

    def link(user: User) -> tuple[CalendarLink, Connector, Callable[[], Any]]:
        made, _ = link_microsoft(user, fake)
        fake.clear_log()
        fake.batch_calls.clear()
        return made, graph_reader(fake, made), counts

    try:
        yield link
    finally:
        fake.stop()


@contextmanager
def radicale() -> Iterator[Callable[[User], tuple[CalendarLink, Connector, Callable[[], Any]]]]:
    with tempfile.TemporaryDirectory() as folder, running_radicale(Path(folder)) as server:

        def link(user: User) -> tuple[CalendarLink, Connector, Callable[[], Any]]:
            made, reader = link_caldav(user, server)
            return made, reader, lambda: (None, None)

        yield link


PROVIDERS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "google": google,
    "microsoft": microsoft,
    "radicale": radicale,
}


def first_sync(name: str, user: User, size: int) -> str:
    with PROVIDERS[name]() as make_link:
        link, reader, counted = make_link(user)
        parts: list[float] = []
        statements = 0
        begin = time.perf_counter()
        while True:
            part = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                outcome = run_link(link.pk)
            statements += len(queries)
            parts.append(time.perf_counter() - part)
            if outcome.status != "continues":
                break
        wall = time.perf_counter() - begin
        assert outcome.status == "ok", outcome
        requests, calls = counted()
        on_provider = len([i for i in reader.full_listing().items if i.event is not None])
        mapped = EventMapping.objects.filter(link=link).count()
        assert on_provider == size and mapped == size, (on_provider, mapped)
        per_request = f"{requests / size:.3f}" if requests is not None else "n/a"
        calls_text = str(calls) if calls is not None else "n/a"
        return (
            f"{name:10}{len(parts):>6}{max(parts):>9.1f}{wall:>9.1f}"
            f"{requests if requests is not None else 'n/a':>10}{calls_text:>8}"
            f"{per_request:>11}{statements / size:>9.2f}   {on_provider} once each"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meetings", type=int, default=10_000)
    parser.add_argument("--providers", default="google,microsoft,radicale")
    parser.add_argument("--chunk-seconds", type=float, default=settings.CALSYNC_RUN_CHUNK_SECONDS)
    args = parser.parse_args()
    settings.CALSYNC_RUN_CHUNK_SECONDS = args.chunk_seconds
    names = [n for n in args.providers.split(",") if n]

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        made = time.perf_counter()
        user = make_user("first-sync-bench", args.meetings)
        print(f"{args.meetings} future meetings made in {time.perf_counter() - made:.0f} s")
        print(
            f"First sync of {args.meetings} meetings, parts of at most "
            f"{args.chunk_seconds:.0f} s (the task's soft limit is {SOFT_LIMIT} s):"
        )
        print(
            f"{'':10}{'parts':>6}{'max s':>9}{'wall s':>9}{'requests':>10}{'calls':>8}"
            f"{'req/mtg':>11}{'SQL/mtg':>9}"
        )
        for name in names:
            print(first_sync(name, user, args.meetings), flush=True)
        print(
            "requests: HTTP requests that reached the provider (batches are one each); calls: "
            "the calls inside batch requests (each counts against the provider's quota)"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
