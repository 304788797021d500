"""The test settings: the real PostgreSQL and Redis on 127.0.0.1 (scripts/test starts them)."""

from __future__ import annotations

from calsync.settings.base import *  # noqa: F403
from calsync.settings.base import env

DEBUG = False
SECRET_KEY = "test-only-secret-key-that-is-long-enough-for-django-checks-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

CALSYNC_CREDENTIAL_KEYS = ["NR028lwQhapdIyWkYsW0Azkq9z8wkbejTDuKeDs4p3I="]

# The test servers live on 127.0.0.1 over http. The SSRF tests (tests/test_ssrf.py) turn the
# private addresses off and allow 127.0.0.1/32 only.
CALSYNC_ALLOW_PRIVATE_ADDRESSES = True
CALSYNC_ALLOWED_PRIVATE_NETWORKS = []
CALSYNC_ALLOW_HTTP = True

DATABASES = {
    "default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/calsync"),
}
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
CELERY_BROKER_URL = REDIS_URL
# Tests run tasks eagerly; the real worker processes that tests start (tests/workers.py) turn
# this off, so that they enqueue on Redis as in production.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The quota governor runs on every provider request in the tests (in Redis, as in production),
# with budgets no test reaches: tests/connectors/test_quota.py and the engine's quota tests set
# real-sized ones themselves.
CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE = 6_000_000.0
CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE = 6_000_000.0
CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES = 60_000_000.0
