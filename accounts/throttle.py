"""Login throttling (QUALITY.md, Security): failed logins are counted per e-mail address and per
client address in the shared cache (Redis in production), so the limit holds across processes."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(email: str, client: str) -> list[str]:
    # Hash the address so no e-mail address ends up in cache key listings.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:email:{digest}", f"login-fail:ip:{client}"]


def login_blocked(email: str, client: str) -> bool:
    limit = settings.ACCOUNTS_LOGIN_MAX_FAILURES
    return any((cache.get(key) or 0) >= limit for key in _keys(email, client))


def login_failed(email: str, client: str) -> None:
    window = settings.ACCOUNTS_LOGIN_WINDOW_SECONDS
    for key in _keys(email, client):
        # add() is a no-op when the key exists; incr() is atomic on Redis.
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def login_succeeded(email: str, client: str) -> None:
    cache.delete(_keys(email, client)[0])
