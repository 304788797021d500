"""Imported by Celery worker processes that tests start against the Microsoft fake
(``celery worker -I tests.fakes.worker_plugin``): msal's identity requests to
``https://login.microsoftonline.com`` go to the fake, as ``tests/fakes/fixtures.py`` arranges in
the test process. The fake's address comes from ``CALSYNC_TEST_MICROSOFT_FAKE``."""

from __future__ import annotations

import os

from connectors.microsoft import oauth
from tests.fakes.microsoft import LOGIN_HOST, _Rewrite

_FAKE = os.environ.get("CALSYNC_TEST_MICROSOFT_FAKE")
if _FAKE:
    oauth.TRANSPORT_OVERRIDES[f"https://{LOGIN_HOST}/"] = _Rewrite(_FAKE)
