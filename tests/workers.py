"""Real Celery worker processes for tests (a pytest plugin, see tests/conftest.py).

``start_worker(**env)`` starts ``celery worker`` on the test Redis broker, configured through the
environment as in production: the test database, the Google fake's settings, and whatever the
test adds (a short lease, ``LOG_FORMAT=json``). Its stderr goes to a file (a pipe nobody reads
would fill up and block a chatty worker); ``Worker.log()`` reads it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from calsync.celery import app
from tests.fakes.google import GoogleFake

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def poll(self) -> int | None:
        return self.process.poll()

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def database_url() -> str:
    """The database this test runs on (pytest-django's test database), for the worker."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_env(google_fake: GoogleFake) -> dict[str, str]:
    """The environment of worker and beat processes, as production would set it."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "calsync.settings.test",
        "TEST_DATABASE_URL": database_url(),
        # Whatever a worker or beat enqueues goes to Redis, as in production.
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # The settings read these from the environment (calsync/settings/base.py).
        **google_fake.django_settings(),
    }


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> Worker:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "calsync", *argv],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    return Worker(process, log_path)


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    app.control.purge()
    workers: list[Worker] = []

    def start(**extra: str) -> Worker:
        name = f"sync-{os.getpid()}-{len(workers)}@%h"
        worker = _spawn(
            ["worker", "-Q", "interactive,background", "-c", "1", "-P", "solo", "-n", name],
            {**worker_env, **extra},
            tmp_path / f"worker-{len(workers)}.log",
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.control.purge()


@pytest.fixture
def start_beat(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Starts the one beat process (its schedule file in the test's temporary folder)."""
    beats: list[Worker] = []

    def start(**extra: str) -> Worker:
        beat = _spawn(
            ["beat", "-s", str(tmp_path / "celerybeat-schedule")],
            {**worker_env, **extra},
            tmp_path / "beat.log",
        )
        beats.append(beat)
        return beat

    yield start
    for beat in beats:
        beat.stop()


def wait_for(check: Callable[[], bool], worker: Worker, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if worker.poll() is not None:
            pytest.fail(f"the worker died: {worker.log()}")
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.2)
