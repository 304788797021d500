"""The embedded default: SQLite, Celery over kombu's filesystem transport, console e-mail.

Nothing here needs a running service; ``make run`` uses it. Never use it in production: the secret
key below is public.
"""

from __future__ import annotations

from calsync.settings.base import *  # noqa: F403
from calsync.settings.base import VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key-do-not-use-in-production"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# A published key: fine for the demo's local data, never for production.
CALSYNC_CREDENTIAL_KEYS = env.list(
    "CALSYNC_CREDENTIAL_KEYS", default=["wDOEKcPxsV2e1Ux7iUbkg_9BCtlstylxJ4YmDHMJVEc="]
)

# The demo's local Radicale lives on 127.0.0.1 over http, so both are allowed unless the
# environment says otherwise (CALSYNC_ALLOW_PRIVATE_ADDRESSES=false tries the SSRF guard).
CALSYNC_ALLOW_PRIVATE_ADDRESSES = env.bool("CALSYNC_ALLOW_PRIVATE_ADDRESSES", default=True)
CALSYNC_ALLOW_HTTP = env.bool("CALSYNC_ALLOW_HTTP", default=True)

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'calsync.sqlite3'}"),
}
# SQLite under concurrent requests (the web process's threads, the worker, beat):
# * transaction_mode IMMEDIATE: a transaction takes the write lock when it begins. In the default
#   (DEFERRED) mode it starts as a reader and upgrades at its first write; when another writer
#   holds the lock, SQLite refuses the upgrade at once ("database is locked") without waiting,
#   since waiting could deadlock (https://www.sqlite.org/lang_transaction.html). Six concurrent
#   Buy requests gave one success and five 500s that way.
# * timeout / busy_timeout: wait up to 20 s for the write lock instead of failing at once.
# * WAL: readers do not wait for a writer, nor a writer for readers
#   (https://www.sqlite.org/wal.html).
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000"
            ),
        }
    )

# A file cache is shared by the web process and the worker (the heartbeat on /health/ and the
# login throttle need that); no cache server is needed.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}

# kombu's filesystem transport: the web process, the worker and beat exchange messages as files in
# var/broker, so the demo needs no Redis. Producers write to data_folder_out, consumers read
# data_folder_in: both point at the same folder.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "out"),
        "data_folder_out": str(VAR_DIR / "broker" / "out"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        # Broadcast (worker control) exchanges; kombu would otherwise use ./control.
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The demo's local stand-ins for Google, Microsoft and Stripe (scripts/run_demo.py sets these;
# calsync/standins.py). Production refuses to start with either.
CALSYNC_MICROSOFT_LOGIN_STANDIN = env.str("CALSYNC_MICROSOFT_LOGIN_STANDIN", default="")
CALSYNC_DEMO_STANDINS = env.bool("CALSYNC_DEMO_STANDINS", default=False)
_template_options = TEMPLATES[0]["OPTIONS"]
assert isinstance(_template_options, dict)
_template_options["context_processors"].append("calsync.standins.context")
