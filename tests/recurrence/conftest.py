"""The recurrence tests are pure: no database, no cache, no Django.

``tests/conftest.py`` clears the Redis cache around every test; this no-op fixture of the same name
overrides it for this directory, so these tests run without Redis (and with ``-p no:django
--confcutdir=tests/recurrence`` without Django at all).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    yield
