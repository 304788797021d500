"""Two-way sync end to end against the Graph fake (PRODUCT 7-18): the engine through the
Microsoft connector, with tokens from the real msal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from agenda.models import Meeting
from calsync.engine.run import run_link
from calsync.models import EventMapping
from tests.engine.helpers import link_microsoft
from tests.factories import make_meeting
from tests.fakes.microsoft import MicrosoftFake

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


@pytest.fixture
def fake(microsoft_fake: MicrosoftFake) -> Iterator[MicrosoftFake]:
    with override_settings(
        CALSYNC_MICROSOFT_CLIENT_ID=microsoft_fake.client_id,
        CALSYNC_MICROSOFT_CLIENT_SECRET=microsoft_fake.client_secret,
        CALSYNC_MICROSOFT_AUTHORITY=microsoft_fake.authority,
        CALSYNC_MICROSOFT_GRAPH_ENDPOINT=microsoft_fake.graph_endpoint,
    ):
        yield microsoft_fake


def future(days: int, hour: int = 9) -> datetime:
    base = timezone.now().astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


def outlook_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC"}  # fmt: skip


def test_meetings_go_to_outlook_and_outlook_events_come_back_without_echo(
    staff: User, fake: MicrosoftFake
) -> None:
    meeting = make_meeting(staff, title="Review", start=future(3))
    link, calendar_id = link_microsoft(staff, fake)
    fake.user_create(
        calendar_id,
        {
            "subject": "Dentist",
            "start": outlook_time(future(5)),
            "end": outlook_time(future(5, 10)),
        },
    )
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1, "created_here": 1}
    assert Meeting.objects.filter(title="Dentist", owner=staff).exists()
    mapping = EventMapping.objects.get(meeting=meeting)
    assert fake.event(mapping.external_id)["subject"] == "Review"
    assert fake.sent_invitations == []
    # Quiet runs write nothing (I5). The first one still sees our own create in the delta
    # (the cursor was taken before it) and re-reads it; after that a run is one request.
    assert run_link(link.pk).counts == {}
    fake.clear_log()
    assert run_link(link.pk).counts == {}
    assert [r.path for r in fake.requests if r.path.startswith("/v1.0")] == [
        f"/v1.0/me/calendars/{calendar_id}/calendarView/delta"
    ]

    # An edit in Outlook comes in and is not written back (I6).
    fake.user_patch(mapping.external_id, {"subject": "Review (room 2)"})
    assert run_link(link.pk).counts == {"updated_here": 1}
    meeting.refresh_from_db()
    assert meeting.title == "Review (room 2)"
    assert run_link(link.pk).counts == {}

    # Deleted in Outlook: deleted here.
    fake.user_delete(mapping.external_id)
    assert run_link(link.pk).counts == {"deleted_here": 1}
    assert Meeting.all_objects.get(pk=meeting.pk).deleted_at is not None


def test_an_expired_delta_token_falls_back_to_a_full_listing(
    staff: User, fake: MicrosoftFake
) -> None:
    make_meeting(staff, title="Review", start=future(3))
    link, _ = link_microsoft(staff, fake)
    assert run_link(link.pk).counts == {"created_there": 1}
    fake.delta_gone()
    outcome = run_link(link.pk)
    assert outcome.status == "ok" and outcome.counts == {}


def test_an_outlook_event_edited_here_keeps_its_free_busy_html_body_and_categories(
    staff: User, fake: MicrosoftFake
) -> None:
    """Issue 12 §3 / issue 19 item 5: an event made in Outlook, marked out of office, with an
    HTML body and a category, has its title changed at the practice. Outlook gets the new title
    and keeps the rest (before: ``showAs`` became busy and the body text)."""
    from agenda.services import meeting_update
    from tests.agenda.test_services import data_of

    link, calendar_id = link_microsoft(staff, fake)
    body = {
        "contentType": "html",
        "content": "<html><body><p>Bring the <b>files</b></p></body></html>",
    }
    created = fake.user_create(
        calendar_id,
        {
            "subject": "Conference",
            "body": body,
            "showAs": "oof",
            "categories": ["Travel"],
            "start": outlook_time(future(6)),
            "end": outlook_time(future(6, 17)),
        },
    )
    assert run_link(link.pk).counts == {"created_here": 1}
    meeting = Meeting.objects.get(owner=staff, title="Conference")
    assert meeting.description == "Bring the files"
    meeting_update(meeting=meeting, data=data_of(meeting, title="Conference (Utrecht)"))
    assert run_link(link.pk).counts == {"updated_there": 1}
    stored = fake.event(str(created["id"]))
    assert stored["subject"] == "Conference (Utrecht)"
    assert (stored["showAs"], stored["body"], stored["categories"]) == ("oof", body, ["Travel"])
    assert run_link(link.pk).counts == {}
