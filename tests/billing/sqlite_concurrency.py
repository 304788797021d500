"""Concurrent requests against the embedded default (SQLite, ``calsync.settings.dev``) over real
HTTP: run by ``test_sqlite_concurrency.py`` in a fresh interpreter (settings load once per
process), with ``CALSYNC_VAR_DIR`` pointing at an empty folder for its database.

It migrates a new SQLite database, makes a practice with one administrator and six staff, serves
the WSGI application from a threaded server on 127.0.0.1, and sends, from six threads at once
(each its own logged-in session, released together by a barrier):

* ``distinct``: six *Buy* requests, one per practitioner;
* ``same``: six *Buy* requests for one practitioner;
* ``huge``: huge ids in the meeting form's and the Buy form's choices.

It prints one JSON object: per round, the status codes and what the pages said.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
PASSWORD = "concurrency-test-passphrase-42"
THREADS = 6
HUGE = "9" * 30


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _setup() -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Role
    from accounts.services import tenant_create, user_create
    from billing.services import credits_grant

    tenant = tenant_create(name="Concurrency Practice", slug="concurrency")
    admin = user_create(tenant=tenant, email="admin@c.test", role=Role.ADMIN, password=PASSWORD)
    staff = [
        user_create(tenant=tenant, email=f"staff{i}@c.test", role=Role.STAFF, password=PASSWORD)
        for i in range(THREADS + 1)
    ]
    credits_grant(tenant=tenant, amount=1000, reason="test")
    return {"admin": admin.email, "staff": [(u.pk, u.email) for u in staff]}


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=60).text
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def _session(base: str, email: str) -> requests.Session:
    session = requests.Session()
    token = _csrf(session, f"{base}/account/login/")
    response = session.post(
        f"{base}/account/login/",
        {"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def _errors(text: str) -> list[str]:
    return re.findall(r'class="error" role="alert">([^<]*)<', text)


def _together(calls: list[Callable[[], requests.Response]]) -> list[dict[str, Any]]:
    """Run ``calls`` in threads released at once; each result: status and the page's errors."""
    barrier = threading.Barrier(len(calls))
    results: list[dict[str, Any]] = [{} for _ in calls]

    def run(i: int) -> None:
        barrier.wait()
        response = calls[i]()
        results[i] = {"status": response.status_code, "errors": _errors(response.text)}

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "calsync.settings.dev"
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    people = _setup()
    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(), _ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    buy = f"{base}/settings/integrations/calendar-sync/buy/"
    out: dict[str, Any] = {}
    try:
        admins = [_session(base, people["admin"]) for _ in range(THREADS)]
        tokens = [_csrf(s, buy) for s in admins]

        def purchase(i: int, user: object) -> Callable[[], requests.Response]:
            return lambda: admins[i].post(
                buy,
                {"user": user, "confirm": "1", "csrfmiddlewaretoken": tokens[i]},
                allow_redirects=False,
                timeout=120,
            )

        staff = people["staff"]
        out["distinct"] = _together([purchase(i, staff[i][0]) for i in range(THREADS)])
        out["same"] = _together([purchase(i, staff[THREADS][0]) for i in range(THREADS)])

        practitioner = _session(base, staff[0][1])
        new = f"{base}/calendar/meetings/new/"
        token = _csrf(practitioner, new)
        meeting = {
            "title": "Huge ids",
            "kind": "appointment",
            "status": "confirmed",
            "start_date": "2026-11-23",
            "start_time": "10:00",
            "end_date": "2026-11-23",
            "end_time": "11:00",
            "time_zone": "Europe/Amsterdam",
            "csrfmiddlewaretoken": token,
        }
        out["huge"] = [
            {
                "field": field,
                "status": response.status_code,
                "errors": _errors(response.text),
            }
            for field, response in [
                (f, practitioner.post(new, {**meeting, f: HUGE}, timeout=60))
                for f in ("attendees", "resources", "client")
            ]
            + [("buy", admins[0].post(buy, {"user": HUGE, "csrfmiddlewaretoken": tokens[0]}))]
        ]
        from billing.models import Subscription

        out["subscriptions"] = Subscription.objects.count()
    finally:
        server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
