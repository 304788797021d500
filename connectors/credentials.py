"""Credentials at rest: encrypted with Fernet keys from the environment (QUALITY.md, Security).

``CALSYNC_CREDENTIAL_KEYS`` holds one or more Fernet keys, comma-separated. The first encrypts;
all of them decrypt (``MultiFernet``), so keys rotate without downtime:

1. put a new key first and keep the old ones after it, deploy;
2. run ``manage.py rotate_credentials`` (re-encrypts every stored credential with the first key);
3. remove the old keys, deploy.

There is no plaintext fallback: without keys nothing can be stored or read, and production
settings refuse to start (``calsync/settings/prod.py``). Plaintext never reaches a log: the
``Secret`` wrapper's ``repr`` hides it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialError(Exception):
    """Stored credentials that none of the configured keys can decrypt."""


def _keys() -> tuple[str, ...]:
    keys: list[str] = list(getattr(settings, "CALSYNC_CREDENTIAL_KEYS", []))
    if not keys:
        raise ImproperlyConfigured(
            "CALSYNC_CREDENTIAL_KEYS is not set: credentials cannot be stored or read. "
            "Generate a key with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    return tuple(keys)


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CALSYNC_CREDENTIAL_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def cipher() -> MultiFernet:
    return _cipher(_keys())


def encrypt(data: dict[str, Any]) -> str:
    """Encrypt a JSON-serialisable dict (tokens, passwords) with the current key."""
    return cipher().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    try:
        plain = cipher().decrypt(token.encode())
    except InvalidToken as exc:
        raise CredentialError(
            "Stored credentials cannot be decrypted with the configured keys."
        ) from exc
    value: dict[str, Any] = json.loads(plain)
    return value


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key (``MultiFernet.rotate``)."""
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialError("Stored credentials cannot be decrypted for rotation.") from exc
