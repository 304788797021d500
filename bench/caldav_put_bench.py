"""CalDAV first-sync PUTs: our client's CPU against vdirsyncer's for the same PUTs to the same
Radicale, in one run (issue 17 §3: CalSync used 3.6x vdirsyncer's client CPU).

    DJANGO_SETTINGS_MODULE=calsync.settings.test .venv/bin/python bench/caldav_put_bench.py \
        [--puts 1000] [--concurrency 4]

vdirsyncer runs in its own environment, never a dependency of the app:

    python3 -m venv bench/.vdirsyncer-venv
    bench/.vdirsyncer-venv/bin/pip install vdirsyncer==0.21.0

One Radicale process (real, on a free port) for all rows; each row PUTs N new events to a
calendar of its own. CPU is the client process's (``time.process_time``, all its threads;
Radicale is another process), for the uploads only:

* **CalSync now**: ``CalDAVConnector.create_many`` (the engine's call): iCalendar made from
  ``EventData`` with the cached VTIMEZONE, ``If-None-Match: *`` PUTs on the bounded pool, sent
  with urllib3.
* **the same, PUTs on niquests**: that, with each PUT through caldav's niquests session (the
  write path before the urllib3 one; the difference is the HTTP client's CPU).
* **CalSync before**: the same creates one by one with the VTIMEZONE built for every event and
  the PUTs through the library's session (what a first sync did before issue 17).
* **vdirsyncer**: ``CalDAVStorage.upload`` of the same iCalendar texts (the bytes CalSync
  made; vdirsyncer makes none, it copies items), the same number of PUTs at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")

import django

django.setup()

from connectors.base import NewItem, Written  # noqa: E402
from connectors.caldav import mapping  # noqa: E402
from connectors.caldav.connector import CalDAVConnector  # noqa: E402
from connectors.events import EventData  # noqa: E402
from tests.caldav_servers import CalDAVServer, running_radicale  # noqa: E402

VENV = Path(__file__).resolve().parent / ".vdirsyncer-venv" / "bin" / "python"
AMS = ZoneInfo("Europe/Amsterdam")


def events(count: int) -> list[NewItem]:
    start = datetime.now(AMS).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    base = EventData(
        uid="", title="", start=start, end=start, time_zone="Europe/Amsterdam", reminder_minutes=15
    )
    return [
        NewItem(
            replace(
                base,
                title=f"Session {n}",
                description=f"Meeting {n} of the first sync",
                location="Room 2",
                start=start + timedelta(days=n // 8, hours=n % 8),
                end=start + timedelta(days=n // 8, hours=n % 8, minutes=45),
            ),
            f"calsync-bench-{n:05d}",
        )
        for n in range(count)
    ]


def connector(server: CalDAVServer, concurrency: int) -> CalDAVConnector:
    return CalDAVConnector(
        calendar_url=server.new_calendar_url(),
        username=server.username,
        password=server.password,
        timeout=60,
        put_concurrency=concurrency,
    )


def ours(
    server: CalDAVServer, items: list[NewItem], concurrency: int, *, library_session: bool = False
) -> tuple[float, float]:
    client = connector(server, concurrency)
    if library_session:
        client._writer = None  # the PUTs through caldav's niquests session, as before
    mapping.vtimezone_text.cache_clear()
    mapping._vtimezones.cache_clear()
    cpu, wall = time.process_time(), time.perf_counter()
    results = client.create_many(items)
    took = time.process_time() - cpu, time.perf_counter() - wall
    assert all(isinstance(r, Written) for r in results), [
        r for r in results if not isinstance(r, Written)
    ][:3]
    return took


def before(server: CalDAVServer, items: list[NewItem]) -> tuple[float, float]:
    """One by one, the VTIMEZONE made for every event (the cache bypassed), each PUT through
    caldav's niquests session."""
    client = connector(server, 1)
    client._writer = None
    cached = mapping._vtimezones

    def uncached(zone: str, first: date, last: date) -> tuple[Any, ...]:
        return tuple(mapping._parse(mapping.vtimezone_text.__wrapped__(zone, first, last)))

    mapping._vtimezones = uncached  # type: ignore[assignment]
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for item in items:
            client.create(item.event, idempotency_key=item.idempotency_key)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        mapping._vtimezones = cached


def vdirsyncer(server: CalDAVServer, items: list[NewItem], concurrency: int) -> dict[str, float]:
    url = server.new_calendar_url()
    with tempfile.TemporaryDirectory() as folder:
        for item in items:
            text = mapping.to_ical(item.event, uid=item.idempotency_key, now=datetime.now(UTC))
            (Path(folder) / f"{item.idempotency_key}.ics").write_text(text)
        answer = subprocess.run(  # noqa: S603 (our own script and arguments)
            [str(VENV), str(Path(__file__).with_name("vdirsyncer_puts.py")), url,
             server.username, server.password, folder, str(concurrency)],
            capture_output=True, text=True, check=True, timeout=1800,
        )  # fmt: skip
    result: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
    assert result["puts"] == len(items), result
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if not VENV.exists():
        sys.exit(f"vdirsyncer's environment is missing: see this file's docstring ({VENV})")
    items = events(args.puts)
    with tempfile.TemporaryDirectory() as folder, running_radicale(Path(folder)) as server:
        rows = [
            ("CalSync now (create_many, pool)", *ours(server, items, args.concurrency)),
            (
                "  the same, PUTs on niquests",
                *ours(server, items, args.concurrency, library_session=True),
            ),
            ("CalSync before (one by one)", *before(server, items)),
        ]
        theirs = vdirsyncer(server, items, args.concurrency)
        rows.append(("vdirsyncer 0.21 (upload)", theirs["cpu_s"], theirs["wall_s"]))
    base = rows[-1][1]
    print(
        f"{args.puts} PUTs of new events to Radicale, {args.concurrency} at once "
        "(client process CPU; Radicale is another process)"
    )
    print(f"{'':34}{'CPU s':>8}{'ms/PUT':>9}{'wall s':>9}{'vs vdirsyncer':>15}")
    for name, cpu, wall in rows:
        print(f"{name:34}{cpu:8.2f}{cpu / args.puts * 1000:9.2f}{wall:9.2f}{cpu / base:14.2f}x")


if __name__ == "__main__":
    main()
