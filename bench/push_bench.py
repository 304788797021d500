"""Outside edit -> practice calendar, with push and with polling only, in one run (issue 14;
QUALITY.md, Performance: with push, median < 5 s and p95 < 10 s against the fakes).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/push_bench.py \
        [--edits 50] [--links 5] [--skip-polling]

Set ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` first when another checkout runs its tests on
the same machine (the throwaway database is ``test_<name>`` of the first, the broker the second).

Production's shape on one machine: the Google and Graph fakes (in this process, each delivering
its notifications from its own thread, as the providers do), the web (a threaded WSGI server in
this process, at ``CALSYNC_PUBLIC_URL``), ONE Celery worker process (``-c 1``, solo pool, both
queues) and beat, on the real Redis broker and PostgreSQL.

* **Push**: ``--links`` links per fake (half their owners active, half away: the 3- and
  50-minute cadences), channels made by the worker as at setup. ``--edits`` outside edits per fake
  (new events and changed titles, alternately), one every 0.5-1.5 s across the links. For each:
  the time from the edit at the fake until the meeting with its title is in PostgreSQL.
* **Polling only**: the same number of edits on fresh links of active owners with push off (a
  worker and beat without ``CALSYNC_PUBLIC_URL``), spread at random over one 3-minute cycle, each
  timed the same way until beat's dispatcher polled it in.

Prints the median, p95 and maximum of each; asserts only that every edit arrived.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
# This process is the web: it enqueues on Redis, as production's web does.
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.servers.basehttp import (  # noqa: E402
    ThreadedWSGIServer,
    WSGIRequestHandler,
    get_internal_wsgi_application,
)
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Tenant, User  # noqa: E402
from agenda.models import Meeting  # noqa: E402
from billing.services import subscription_purchase  # noqa: E402
from calsync.celery import app  # noqa: E402
from calsync.engine.run import run_link  # noqa: E402
from calsync.models import CalendarLink, ChannelState, PushChannel  # noqa: E402
from connectors.microsoft import oauth  # noqa: E402
from tests.engine.helpers import link_google, link_microsoft  # noqa: E402
from tests.fakes.google import GoogleFake  # noqa: E402
from tests.fakes.microsoft import LOGIN_HOST, MicrosoftFake  # noqa: E402
from tests.workers import database_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CYCLE_SECONDS = 180
COURIERS: list[Any] = []


# --- processes ----------------------------------------------------------------------------------


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def start_web() -> tuple[ThreadedWSGIServer, str]:
    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.set_app(get_internal_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True, name="web").start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, kind: str, **extra: str) -> subprocess.Popen[bytes]:
        argv = (
            ["worker", "-Q", "interactive,background", "-c", "1", "-P", "solo",
             "-n", f"pushbench-{os.getpid()}-{len(self.running)}@%h",
             "-I", "tests.fakes.worker_plugin"]
            if kind == "worker"
            else ["beat", "-s", str(self.logs / f"beat-{len(self.running)}")]
        )  # fmt: skip
        log = (self.logs / f"{kind}-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "celery", "-A", "calsync", *argv],
            cwd=ROOT,
            env={**self.env, **extra},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.running.clear()


def wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


# --- links and edits ----------------------------------------------------------------------------


def make_user(slug: str, active: bool) -> User:
    tenant = Tenant.objects.create(name=slug, slug=slug)
    user = User.objects.create_user(
        f"{slug}@push.bench", "pw-bench-1", tenant=tenant, role=Role.STAFF
    )
    admin = User.objects.create_user(
        f"admin-{slug}@push.bench", "pw-bench-1", tenant=tenant, role=Role.ADMIN
    )
    subscription_purchase(tenant=tenant, user=user, actor=admin)
    seen = timezone.now() if active else timezone.now() - timedelta(days=1)
    User.objects.filter(pk=user.pk).update(last_seen_at=seen)
    return user


@dataclass
class Target:
    """One link and how to edit its calendar at its fake."""

    link: CalendarLink
    user: User
    insert: Callable[[str, datetime], str]
    rename: Callable[[str, str], None]
    events: list[tuple[str, str]] = field(default_factory=list)  # (event id, current title)


def google_target(fake: GoogleFake, user: User) -> Target:
    link, calendar_id = link_google(user, fake)

    def insert(title: str, start: datetime) -> str:
        body = {
            "summary": title,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        }
        return str(fake.user_insert(calendar_id, body)["id"])

    def rename(event_id: str, title: str) -> None:
        fake.user_patch(calendar_id, event_id, {"summary": title})

    return Target(link, user, insert, rename)


def graph_target(fake: MicrosoftFake, user: User) -> Target:
    link, calendar_id = link_microsoft(user, fake)
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"

    def insert(title: str, start: datetime) -> str:
        body = {
            "subject": title,
            "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
        }
        return str(fake.user_create(calendar_id, body)["id"])

    def rename(event_id: str, title: str) -> None:
        fake.user_patch(event_id, {"subject": title})

    return Target(link, user, insert, rename)


def measure(targets: list[Target], edits: int, spread: Callable[[int], list[float]],
            label: str, timeout: float) -> list[float]:  # fmt: skip
    """Make ``edits`` outside edits at the planned offsets (seconds from now), alternately a new
    event and a new title for one made before, across ``targets``; return each one's seconds
    from the edit until its title is a meeting here."""
    rng = random.Random(label)
    plan = sorted(spread(edits))
    begin = time.monotonic()
    pending: dict[str, float] = {}
    arrived: dict[str, float] = {}
    owners = [t.user.pk for t in targets]
    day = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    made = 0
    deadline = begin + plan[-1] + timeout
    while made < edits or pending:
        now = time.monotonic()
        while made < edits and now - begin >= plan[made]:
            target = targets[made % len(targets)]
            title = f"{label} {made:03}"
            # A title is changed only once its last change arrived (else the earlier edit
            # would never show under its own title).
            settled = [e for e in target.events if e[1] in arrived]
            if made % 2 == 0 or not settled:
                start = day + timedelta(hours=rng.randrange(0, 24 * 20))
                target.events.append((target.insert(title, start), title))
            else:
                event_id, old_title = settled[-1]
                target.rename(event_id, title)
                target.events.remove((event_id, old_title))
                target.events.append((event_id, title))
            pending[title] = time.monotonic()
            made += 1
        if pending:
            for title in Meeting.objects.filter(
                owner_id__in=owners, title__in=list(pending)
            ).values_list("title", flat=True):
                arrived[title] = time.monotonic() - pending.pop(title)
        if time.monotonic() > deadline:
            if os.environ.get("BENCH_DEBUG"):
                for target in targets:
                    print(
                        target.link.pk,
                        list(
                            PushChannel.objects.filter(link=target.link).values(
                                "state", "notifications", "last_error"
                            )
                        ),
                    )
                for fake_courier in COURIERS:
                    print([(d.status, d.message.url[-30:]) for d in fake_courier.deliveries][-10:])
            raise SystemExit(f"{label}: {len(pending)} edits never arrived: {sorted(pending)[:5]}")
        time.sleep(0.05)
    return [arrived[f"{label} {i:03}"] for i in range(edits)]


def figures(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{name:<34} {statistics.median(ordered):>7.1f} s {p95:>7.1f} s {ordered[-1]:>7.1f} s"
        f"   ({len(ordered)} edits)"
    )


# --- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=50, help="outside edits per fake and mode")
    parser.add_argument("--links", type=int, default=5, help="links per fake")
    parser.add_argument("--skip-polling", action="store_true", help="push figures only")
    options = parser.parse_args()

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    google, graph = GoogleFake().start(), MicrosoftFake().start()
    COURIERS.extend([google.courier, graph.courier])
    oauth.TRANSPORT_OVERRIDES[f"https://{LOGIN_HOST}/"] = graph.identity_adapter()
    server, web = start_web()
    fake_settings = {
        **google.django_settings(),
        "CALSYNC_MICROSOFT_CLIENT_ID": graph.client_id,
        "CALSYNC_MICROSOFT_CLIENT_SECRET": graph.client_secret,
        "CALSYNC_MICROSOFT_GRAPH_ENDPOINT": graph.graph_endpoint,
    }
    for name, value in fake_settings.items():
        setattr(settings, name, value)
    settings.CALSYNC_MICROSOFT_AUTHORITY = graph.authority
    logs = Path(tempfile.mkdtemp(prefix="push-bench-"))
    processes = Processes(
        {
            **os.environ,
            "TEST_DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CALSYNC_TEST_MICROSOFT_FAKE": graph.url,
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            **fake_settings,
        },
        logs,
    )
    app.control.purge()
    results: list[str] = []
    try:
        # -- push --------------------------------------------------------------------------
        settings.CALSYNC_PUBLIC_URL = web
        google.start_push()
        graph.start_push()
        worker = processes.start("worker", CALSYNC_PUBLIC_URL=web)
        targets: dict[str, list[Target]] = {"Google": [], "Graph": []}
        for i in range(options.links):
            active = i % 2 == 0
            targets["Google"].append(google_target(google, make_user(f"g{i}", active)))
            targets["Graph"].append(graph_target(graph, make_user(f"m{i}", active)))
        links = [t.link.pk for group in targets.values() for t in group]
        for link_id in links:
            assert run_link(link_id).status == "ok"
        wait(
            lambda: PushChannel.objects.filter(state=ChannelState.ACTIVE).count() == len(links),
            "every link's channel (made by the worker)",
        )
        if worker.poll() is not None:
            raise SystemExit((logs / "worker-0.log").read_text()[-3000:])
        # Warm-up: the worker's first runs (imports, connections) stay out of the figures.
        for name, group in targets.items():
            measure(group, 4, lambda n: [0.5 * i for i in range(n)], f"warm {name}", 30)

        def pushed(n: int) -> list[float]:
            rng = random.Random(n)
            offsets, at = [], 0.0
            for _ in range(n):
                offsets.append(at)
                at += rng.uniform(0.5, 1.5)
            return offsets

        push_values: dict[str, list[float]] = {}
        for name, group in targets.items():
            push_values[name] = measure(group, options.edits, pushed, f"push {name}", 60)
            results.append(figures(f"{name}, push", push_values[name]))
            # Edit i went to link i % links; owners of odd links are away (50-minute polls).
            away = [v for i, v in enumerate(push_values[name]) if (i % len(group)) % 2 == 1]
            if away:
                results.append(figures(f"{name}, push, owners away", away))
        notified = sum(c.notifications for c in PushChannel.objects.all())
        processes.stop_all()
        google.courier.stop()
        graph.courier.stop()

        # -- polling only --------------------------------------------------------------------
        if not options.skip_polling:
            settings.CALSYNC_PUBLIC_URL = ""
            polled: dict[str, list[Target]] = {"Google": [], "Graph": []}
            for i in range(options.links):
                polled["Google"].append(google_target(google, make_user(f"pg{i}", True)))
                polled["Graph"].append(graph_target(graph, make_user(f"pm{i}", True)))
            poll_links = [t.link.pk for group in polled.values() for t in group]
            for link_id in poll_links:
                assert run_link(link_id).status == "ok"
            assert not PushChannel.objects.filter(link_id__in=poll_links).exists()
            # Each link's slot somewhere in the next cycle, as after any poll.
            rng = random.Random(7)
            for link_id in poll_links:
                CalendarLink.objects.filter(pk=link_id).update(
                    next_sync_at=timezone.now() + timedelta(seconds=rng.uniform(0, CYCLE_SECONDS))
                )
            processes.start("worker")
            processes.start("beat")
            poll_values: dict[str, list[float]] = {}
            threads = []
            for name, group in polled.items():

                def run(name: str = name, group: list[Target] = group) -> None:
                    rng = random.Random(name)
                    poll_values[name] = measure(
                        group,
                        options.edits,
                        lambda n: [rng.uniform(0, CYCLE_SECONDS) for _ in range(n)],
                        f"poll {name}",
                        CYCLE_SECONDS * 1.5,
                    )
                    connection.close()

                threads.append(threading.Thread(target=run))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for name in polled:
                results.append(figures(f"{name}, polling only (3 min)", poll_values[name]))
    finally:
        processes.stop_all()
        server.shutdown()
        google.stop()
        graph.stop()
        app.control.purge()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()

    print(
        f"Outside edit -> practice calendar ({options.edits} edits per fake and mode, "
        f"{options.links} links per fake, push debounce {settings.CALSYNC_PUSH_DEBOUNCE_SECONDS} "
        "s, one worker process):"
    )
    print(f"{'':<34} {'median':>9} {'p95':>9} {'max':>9}")
    for line in results:
        print(line)
    print(f"Notifications the web accepted: {notified}")


if __name__ == "__main__":
    main()
