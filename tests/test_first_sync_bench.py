"""CI's short version of ``bench/first_sync_bench.py`` (issue 17 §3: the bench runs 10,000
meetings; this runs it with 120 and parts of no time at all, so every run stops after its first
batch and the first sync takes several parts on each provider)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_the_first_sync_bench_completes_a_chunked_first_sync_on_each_provider() -> None:
    db = settings.DATABASES["default"]
    # The bench makes (and drops) a database of its own, named apart from this test run's.
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}_bench"
    env = {
        **os.environ,
        "TEST_DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "calsync.settings.test",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "first_sync_bench.py"),
         "--meetings", "120", "--chunk-seconds", "0"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip()}
    for name, batch in (("google", 50), ("microsoft", 20), ("radicale", 50)):
        parts = int(rows[name][1])
        assert parts >= -(-120 // batch), rows[name]  # at least one part per batch
        assert rows[name][-3:] == ["120", "once", "each"], rows[name]
    assert int(rows["google"][5]) == 120 and int(rows["microsoft"][5]) == 120
