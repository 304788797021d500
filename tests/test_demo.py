"""The demo: the seeder, and the README's first command started for real (Radicale, the Google,
Microsoft and Stripe stand-ins, worker and beat on the filesystem broker, the web app on
SQLite), then stopped with Ctrl-C. tests/browser/test_demo_in_browser.py links the stand-ins."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import caldav
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Role, Tenant
from agenda.demo import DEMO_SLUG
from agenda.models import Meeting

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_seed_demo_creates_a_working_practice_once() -> None:
    call_command("seed_demo")
    call_command("seed_demo")  # a second run changes nothing
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    assert sorted(tenant.users.values_list("role", flat=True)) == [
        Role.ADMIN,
        Role.STAFF,
        Role.STAFF,
        Role.STAFF,
    ]
    meetings = Meeting.objects.filter(tenant=tenant)
    assert meetings.filter(repeat="weekly").exists()
    assert meetings.filter(repeat="monthly").exists() and meetings.filter(repeat="yearly").exists()
    assert meetings.filter(client__isnull=False).count() >= 12
    assert meetings.filter(kind="personal").exists() and meetings.filter(all_day=True).exists()
    today = timezone.localdate()
    assert meetings.filter(start__date__lt=today).exists()
    assert meetings.filter(start__date__gt=today).exists()
    call_command("seed_demo", "--reset")
    assert Tenant.objects.filter(slug=DEMO_SLUG).count() == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_run_command_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    web, dav = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "CALSYNC_VAR_DIR": str(tmp_path),
        "CALSYNC_PORT": str(web),
        "CALSYNC_CALDAV_PORT": str(dav),
        "CALSYNC_HEARTBEAT_SECONDS": "1",
    }
    log = (tmp_path / "run.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "scripts/run_demo.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in (tmp_path / "run.log").read_text():
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert f"CalSync is running: http://127.0.0.1:{web}/" in output
        assert "alice@demo.calsync.test" in output
        assert (tmp_path / "calsync.sqlite3").exists()

        # A demo staff member logs in and sees their week.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(f"http://127.0.0.1:{web}/account/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
        assert token is not None
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token.group(1),
                "username": "alice@demo.calsync.test",
                "password": "calsync-demo",
            }
        ).encode()
        week = opener.open(f"http://127.0.0.1:{web}/account/login/", form).read().decode()
        assert "Week of" in week and "Team meeting" in week

        # Google and Microsoft are there, through the local stand-ins, and the page says so.
        sync = opener.open(f"http://127.0.0.1:{web}/account/calendarsync/").read().decode()
        assert "Set up Google Calendar" in sync and "Set up Microsoft 365 / Outlook" in sync
        assert "not configured" not in sync and "local stand-ins" in sync
        assert "Local stand-ins (no real Google, Microsoft or Stripe is reached)" in output

        # The CalDAV server has a calendar for each demo account.
        with caldav.DAVClient(
            url=f"http://127.0.0.1:{dav}/", username="alice", password="caldav-demo", timeout=10
        ) as client:
            assert len(client.principal().calendars()) == 1

        # Beat -> filesystem broker -> worker: the heartbeat reaches /health/.
        deadline = time.monotonic() + 60
        while True:
            health = opener.open(f"http://127.0.0.1:{web}/health/").read().decode()
            if '"worker_heartbeat": "20' in health:
                break
            assert time.monotonic() < deadline, health
            time.sleep(1)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, (tmp_path / "run.log").read_text()
    assert not port_open(web) and not port_open(dav)
    assert "==> stopped" in (tmp_path / "run.log").read_text()
