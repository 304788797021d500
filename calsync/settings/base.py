"""Settings shared by every environment. Values come from the environment (django-environ) so the
same code runs on a laptop, in CI and in ``docker compose``."""

from __future__ import annotations

import ipaddress
import os
from datetime import date
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of the embedded default (SQLite, broker folders, cache, Radicale).
VAR_DIR = Path(os.environ.get("CALSYNC_VAR_DIR", str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "agenda",
    "calsync",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (Accept-Language) for anonymous pages; UserLanguageMiddleware below
    # puts the user's own choice (My Account) over it once the user is known.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.DeviceCookieMiddleware",
    "accounts.middleware.ActivityMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "calsync.urls"
WSGI_APPLICATION = "calsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages CalSync is translated into (issue 18 §11): a user picks one in My Account; until
# then the browser's language decides, and English is the fallback for any other.
LANGUAGES = [("en", "English"), ("nl", "Nederlands")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
# CalSync's own named date formats per language (calsync/formats/en/formats.py says why).
FORMAT_MODULE_PATH = ["calsync.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="CalSync <calsync@localhost>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12

# --- product settings (PRODUCT 19-23) --------------------------------------------------------
# The far-future end given to series that repeat forever on the provider's side (PRODUCT 21).
CALSYNC_NO_END_DATE: date = date.fromisoformat(env.str("CALSYNC_NO_END_DATE", default="2078-12-31"))
# A user counts as active when they used the web app within this many minutes (PRODUCT 23).
CALSYNC_ACTIVE_WINDOW_MINUTES = env.int("CALSYNC_ACTIVE_WINDOW_MINUTES", default=30)
# Minutes, fractions allowed (tests/test_many_hosts.py polls every 20 s).
CALSYNC_ACTIVE_POLL_MINUTES = env.float("CALSYNC_ACTIVE_POLL_MINUTES", default=3.0)
CALSYNC_INACTIVE_POLL_MINUTES = env.float("CALSYNC_INACTIVE_POLL_MINUTES", default=50.0)
# Each poll interval is stretched or shrunk by up to this share, so links set up together spread.
CALSYNC_POLL_JITTER = env.float("CALSYNC_POLL_JITTER", default=0.1)
# How often beat runs the dispatcher, and how many links one claiming statement takes.
CALSYNC_DISPATCH_SECONDS = env.float("CALSYNC_DISPATCH_SECONDS", default=15.0)
CALSYNC_DISPATCH_BATCH = env.int("CALSYNC_DISPATCH_BATCH", default=500)
# A round's first links get a message each from the dispatcher (about half a second's sending);
# the rest go in fan-out messages of this many links that workers expand (calsync.scheduler).
CALSYNC_DISPATCH_DIRECT = env.int("CALSYNC_DISPATCH_DIRECT", default=1000)
CALSYNC_DISPATCH_FANOUT_SIZE = env.int("CALSYNC_DISPATCH_FANOUT_SIZE", default=100)
# Back-off after failures in a row: base * 2**(failures-1), capped (Retry-After may ask for more).
CALSYNC_BACKOFF_BASE_SECONDS = env.int("CALSYNC_BACKOFF_BASE_SECONDS", default=60)
CALSYNC_BACKOFF_MAX_SECONDS = env.int("CALSYNC_BACKOFF_MAX_SECONDS", default=3600)
# An agenda write pushes after this many seconds, so a burst of edits makes one run. It is most
# of the time from saving here to the external calendar, which QUALITY.md wants under 5 s.
CALSYNC_PUSH_DEBOUNCE_SECONDS = env.int("CALSYNC_PUSH_DEBOUNCE_SECONDS", default=2)
# The Synchronize button: at most one press per user in this many seconds.
CALSYNC_SYNC_BUTTON_SECONDS = env.int("CALSYNC_SYNC_BUTTON_SECONDS", default=5)

# --- provider push (PRODUCT 36, calsync/push.py) ----------------------------------------------
# The address Google and Microsoft call with change notifications (https; the webhook paths
# /push/google/ and /push/microsoft/ are added to it). Empty: push is off and every link polls.
CALSYNC_PUBLIC_URL: str = env.str("CALSYNC_PUBLIC_URL", default="").rstrip("/")
if CALSYNC_PUBLIC_URL:
    from urllib.parse import urlsplit as _urlsplit

    _public = _urlsplit(CALSYNC_PUBLIC_URL)
    _local = _public.hostname in ("localhost", "127.0.0.1", "::1")
    if not _public.hostname or not (
        _public.scheme == "https" or (_public.scheme == "http" and _local)
    ):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"CALSYNC_PUBLIC_URL must be an https address (Google and Microsoft call only "
            f"https), such as https://calsync.example.com; got {CALSYNC_PUBLIC_URL!r}. Plain "
            "http is taken for localhost only (tests, the demo)."
        )
# Lifetimes asked for: Google's default and usual TTL is 7 days (PROTOCOLS §1.9); Outlook event
# subscriptions may live 10,080 minutes by the current documents but 4,230 by older ones, so
# 4,200 stays under both (§2.6).
CALSYNC_GOOGLE_CHANNEL_DAYS = env.int("CALSYNC_GOOGLE_CHANNEL_DAYS", default=7)
CALSYNC_GRAPH_SUBSCRIPTION_MINUTES = env.int("CALSYNC_GRAPH_SUBSCRIPTION_MINUTES", default=4200)
# A channel is renewed (Graph) or replaced (Google) when less than this remains of it.
CALSYNC_PUSH_RENEW_HOURS = env.int("CALSYNC_PUSH_RENEW_HOURS", default=24)
# How often beat looks after channels: makes missing ones, renews, stops, retries stops.
CALSYNC_PUSH_MAINTAIN_SECONDS = env.float("CALSYNC_PUSH_MAINTAIN_SECONDS", default=60.0)
# After a channel could not be made, the next try waits this long.
CALSYNC_PUSH_RETRY_MINUTES = env.int("CALSYNC_PUSH_RETRY_MINUTES", default=30)
# A poll that finds outside changes no notification announced makes the channel suspect; if
# no notification comes within this many minutes it is replaced (it died silently).
CALSYNC_PUSH_SUSPECT_MINUTES = env.int("CALSYNC_PUSH_SUSPECT_MINUTES", default=10)
# Poll interval of a link whose channel is healthy, in minutes; 0 keeps the normal cadence
# (CALSYNC_ACTIVE/INACTIVE_POLL_MINUTES). Polling stays the safety net either way.
CALSYNC_PUSH_POLL_MINUTES = env.int("CALSYNC_PUSH_POLL_MINUTES", default=0)
# Every link reads its whole calendar and diffs it against the mappings at least this often,
# whatever push and the incremental cursor say (engine/run.py).
CALSYNC_FULL_RECONCILE_HOURS = env.int("CALSYNC_FULL_RECONCILE_HOURS", default=24)
# last_seen_at is written at most this often per user, so activity tracking costs one UPDATE a
# minute per active user rather than one per request.
ACCOUNTS_ACTIVITY_RESOLUTION_SECONDS = 60
# Login throttle (accounts/throttle.py): failed attempts allowed in the window per account (on
# browsers without the account's device cookie; on one with it, per that cookie) and, separately,
# per client address, higher because a whole practice may share one address.
ACCOUNTS_LOGIN_MAX_FAILURES = env.int("ACCOUNTS_LOGIN_MAX_FAILURES", default=5)
ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT = env.int(
    "ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT", default=30
)
ACCOUNTS_LOGIN_WINDOW_SECONDS = env.int("ACCOUNTS_LOGIN_WINDOW_SECONDS", default=15 * 60)
# How long a browser stays trusted for an account after a successful login or password reset.
ACCOUNTS_DEVICE_COOKIE_DAYS = env.int("ACCOUNTS_DEVICE_COOKIE_DAYS", default=365)
# Password-reset e-mails: requests allowed in the window per address asked for and per client.
ACCOUNTS_RESET_MAX_PER_ACCOUNT = env.int("ACCOUNTS_RESET_MAX_PER_ACCOUNT", default=3)
ACCOUNTS_RESET_MAX_PER_CLIENT = env.int("ACCOUNTS_RESET_MAX_PER_CLIENT", default=10)
ACCOUNTS_RESET_WINDOW_SECONDS = env.int("ACCOUNTS_RESET_WINDOW_SECONDS", default=60 * 60)
# Public sign-up of new practices (feature 40): off for invite-only installations, where operators
# create practices in the Django admin and administrators invite their people.
ACCOUNTS_SIGNUP_OPEN = env.bool("ACCOUNTS_SIGNUP_OPEN", default=True)
# How long the e-mailed verification link works.
ACCOUNTS_SIGNUP_LINK_HOURS = env.int("ACCOUNTS_SIGNUP_LINK_HOURS", default=48)
# Sign-up requests allowed in the window per e-mail address and per client address.
ACCOUNTS_SIGNUP_MAX_PER_EMAIL = env.int("ACCOUNTS_SIGNUP_MAX_PER_EMAIL", default=3)
ACCOUNTS_SIGNUP_MAX_PER_CLIENT = env.int("ACCOUNTS_SIGNUP_MAX_PER_CLIENT", default=10)
ACCOUNTS_SIGNUP_WINDOW_SECONDS = env.int("ACCOUNTS_SIGNUP_WINDOW_SECONDS", default=60 * 60)
# How long an invitation's link works (a resend starts it again).
ACCOUNTS_INVITATION_DAYS = env.int("ACCOUNTS_INVITATION_DAYS", default=7)
# The reverse proxies in front of the web process (addresses or networks, comma-separated): only
# from them is X-Forwarded-For believed, for the client address the throttles count. The
# Dockerfile hands the same list to gunicorn as --forwarded-allow-ips. Empty: REMOTE_ADDR only.
CALSYNC_TRUSTED_PROXIES: list[str] = env.list("CALSYNC_TRUSTED_PROXIES", default=[])
for _proxy in CALSYNC_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=True)
    except ValueError as _exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"CALSYNC_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network "
            "(e.g. 172.18.0.2 or 172.18.0.0/16, with no host bits set)."
        ) from _exc

# Fernet keys for credentials at rest, newest first (connectors/credentials.py explains rotation).
CALSYNC_CREDENTIAL_KEYS: list[str] = env.list("CALSYNC_CREDENTIAL_KEYS", default=[])
# The name of a dedicated calendar is this prefix plus the user's name (PRODUCT 4).
CALSYNC_CALENDAR_PREFIX = env.str("CALSYNC_CALENDAR_PREFIX", default="CS_")

# CalDAV addresses are user input (SSRF): every connection to a private, loopback or other
# non-public address, and plain http, is refused unless an operator allows it
# (connectors/net.py): all of them, or the networks listed (CIDRs, e.g. an internal CalDAV
# server's "10.0.0.5/32"). The demo and tests allow both.
CALSYNC_ALLOW_PRIVATE_ADDRESSES = env.bool("CALSYNC_ALLOW_PRIVATE_ADDRESSES", default=False)
CALSYNC_ALLOWED_PRIVATE_NETWORKS: list[str] = env.list(
    "CALSYNC_ALLOWED_PRIVATE_NETWORKS", default=[]
)
for _network in CALSYNC_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"CALSYNC_ALLOWED_PRIVATE_NETWORKS: {_network!r} is not a network such as "
            "10.0.0.0/8 or fd00::/8 (comma-separated)."
        ) from _exc
CALSYNC_ALLOW_HTTP = env.bool("CALSYNC_ALLOW_HTTP", default=False)
# Every outgoing provider request has a timeout (seconds).
CALSYNC_HTTP_TIMEOUT = env.int("CALSYNC_HTTP_TIMEOUT", default=30)
CALSYNC_ICLOUD_URL = "https://caldav.icloud.com/"
# A CalDAV event larger than this is skipped with a message, never read or parsed (bytes).
CALSYNC_CALDAV_MAX_ITEM_BYTES = env.int("CALSYNC_CALDAV_MAX_ITEM_BYTES", default=4_000_000)
# Concurrent PUTs per CalDAV server and worker process during a first sync (issue 17 §3).
CALSYNC_CALDAV_PUT_CONCURRENCY = env.int("CALSYNC_CALDAV_PUT_CONCURRENCY", default=4)
# A run stops applying after this many seconds, commits what it did and continues in a new run
# at once (issue 17 §3), well inside the task's soft time limit (CELERY_TASK_SOFT_TIME_LIMIT).
CALSYNC_RUN_CHUNK_SECONDS = env.float("CALSYNC_RUN_CHUNK_SECONDS", default=120.0)
# A run the quota governor holds back (connectors/quota.py) is queued again directly when its
# wait is at most this long (seconds); a longer wait is left to the dispatcher.
CALSYNC_QUOTA_REQUEUE_SECONDS = env.float("CALSYNC_QUOTA_REQUEUE_SECONDS", default=60.0)
# The quota governor (connectors/quota.py, issue 17 §4): token buckets in Redis shared by every
# worker (this URL, else REDIS_URL; neither: in-process, for the embedded demo).
CALSYNC_QUOTA_REDIS_URL = env.str("CALSYNC_QUOTA_REDIS_URL", default="")
# Calls per Google batch request (issue 17 §3; Google takes up to 1000, counts each call).
CALSYNC_GOOGLE_BATCH_SIZE = env.int("CALSYNC_GOOGLE_BATCH_SIZE", 50)
# Google's default Calendar API quotas (per minute; every call in a batch counts).
CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE = env.float("CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE", 600.0)
CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE = env.float(
    "CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE", 10_000.0
)
# Graph's Outlook limits per app and mailbox: requests per 10 minutes, requests at once.
CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES = env.float(
    "CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES", 10_000.0
)
CALSYNC_GRAPH_MAILBOX_CONCURRENCY = env.int("CALSYNC_GRAPH_MAILBOX_CONCURRENCY", 4)
# A bucket holds this many seconds of its rate (at least one batch): the largest burst.
CALSYNC_QUOTA_BURST_SECONDS = env.float("CALSYNC_QUOTA_BURST_SECONDS", 10.0)
# A request waits for its tokens up to this long; past it, the run is rescheduled.
CALSYNC_QUOTA_MAX_WAIT_SECONDS = env.float("CALSYNC_QUOTA_MAX_WAIT_SECONDS", 15.0)
# The share of each bucket that bulk work (a first sync's writes) leaves to polls.
CALSYNC_QUOTA_BULK_RESERVE = env.float("CALSYNC_QUOTA_BULK_RESERVE", 0.25)

# Google Calendar (PROTOCOLS.md §1). Switched on by setting the client id; the endpoints are
# settings so the tests can point the real client libraries at the fake in tests/fakes/.
CALSYNC_GOOGLE_CLIENT_ID = env.str("CALSYNC_GOOGLE_CLIENT_ID", default="")
CALSYNC_GOOGLE_CLIENT_SECRET = env.str("CALSYNC_GOOGLE_CLIENT_SECRET", default="")
CALSYNC_GOOGLE_AUTH_URI = env.str(
    "CALSYNC_GOOGLE_AUTH_URI", default="https://accounts.google.com/o/oauth2/auth"
)
CALSYNC_GOOGLE_TOKEN_URI = env.str(
    "CALSYNC_GOOGLE_TOKEN_URI", default="https://oauth2.googleapis.com/token"
)
CALSYNC_GOOGLE_REVOKE_URI = env.str(
    "CALSYNC_GOOGLE_REVOKE_URI", default="https://oauth2.googleapis.com/revoke"
)
CALSYNC_GOOGLE_API_ENDPOINT = env.str(
    "CALSYNC_GOOGLE_API_ENDPOINT", default="https://www.googleapis.com/calendar/v3/"
)
if CALSYNC_GOOGLE_CLIENT_ID and not CALSYNC_GOOGLE_CLIENT_SECRET:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "CALSYNC_GOOGLE_CLIENT_ID is set but CALSYNC_GOOGLE_CLIENT_SECRET is not: Google Calendar "
        "is switched on but not configured."
    )

# Microsoft 365 / Outlook (PROTOCOLS.md §2). Switched on by setting the client id. msal only
# accepts https authorities (§2.8): tests keep Microsoft's authority and reach the fake through
# the http_client msal is given (connectors/microsoft/oauth.py).
CALSYNC_MICROSOFT_CLIENT_ID = env.str("CALSYNC_MICROSOFT_CLIENT_ID", default="")
CALSYNC_MICROSOFT_CLIENT_SECRET = env.str("CALSYNC_MICROSOFT_CLIENT_SECRET", default="")
CALSYNC_MICROSOFT_AUTHORITY = env.str(
    "CALSYNC_MICROSOFT_AUTHORITY", default="https://login.microsoftonline.com/common"
)
CALSYNC_MICROSOFT_GRAPH_ENDPOINT = env.str(
    "CALSYNC_MICROSOFT_GRAPH_ENDPOINT", default="https://graph.microsoft.com/v1.0"
)
# The calendarView/delta window (§2.2): v1.0 has delta only over a bounded window.
CALSYNC_MICROSOFT_WINDOW_PAST_DAYS = env.int("CALSYNC_MICROSOFT_WINDOW_PAST_DAYS", default=30)
CALSYNC_MICROSOFT_WINDOW_FUTURE_DAYS = env.int("CALSYNC_MICROSOFT_WINDOW_FUTURE_DAYS", default=730)
if CALSYNC_MICROSOFT_CLIENT_ID and not CALSYNC_MICROSOFT_CLIENT_SECRET:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "CALSYNC_MICROSOFT_CLIENT_ID is set but CALSYNC_MICROSOFT_CLIENT_SECRET is not: "
        "Microsoft 365 / Outlook is switched on but not configured."
    )

# --- billing (PRODUCT 28-32): installation defaults; operators override them per tenant in the
# Django admin (billing.BillingPlan).
BILLING_PRICE_CREDITS = env.int("BILLING_PRICE_CREDITS", default=25)
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", default=30)
# "per_practitioner" (subscriptions, the default) or "tenant_wide" (one activation, every staff
# user charged each month).
BILLING_DEFAULT_MODE = env.str("BILLING_DEFAULT_MODE", default="per_practitioner")
# How many ledger entries the Settings > Integrations page lists.
BILLING_LEDGER_PAGE_SIZE = 50
# Administrators are warned when the renewals of the next this many days need more credits than
# the balance holds (Settings > Integrations and Credits), before any of them would lapse.
BILLING_LOW_BALANCE_DAYS = env.int("BILLING_LOW_BALANCE_DAYS", default=7)

# --- buying credits by card (feature 41): Stripe Checkout. Switched on by the secret key; the
# webhook's signing secret is then required too (the credits come only from a verified webhook).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Stripe's API address; the tests and the demo point it at the stand-in in tests/fakes/stripe.py.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# A webhook signed longer ago than this is refused (a replayed old delivery); Stripe's default.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
if STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: buying credits by card is "
        "switched on but its webhook cannot be verified."
    )
# The credit packs on sale: comma-separated "<credits>=<price in the currency's smallest unit>",
# e.g. 100 credits for 25.00 EUR is 100=2500.
BILLING_CREDIT_PACKS = env.str("BILLING_CREDIT_PACKS", default="100=2500,250=5500,500=10000")
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="eur").lower()

# The mass-delete guard (PRODUCT 18): a run that would delete more than this share of a link's
# synchronised meetings (and at least the minimum count) stops and asks the user.
CALSYNC_MASS_DELETE_SHARE = env.float("CALSYNC_MASS_DELETE_SHARE", default=0.5)
CALSYNC_MASS_DELETE_MINIMUM = env.int("CALSYNC_MASS_DELETE_MINIMUM", default=5)
# How long the per-meeting sync history (calsync.models.SyncChange) is kept; a daily beat task
# removes older rows.
CALSYNC_HISTORY_RETENTION_DAYS = env.int("CALSYNC_HISTORY_RETENTION_DAYS", default=90)

# --- Celery (QUALITY.md "Celery settings that hold these promises") ----------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    # A task not acknowledged within this time is redelivered by Redis; every time limit below
    # stays well under it so a slow task is killed before it is delivered a second time.
    # Set lower only by the SIGKILL test's worker, to see the redelivery within seconds.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker dies is redelivered (acks_late). Tasks guard against the second delivery
# themselves (leases, idempotency keys), so rejecting on worker loss is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "background"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# The run lease of the engine (calsync/engine/run.py): above CELERY_TASK_TIME_LIMIT, below the
# visibility timeout (tests/test_celery.py checks the order).
CALSYNC_LEASE_SECONDS = env.int("CALSYNC_LEASE_SECONDS", default=600)
# Prometheus metrics (calsync/metrics.py, README "Metrics"). The web's /metrics answers 404 until
# a token is set, then only to "Authorization: Bearer <token>". Workers serve their own counters
# on a port of their own (0: off), bound to CALSYNC_METRICS_ADDRESS; publish neither port.
CALSYNC_METRICS_TOKEN = env.str("CALSYNC_METRICS_TOKEN", default="")
CALSYNC_METRICS_PORT = env.int("CALSYNC_METRICS_PORT", default=0)
CALSYNC_METRICS_ADDRESS = env.str("CALSYNC_METRICS_ADDRESS", default="127.0.0.1")
# How often beat sends the heartbeat task that /health/ reports.
CALSYNC_HEARTBEAT_SECONDS = env.float("CALSYNC_HEARTBEAT_SECONDS", default=60.0)


# Logs: one line per record on stderr, for the process manager or container runtime to collect.
# Every handler carries calsync.logcontext.ContextFilter, so each line of a sync run names its
# tenant, link and run (and the Celery task), whichever logger wrote it. LOG_FORMAT=json writes
# one JSON object per line for log aggregation (production's default, see prod.py).
def logging_config(log_format: str) -> dict[str, Any]:
    if log_format not in ("plain", "json"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "calsync.logcontext.ContextFilter"}},
        "formatters": {
            "plain": {
                "()": "calsync.logcontext.PlainFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    }


LOGGING = logging_config(env.str("LOG_FORMAT", default="plain"))
