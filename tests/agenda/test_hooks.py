"""The agenda announces committed changes through ``agenda.hooks``; ``calsync`` subscribes. The
calendar app imports nothing of sync (issue 15 part 5)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from agenda import hooks
from calsync.engine.run import RUNNING_LINK
from calsync.scheduler import push_for_owner
from tests.factories import make_meeting

AGENDA = Path(__file__).resolve().parents[2] / "agenda"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_agenda_module_imports_calsync() -> None:
    offenders = {
        str(path.relative_to(AGENDA.parent)): sorted(
            name for name in _imports(path) if name.split(".")[0] == "calsync"
        )
        for path in AGENDA.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_calendar_app_loads_without_the_sync_app() -> None:
    # A project with accounts and agenda only: every agenda module the web app uses imports,
    # and nothing of calsync (or of billing and connectors, which need it) is loaded.
    script = """
import sys, django_stubs_ext, django
django_stubs_ext.monkeypatch()
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "django.contrib.sessions", "django.contrib.messages", "accounts", "agenda"],
    AUTH_USER_MODEL="accounts.User", USE_TZ=True,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import agenda.hooks, agenda.models, agenda.selectors, agenda.services, agenda.forms
import agenda.views, agenda.settings_views, agenda.changeseq
print(sorted(m for m in sys.modules if m.split(".")[0] in ("calsync", "billing", "connectors")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=AGENDA.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_calsync_subscribes_its_push_at_start_up() -> None:
    assert push_for_owner in hooks.subscribers()


@pytest.mark.django_db
def test_subscribers_hear_of_a_change_after_commit_in_the_writers_context(
    staff: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    heard: list[tuple[int, int | None]] = []

    def listener(owner_id: int) -> None:
        heard.append((owner_id, RUNNING_LINK.get()))

    def broken(owner_id: int) -> None:
        raise RuntimeError("a subscriber's bug")

    hooks.on_meetings_changed(broken)
    hooks.on_meetings_changed(listener)
    hooks.on_meetings_changed(listener)  # once only
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            token = RUNNING_LINK.set(4711)  # as a sync run's own write
            try:
                make_meeting(staff, title="Imported")
            finally:
                RUNNING_LINK.reset(token)
            assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()  # the commit comes after the run's context was left
        # The broken subscriber did not keep the listener from hearing, in the write's context.
        assert heard == [(staff.pk, 4711)]
    finally:
        hooks.unsubscribe(broken)
        hooks.unsubscribe(listener)
