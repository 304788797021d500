"""CALSYNC_PUBLIC_URL (issue 14): https, checked when the settings load."""

from __future__ import annotations

import pytest

from tests.test_settings_and_deploy import PROD_ENV, load_settings


@pytest.mark.parametrize(
    "url", ["http://calsync.example.com", "calsync.example.com", "ftp://calsync.example.com"]
)
def test_a_public_url_that_is_not_https_refuses_to_start(url: str) -> None:
    result = load_settings({**PROD_ENV, "CALSYNC_PUBLIC_URL": url}, "s.DEBUG")
    assert result.returncode != 0
    assert "CALSYNC_PUBLIC_URL must be an https address" in result.stderr


def test_an_https_public_url_is_taken_without_its_trailing_slash() -> None:
    result = load_settings(
        {**PROD_ENV, "CALSYNC_PUBLIC_URL": "https://calsync.example.com/"}, "s.CALSYNC_PUBLIC_URL"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "https://calsync.example.com"


def test_plain_http_is_taken_for_localhost_only() -> None:
    env = {**PROD_ENV, "CALSYNC_PUBLIC_URL": "http://127.0.0.1:8000"}
    result = load_settings(env, "s.CALSYNC_PUBLIC_URL")
    assert result.returncode == 0 and result.stdout.strip() == "http://127.0.0.1:8000"
