"""Production: PostgreSQL and Redis required, secrets from the environment, HTTPS assumed.

A missing required value stops start-up with a message naming it (``ImproperlyConfigured``);
there is no fallback to the embedded default.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from calsync.settings.base import *  # noqa: F403
from calsync.settings.base import env, logging_config


def _required(name: str) -> str:
    value: str = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Production settings need it; see README.md, 'Configuration'."
        )
    return value


DEBUG = False
# One JSON object per log line, for the log aggregator; LOG_FORMAT=plain for a person at a terminal.
LOGGING = logging_config(env.str("LOG_FORMAT", default="json"))
SECRET_KEY = _required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is not set (comma-separated host names).")

DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode (docs/decisions.md, "Worker model"): server-side cursors
# do not survive a transaction pooler. Everything else CalSync does is per transaction (its
# advisory locks are pg_advisory_xact_lock), so nothing else needs to change.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DATABASE_BEHIND_TRANSACTION_POOLER", default=False
)

REDIS_URL = _required("REDIS_URL")
# No key, no start: credentials are never stored in plain text.
CALSYNC_CREDENTIAL_KEYS = [k for k in _required("CALSYNC_CREDENTIAL_KEYS").split(",") if k]
try:
    for _key in CALSYNC_CREDENTIAL_KEYS:
        Fernet(_key.encode())
except ValueError as _exc:
    raise ImproperlyConfigured(
        "CALSYNC_CREDENTIAL_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), "
        "comma-separated, newest first."
    ) from _exc
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# gunicorn serves the collected static files itself (docker-compose.yml has no separate web server).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS behind a proxy that sets X-Forwarded-Proto (see docker-compose.yml).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"


# --- never the demo's stand-ins (calsync/standins.py; issue 15 part 4) --------------------------
# scripts/run_demo.py points CalSync at local fakes of Google, Microsoft and Stripe. Production
# must talk to the real services: every provider and payment address is a public https URL,
# and the development-only switches are not set.
def _refuse_standins() -> None:
    import ipaddress
    from urllib.parse import urlsplit

    for switch in ("CALSYNC_MICROSOFT_LOGIN_STANDIN", "CALSYNC_DEMO_STANDINS"):
        if env.str(switch, default=""):
            raise ImproperlyConfigured(
                f"{switch} is set: it points CalSync at the demo's local stand-ins, never "
                "allowed in production."
            )
    addresses = {
        name: globals()[name]
        for name in (
            "CALSYNC_GOOGLE_AUTH_URI",
            "CALSYNC_GOOGLE_TOKEN_URI",
            "CALSYNC_GOOGLE_REVOKE_URI",
            "CALSYNC_GOOGLE_API_ENDPOINT",
            "CALSYNC_MICROSOFT_AUTHORITY",
            "CALSYNC_MICROSOFT_GRAPH_ENDPOINT",
            "STRIPE_API_BASE",
        )
    }
    for name, url in addresses.items():
        parts = urlsplit(str(url))
        host = (parts.hostname or "").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            local = host in ("", "localhost") or host.endswith((".localhost", ".local"))
        else:
            local = not address.is_global
        if parts.scheme != "https" or local:
            raise ImproperlyConfigured(
                f"{name} is {url!r}: production talks to the real service over https, not to "
                "a local stand-in (see README.md, 'Configuration')."
            )


_refuse_standins()
