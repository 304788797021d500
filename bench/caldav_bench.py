"""A quiet CalDAV poll: requests and CPU per poll on real Radicale, Xandikos and Cyrus servers
(QUALITY.md: a no-change poll is 1 provider request, and its CPU no more than 2x that of the bare
client-library request).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/caldav_bench.py \
        [--servers radicale,xandikos,cyrus] [--events 20] [--polls 30] [--latency-ms 1,50]

Per server: a calendar with N events (made through the connector), then P quiet polls, each as a
sync run makes it (a new ``CalDAVConnector`` and ``changes(cursor)``), through a proxy in front of
the server (``tests.caldav_servers.CountingProxy``) that counts the requests reaching the server
and adds a delay per request to stand for the network (``--latency-ms``; 1 ms is loopback plus
the proxy). Beside it, the bare library request the poll is built on: a caldav ``DAVClient`` made
once, and its sync-collection REPORT with the same token.

CPU is this thread's CPU time (``time.thread_time``: the proxy's threads and the servers'
processes are not in it), median of the polls. Prints figures; asserts only that each poll was
quiet (nothing listed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")

import django

django.setup()

from caldav.davclient import DAVClient  # noqa: E402

from connectors.caldav.connector import CalDAVConnector  # noqa: E402
from tests.caldav_servers import (  # noqa: E402
    CalDAVServer,
    CountingProxy,
    running_cyrus,
    running_radicale,
    running_xandikos,
)
from tests.connectors.contract import sample  # noqa: E402


def _servers(folder: Path) -> dict[str, Callable[[], AbstractContextManager[CalDAVServer]]]:
    return {
        "radicale": lambda: running_radicale(folder / "radicale"),
        "xandikos": lambda: running_xandikos(folder / "xandikos"),
        "cyrus": running_cyrus,
    }


def _cpu_per_call(calls: Callable[[], object], polls: int) -> float:
    samples = []
    for _ in range(polls):
        start = time.thread_time()
        calls()
        samples.append(time.thread_time() - start)
    return statistics.median(samples)


def measure(server: CalDAVServer, events: int, polls: int, latency_ms: float) -> dict[str, float]:
    calendar_url = server.new_calendar_url()
    with CountingProxy(server.url, latency=latency_ms / 1000) as proxy:
        url = proxy.proxied(calendar_url)

        def connector() -> CalDAVConnector:
            return CalDAVConnector(
                calendar_url=url, username=server.username, password=server.password, timeout=30
            )

        writer = connector()
        for i in range(events):
            # Unique per calendar: Cyrus refuses a UID of an event with attendees that another
            # calendar of the user has (RFC 6638 §3.2.4.1).
            key = f"bench-{calendar_url.rstrip('/').rsplit('/', 1)[-1]}-{i}"
            writer.create(sample(title=f"Event {i}"), idempotency_key=key)
        cursor = connector().changes(None).cursor

        def poll() -> None:
            assert connector().changes(cursor).items == ()

        poll()  # warm: imports, connection pools
        proxy.reset()
        wall = time.perf_counter()
        cpu = _cpu_per_call(poll, polls)
        wall = (time.perf_counter() - wall) / polls
        requests = len(proxy.requests) / polls

        # The bare library request: one client, the sync-collection REPORT alone.
        client = DAVClient(
            url=url, username=server.username, password=server.password, auth_type="basic"
        )
        calendar = client.calendar(url=url)  # type: ignore[no-untyped-call]

        def bare() -> None:
            calendar.get_objects_by_sync_token(
                sync_token=cursor, load_objects=False, disable_fallback=True
            )

        bare()
        bare_cpu = _cpu_per_call(bare, polls)
    return {"requests": requests, "cpu": cpu, "bare_cpu": bare_cpu, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", default="radicale,xandikos,cyrus")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--latency-ms", default="1,50")
    args = parser.parse_args()
    latencies = [float(v) for v in args.latency_ms.split(",")]
    print(
        f"Quiet CalDAV poll, {args.events} events in the calendar, {args.polls} polls each "
        "(a new connector per poll, as a sync run makes it)"
    )
    print(
        f"{'server':<9} {'latency':>8} {'requests/poll':>14} {'poll CPU':>10} "
        f"{'bare CPU':>10} {'ratio':>6} {'poll wall':>10}"
    )
    with tempfile.TemporaryDirectory(prefix="caldav-bench-") as tmp, ExitStack() as stack:
        starters = _servers(Path(tmp))
        for name in args.servers.split(","):
            server = stack.enter_context(starters[name]())
            for latency in latencies:
                got = measure(server, args.events, args.polls, latency)
                print(
                    f"{name:<9} {latency:>6.0f}ms {got['requests']:>14.2f} "
                    f"{got['cpu'] * 1000:>8.2f}ms {got['bare_cpu'] * 1000:>8.2f}ms "
                    f"{got['cpu'] / got['bare_cpu']:>5.2f}x {got['wall'] * 1000:>8.1f}ms"
                )


if __name__ == "__main__":
    main()
