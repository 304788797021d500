"""The Celery app: the settings QUALITY.md asks for, the beat schedule, and a real worker
process consuming from the real Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from calsync.celery import app
from calsync.tasks import HEARTBEAT_KEY, heartbeat

ROOT = Path(__file__).resolve().parent.parent


def test_delivery_settings_hold_the_quality_promises() -> None:
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_reject_on_worker_lost is True
    # A task is killed before Redis would hand it to a second worker.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility
    # A run killed with its worker holds the link's lease until it expires; the redelivery comes
    # after that, so it can take the link over.
    assert conf.task_time_limit < settings.CALSYNC_LEASE_SECONDS < visibility
    assert {q.name for q in conf.task_queues} == {"interactive", "background"}
    assert conf.task_default_queue == "background"


def test_every_beat_entry_names_a_registered_task() -> None:
    app.loader.import_default_modules()
    assert app.conf.beat_schedule, "the beat schedule is declared in calsync/celery.py"
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


def test_heartbeat_records_when_it_ran() -> None:
    stamp = heartbeat.delay().get()
    assert cache.get(HEARTBEAT_KEY) == stamp


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process on the test settings' Redis broker."""
    app.control.purge()
    # Warnings only: nobody reads the pipe until the end, and a full pipe would block the worker.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "calsync.settings.test", "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "calsync",
            "worker",
            "-Q",
            "interactive,background",
            "-c",
            "1",
            "-P",
            "solo",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.worker
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_real_worker_runs_tasks_from_redis(worker: subprocess.Popen[bytes]) -> None:
    # send_task always goes through the broker, even with CELERY_TASK_ALWAYS_EAGER in tests.
    app.send_task("calsync.tasks.heartbeat", queue="interactive")
    deadline = time.monotonic() + 60
    while cache.get(HEARTBEAT_KEY) is None:
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        assert time.monotonic() < deadline, "the worker did not run the task within 60 s"
        time.sleep(0.2)
    assert cache.get(HEARTBEAT_KEY) is not None


@pytest.mark.django_db(transaction=True)
def test_a_connection_used_moments_ago_skips_the_health_check_an_idle_one_gets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between tasks the worker's handlers do what Django does around a request; the health
    check (a SELECT 1 per task with CONN_HEALTH_CHECKS) is skipped for a connection that
    answered the previous task less than RECENTLY_HEALTHY_SECONDS ago (issue 17: it was a third
    statement in every quiet poll)."""
    from types import SimpleNamespace

    from django.db import connection

    from calsync import celery as celery_module

    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.connect()  # with the settings above: health checks on, kept between tasks
    checks: list[bool] = []
    usable = connection.is_usable

    def counting() -> bool:
        checks.append(True)
        return usable()

    monkeypatch.setattr(connection, "is_usable", counting)
    task = SimpleNamespace(request=SimpleNamespace(is_eager=False))

    def one_task() -> None:
        celery_module._before_task(task=task)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        celery_module._after_task(task=task)

    one_task()
    one_task()  # right after the first: no check
    assert len(checks) <= 1
    before = len(checks)
    celery_module._last_task_end.at -= celery_module.RECENTLY_HEALTHY_SECONDS + 1
    one_task()  # after an idle spell: checked
    assert len(checks) == before + 1
    connection.close()
