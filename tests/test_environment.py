"""The environment the suite promises: real PostgreSQL and Redis, and the urllib3 decision."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import redis
import requests
import urllib3
from django.conf import settings
from django.core.cache import cache
from django.db import connection


def test_requests_uses_the_real_urllib3() -> None:
    # caldav -> niquests -> urllib3-future. Its wheel's .pth would copy urllib3-future over
    # urllib3 at start-up; we build it with URLLIB3_NO_OVERRIDE=1 (pyproject.toml) so requests,
    # google-auth and msal keep the urllib3 they were tested with.
    assert urllib3.__version__ == importlib.metadata.version("urllib3")
    assert not Path(urllib3.__file__).parent.joinpath(".u3f_sync").exists()
    site = Path(urllib3.__file__).parent.parent
    assert not list(site.glob("urllib3_future*.pth"))
    assert requests.adapters.HTTPAdapter().poolmanager.__class__.__module__.startswith("urllib3.")


def test_niquests_still_gets_urllib3_future() -> None:
    import niquests  # noqa: F401 - importing is the test
    import urllib3_future

    assert urllib3_future.__version__ == importlib.metadata.version("urllib3-future")


@pytest.mark.django_db
def test_database_is_postgresql() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('agenda_change_seq')")
        assert cursor.fetchone()[0] >= 1


def test_cache_is_the_real_redis() -> None:
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("environment-check", "ok", 10)
    raw = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert any(b"environment-check" in key for key in raw.keys("*environment-check*"))
