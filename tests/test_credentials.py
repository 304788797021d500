"""Credentials at rest: encrypted, rotatable, never readable without a key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from connectors import credentials

SECRET = {"refresh_token": "1//very-secret", "password": "app-specific-pw"}


def test_round_trip_and_no_plaintext_in_the_token() -> None:
    token = credentials.encrypt(SECRET)
    assert "very-secret" not in token and "app-specific" not in token
    assert credentials.decrypt(token) == SECRET


def test_rotation_keeps_old_tokens_readable_then_moves_them_to_the_new_key() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[old_key]):
        token = credentials.encrypt(SECRET)
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[new_key, old_key]):
        assert credentials.decrypt(token) == SECRET  # no downtime while rotating
        rotated = credentials.rotate(token)
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[new_key]):
        assert credentials.decrypt(rotated) == SECRET  # the old key can now be dropped
        with pytest.raises(credentials.CredentialError):
            credentials.decrypt(token)


@override_settings(CALSYNC_CREDENTIAL_KEYS=[])
def test_no_key_no_storage() -> None:
    with pytest.raises(ImproperlyConfigured, match="CALSYNC_CREDENTIAL_KEYS is not set"):
        credentials.encrypt(SECRET)


@override_settings(CALSYNC_CREDENTIAL_KEYS=["short"])
def test_a_malformed_key_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        credentials.encrypt(SECRET)
