"""The vdirsyncer side of ``bench/caldav_put_bench.py``: upload the ``.ics`` files of a folder
to a CalDAV calendar with vdirsyncer's own ``CalDAVStorage`` (aiohttp), at most ``concurrency``
PUTs at once, and print this process's CPU time and the wall time of the uploads as JSON.

Runs in its own environment (``bench/.vdirsyncer-venv``, ``pip install vdirsyncer==0.21.0``):
vdirsyncer is never a dependency of CalSync.

    bench/.vdirsyncer-venv/bin/python bench/vdirsyncer_puts.py URL USER PASSWORD FOLDER [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from vdirsyncer.storage.dav import CalDAVStorage
from vdirsyncer.vobject import Item


async def upload(url: str, user: str, password: str, folder: Path, concurrency: int) -> dict:
    texts = [p.read_text() for p in sorted(folder.glob("*.ics"))]
    items = [Item(text) for text in texts]
    connector = aiohttp.TCPConnector(limit=concurrency)
    storage = CalDAVStorage(url=url, username=user, password=password, connector=connector)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> str:
        async with gate:
            _href, etag = await storage.upload(item)
            return str(etag)

    cpu, wall = time.process_time(), time.perf_counter()
    etags = await asyncio.gather(*(one(i) for i in items))
    result = {
        "puts": len(etags),
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }
    await connector.close()
    return result


def main() -> None:
    url, user, password, folder = sys.argv[1:5]
    concurrency = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    print(json.dumps(asyncio.run(upload(url, user, password, Path(folder), concurrency))))


if __name__ == "__main__":
    main()
