"""Polls per second one 2-core worker host sustains against the Google fake, at loopback
latency and at a real provider's (issue 7, issue 17 §1; QUALITY.md, Performance: 20,000 active
links in the 3-minute cycle, about 110 polls/s).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/poll_bench.py \
        [--links N] [--latency-ms 1,150] [--jitter 0.2] \
        [--workers solo,prefork4,threads16,2xthreads16] [--slow-polls 200] [--profile]

``--workers``: the worker configurations measured, each ``[Nx]<pool><concurrency>``: N worker
processes (default 1) of Celery pool ``solo``/``prefork``/``threads`` with that concurrency
(``solo`` is always 1). Each configuration runs at each ``--latency-ms`` (the fake's fixed delay
per request, plus up to ``--jitter`` of it at random, ``tests/fakes/server.Latency``); a
configuration with fewer than 8 polls in flight runs only ``--slow-polls`` of the links at a
latency above 10 ms (it would take minutes otherwise; its rate is the same).

Set ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` first when another checkout runs its tests on
the same machine: the throwaway database is ``test_<name>`` of the first, and the broker is the
second (its queues are purged before and after).

* N links (default 1,000), each a staff user with 3 future meetings and a Google link made like
  ``tests/engine/helpers.link_google``, synced in this process until a run is quiet (cursor and
  mappings stored; the next poll has nothing to do);
* the quiet poll in this process: ``calsync.tasks.sync_link`` called N times, no broker (the
  engine's own cost), its SQL queries, and (``--profile``) its cProfile top entries;
* the same N polls sent to the real Redis broker on the ``background`` queue, as the dispatcher
  sends them, and run by real Celery worker processes (each configuration in ``--workers``):
  wall time from the first send until the last link's ``last_success_at``, the worker's CPU
  (``/proc/<pid>/stat``, children included), its PostgreSQL backends' CPU and the requests the
  fake saw. The worker has production's database settings (``CONN_MAX_AGE=60``, health checks),
  which it honours between tasks (calsync/celery.py).

The fake runs in this process (an HTTP server thread), the worker in its own: on a small machine
their CPU, PostgreSQL's and Redis' compete. Runs in a throwaway database created and dropped here.
Prints figures; asserts only that every poll was quiet (one request, no run recorded, no failure).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import math
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
from django.db.models import Max  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Tenant, User  # noqa: E402
from agenda.services import MeetingData, meeting_create  # noqa: E402
from billing.models import BillingMode, BillingPlan  # noqa: E402
from billing.services import tenant_activate  # noqa: E402
from calsync import tasks  # noqa: E402
from calsync.celery import app  # noqa: E402
from calsync.engine.run import run_link  # noqa: E402
from calsync.models import CalendarLink, SyncRun  # noqa: E402
from tests.engine.helpers import link_google  # noqa: E402
from tests.fakes.google import GoogleFake  # noqa: E402
from tests.workers import Worker  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AMS = ZoneInfo("Europe/Amsterdam")
MEETINGS_PER_LINK = 3
USERS_PER_TENANT = 250
CYCLE_SECONDS = 180
TARGET_LINKS = 20_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- setup -------------------------------------------------------------------------------------


def make_links(count: int, fake: GoogleFake) -> list[int]:
    """``count`` entitled staff users in tenants of 250 (tenant-wide activation), each with 3
    future meetings and one Google link. Returns the link ids."""
    start = datetime.now(AMS).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    link_ids: list[int] = []
    for t in range(math.ceil(count / USERS_PER_TENANT)):
        size = min(USERS_PER_TENANT, count - t * USERS_PER_TENANT)
        tenant = Tenant.objects.create(name=f"Poll bench {t}", slug=f"poll-bench-{t}")
        BillingPlan.objects.create(tenant=tenant, mode=BillingMode.TENANT_WIDE)
        admin = User.objects.create_user(
            f"admin-{t}@poll.bench", "pw-bench-1", tenant=tenant, role=Role.ADMIN
        )
        User.objects.bulk_create(
            [
                User(
                    email=f"u{t}-{i}@poll.bench",
                    full_name=f"User {t}-{i}",
                    tenant=tenant,
                    role=Role.STAFF,
                    last_seen_at=timezone.now(),
                )
                for i in range(size)
            ]
        )
        staff = list(User.objects.filter(tenant=tenant, role=Role.STAFF).order_by("pk"))
        # Meetings before the links: their on-commit pushes then find no link to push to.
        for user in staff:
            for i in range(MEETINGS_PER_LINK):
                begin = start + timedelta(days=i, hours=user.pk % 8)
                meeting_create(
                    owner=user,
                    data=MeetingData(
                        title=f"Meeting {i}",
                        start=begin,
                        end=begin + timedelta(minutes=30),
                        time_zone="Europe/Amsterdam",
                    ),
                )
        tenant_activate(tenant=tenant, actor=admin)
        link_ids += [link_google(user, fake)[0].pk for user in staff]
    return link_ids


def settle(link_ids: list[int]) -> None:
    """The first sync of every link (its meetings pushed), then the run that reads those writes
    back as echoes: after it, the next poll of each link has nothing to do."""
    for link_id in link_ids:
        first = run_link(link_id)
        assert first.status == "ok" and first.counts == {"created_there": MEETINGS_PER_LINK}, first
    for link_id in link_ids:
        assert run_link(link_id).status == "ok"


def check_quiet(fake: GoogleFake, link_id: int) -> None:
    """A poll of a settled link: no ``SyncRun`` row, one provider request."""
    runs = SyncRun.objects.count()
    fake.clear_log()
    outcome = run_link(link_id)
    assert outcome.status == "ok" and outcome.counts == {} and outcome.record_id is None, outcome
    assert SyncRun.objects.count() == runs, "a quiet run recorded a SyncRun"
    assert len(fake.requests) == 1, [r.path for r in fake.requests]


def assert_all_quiet(runs_before: int) -> None:
    assert SyncRun.objects.count() == runs_before, "a poll recorded a SyncRun: it was not quiet"
    failing = CalendarLink.objects.filter(failure_count__gt=0).count()
    assert failing == 0, f"{failing} links failed"


# --- CPU of processes (Linux /proc) --------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): state is field 3.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def with_descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def postgres_backends() -> list[int]:
    """Pids of the other client backends on this database (the worker's connections)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def own_backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    polls: int
    wall: float
    worker_cpu: float  # seconds, the process(es) running the tasks
    fake_cpu: float  # seconds, this process's fake threads
    postgres_cpu: float | None  # seconds, the backend(s) serving the polls
    requests: int
    enqueue: float | None = None

    @property
    def rate(self) -> float:
        return self.polls / self.wall


def in_process(fake: GoogleFake, link_ids: list[int]) -> Figures:
    """``calsync.tasks.sync_link`` called directly: the engine's cost, no broker."""
    for link_id in link_ids[:5]:
        tasks.sync_link(link_id)  # warm-up, as the worker's
    backend = own_backend()
    fake.clear_log()
    pg0 = cpu_seconds(backend)
    proc0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for link_id in link_ids:
        assert tasks.sync_link(link_id) == "ok"
    wall = time.perf_counter() - wall0
    thread = time.thread_time() - thread0
    return Figures(
        "in-process sync_link, no broker, 0 ms",
        len(link_ids),
        wall,
        worker_cpu=thread,
        fake_cpu=time.process_time() - proc0 - thread,
        postgres_cpu=cpu_seconds(backend) - pg0,
        requests=len(fake.requests),
    )


def database_url() -> str:
    """This database with production's connection settings (calsync/settings/prod.py)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}?conn_max_age=60&conn_health_checks=true"


@dataclass(frozen=True)
class WorkerConfig:
    processes: int
    pool: str
    concurrency: int

    @classmethod
    def parse(cls, text: str) -> WorkerConfig:
        match = re.fullmatch(r"(?:(\d+)x)?(solo|prefork|threads)(\d*)", text.strip())
        if match is None:
            raise SystemExit(f"--workers: cannot read {text!r} (e.g. solo, prefork4, 2xthreads16)")
        processes, pool, concurrency = match.groups()
        return cls(int(processes or 1), pool, 1 if pool == "solo" else int(concurrency or 1))

    @property
    def in_flight(self) -> int:
        return self.processes * self.concurrency

    @property
    def label(self) -> str:
        many = f"{self.processes} x " if self.processes > 1 else ""
        return f"{many}-P {self.pool} -c {self.concurrency}"


def start_worker(
    config: WorkerConfig, index: int, fake: GoogleFake, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "calsync.settings.test",
        "TEST_DATABASE_URL": database_url(),
        # Production's logging: JSON lines at INFO (one line per poll, and Celery's own).
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        **fake.django_settings(),
    }
    name = f"pollbench-{os.getpid()}-{config.pool}{config.concurrency}-{index}@%h"
    argv = ["worker", "-Q", "background", "-c", str(config.concurrency), "-P", config.pool]
    argv += ["-n", name]
    command = [sys.executable, "-m", "celery", "-A", "calsync", *argv]
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_synced(
    since: datetime,
    count: int,
    workers: list[subprocess.Popen[bytes]],
    log: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while CalendarLink.objects.filter(last_success_at__gt=since).count() < count:
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit(f"a worker died:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} polls did not finish in {timeout:.0f} s")
        time.sleep(0.1)


def consuming(on: bool, count: int) -> None:
    """Every worker of this run stops (or starts again) consuming the background queue; a
    worker whose reply is late on a loaded machine is asked again by name."""
    control = app.control.add_consumer if on else app.control.cancel_consumer
    answered: set[str] = set()
    for _ in range(10):
        if len(answered) >= count:
            return
        for reply in control("background", reply=True, timeout=3):
            answered |= set(reply)
    raise SystemExit(f"only {sorted(answered)} of {count} workers answered the control message")


def through_workers(
    fake: GoogleFake,
    link_ids: list[int],
    *,
    config: WorkerConfig,
    label: str,
    log: Path,
) -> Figures:
    app.control.purge()
    workers = [start_worker(config, i, fake, log) for i in range(config.processes)]
    try:
        # Warm-up: the workers' start, imports and first connections stay out of the figures.
        latency = fake.latency.setting
        fake.set_latency(0)
        warm = timezone.now()
        warm_ids = link_ids[: max(5, 2 * config.in_flight)]
        for link_id in warm_ids:
            tasks.sync_link.apply_async((link_id,), queue="background")
        wait_synced(warm, len(warm_ids), workers, log, timeout=300)
        time.sleep(0.5)  # the last warm-up task's acknowledgement
        fake.latency.set(latency)

        pids = [p for worker in workers for p in with_descendants(worker.pid)]
        backends = postgres_backends()
        cpu0 = sum(cpu_seconds(p) for p in pids)
        pg0 = sum(cpu_seconds(p) for p in backends)
        # The polls are queued while the workers do not consume, then let go at once: the
        # producer (this process, which also serves the fake) would otherwise pace the
        # workers (sending 1,000 tasks took up to 16 s with 32 requests in flight here).
        consuming(False, len(workers))
        begin = time.perf_counter()
        for link_id in link_ids:
            # As the dispatcher sends them (calsync/scheduler.dispatch).
            tasks.sync_link.apply_async((link_id,), queue="background")
        enqueue = time.perf_counter() - begin
        fake.clear_log()
        proc0, thread0 = time.process_time(), time.thread_time()
        start = timezone.now()
        consuming(True, len(workers))
        timeout = 60 + len(link_ids) * (1 + latency.fixed * 2)
        wait_synced(start, len(link_ids), workers, log, timeout=timeout)
        # The workers' own clock stamps the last poll's end; the 0.1 s polling here does not
        # add to the figure.
        last = CalendarLink.objects.aggregate(last=Max("last_success_at"))["last"]
        wall = (last - start).total_seconds()
        time.sleep(0.3)  # the last acknowledgement, into the CPU figure
        worker_cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        bench_cpu = time.process_time() - proc0 - (time.thread_time() - thread0)
        pg_cpu = sum(cpu_seconds(p) for p in backends) - pg0 if backends else None
        return Figures(
            label,
            len(link_ids),
            wall,
            worker_cpu=worker_cpu,
            fake_cpu=bench_cpu,
            postgres_cpu=pg_cpu,
            requests=len(fake.requests),
            enqueue=enqueue,
        )
    finally:
        for worker in workers:
            Worker(worker, log).stop()
        app.control.purge()


def sql_per_poll(link_id: int) -> tuple[int, int]:
    """Queries of one quiet poll: the whole task, and ``run_link`` within it."""
    with CaptureQueriesContext(connection) as whole:
        tasks.sync_link(link_id)
    with CaptureQueriesContext(connection) as engine:
        run_link(link_id)
    return len(whole), len(engine)


def profile(link_ids: list[int], top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for link_id in link_ids:
        tasks.sync_link(link_id)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- output --------------------------------------------------------------------------------------


def table(rows: list[Figures]) -> str:
    head = (
        f"{'':36} {'wall s':>7} {'polls/s':>8} {'CPU ms/poll':>12} {'fake ms':>8} "
        f"{'PG ms':>6} {'req/poll':>9}"
    )
    lines = [head]
    for f in rows:
        pg = f"{f.postgres_cpu / f.polls * 1000:6.2f}" if f.postgres_cpu is not None else "   n/a"
        lines.append(
            f"{f.label:36} {f.wall:7.2f} {f.rate:8.1f} {f.worker_cpu / f.polls * 1000:12.2f} "
            f"{f.fake_cpu / max(f.requests, 1) * 1000:8.2f} {pg} {f.requests / f.polls:9.2f}"
        )
    return "\n".join(lines)


def side_by_side(
    configs: list[WorkerConfig], latencies: list[float], results: dict[tuple[str, float], Figures]
) -> str:
    """polls/s, CPU ms per poll and requests per poll of each worker configuration, one column
    group per latency."""
    groups = "".join(f" | {f'{ms:g} ms per request':^31}" for ms in latencies)
    sub = "".join(f" | {'polls/s':>8} {'CPU ms/poll':>11} {'req/poll':>9}" for _ in latencies)
    lines = [f"{'':28} {'in flight':>9}{groups}", f"{'worker host':28} {'':>9}{sub}"]
    for config in configs:
        cells = ""
        for ms in latencies:
            f = results[(config.label, ms)]
            cells += (
                f" | {f.rate:8.1f} {f.worker_cpu / f.polls * 1000:11.2f} "
                f"{f.requests / f.polls:9.2f}"
            )
        lines.append(f"{config.label:28} {config.in_flight:>9}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument(
        "--workers",
        default="solo,prefork4,threads16,2xthreads16",
        help="comma-separated worker configurations: [Nx]<pool><concurrency>",
    )
    parser.add_argument("--latency-ms", default="1,150", help="the fake's delay per request")
    parser.add_argument("--jitter", type=float, default=0.2, help="jitter, a share of the delay")
    parser.add_argument("--slow-polls", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process polls")
    args = parser.parse_args()
    count = args.links
    configs = [WorkerConfig.parse(text) for text in args.workers.split(",")]
    latencies = [float(ms) for ms in args.latency_ms.split(",")]

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    fake = GoogleFake().start()
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)
    # Send through the broker as production does (the test settings would run tasks eagerly).
    app.conf.task_always_eager = False
    logs = Path(tempfile.mkdtemp(prefix="poll-bench-"))
    # The tasks log two INFO lines per poll, as in production; here they go to a file too, so
    # both sides pay for them and the output stays readable.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream((logs / "bench.log").open("a"))  # type: ignore[arg-type]
    try:
        begin = time.perf_counter()
        link_ids = make_links(count, fake)
        made = time.perf_counter() - begin
        settle(link_ids)
        for link_id in (link_ids[0], link_ids[len(link_ids) // 2], link_ids[-1]):
            check_quiet(fake, link_id)
        print(
            f"Setup: {count} Google links, {MEETINGS_PER_LINK} future meetings each, made in "
            f"{made:.0f} s and synced until quiet in {time.perf_counter() - begin - made:.0f} s; "
            "a sample's next poll: no SyncRun, 1 provider request"
        )
        runs = SyncRun.objects.count()

        engine = in_process(fake, link_ids)
        assert_all_quiet(runs)
        whole_sql, engine_sql = sql_per_poll(link_ids[0])
        results: dict[tuple[str, float], Figures] = {}
        rows = [engine]
        enqueue = []
        for ms in latencies:
            for config in configs:
                fake.set_latency(ms, ms * args.jitter, seed=17)
                slow = config.in_flight < 8 and ms > 10
                polled = link_ids[: args.slow_polls] if slow else link_ids
                label = f"{config.label} at {ms:g} ms" + (f" ({len(polled)} links)" if slow else "")
                figures = through_workers(
                    fake, polled, config=config, label=label,
                    log=logs / f"worker-{config.pool}{config.concurrency}.log",
                )  # fmt: skip
                fake.set_latency(0)
                assert_all_quiet(runs)
                results[(config.label, ms)] = figures
                rows.append(figures)
                enqueue.append(figures.enqueue or 0.0)

        load = os.getloadavg()[0]
        print(
            f"\nQuiet polls of {count} Google links. The Google fake is a thread of this bench "
            f"process (each answer after the latency: fixed, plus up to {args.jitter:.0%} "
            f"jitter), the workers processes of their own; {os.cpu_count()} CPUs shared with "
            f"PostgreSQL and Redis (1-minute load average {load:.1f} at the end)"
        )
        print(table(rows))
        print(
            "  CPU ms/poll: the processes running the polls (the workers with their children; "
            "in-process: the calling thread)\n"
            "  fake ms: the fake's CPU per request; PG ms: the PostgreSQL backends' CPU per poll "
            "(n/a: a new backend for every poll)\n"
            f"  the tasks were queued before the workers consumed (sending took "
            f"{min(enqueue, default=0):.1f}-{max(enqueue, default=0):.1f} s), so the producer "
            "does not pace the polls"
        )
        print(
            f"SQL statements per quiet poll: {whole_sql} (the task's own {whole_sql - engine_sql}, "
            f"run_link's {engine_sql}); provider requests per poll: "
            f"{min(f.requests / f.polls for f in rows):.2f}-"
            f"{max(f.requests / f.polls for f in rows):.2f}"
        )
        print(f"\nOne worker host, side by side ({os.cpu_count()} CPUs):")
        print(side_by_side(configs, latencies, results))
        print(
            f"\nActive links a host carries in a 3-minute cycle (polls/s x {CYCLE_SECONDS}; "
            f"target {TARGET_LINKS:,}, about {TARGET_LINKS / CYCLE_SECONDS:.0f} polls/s):"
        )
        for config in configs:
            carried = "   ".join(
                f"{results[(config.label, ms)].rate * CYCLE_SECONDS:7,.0f} at {ms:g} ms"
                for ms in latencies
            )
            print(f"  {config.label:28} {carried}")
        print(f"(worker logs in {logs})")
        if args.profile:
            print(f"\ncProfile of {count} in-process quiet polls (this thread only; fake excluded)")
            print(profile(link_ids, 25))
    finally:
        app.control.purge()
        fake.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
