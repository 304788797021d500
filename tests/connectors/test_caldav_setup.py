"""Set up iCloud or CalDAV through the setup view, against real servers and small hostile ones:
the standard discovery from a bare server address, and a clear message on the form for
whatever a server answers (never a 500)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from calsync.models import CalendarLink
from tests.caldav_servers import CalDAVServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
SERVERS = ["radicale", "xandikos", "cyrus"]


def post_setup(client: HttpClient, server_url: str, username: str, password: str, target: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("calsync:setup_caldav"),
        {"server_url": server_url, "username": username, "password": password, "target": target},
        follow=True,
    )


@pytest.mark.parametrize("server_name", SERVERS)
def test_setup_with_the_bare_server_address_finds_the_users_calendars(
    server_name: str, request: pytest.FixtureRequest, staff_client: HttpClient
) -> None:
    """RFC 6764/5397 discovery from ``http://host:port/``: Cyrus answers an anonymous
    PROPFIND there with 207 and no principal, so the credentials go with the first request."""
    server: CalDAVServer = request.getfixturevalue(server_name)
    existing = server.new_calendar_url()
    response = post_setup(staff_client, server.url, server.username, server.password, "existing")
    assert response.redirect_chain[-1][0] == reverse("calsync:setup_caldav_choose")
    found = [url for url, _ in staff_client.session["calsync:pending-caldav"]["calendars"]]
    assert existing in found


def test_setup_falls_back_to_the_well_known_address(
    cyrus: CalDAVServer, staff_client: HttpClient
) -> None:
    """An address with no principal behind it (Cyrus: 404) is followed by
    ``/.well-known/caldav`` (Cyrus: 301 to ``/dav/calendars``) on the same host."""
    existing = cyrus.new_calendar_url()
    response = post_setup(
        staff_client, cyrus.url + "no-such-path/", cyrus.username, cyrus.password, "existing"
    )
    assert response.redirect_chain[-1][0] == reverse("calsync:setup_caldav_choose")
    found = [url for url, _ in staff_client.session["calsync:pending-caldav"]["calendars"]]
    assert existing in found


@pytest.mark.parametrize("server_name", ["radicale", "cyrus"])
def test_a_wrong_password_at_setup_is_explained(
    server_name: str, request: pytest.FixtureRequest, staff_client: HttpClient
) -> None:
    server: CalDAVServer = request.getfixturevalue(server_name)
    response = post_setup(staff_client, server.url, server.username, "wrong", "dedicated")
    assert response.status_code == 200
    assert b"refused the user name or password" in response.content
    assert not CalendarLink.all_objects.exists()


MULTISTATUS = (
    '<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>{path}</D:href><D:propstat>'
    "<D:prop>{prop}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    "</D:multistatus>"
)
# What a hostile (or broken) server answers to a PROPFIND on a path: (status, body).
Answer = Callable[[str], tuple[int, bytes]]


def principal_elsewhere(path: str) -> tuple[int, bytes]:
    prop = (
        "<D:current-user-principal><D:href>https://other.example.invalid/principal/"
        "</D:href></D:current-user-principal>"
    )
    return 207, MULTISTATUS.format(path=path, prop=prop).encode()


def not_xml(path: str) -> tuple[int, bytes]:
    return 207, b"<html><body>Welcome to my server<br></body></html>"


def not_multistatus(path: str) -> tuple[int, bytes]:
    return 207, b"<html><body>Welcome to my server</body></html>"


def broken_home(path: str) -> tuple[int, bytes]:
    if path == "/principal/":
        home = "<C:calendar-home-set><D:href>/home/</D:href></C:calendar-home-set>"
        return 207, MULTISTATUS.format(path=path, prop=home).encode()
    if path.startswith("/home/"):
        return 207, b"<D:multistatus xmlns:D='DAV:'><D:response><D:href>/home/\x01"
    prop = "<D:current-user-principal><D:href>/principal/</D:href></D:current-user-principal>"
    return 207, MULTISTATUS.format(path=path, prop=prop).encode()


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], str]]:
    """A small HTTP server answering every PROPFIND with ``answer(path)``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PROPFIND(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (principal_elsewhere, b"names another address for this account"),
        (not_xml, b"did not answer as a CalDAV server"),
        (not_multistatus, b"did not answer as a CalDAV server"),
        (broken_home, b"did not answer as a CalDAV server"),
    ],
)
@pytest.mark.parametrize("target", ["existing", "dedicated"])
def test_setup_never_answers_500_whatever_the_server_says(
    answer: Answer,
    message: bytes,
    target: str,
    hostile: Callable[[Answer], str],
    staff_client: HttpClient,
) -> None:
    response = post_setup(staff_client, hostile(answer), "alice", "secret", target)
    assert response.status_code == 200
    assert message in response.content
    assert not CalendarLink.all_objects.exists()
