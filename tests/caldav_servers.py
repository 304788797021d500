"""Real CalDAV servers for the tests, each started once per session as its own process on a free
loopback port (PROTOCOLS.md §3.2):

* Radicale, with htpasswd auth (as production servers ask for a password);
* Xandikos (its quirks: 412 for a bad sync token, Schedule-Tag);
* Cyrus IMAP's CalDAV (the engine behind Fastmail; Debian's ``cyrus-imapd`` + ``cyrus-caldav``,
  which ``scripts/test`` installs). What it does differently, seen on 3.6.1:

  - It answers an anonymous ``PROPFIND /`` with 207 (``current-user-principal`` is
    ``DAV:unauthenticated``), not 401: a client that waits for a challenge finds no calendar.
  - Its 401 challenge offers SCRAM, Digest (``md5-sess``), NTLM and Basic; a client that picks the
    "best" (the caldav library picks Digest) fails to log in. We send Basic at once.
  - A UID already used by another resource of the calendar is 403
    ``C:unique-scheduling-object-resource``; a PUT that changes a resource's UID is 403
    ``C:no-uid-conflict``. Both are refusals of one write, not of the password.
  - An invalid sync token is 403 ``DAV:valid-sync-token``; tokens look like
    ``data:,<uidvalidity>-<modseq>``.
  - It stores control characters of a SUMMARY as they came and returns them raw inside the
    CDATA of a calendar-multiget reply, which no XML parser accepts.
  - A UID of an event with attendees is unique across all of a user's calendars (RFC 6638
    §3.2.4.1), not only within one.
  - ``CATEGORIES:Work,Blue`` comes back as one CATEGORIES line per category; a compressed GET
    carries a weak ETag (``W/"..."``), an uncompressed one the strong ETag of the PUT.
  - ``/.well-known/caldav`` is a 301 to ``/dav/calendars``; the principal is
    ``/dav/principals/user/<name>/`` and the calendar home ``/dav/calendars/user/<name>/``, made
    on the first authenticated request once the user's mailbox exists (we create it over IMAP as
    an admin: Cyrus does not provision a user from HTTP alone).

  It runs from a private ``imapd.conf``/``cyrus.conf`` in a temporary folder, as the ``cyrus``
  user when the tests run as root (``cyrus_user``; the master drops to it at start) or as the
  tests' own user otherwise, with passwords checked against a private sasldb
  (``saslpasswd2 -f``): a wrong password is a 401.
"""

from __future__ import annotations

import getpass
import http.client
import http.server
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import niquests
import pytest

from tests.fakes.server import Latency, LatencyDial

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@dataclass(frozen=True)
class CalDAVServer:
    name: str
    url: str  # the server root
    home: str  # alice's calendar home
    username: str
    password: str
    # How this server words an expired sync token (to build one the server rejects).
    bogus_sync_token: str

    def new_calendar_url(self) -> str:
        """A fresh, empty calendar for one test (MKCALENDAR), so tests never share state."""
        url = f"{self.home}test-{uuid.uuid4().hex[:12]}/"
        response = niquests.request(
            "MKCALENDAR", url, auth=(self.username, self.password), timeout=10
        )
        assert response.status_code == 201, response.status_code
        return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the CalDAV server exited at start-up"
        try:
            niquests.request("OPTIONS", url, timeout=2)
            return
        except niquests.exceptions.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


@contextmanager
def running_radicale(folder: Path) -> Iterator[CalDAVServer]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "data"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(folder / "users"),
            "--auth-htpasswd-encryption",
            "plain",
            "--auth-delay",
            "0",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(url, process)
        # The principal collection is created on the first authenticated request (§3.2).
        niquests.request("PROPFIND", f"{url}alice/", auth=("alice", USERS["alice"]), timeout=10)
        yield CalDAVServer(
            "radicale",
            url,
            f"{url}alice/",
            "alice",
            USERS["alice"],
            "http://radicale.org/ns/sync/" + "0" * 64,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def running_xandikos(folder: Path) -> Iterator[CalDAVServer]:
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "xandikos"),
            "serve",
            "-d",
            str(folder),
            "--defaults",
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(url, process)
        # Xandikos accepts any credentials without --htpasswd (which needs HTTPS, §3.2).
        yield CalDAVServer("xandikos", url, f"{url}user/calendars/", "user", "anything", "0" * 40)
    finally:
        process.terminate()
        process.wait(timeout=10)


CYRUS_MASTER = ("/usr/sbin/cyrmaster", "/usr/lib/cyrus/bin/master")
CYRUS_SERVICES = "/usr/lib/cyrus/bin"

CYRUS_IMAPD_CONF = """\
configdirectory: {folder}/conf
defaultpartition: default
partition-default: {folder}/spool
servername: localhost
cyrus_user: {user}
service_path: {services}
proc_path: {folder}/run/proc
mboxname_lockpath: {folder}/run/lock
lmtpsocket: {folder}/run/lmtp
idlesocket: {folder}/run/idle
notifysocket: {folder}/run/notify
admins: {admin}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {folder}/sasldb2
httpmodules: caldav
caldav_allowscheduling: no
"""

CYRUS_CONF = """\
START {{
  recover cmd="ctl_cyrusdb -C {folder}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="imapd -C {folder}/imapd.conf" listen="127.0.0.1:{imap_port}" prefork=0
  http cmd="httpd -C {folder}/imapd.conf" listen="127.0.0.1:{http_port}" prefork=1
}}
EVENTS {{
}}
DAEMON {{
}}
"""


def _cyrus_master() -> str:
    for path in CYRUS_MASTER:
        if os.access(path, os.X_OK):
            return path
    raise RuntimeError(
        "Cyrus IMAP is not installed (Debian: cyrus-imapd cyrus-caldav sasl2-bin); "
        "scripts/test installs it."
    )


@contextmanager
def running_cyrus() -> Iterator[CalDAVServer]:
    master = _cyrus_master()
    # Not pytest's tmp_path: its folders are private to the test user, and the Cyrus processes
    # run as the cyrus user when we are root.
    folder = Path(tempfile.mkdtemp(prefix="calsync-cyrus-"))
    user = "cyrus" if os.geteuid() == 0 else getpass.getuser()
    admin = ("calsync-admin", secrets.token_urlsafe(16))
    http_port, imap_port = _free_port(), _free_port()
    for sub in ("conf/socket", "spool", "run"):
        (folder / sub).mkdir(parents=True)
    values = {
        "folder": folder,
        "user": user,
        "services": CYRUS_SERVICES,
        "admin": admin[0],
        "http_port": http_port,
        "imap_port": imap_port,
    }
    (folder / "imapd.conf").write_text(CYRUS_IMAPD_CONF.format(**values))
    (folder / "cyrus.conf").write_text(CYRUS_CONF.format(**values))
    for name, password in (*USERS.items(), admin):
        subprocess.run(
            ["saslpasswd2", "-p", "-c", "-f", str(folder / "sasldb2"), "-u", "localhost", name],
            input=password.encode(),
            check=True,
        )
    if os.geteuid() == 0:
        owner = pwd.getpwnam(user)
        for path in (folder, *folder.rglob("*")):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    folder.chmod(0o755)
    process = subprocess.Popen(
        [
            master,
            "-C",
            str(folder / "imapd.conf"),
            "-M",
            str(folder / "cyrus.conf"),
            "-p",
            str(folder / "run" / "master.pid"),
            "-L",
            str(folder / "run" / "master.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{http_port}/"
    try:
        _wait(url, process)
        imap = imaplib.IMAP4("127.0.0.1", imap_port)
        try:
            imap.login(*admin)
            for name in USERS:
                status, detail = imap.create(f"user/{name}")
                assert status == "OK", detail
        finally:
            imap.logout()
        for name, password in USERS.items():
            # The first authenticated request makes the user's calendar home.
            response = niquests.request(
                "PROPFIND",
                f"{url}dav/calendars/user/{name}/",
                headers={"Depth": "0"},
                auth=(name, password),
                timeout=10,
            )
            assert response.status_code == 207, response.status_code
        yield CalDAVServer(
            "cyrus",
            url,
            f"{url}dav/calendars/user/alice/",
            "alice",
            USERS["alice"],
            "data:,1-1",
        )
    finally:
        # The master ends its children on SIGTERM; its session holds nothing else.
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)


# One of each per test session (each starts in a second or two; tests make their own calendars).


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalDAVServer]:
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalDAVServer]:
    with running_xandikos(tmp_path_factory.mktemp("xandikos")) as server:
        yield server


@pytest.fixture(scope="session")
def cyrus() -> Iterator[CalDAVServer]:
    with running_cyrus() as server:
        yield server


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
DAV_METHODS = (
    "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PROPFIND", "PROPPATCH", "REPORT",
    "MKCOL", "MKCALENDAR",
)  # fmt: skip


class Bait:
    """A TCP listener on a refused address that counts the connections reaching it."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class LocalHTTPServer:
    """``handler`` served on 127.0.0.1 on a free port, in a thread of its own, until ``close``:
    the scripted servers of the tests (a hostile CalDAV server, a scripted write target)."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class CountingProxy:
    """A reverse proxy in front of a real server that records every request reaching that
    server (method, path, status), optionally after a delay per request to stand for the
    network (seconds, or a :class:`tests.fakes.server.Latency` with jitter and a slow tail, as
    the provider fakes take). ``url`` is the proxy's address for the server's root."""

    def __init__(self, upstream: str, latency: float | Latency = 0.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_root = f"{parts.scheme}://{parts.netloc}"
        self.latency = LatencyDial()
        self.latency.set(latency if isinstance(latency, Latency) else Latency(latency))
        self.requests: list[tuple[str, str, int]] = []
        # The most requests that were inside the proxy at once (a client's concurrency).
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                # In flight from the request's arrival until its answer is about to be sent: a
                # client cannot have its answer before that, so a client that keeps N requests
                # out at once is never counted as N + 1 (counting until the answer had been
                # written let a fast client's next request arrive first).
                with proxy._lock:
                    proxy._in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy._in_flight)
                answered = threading.Event()
                try:
                    self._forward_one(answered)
                finally:
                    if not answered.is_set():
                        self._answered()

            def _answered(self) -> None:
                with proxy._lock:
                    proxy._in_flight -= 1

            def _forward_one(self, answered: threading.Event) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.latency.wait()
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    content = response.read()
                finally:
                    upstream.close()
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, response.status))
                self._answered()
                answered.set()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() in HOP_BY_HOP:
                        continue
                    if name.lower() == "location":
                        value = value.replace(proxy.upstream_root, proxy.root)
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        for method in DAV_METHODS:
            setattr(Handler, f"do_{method}", Handler._forward)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.root + "/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def proxied(self, url: str) -> str:
        """``url`` on the upstream server, reached through this proxy."""
        return url.replace(self.upstream_root, self.root)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
