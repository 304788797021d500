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
def start_worker(google_fake: GoogleFake, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    app.control.purge()
    workers: list[Worker] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "calsync.settings.test",
        "TEST_DATABASE_URL": database_url(),
        # A worker that enqueues (an on-commit push) sends to Redis, as in production.
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # The settings read these from the environment (calsync/settings/base.py).
        **google_fake.django_settings(),
    }

    def start(**extra: str) -> Worker:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "calsync", "worker",
                 "-Q", "interactive,background", "-c", "1", "-P", "solo",
                 "-n", f"sync-{os.getpid()}-{len(workers)}@%h"],
                cwd=ROOT, env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        worker = Worker(process, log_path)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.control.purge()


def wait_for(check: Callable[[], bool], worker: Worker, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if worker.poll() is not None:
            pytest.fail(f"the worker died: {worker.log()}")
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.2)
