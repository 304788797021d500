"""Throttles for logins, password-reset e-mails and sign-ups (QUALITY.md, Security), counted in
the shared cache (Redis in production) so the limits hold across processes.

Logins have two separate counters, with their own limits:

* **per account** (``ACCOUNTS_LOGIN_MAX_FAILURES``, 5 in 15 minutes): stops guessing one
  account's password from many addresses;
* **per client address** (``ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT``, 30 in 15 minutes): stops
  one address guessing across many accounts. Higher, because a whole practice can sit behind one
  address (an office NAT, the TLS proxy): one user's typos must not lock out their colleagues.

An attacker who keeps failing on an account would keep its counter at the limit, locking the
real user out for as long as the attack goes on. So a browser where the account logged in before
carries a **device cookie** (signed, naming the account, OWASP's "device cookies" defence): on
it, failures count against that cookie, not the account, and the account's lock does not apply.
The real user keeps logging in from their usual browser whatever the attack; on a new browser, a
password reset (which proves the mailbox) lifts the account's lock and trusts that browser.

The client address is ``REMOTE_ADDR`` unless that is one of ``CALSYNC_TRUSTED_PROXIES``; then it
is the right-most ``X-Forwarded-For`` hop that is not a trusted proxy (each proxy appends the
address it saw, so everything left of the last untrusted hop is the client's own claim).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

DEVICE_COOKIE = "calsync_device"
_DEVICE_SALT = "accounts.throttle.device"
# The request attribute through which a login (or a password reset) asks
# DeviceCookieMiddleware to give the browser a device cookie.
DEVICE_COOKIE_REQUEST_ATTRIBUTE = "_calsync_device_cookie"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- the client address -------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    # strict: 10.0.0.1/8 is a mistake (host bits set), as gunicorn's forwarded_allow_ips says too.
    return tuple(ipaddress.ip_network(entry.strip(), strict=True) for entry in entries)


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(settings.CALSYNC_TRUSTED_PROXIES))


def _parse(hop: str) -> Address | None:
    """An address from an ``X-Forwarded-For`` hop: ``203.0.113.7``, ``2001:db8::1``, and the
    forms with a port some proxies write (``203.0.113.7:4711``, ``[2001:db8::1]:4711``)."""
    text = hop.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(request: HttpRequest | None) -> str:
    """The address of the client behind ``request`` (the module docstring says how)."""
    if request is None:
        return "unknown"
    remote = _parse(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return "unknown"
    networks = trusted_proxies()
    if not _trusted(remote, networks):
        return str(remote)
    address = remote
    hops = (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            break  # not an address: written by the client, so the last proxy's peer is all we know
        address = parsed
        if not _trusted(parsed, networks):
            break
    return str(address)


# --- device cookies -----------------------------------------------------------------------------


def _digest(email: str) -> str:
    # Hashed so no e-mail address ends up in cache keys or cookies.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def device_cookie_value(email: str) -> str:
    """A new signed device cookie for the account ``email``."""
    return signing.dumps({"a": _digest(email), "d": secrets.token_urlsafe(16)}, salt=_DEVICE_SALT)


def _device_of(request: HttpRequest | None, email: str) -> str | None:
    """The device id of ``request``'s valid device cookie for ``email``, else None."""
    if request is None:
        return None
    value = request.COOKIES.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        data = signing.loads(
            value, salt=_DEVICE_SALT, max_age=settings.ACCOUNTS_DEVICE_COOKIE_DAYS * 86400
        )
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != _digest(email):
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def trust_this_device(request: HttpRequest, email: str) -> None:
    """Ask ``DeviceCookieMiddleware`` to give ``request``'s browser a device cookie for
    ``email`` (after a successful login or password reset)."""
    setattr(request, DEVICE_COOKIE_REQUEST_ATTRIBUTE, device_cookie_value(email))


# --- counters -----------------------------------------------------------------------------------


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _increment(key: str, window: int) -> int:
    # add() is a no-op when the key exists; incr() is atomic on Redis.
    cache.add(key, 0, timeout=window)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


@dataclass(frozen=True)
class LoginAttempt:
    """Who tries to log in: the account's e-mail address, the client address, and the device
    cookie's id when the browser carries a valid one for this account."""

    email: str
    client: str
    device: str | None

    @classmethod
    def of(cls, request: HttpRequest | None, email: str) -> LoginAttempt:
        return cls(email=email, client=client_address(request), device=_device_of(request, email))

    @property
    def account_key(self) -> str:
        # The device's own counter stands in for the account's on a trusted device.
        if self.device is not None:
            return f"login-fail:device:{self.device}"
        return f"login-fail:email:{_digest(self.email)}"

    @property
    def client_key(self) -> str:
        return f"login-fail:ip:{self.client}"


def login_blocked(attempt: LoginAttempt) -> bool:
    per_client: int = settings.ACCOUNTS_LOGIN_MAX_FAILURES_PER_CLIENT
    per_account: int = settings.ACCOUNTS_LOGIN_MAX_FAILURES
    return _count(attempt.client_key) >= per_client or _count(attempt.account_key) >= per_account


def login_failed(attempt: LoginAttempt) -> None:
    window = settings.ACCOUNTS_LOGIN_WINDOW_SECONDS
    _increment(attempt.client_key, window)
    _increment(attempt.account_key, window)


def login_succeeded(attempt: LoginAttempt) -> None:
    # The client's counter stays: a success on one account must not reset guessing on others.
    cache.delete(attempt.account_key)


def account_unlocked(email: str) -> None:
    """Lift the account's lock (after a password reset, which proves the mailbox)."""
    cache.delete(f"login-fail:email:{_digest(email)}")


# --- password-reset e-mails ---------------------------------------------------------------------


def reset_allowed(request: HttpRequest | None, email: str) -> bool:
    """Count a password-reset request for ``email`` from ``request``'s client; False when either
    counter is over its limit. Counted whether or not an account has that address, so the
    answer tells nothing about which addresses exist."""
    window = settings.ACCOUNTS_RESET_WINDOW_SECONDS
    account_limit: int = settings.ACCOUNTS_RESET_MAX_PER_ACCOUNT
    client_limit: int = settings.ACCOUNTS_RESET_MAX_PER_CLIENT
    per_account = _increment(f"reset:email:{_digest(email)}", window)
    per_client = _increment(f"reset:ip:{client_address(request)}", window)
    return per_account <= account_limit and per_client <= client_limit


# --- sign-up requests ---------------------------------------------------------------------------


def signup_allowed(request: HttpRequest | None, email: str) -> bool:
    """Count a sign-up request for ``email`` from ``request``'s client; False when either counter
    is over its limit (each request sends a verification e-mail, so this also stops the form
    being used to mail-bomb an address)."""
    window = settings.ACCOUNTS_SIGNUP_WINDOW_SECONDS
    per_email = _increment(f"signup:email:{_digest(email)}", window)
    per_client = _increment(f"signup:ip:{client_address(request)}", window)
    email_limit: int = settings.ACCOUNTS_SIGNUP_MAX_PER_EMAIL
    client_limit: int = settings.ACCOUNTS_SIGNUP_MAX_PER_CLIENT
    return per_email <= email_limit and per_client <= client_limit
