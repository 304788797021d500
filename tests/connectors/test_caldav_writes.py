"""The CalDAV write path (PUT and DELETE on urllib3, issue 17 §3 client CPU) answers as the
library's path did: throttling is ``RateLimited`` with the server's Retry-After, the password
goes with the first request, kept-alive connections are reused, a long reply is not held, plain
http is refused before any connection, and an environment proxy is still used. A scripted
HTTP/1.1 server stands in for the CalDAV server; what it receives is what went over the wire."""

from __future__ import annotations

import base64
import http.server
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.test import override_settings
from niquests import utils as niquests_utils

from connectors.caldav.connector import CalDAVConnector
from connectors.errors import AuthRevoked, RateLimited, Unavailable
from connectors.net import AddressRefused, guarded_pool_manager
from tests.caldav_servers import Bait, LocalHTTPServer
from tests.connectors.contract import sample


@dataclass
class Answer:
    status: int = 201
    headers: dict[str, str] = field(default_factory=lambda: {"ETag": '"e1"'})
    body: bytes = b""
    broken_off: bool = False  # promise more body than is sent, then hang up


class Scripted:
    """Answers every PUT and DELETE with ``answer``; records each request's line, its
    Authorization header, and the connections accepted."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.moved: dict[str, str] = {}  # path prefix -> where a 307 sends it
        self.requests: list[tuple[str, str, str]] = []  # method, target, Authorization
        self.connections = 0
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def setup(self) -> None:
                scripted.connections += 1
                super().setup()

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.requests.append(
                    (self.command, self.path, self.headers.get("Authorization") or "")
                )
                answer = scripted.answer
                for prefix, target in scripted.moved.items():
                    if self.path.startswith(prefix):
                        answer = Answer(307, {"Location": target + self.path[len(prefix) :]})
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                promised = len(answer.body) + (1000 if answer.broken_off else 0)
                self.send_header("Content-Length", str(promised))
                self.end_headers()
                self.wfile.write(answer.body)
                if answer.broken_off:
                    self.close_connection = True

            do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._http = LocalHTTPServer(Handler)
        self.url = self._http.url

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """niquests reads the environment's proxies once per process (an LRU cache): read again
    for the environment this test sets, and again after it."""
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for cached in (niquests_utils.getproxies, niquests_utils.getproxies_environment):
        cached.cache_clear()  # type: ignore[attr-defined]
    yield monkeypatch
    monkeypatch.undo()
    for cached in (niquests_utils.getproxies, niquests_utils.getproxies_environment):
        cached.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.close()


def connector(url: str) -> CalDAVConnector:
    return CalDAVConnector(calendar_url=url + "cal/", username="ann", password="pw-1", timeout=5)


def test_the_password_goes_with_the_first_write_and_the_connection_is_reused(
    scripted: Scripted,
) -> None:
    writer = connector(scripted.url)
    for n in range(5):
        writer.create(sample(title=f"Kept {n}"), idempotency_key=f"calsync-kept-{n}")
    scripted.answer = Answer(204, {})
    writer.delete("calsync-kept-0.ics", etag='"e1"')
    basic = "Basic " + base64.b64encode(b"ann:pw-1").decode()
    assert [(m, t) for m, t, _ in scripted.requests] == [
        *(("PUT", f"/cal/calsync-kept-{n}.ics") for n in range(5)),
        ("DELETE", "/cal/calsync-kept-0.ics"),
    ]
    assert {auth for _, _, auth in scripted.requests} == {basic}  # no 401 round first
    assert scripted.connections == 1


@pytest.mark.parametrize(
    ("status", "headers", "seconds"),
    [(429, {"Retry-After": "120"}, 120.0), (429, {}, None), (503, {"Retry-After": "30"}, 30.0)],
)
def test_a_throttled_write_is_rate_limited_with_the_servers_wait(
    scripted: Scripted, status: int, headers: dict[str, str], seconds: float | None
) -> None:
    scripted.answer = Answer(status, headers)
    with pytest.raises(RateLimited) as limited:
        connector(scripted.url).create(sample(), idempotency_key="calsync-throttled")
    assert limited.value.retry_after == seconds


def test_a_503_without_retry_after_is_the_server_unavailable(scripted: Scripted) -> None:
    scripted.answer = Answer(503, {})
    with pytest.raises(Unavailable, match="answered 503"):
        connector(scripted.url).create(sample(), idempotency_key="calsync-down")


def test_a_401_to_a_write_that_carried_the_password_is_a_revoked_password(
    scripted: Scripted,
) -> None:
    scripted.answer = Answer(401, {"WWW-Authenticate": 'Basic realm="x"'})
    with pytest.raises(AuthRevoked):
        connector(scripted.url).create(sample(), idempotency_key="calsync-revoked")
    assert len(scripted.requests) == 1  # no retry with other credentials


def test_a_long_reply_is_not_held_and_its_connection_not_reused(scripted: Scripted) -> None:
    scripted.answer = Answer(201, {"ETag": '"e1"'}, b"x" * 2_000_000)
    writer = connector(scripted.url)
    writer.create(sample(), idempotency_key="calsync-long-1")
    writer.create(sample(), idempotency_key="calsync-long-2")
    assert len(scripted.requests) == 2
    assert scripted.connections == 2  # the unread rest was dropped with its connection


def test_a_redirected_write_is_sent_again_at_the_new_address(scripted: Scripted) -> None:
    """As niquests' session did: a 307 sends the PUT on (each hop checked, test_ssrf.py and
    the pool tests below); here to another path of the same server."""
    scripted.moved = {"/cal/": scripted.url + "moved/"}
    written = connector(scripted.url).create(sample(), idempotency_key="calsync-moved")
    assert [(m, t) for m, t, _ in scripted.requests] == [
        ("PUT", "/cal/calsync-moved.ics"),
        ("PUT", "/moved/calsync-moved.ics"),
    ]
    assert written.etag == '"e1"'


def test_a_reply_broken_off_is_the_server_unreachable_and_the_next_write_reconnects(
    scripted: Scripted,
) -> None:
    scripted.answer = Answer(201, {"ETag": '"e1"'}, b"partial", broken_off=True)
    writer = connector(scripted.url)
    with pytest.raises(Unavailable, match="could not be reached"):
        writer.create(sample(), idempotency_key="calsync-broken")
    scripted.answer = Answer()
    assert writer.create(sample(), idempotency_key="calsync-after").etag == '"e1"'
    assert scripted.connections == 2


def test_writes_go_through_the_environments_proxy(
    scripted: Scripted, environment: pytest.MonkeyPatch
) -> None:
    """The scripted server is the proxy here: a request through a proxy names the whole URL."""
    environment.setenv("HTTP_PROXY", scripted.url)
    target = "http://calendar.example.test/"
    connector(target).create(sample(), idempotency_key="calsync-proxied")
    assert [(m, t) for m, t, _ in scripted.requests] == [
        ("PUT", "http://calendar.example.test/cal/calsync-proxied.ics")
    ]


def test_no_proxy_keeps_writes_direct(scripted: Scripted, environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTP_PROXY", "http://proxy.invalid:3128/")
    environment.setenv("NO_PROXY", "127.0.0.1")
    connector(scripted.url).create(sample(), idempotency_key="calsync-direct")
    assert [t for _, t, _ in scripted.requests] == ["/cal/calsync-direct.ics"]


@pytest.mark.parametrize(
    ("switch", "refusal"),
    [
        # Where a redirect sends a write: the pool itself refuses http://, not only the first URL.
        ({"CALSYNC_ALLOW_HTTP": False}, "plain http://"),
        ({"CALSYNC_ALLOW_PRIVATE_ADDRESSES": False}, "private or local"),
    ],
)
def test_the_write_pool_refuses_before_connecting(switch: dict[str, bool], refusal: str) -> None:
    bait = Bait("127.0.0.2")
    try:
        with override_settings(**switch), pytest.raises(AddressRefused, match=refusal):
            guarded_pool_manager(maxsize=1).request("PUT", f"{bait.url}/x")
        assert bait.connections == 0
    finally:
        bait.close()
