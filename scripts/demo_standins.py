"""The demo's local stand-ins for Google, Microsoft and Stripe: the fakes the tests use
(``tests/fakes/``), served on local ports from ``scripts/run_demo.py``, with a few events waiting
in each demo staff member's stand-in calendars.

The events are there so the first sync shows what CalSync tells its users (feature 21 of
docs/features.md): a daily series (not brought in, with the tip to make it weekly on working
days), a series every other week on Sunday and Monday in a calendar whose weeks start on Sunday
(the dates differ from a Monday week: a warning), a weekly series with one occurrence moved (the
series comes in without the exception, and the user is told), and a plain meeting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calsync.standins import standin_accounts
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.fakes.stripe import StripeFake

ZONE = "Europe/Amsterdam"
WINDOWS_ZONE = "W. Europe Standard Time"  # Graph's name for it (PROTOCOLS.md §2.3)


@dataclass
class StandIns:
    google: GoogleFake
    microsoft: MicrosoftFake
    stripe: StripeFake

    def stop(self) -> None:
        for fake in (self.stripe, self.microsoft, self.google):
            fake.stop()

    def environment(self) -> dict[str, str]:
        """The settings (as environment variables) that point CalSync at the stand-ins."""
        return {
            **self.google.django_settings(),
            "CALSYNC_MICROSOFT_CLIENT_ID": self.microsoft.client_id,
            "CALSYNC_MICROSOFT_CLIENT_SECRET": self.microsoft.client_secret,
            "CALSYNC_MICROSOFT_GRAPH_ENDPOINT": self.microsoft.graph_endpoint,
            "CALSYNC_MICROSOFT_LOGIN_STANDIN": self.microsoft.url,
            **self.stripe.django_settings(),
            "CALSYNC_DEMO_STANDINS": "true",
            # oauthlib refuses plain http and a changed scope otherwise (PROTOCOLS.md §1.2).
            "OAUTHLIB_INSECURE_TRANSPORT": "1",
            "OAUTHLIB_RELAX_TOKEN_SCOPE": "1",
        }


def start(*, web_port: int, staff_emails: list[str], today: date) -> StandIns:
    google = GoogleFake().start()
    microsoft = MicrosoftFake().start()
    stripe = StripeFake(auto_deliver=True).start()
    for host in ("127.0.0.1", "localhost"):
        base = f"http://{host}:{web_port}/account/calendarsync"
        google.client_config(f"{base}/google/callback/")
        microsoft.register_redirect_uri(f"{base}/microsoft/callback/")
    stripe.add_webhook_endpoint(f"http://127.0.0.1:{web_port}/billing/stripe/webhook/")
    for email in staff_emails:
        accounts = standin_accounts(email)
        seed_google(google, accounts["google"], today)
        seed_microsoft(microsoft, accounts["microsoft"], today)
    return StandIns(google, microsoft, stripe)


def _next(today: date, weekday: int) -> date:
    """The first ``weekday`` (0 = Monday) after ``today``."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(ZONE))


def _google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": ZONE}


def seed_google(fake: GoogleFake, email: str, today: date) -> None:
    # Weeks start on Sunday in this account (Google's default for many locales).
    fake.add_account(email, time_zone=ZONE, week_start="0")

    def event(title: str, start: datetime, minutes: int, rule: str | None = None) -> str:
        body: dict[str, object] = {
            "summary": title,
            "start": _google_time(start),
            "end": _google_time(start + timedelta(minutes=minutes)),
        }
        if rule:
            body["recurrence"] = [rule]
        return str(fake.user_insert(email, body)["id"])

    tomorrow = today + timedelta(days=1)
    event("Daily stand-up (Google)", _local(tomorrow, 8), 15, "RRULE:FREQ=DAILY;COUNT=20")
    event(
        "Fortnightly weekend clinic (Google)",
        _local(_next(today, 6), 10),
        60,
        "RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=SU,MO;COUNT=8",
    )
    wednesday = _next(today, 2)
    series = event(
        "Wednesday case review (Google)", _local(wednesday, 14), 45, "RRULE:FREQ=WEEKLY;COUNT=8"
    )
    # One occurrence moved to the Thursday (an exception the practice calendar cannot hold).
    moved = _local(wednesday + timedelta(weeks=1), 14)
    instance = f"{series}_{moved.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    fake.user_patch(
        email,
        instance,
        {
            "start": _google_time(moved + timedelta(days=1, hours=1)),
            "end": _google_time(moved + timedelta(days=1, hours=1, minutes=45)),
        },
    )
    event("Lunch with the orthopaedic surgeon (Google)", _local(tomorrow, 12), 60)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": WINDOWS_ZONE}


def seed_microsoft(fake: MicrosoftFake, email: str, today: date) -> None:
    fake.add_account(email)
    calendar = fake.default_calendar(email).id

    def event(
        title: str, start: datetime, minutes: int, pattern: dict[str, object] | None = None
    ) -> str:
        body: dict[str, object] = {
            "subject": title,
            "start": _graph_time(start),
            "end": _graph_time(start + timedelta(minutes=minutes)),
        }
        if pattern is not None:
            count = pattern.pop("count")
            body["recurrence"] = {
                "pattern": pattern,
                "range": {
                    "type": "numbered",
                    "startDate": start.date().isoformat(),
                    "numberOfOccurrences": count,
                },
            }
        return str(fake.user_create(calendar, body)["id"])

    tomorrow = today + timedelta(days=1)
    event(
        "Daily stand-up (Outlook)",
        _local(tomorrow, 9),
        15,
        {"type": "daily", "interval": 1, "count": 20},
    )
    event(
        "Fortnightly weekend clinic (Outlook)",
        _local(_next(today, 6), 11),
        60,
        {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["sunday", "monday"],
            "firstDayOfWeek": "sunday",
            "count": 8,
        },
    )
    thursday = _next(today, 3)
    series = event(
        "Thursday team huddle (Outlook)",
        _local(thursday, 15),
        30,
        {"type": "weekly", "interval": 1, "daysOfWeek": ["thursday"], "count": 8},
    )
    moved = _local(thursday + timedelta(weeks=1), 15)
    fake.user_patch(
        fake.occurrence_id(series, moved),
        {
            "start": _graph_time(moved + timedelta(days=1)),
            "end": _graph_time(moved + timedelta(days=1, minutes=30)),
        },
    )
    event("Supplier visit (Outlook)", _local(tomorrow, 13), 45)
