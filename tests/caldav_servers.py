"""Real CalDAV servers for the tests: Radicale (with htpasswd auth, as production servers ask for
a password) and Xandikos (its quirks: 412 for a bad sync token, Schedule-Tag), each started as its
own process on a free port, as PROTOCOLS.md §3.2 describes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import niquests
import pytest

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


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalDAVServer]:
    folder = tmp_path_factory.mktemp("radicale")
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


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalDAVServer]:
    folder: Path = tmp_path_factory.mktemp("xandikos")
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
