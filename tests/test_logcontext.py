"""Structured logs (calsync/logcontext.py): bound ids reach every logger's lines, in both formats.
The whole path on a real worker is in tests/test_worker_sync.py."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter

from calsync.logcontext import ContextFilter, PlainFormatter, bound, current
from calsync.settings.base import logging_config


@pytest.fixture
def stream() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield out, handler
    logger.removeHandler(handler)
    logger.propagate = True


def test_bound_ids_reach_any_logger_and_nest(stream: tuple[io.StringIO, logging.Handler]) -> None:
    out, handler = stream
    handler.setFormatter(PlainFormatter("%(levelname)s %(name)s %(message)s"))
    library = logging.getLogger("some.library")
    library.info("before")
    with bound(link_id=7, tenant_id=3):
        library.info("inside")
        with bound(run_id="7.12", task_id=None):
            library.debug("in the run")
        library.warning("after the run")
    library.info("after")
    assert out.getvalue().splitlines() == [
        "INFO some.library before",
        "INFO some.library inside tenant_id=3 link_id=7",
        "DEBUG some.library in the run tenant_id=3 link_id=7 run_id=7.12",
        "WARNING some.library after the run tenant_id=3 link_id=7",
        "INFO some.library after",
    ]
    assert current() == {}


def test_json_lines_carry_the_ids_as_fields_and_explicit_extra_wins(
    stream: tuple[io.StringIO, logging.Handler],
) -> None:
    out, handler = stream
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    with bound(link_id=7, run_id="7.12"):
        logging.getLogger("some.library").info("hello", extra={"link_id": 8, "status": "ok"})
    line = json.loads(out.getvalue())
    assert line == {
        "levelname": "INFO",
        "name": "some.library",
        "message": "hello",
        "link_id": 8,
        "run_id": "7.12",
        "status": "ok",
    }


def test_threads_keep_their_own_ids() -> None:
    seen: dict[str, dict[str, object]] = {}
    barrier = threading.Barrier(2)

    def run(name: str, link_id: int) -> None:
        with bound(link_id=link_id):
            barrier.wait()
            seen[name] = current()

    threads = [threading.Thread(target=run, args=(n, i)) for i, n in enumerate("ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": {"link_id": 0}, "b": {"link_id": 1}}


def test_the_log_format_setting_is_checked() -> None:
    assert logging_config("json")["handlers"]["console"]["formatter"] == "json"
    assert logging_config("plain")["handlers"]["console"]["filters"] == ["context"]
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be 'plain' or 'json'"):
        logging_config("xml")
