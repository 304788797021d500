"""The embedded default under concurrency: real concurrent HTTP requests against SQLite with the
dev settings (tests/billing/sqlite_concurrency.py runs them in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("sqlite_concurrency.py")


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("sqlite-var")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**clean, "CALSYNC_VAR_DIR": str(var), "LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_six_concurrent_purchases_all_succeed(rounds: dict[str, Any]) -> None:
    # Deferred transactions gave one success and five "database is locked".
    assert [r["status"] for r in rounds["distinct"]] == [302] * 6


def test_six_concurrent_purchases_of_one_practitioner_charge_once(rounds: dict[str, Any]) -> None:
    statuses = sorted(r["status"] for r in rounds["same"])
    assert statuses == [200] * 5 + [302]
    refused = [r["errors"] for r in rounds["same"] if r["status"] == 200]
    # The service refuses it, or the form does when the winner had committed before it looked.
    assert all(
        e == ["staff6@c.test has calendar synchronisation already."]
        or e == ["Choose one of the practitioners in the list."]
        for e in refused
    ), refused
    assert rounds["subscriptions"] == 7


def test_huge_ids_in_choices_are_form_errors(rounds: dict[str, Any]) -> None:
    # SQLite cannot hold them: ModelMultipleChoiceField's query raised OverflowError (a 500).
    for probe in rounds["huge"]:
        assert probe["status"] == 200, probe
        assert any(
            "not one of the available choices" in e or "Choose one of the practitioners" in e
            for e in probe["errors"]
        ), probe
