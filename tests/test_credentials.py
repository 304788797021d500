"""Credentials at rest: encrypted, rotatable, never readable without a key."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from accounts.models import User
from calsync.models import CalendarLink
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


@pytest.mark.django_db
def test_rotate_credentials_command_moves_every_link_to_the_new_key(staff: User) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[old_key]):
        link = CalendarLink.objects.create(
            tenant=staff.tenant,
            user=staff,
            provider="caldav",
            account="a",
            calendar_id="https://dav.example/a/",
            credentials=credentials.encrypt(SECRET),
        )
    out = io.StringIO()
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[new_key, old_key]):
        call_command("rotate_credentials", stdout=out)
    assert "Re-encrypted 1 credential(s); 0 could not be read." in out.getvalue()
    link.refresh_from_db()
    with override_settings(CALSYNC_CREDENTIAL_KEYS=[new_key]):
        assert credentials.decrypt(link.credentials) == SECRET
