"""The one way the practice calendar tells other apps about its changes.

The agenda knows nothing of sync: it announces that an owner's meetings changed, once the write
has committed, and whoever subscribed reacts (``calsync`` subscribes in its ``AppConfig.ready``
and pushes the change to the owner's linked calendars, features 24-25 of docs/features.md). This
keeps the import direction one way: ``calsync`` imports ``agenda``, never the reverse.

The callbacks run in the context of the write (``contextvars.copy_context()`` at the time of the
write, run whenever the commit comes): a sync run's own writes carry the run's context, so a
subscriber can tell them apart (``calsync.engine.run.RUNNING_LINK``), and log lines keep the
run's ids.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger(__name__)

MeetingsChanged = Callable[[int], None]

_subscribers: list[MeetingsChanged] = []


def on_meetings_changed(callback: MeetingsChanged) -> MeetingsChanged:
    """Subscribe ``callback(owner_id)`` to committed changes of an owner's meetings. Subscribing
    the same callback twice keeps one subscription (``ready()`` may run more than once in tests).
    Returns the callback, so this works as a decorator."""
    if callback not in _subscribers:
        _subscribers.append(callback)
    return callback


def unsubscribe(callback: MeetingsChanged) -> None:
    if callback in _subscribers:
        _subscribers.remove(callback)


def subscribers() -> tuple[MeetingsChanged, ...]:
    return tuple(_subscribers)


def meetings_changed(owner_id: int) -> None:
    """Announce that ``owner_id``'s meetings changed in the current transaction: every subscriber
    is called once it commits (never for a write that rolls back), in the writer's context. One
    subscriber's failure is logged and does not keep the others from running."""
    context = contextvars.copy_context()
    callbacks = subscribers()

    def announce() -> None:
        for callback in callbacks:
            try:
                context.run(callback, owner_id)
            except Exception:
                log.exception("agenda: a meetings-changed subscriber failed for owner %s", owner_id)

    transaction.on_commit(announce)
