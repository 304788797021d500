"""Messages a user can act on (issue 18 §3): one card per meeting with its title and date, what
happened, and the buttons; "no end date" for the internal far-future end; the e-mail says the
same and links to the card. A real run against Radicale makes the messages."""

from __future__ import annotations

import html
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from calsync.engine.plan import Note
from calsync.engine.run import _notes as sync_notes
from calsync.engine.run import not_synchronised, run_link
from calsync.message_cards import cards_for, readable
from calsync.models import SyncMessage
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav
from tests.engine.test_sync_caldav import put_outside
from tests.factories import make_meeting
from tests.test_scheduler import make_link

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def tomorrow_at(hour: int) -> datetime:
    day = (timezone.now() + timedelta(days=1)).astimezone(AMSTERDAM)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def daily_series(reader, title: str, start: datetime) -> None:  # type: ignore[no-untyped-def]
    put_outside(
        reader,
        f"{uuid.uuid4().hex}.ics",
        f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uuid.uuid4().hex}
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Amsterdam:{start:%Y%m%dT%H%M%S}
DTEND;TZID=Europe/Amsterdam:{start + timedelta(hours=1):%Y%m%dT%H%M%S}
RRULE:FREQ=DAILY;COUNT=10
SUMMARY:{title}
END:VEVENT
END:VCALENDAR
""",
    )


@override_settings(CALSYNC_PUBLIC_URL="https://calsync.example.com")
def test_a_card_names_the_event_and_the_mail_says_the_same_and_links_to_it(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    start = tomorrow_at(9)
    daily_series(reader, "Team stand-up", start)
    with django_capture_on_commit_callbacks(execute=True):
        run_link(link.pk)
    message = SyncMessage.objects.get(link=link, code="daily")
    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    card = page.split(f'id="message-{message.pk}"')[1].split("</li>")[0]
    day = f"{start:%a} {start.day} {start:%b %Y}, 09:00"
    assert "Team stand-up" in card and day in card
    assert "daily" in card and "Dismiss" in card

    [sent] = mail.outbox
    assert f"Team stand-up ({day})" in sent.body
    assert message.text in sent.body
    assert f"https://calsync.example.com/account/calendarsync/#message-{message.pk}" in sent.body


def test_a_card_about_a_meeting_here_uses_its_current_title_and_date(
    staff: User, radicale: CalDAVServer
) -> None:
    link, _ = link_caldav(staff, radicale)
    meeting = make_meeting(staff, title="Case review", start=tomorrow_at(14))
    message = SyncMessage.objects.create(
        link=link, subject=str(meeting.pk), code="invalid", text="It was refused.", fingerprint="f"
    )
    [card] = cards_for(link, [message])
    start = tomorrow_at(14)
    assert (card.title, card.when) == (
        "Case review",
        f"{start:%a} {start.day} {start:%b %Y}, 14:00",
    )


def test_dismiss_takes_the_card_away_and_the_problem_is_not_reported_again(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    daily_series(reader, "Morning check-in", tomorrow_at(8))
    with django_capture_on_commit_callbacks(execute=True):
        run_link(link.pk)
    message = SyncMessage.objects.get(link=link)
    response = staff_client.post(
        reverse("calsync:dismiss_message", args=[link.pk]), {"message": message.pk}, follow=True
    )
    page = response.content.decode()
    assert "The message was dismissed." in page
    assert f'id="message-{message.pk}"' not in page and "Morning check-in" not in page
    with django_capture_on_commit_callbacks(execute=True):
        run_link(link.pk)
    assert SyncMessage.objects.filter(link=link).count() == 1 and len(mail.outbox) == 1
    # Bad input is a clear message, not a 500.
    bad = staff_client.post(
        reverse("calsync:dismiss_message", args=[link.pk]), {"message": "x"}, follow=True
    )
    assert "That message was not found." in bad.content.decode()


def test_another_users_message_cannot_be_dismissed_through_ones_own_link(
    staff: User, colleague: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    from tests.factories import entitle

    mine, _ = link_caldav(staff, radicale)
    entitle(colleague)
    theirs, _ = link_caldav(colleague, radicale)
    message = SyncMessage.objects.create(
        link=theirs, subject="", code="run_error", text="t", fingerprint="f"
    )
    staff_client.post(reverse("calsync:dismiss_message", args=[mine.pk]), {"message": message.pk})
    message.refresh_from_db()
    assert message.dismissed_at is None


def test_the_internal_far_future_end_reads_no_end_date(settings) -> None:  # type: ignore[no-untyped-def]
    assert readable("It repeats until 2078-12-31 there.") == "It repeats with no end date there."
    assert "2078" not in readable("Ends 2078-12-31.")


ENGLISH = (
    "The meeting “Intake” of 2026-12-03 could not be synchronised: its dates or time zone are "
    "outside what calendars can hold. Edit the meeting to correct it; it is synchronised once it "
    "can be."
)
DUTCH = (
    "De afspraak “Intake” van 2026-12-03 kon niet worden gesynchroniseerd: de datums of de "
    "tijdzone vallen buiten wat agenda's kunnen bevatten. Bewerk de afspraak om dit te "
    "verbeteren; hij wordt gesynchroniseerd zodra dat kan."
)


def test_a_stored_message_reads_in_the_language_of_its_reader(
    staff: User,
    staff_client: HttpClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A run stores a message's source (issue 18 §11): the page renders it in the language of
    whoever reads it, the e-mail in the recipient's; ``text`` keeps the English for the admin.
    (The Dutch is the catalogue's: this passes once locale/nl holds calsync's translations.)"""
    staff.language = "nl"
    staff.save(update_fields=["language"])
    link = make_link(staff, cursor="t", calendar_name="Werk")
    meeting = make_meeting(
        staff, title="Intake", start=datetime(2026, 12, 3, 9, 0, tzinfo=AMSTERDAM)
    )
    note = Note(str(meeting.pk), "invalid", not_synchronised(meeting, OverflowError()), "v1")
    with django_capture_on_commit_callbacks(execute=True):
        sync_notes(link, [note])

    message = SyncMessage.objects.get(link=link)
    assert message.text == ENGLISH
    assert message.source is not None
    with translation.override("en"):
        assert message.rendered() == ENGLISH
    with translation.override("nl"):
        assert message.rendered() == DUTCH
    # Mailed when it was new, in the recipient's language.
    (sent,) = mail.outbox
    assert DUTCH in sent.body
    assert sent.subject == "CalendarSync: iets vraagt je aandacht"

    assert DUTCH in html.unescape(
        staff_client.get(reverse("calsync:calendarsync")).content.decode()
    )
    staff.language = "en"
    staff.save(update_fields=["language"])
    page = html.unescape(staff_client.get(reverse("calsync:calendarsync")).content.decode())
    assert ENGLISH in page
    assert DUTCH not in page
