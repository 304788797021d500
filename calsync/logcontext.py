"""Structured logs: the link, tenant and run a line belongs to, on every line of a run.

A sync run crosses several layers (the task, the engine, a connector, the client libraries' own
loggers), and a worker interleaves many runs. Rather than pass ids to every ``log`` call, the
task and the engine *bind* them for the duration of a run (a ``ContextVar``, so threads and
Celery's solo/threads pools keep runs apart), and :class:`ContextFilter`, installed on the log
handlers in ``LOGGING``, copies them onto every record the handler emits, whichever logger made
it. The plain formatter prints them as ``key=value``; the JSON formatter (python-json-logger,
the production default) as fields.

    with bound(link_id=link.pk, tenant_id=link.tenant_id):
        log.info("sync starting")   # ... link_id=42 tenant_id=3
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The keys a run binds, in the order the plain format prints them.
KEYS = ("tenant_id", "link_id", "run_id", "task_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("calsync_log_context", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line made until the block ends (nested blocks add to it)."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict[str, Any]:
    """The fields bound now (for tests and for handing to another thread)."""
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record. A field given explicitly with ``extra=`` wins:
    it is the more specific of the two."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class PlainFormatter(logging.Formatter):
    """The development format: the usual line, then the bound ids as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = " ".join(f"{k}={getattr(record, k)}" for k in KEYS if hasattr(record, k))
        return f"{line} {pairs}" if pairs else line
