"""Runs CalSync on its embedded default: SQLite, Celery on kombu's filesystem broker, a local
Radicale CalDAV server with one account per demo staff member, local stand-ins for Google,
Microsoft and Stripe (the fakes of tests/fakes/, scripts/demo_standins.py), and the seeded demo
practice.

Started by ``scripts/run`` (which prepares the virtual environment first). Ctrl-C (or SIGTERM)
stops every process it started, and the stand-ins. Ports: CALSYNC_PORT (8000) and
CALSYNC_CALDAV_PORT (5232); the stand-ins take free ports and are printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("CALSYNC_VAR_DIR", str(ROOT / "var")))
PYTHON = sys.executable
WEB_PORT = int(os.environ.get("CALSYNC_PORT", "8000"))
CALDAV_PORT = int(os.environ.get("CALSYNC_CALDAV_PORT", "5232"))
CALDAV_PASSWORD = "caldav-demo"  # noqa: S105 - the local demo server's published password
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "calsync.settings.dev", "PYTHONUNBUFFERED": "1"}


def log(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def manage(*args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def wait_http(url: str, seconds: float, ok: tuple[int, ...] = (200,)) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                if response.status in ok:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def demo_staff_logins() -> list[str]:
    from agenda.demo import DEMO_USERS

    return [login.email.split("@")[0] for login in DEMO_USERS if login.role == "staff"]


def prepare_radicale(users: list[str]) -> list[str]:
    """Radicale's config: htpasswd users (plain text; a local demo server only)."""
    folder = VAR / "radicale"
    (folder / "collections").mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text("".join(f"{u}:{CALDAV_PASSWORD}\n" for u in users))
    return [
        PYTHON,
        "-m",
        "radicale",
        "--server-hosts",
        f"127.0.0.1:{CALDAV_PORT}",
        "--storage-filesystem-folder",
        str(folder / "collections"),
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
    ]


def ensure_caldav_calendars(users: list[str]) -> None:
    """Give every demo CalDAV account a calendar, so there is something to link to."""
    import caldav

    for user in users:
        with caldav.DAVClient(
            url=f"http://127.0.0.1:{CALDAV_PORT}/",
            username=user,
            password=CALDAV_PASSWORD,
            timeout=10,
        ) as client:
            principal = client.principal()
            if not principal.calendars():
                principal.make_calendar(name=f"{user.title()}'s calendar", cal_id="calendar")


class Supervisor:
    """Starts child processes and stops all of them, whichever way the demo ends."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        # Own process group: a Ctrl-C in the terminal reaches us, and we stop the children in
        # order, instead of each child racing to die on its own.
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**ENV, **(env or {})}, start_new_session=True
        )
        self.children.append((name, process))
        return process

    def stop(self) -> None:
        # SIGTERM to each leader only: Celery's main process then stops its own pool (a signal to
        # the whole group would kill pool children under it and log them as lost).
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.update(ENV)
    VAR.mkdir(exist_ok=True)
    for folder in ("broker/out", "broker/processed", "broker/control", "cache"):
        (VAR / folder).mkdir(parents=True, exist_ok=True)

    log("migrating the SQLite database (var/calsync.sqlite3)")
    manage("migrate", "--noinput")
    log("seeding the demo practice")
    print(manage("seed_demo"), end="")

    supervisor = Supervisor()
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    standins = None
    try:
        import django

        django.setup()
        import demo_standins
        from django.utils import timezone

        from agenda.demo import DEMO_USERS

        log("starting the local stand-ins for Google, Microsoft and Stripe")
        standins = demo_standins.start(
            web_port=WEB_PORT,
            staff_emails=[u.email for u in DEMO_USERS if u.role == "staff"],
            today=timezone.localdate(),
        )
        # Web, worker and beat talk to the stand-ins (production refuses these settings).
        ENV.update(standins.environment())
        users = demo_staff_logins()
        log(f"starting Radicale (CalDAV) on 127.0.0.1:{CALDAV_PORT}")
        supervisor.start("radicale", prepare_radicale(users))
        if not wait_http(f"http://127.0.0.1:{CALDAV_PORT}/.web/", 20):
            log("Radicale did not start")
            return 1
        ensure_caldav_calendars(users)

        log("starting the Celery worker and beat (filesystem broker in var/broker)")
        celery = [PYTHON, "-m", "celery", "-A", "calsync"]
        # Celery logs through Django's LOGGING (calsync/celery.py), so LOG_LEVEL, not -l, sets
        # its level: warnings only in this terminal unless the user asks for more.
        quiet = {"LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
        supervisor.start(
            "worker",
            [
                *celery,
                "worker",
                "-Q",
                "interactive,background",
                "-c",
                "1",
                "-n",
                "demo@%h",
            ],
            quiet,
        )
        supervisor.start(
            "beat",
            [*celery, "beat", "-s", str(VAR / "celerybeat-schedule")],
            quiet,
        )
        log(f"starting the web application on http://127.0.0.1:{WEB_PORT}/")
        supervisor.start(
            "web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{WEB_PORT}", "--noreload"]
        )
        if not wait_http(f"http://127.0.0.1:{WEB_PORT}/health/", 30):
            log("the web application did not start")
            return 1

        from agenda.demo import DEMO_PASSWORD
        from calsync.standins import standin_accounts

        staff = [u for u in DEMO_USERS if u.role == "staff"]
        lines = [
            "",
            f"CalSync is running: http://127.0.0.1:{WEB_PORT}/",
            f"Demo logins (password {DEMO_PASSWORD}):",
            *(f"  {u.email:28} {u.role:6} {u.name}" for u in DEMO_USERS),
            f"Local CalDAV server: http://127.0.0.1:{CALDAV_PORT}/ "
            f"(users {', '.join(users)}; password {CALDAV_PASSWORD})",
            "Local stand-ins (no real Google, Microsoft or Stripe is reached):",
            f"  Google     {standins.google.url}  accounts "
            + ", ".join(standin_accounts(u.email)["google"] for u in staff),
            f"  Microsoft  {standins.microsoft.url}  accounts "
            + ", ".join(standin_accounts(u.email)["microsoft"] for u in staff),
            f"  Stripe     {standins.stripe.url}  test card 4242 4242 4242 4242",
            f"Sign-up of a new practice: http://127.0.0.1:{WEB_PORT}/account/signup/ "
            "(the e-mails are printed here)",
            f"Operators: python manage.py createsuperuser, then http://127.0.0.1:{WEB_PORT}/admin/",
            "Press Ctrl-C to stop everything.",
            "",
        ]
        print("\n".join(lines), flush=True)
        while not stopping:
            exited = supervisor.first_exited()
            if exited:
                log(f"{exited[0]} exited with status {exited[1]}; stopping the rest")
                return 1
            time.sleep(0.5)
        return 0
    finally:
        log("stopping")
        supervisor.stop()
        if standins is not None:
            standins.stop()
        log("stopped")


if __name__ == "__main__":
    sys.exit(main())
