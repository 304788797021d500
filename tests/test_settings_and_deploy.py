"""Settings per environment, checked in fresh interpreters (settings load once per process),
and the production files read as text (no Docker engine runs here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "calsync.settings.prod",
    "DJANGO_SECRET_KEY": "x" * 60,
    "DJANGO_ALLOWED_HOSTS": "calsync.example.com",
    "DATABASE_URL": "postgres://calsync:pw@db:5432/calsync",
    "REDIS_URL": "redis://redis:6379/0",
    "CALSYNC_CREDENTIAL_KEYS": "NR028lwQhapdIyWkYsW0Azkq9z8wkbejTDuKeDs4p3I=",
}


def load_settings(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    code = (
        f"import django; django.setup(); from django.conf import settings as s; print({expression})"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CALSYNC_CREDENTIAL_KEYS"]
)
def test_production_refuses_to_start_without_a_secret(missing: str) -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = load_settings(env, "s.DEBUG")
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} is not set" in result.stderr


def test_production_refuses_a_malformed_credential_key() -> None:
    result = load_settings({**PROD_ENV, "CALSYNC_CREDENTIAL_KEYS": "not-a-key"}, "s.DEBUG")
    assert "CALSYNC_CREDENTIAL_KEYS must be Fernet keys" in result.stderr


@pytest.mark.parametrize("provider", ["GOOGLE", "MICROSOFT"])
def test_a_provider_client_id_without_its_secret_refuses_to_start(provider: str) -> None:
    result = load_settings({**PROD_ENV, f"CALSYNC_{provider}_CLIENT_ID": "an-id"}, "s.DEBUG")
    assert result.returncode != 0
    assert f"CALSYNC_{provider}_CLIENT_ID is set but CALSYNC_{provider}_CLIENT_SECRET" in (
        result.stderr
    )


def test_microsoft_settings_default_to_microsofts_https_endpoints() -> None:
    result = load_settings(
        PROD_ENV, "s.CALSYNC_MICROSOFT_AUTHORITY, s.CALSYNC_MICROSOFT_GRAPH_ENDPOINT"
    )
    assert result.stdout.split() == [
        "https://login.microsoftonline.com/common",
        "https://graph.microsoft.com/v1.0",
    ]


def test_production_refuses_sqlite() -> None:
    result = load_settings({**PROD_ENV, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "s.DEBUG")
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_production_settings_load_with_everything_set() -> None:
    result = load_settings(
        PROD_ENV, "s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL"
    )
    assert result.stdout.strip() == "False django.db.backends.postgresql redis://redis:6379/0"


def test_development_default_needs_no_service() -> None:
    result = load_settings(
        {"DJANGO_SETTINGS_MODULE": "calsync.settings.dev"},
        "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND']",
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://localhost//",
        "django.core.cache.backends.filebased.FileBasedCache",
    ]


def test_compose_runs_the_production_shape() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    assert services["web"].get("command") is None  # the image's CMD: gunicorn
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()
    assert services["worker"]["command"][:4] == ["celery", "-A", "calsync", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "calsync", "beat"]
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    # Every setting production requires reaches the app containers.
    env = services["web"]["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "calsync.settings.prod"
    assert {"DATABASE_URL", "REDIS_URL"} <= set(env)
    example = (ROOT / ".env.example").read_text()
    assert "DJANGO_SECRET_KEY=" in example and "DJANGO_ALLOWED_HOSTS=" in example
    # The app waits for a healthy database and broker, and for migrations.
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_polls_on_threads_and_keeps_interactive_work_on_prefork() -> None:
    """The worker model of docs/decisions.md ("Worker model", issue 17): polls on the threads
    pool, two processes per host; interactive work on prefork (time limits apply); every queue
    consumed; the workers' metrics port set but not published."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    polls, interactive = services["worker"], services["worker-interactive"]
    command = polls["command"]
    assert command[command.index("-P") + 1] == "threads"
    assert int(command[command.index("--concurrency") + 1]) >= 16
    assert polls["deploy"]["replicas"] == 2
    assert "-P" not in interactive["command"]  # prefork, Celery's default
    queues = {
        q
        for s in (polls, interactive)
        for q in s["command"][s["command"].index("-Q") + 1].split(",")
    }
    assert queues == {"interactive", "background"}
    assert polls["environment"]["CALSYNC_METRICS_PORT"] == "9808" and "ports" not in polls
    assert polls["environment"]["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]


def test_a_malformed_trusted_proxy_refuses_to_start() -> None:
    result = load_settings({**PROD_ENV, "CALSYNC_TRUSTED_PROXIES": "10.0.0.1/8"}, "s.DEBUG")
    assert result.returncode != 0
    assert "CALSYNC_TRUSTED_PROXIES: '10.0.0.1/8' is not an IP address or network" in (
        result.stderr
    )


def test_gunicorn_trusts_the_proxies_django_trusts() -> None:
    """The Dockerfile's command gives gunicorn the CALSYNC_TRUSTED_PROXIES Django reads, and
    compose passes that one variable to the containers."""
    import json
    import re

    from gunicorn.config import Config

    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert cmd[:2] == ["sh", "-c"]
    proxies = "10.0.0.1,172.18.0.0/16"
    # Run the command's shell line with gunicorn replaced by printf, to see the argv it gets.
    line = cmd[2].replace("exec gunicorn", "exec printf '%s\\0' gunicorn")
    argv = subprocess.run(
        ["sh", "-c", line],
        env={"CALSYNC_TRUSTED_PROXIES": proxies, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")[1:-1]
    config = Config()
    parsed = config.parser().parse_args(argv)
    config.set("forwarded_allow_ips", parsed.forwarded_allow_ips)
    django_side = load_settings(
        {**PROD_ENV, "CALSYNC_TRUSTED_PROXIES": proxies}, "','.join(s.CALSYNC_TRUSTED_PROXIES)"
    )
    assert config.forwarded_allow_ips == django_side.stdout.strip().split(",")
    assert config.forwarded_allow_ips == ["10.0.0.1", "172.18.0.0/16"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["web"]["environment"]
    assert environment["CALSYNC_TRUSTED_PROXIES"] == "${CALSYNC_TRUSTED_PROXIES:-}"
