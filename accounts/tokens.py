"""The signed links CalSync e-mails for sign-up verification and invitations.

A link carries a row id and that row's random token, signed (``django.core.signing``, with the
``SECRET_KEY``) together with the time it was made, so it cannot be forged, altered or used after
``max_age``. The row's token makes it single-use: verifying or accepting consumes the row (or
moves its state on), and a resend replaces the token, so older links stop working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing

_SIGNUP_SALT = "accounts.signup.verify"
_INVITATION_SALT = "accounts.invitation"


class LinkError(Exception):
    """The link is not one of ours (``invalid``) or is too old (``expired``)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class LinkData:
    pk: int
    token: str
    email: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _make(salt: str, pk: int, token: str, email: str) -> str:
    return signing.dumps({"i": pk, "t": token, "e": email}, salt=salt, compress=True)


def _read(salt: str, value: str, max_age_seconds: int) -> LinkData:
    try:
        data = signing.loads(value, salt=salt, max_age=max_age_seconds)
    except signing.SignatureExpired as exc:
        raise LinkError("expired") from exc
    except signing.BadSignature as exc:
        raise LinkError("invalid") from exc
    if not isinstance(data, dict):
        raise LinkError("invalid")
    pk, token, email = data.get("i"), data.get("t"), data.get("e")
    if not isinstance(pk, int) or not isinstance(token, str) or not isinstance(email, str):
        raise LinkError("invalid")
    return LinkData(pk=pk, token=token, email=email)


def signup_link_token(pk: int, token: str, email: str) -> str:
    return _make(_SIGNUP_SALT, pk, token, email)


def read_signup_link(value: str, *, max_age_seconds: int) -> LinkData:
    return _read(_SIGNUP_SALT, value, max_age_seconds)


def invitation_link_token(pk: int, token: str, email: str) -> str:
    return _make(_INVITATION_SALT, pk, token, email)


def read_invitation_link(value: str, *, max_age_seconds: int) -> LinkData:
    return _read(_INVITATION_SALT, value, max_age_seconds)
