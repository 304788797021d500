"""The fake-server tests need no database, cache or Django.

``tests/conftest.py`` clears the Redis cache around every test; this no-op fixture of the same name
overrides it for this directory (as ``tests/recurrence/conftest.py`` does), so these tests run
without Redis. The ``google_fake`` fixture comes from ``tests.fakes.fixtures``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fixtures import google_fake, microsoft_fake, oauth_env, stripe_fake

__all__ = ["google_fake", "microsoft_fake", "oauth_env", "stripe_fake"]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    yield
