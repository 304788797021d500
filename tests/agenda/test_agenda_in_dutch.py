"""The practice calendar in Dutch (issue 18 §11): every word of the agenda's pages goes through
gettext, in more situations than tests/test_i18n.py's tour (all-day and multi-day meetings, an
attendee's view, every kind of repetition, form errors, the messages after a save or a split);
the repetition, the form's errors and the dates come in the reader's language.

The checks under ``pseudo`` need no catalogue. ``test_the_meeting_pages_read_in_dutch`` reads the
Dutch itself: it passes once locale/nl holds the agenda's translations (/work/i18n/agenda.po
merged into the catalogue)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client as HttpClient

from accounts.models import Role, User
from agenda.models import Meeting, Reminder
from agenda.services import MeetingData, all_day_bounds, meeting_create
from recurrence import Frequency, Rule, Weekday
from tests import i18n_checks
from tests.factories import PASSWORD, ClientFactory, TenantFactory, UserFactory, make_meeting

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db

# The test data's own words: names, titles, places.
DATA_WORDS = frozenset(
    {"Anna", "Visser", "Bram", "Smit", "Cees", "Bakker", "Weekoverleg", "Intake", "Jansen"}
    | {"Kamer", "Noord", "Praktijk", "Supervisie", "Jubileum", "Groep", "anna", "bram"}
    | {"noord", "example", "test", "boss", "guest", "nope", "Amsterdam", "Europe"}
)
MAIN = re.compile(r"<main\b.*?</main>", re.S)


@pytest.fixture
def pseudo() -> Iterator[None]:
    """Dutch pages rendered with ``PseudoTranslation``: every translated string marked."""
    with i18n_checks.pseudo_translation():
        yield


def dutch_client(user: User) -> HttpClient:
    client = HttpClient(HTTP_ACCEPT_LANGUAGE="nl")
    assert client.login(username=user.email, password=PASSWORD)
    return client


def unmarked(html: str) -> list[str]:
    """The words outside ⟦…⟧ in the page's content (the navigation is the accounts' part)."""
    found = MAIN.search(html)
    assert found, "no <main> on the page"
    return i18n_checks.unmarked_text(found.group(0), DATA_WORDS)


@pytest.fixture
def practice() -> dict[str, object]:
    tenant = TenantFactory(name="Praktijk Noord", slug="praktijk-noord")
    admin = UserFactory(
        tenant=tenant, role=Role.ADMIN, email="boss@noord.example.test", full_name="Cees Bakker"
    )
    anna = UserFactory(
        tenant=tenant, role=Role.STAFF, email="anna@noord.example.test", full_name="Anna Visser"
    )
    bram = UserFactory(
        tenant=tenant, role=Role.STAFF, email="bram@noord.example.test", full_name="Bram Smit"
    )
    client = ClientFactory(tenant=tenant, name="Jansen")
    weekly = make_meeting(
        anna,
        title="Weekoverleg",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMS),
        rule=Rule(
            Frequency.WEEKLY,
            until=date(2027, 6, 29),
            interval=2,
            weekdays=frozenset([Weekday.TU, Weekday.TH]),
        ),
        attendees=(bram,),
        reminder_minutes=Reminder.MIN_15,
        visible_for_all=True,
        location="Kamer",
        other_attendees=("guest@example.test",),
        description="Intake",
    )
    nth = make_meeting(
        anna,
        title="Supervisie",
        start=datetime(2026, 12, 8, 13, 0, tzinfo=AMS),
        rule=Rule(
            Frequency.MONTHLY, until=date(2027, 12, 31), interval=3, nth=2, nth_weekday=Weekday.TU
        ),
    )
    monthly = make_meeting(
        anna,
        title="Groep",
        start=datetime(2026, 12, 1, 17, 0, tzinfo=AMS),
        rule=Rule(Frequency.MONTHLY, until=date(2027, 12, 31), month_day=1),
    )
    start, end = all_day_bounds(date(2026, 12, 4), date(2026, 12, 4), "Europe/Amsterdam")
    yearly = meeting_create(
        owner=anna,
        data=MeetingData(
            title="Jubileum",
            start=start,
            end=end,
            time_zone="Europe/Amsterdam",
            all_day=True,
            rule=Rule(Frequency.YEARLY, until=date(2036, 12, 31)),
        ),
    )
    start, end = all_day_bounds(date(2026, 12, 2), date(2026, 12, 4), "Europe/Amsterdam")
    multi_day = meeting_create(
        owner=anna,
        data=MeetingData(
            title="Intake",
            start=start,
            end=end,
            time_zone="Europe/Amsterdam",
            all_day=True,
            client=client,
        ),
    )
    brams = make_meeting(
        bram, title="Intake", start=datetime(2026, 12, 2, 15, 0, tzinfo=AMS), attendees=(anna,)
    )
    return {
        "admin": admin,
        "anna": anna,
        "weekly": weekly,
        "nth": nth,
        "monthly": monthly,
        "yearly": yearly,
        "multi_day": multi_day,
        "brams": brams,
    }


def _pk(practice: dict[str, object], name: str) -> int:
    meeting = practice[name]
    assert isinstance(meeting, Meeting)
    return meeting.pk


def test_every_agenda_page_is_marked_in_every_situation(
    pseudo: None, practice: dict[str, object]
) -> None:
    anna = practice["anna"]
    assert isinstance(anna, User)
    client = dutch_client(anna)
    weekly, yearly = _pk(practice, "weekly"), _pk(practice, "yearly")
    paths = [
        "/calendar/?week=2026-11-30",
        "/calendar/?week=not-a-date",
        "/calendar/?week=0001-01-01",
        "/calendar/meetings/new/?date=2026-12-02",
        f"/calendar/meetings/{weekly}/?on=2026-12-03",
        f"/calendar/meetings/{weekly}/edit/",
        f"/calendar/meetings/{weekly}/delete/",
        f"/calendar/meetings/{_pk(practice, 'nth')}/",
        f"/calendar/meetings/{_pk(practice, 'monthly')}/",
        f"/calendar/meetings/{yearly}/?on=2027-12-04",
        f"/calendar/meetings/{_pk(practice, 'multi_day')}/",
        f"/calendar/meetings/{_pk(practice, 'brams')}/",
    ]
    found = []
    for path in paths:
        page = client.get(path, follow=True)
        assert page.status_code == 200, path
        found += [f"{path} {f}" for f in unmarked(page.content.decode())]
    form = {
        "title": "",
        "kind": "personal",
        "status": "confirmed",
        "start_date": "2026-12-02",
        "start_time": "",
        "end_date": "2026-12-01",
        "end_time": "9",
        "time_zone": "Nowhere/Atlantis",
        "other_attendees": "nope",
        "repeat": "weekly",
        "repeat_until": "",
        "repeat_interval": "1",
    }
    for data in (
        form,
        {**form, "title": "T", "start_time": "10:00", "end_time": "09:00", "end_date": "2026-12-02"}
        | {"time_zone": "Europe/Amsterdam", "repeat_until": "2027-01-01"},
        {**form, "title": "T", "start_time": "10:00", "end_time": "11:00"}
        | {"end_date": "2026-12-02", "time_zone": "Europe/Amsterdam", "repeat_until": "2027-01-01"}
        | {"repeat_weekdays": ["0"]},
        {**form, "title": "T", "all_day": "on", "time_zone": "Europe/Amsterdam"}
        | {"repeat": "monthly", "repeat_until": "2300-01-01"},
    ):
        page = client.post("/calendar/meetings/new/", data)
        assert page.status_code == 200
        found += [f"POST new {f}" for f in unmarked(page.content.decode())]
    for path, data in (
        (f"/calendar/meetings/{weekly}/split/", {"on": "2026-12-03"}),
        (f"/calendar/meetings/{weekly}/split/", {"on": "2026-11-03"}),
        (f"/calendar/meetings/{_pk(practice, 'brams')}/respond/", {"answer": "accept"}),
        (f"/calendar/meetings/{_pk(practice, 'brams')}/respond/", {"answer": "maybe"}),
        (f"/calendar/meetings/{yearly}/delete/", {}),
    ):
        page = client.post(path, data, follow=True)
        assert page.status_code == 200, path
        found += [f"POST {path} {f}" for f in unmarked(page.content.decode())]
    assert not found, "\n".join(found)


def test_the_settings_messages_of_resources_and_clients_are_marked(
    pseudo: None, practice: dict[str, object]
) -> None:
    admin = practice["admin"]
    assert isinstance(admin, User)
    client = dutch_client(admin)
    texts = []
    for path, data in (
        ("/settings/resources/", {"name": "Kamer"}),
        ("/settings/resources/", {"name": "Kamer"}),  # the name is taken
        ("/settings/clients/", {"name": "Jansen", "email": "jansen@example.test"}),
    ):
        page = client.post(path, data, follow=True).content.decode()
        texts += re.findall(r'<p class="message [^"]*" role="\w+">([^<]*)</p>', page)
    assert len(texts) == 3
    found = i18n_checks.unmarked_text("".join(f"<p>{t}</p>" for t in texts), DATA_WORDS)
    assert not found, found


def test_the_meeting_pages_read_in_dutch(practice: dict[str, object]) -> None:
    """Passes once the catalogue holds the agenda's Dutch (see the module's docstring)."""
    anna = practice["anna"]
    assert isinstance(anna, User)
    client = dutch_client(anna)
    week = client.get("/calendar/?week=2026-11-30").content.decode()
    assert "Week van 30 november 2026" in week
    assert "<h2>ma 30 nov</h2>" in week
    assert 'aria-label="Afspraak toevoegen op maandag 30 november"' in week
    weekly = client.get(f"/calendar/meetings/{_pk(practice, 'weekly')}/?on=2026-12-03")
    page = weekly.content.decode()
    assert "Om de 2 weken op dinsdag, donderdag tot en met 2027-06-29" in page
    assert "donderdag 3 december 2026, 09:00 – 10:00, onderdeel van een reeks" in page
    assert "Bram Smit (nog niet bevestigd)" in page and "15 minuten van tevoren" in page
    nth = client.get(f"/calendar/meetings/{_pk(practice, 'nth')}/").content.decode()
    assert "Om de 3 maanden op de tweede dinsdag tot en met 2027-12-31" in nth
    yearly = client.get(f"/calendar/meetings/{_pk(practice, 'yearly')}/").content.decode()
    assert "Elk jaar op 4 december tot en met 2036-12-31" in yearly
    multi = client.get(f"/calendar/meetings/{_pk(practice, 'multi_day')}/").content.decode()
    assert "woensdag 2 december 2026 (3 dagen), hele dag (Europe/Amsterdam)" in multi
    refused = client.post(
        "/calendar/meetings/new/",
        {
            "title": "T",
            "kind": "appointment",
            "status": "confirmed",
            "start_date": "2026-12-02",
            "start_time": "10:00",
            "end_date": "2026-12-02",
            "end_time": "11:00",
            "time_zone": "Europe/Amsterdam",
            "repeat": "weekly",
            "repeat_weekdays": ["0"],
            "repeat_until": "2300-01-01",
            "repeat_interval": "1",
        },
    ).content.decode()
    assert "Kies een datum van 1 januari 1900 tot en met 31 december 2099" in refused
    refused = client.post(
        "/calendar/meetings/new/",
        {
            "title": "T",
            "kind": "appointment",
            "status": "confirmed",
            "start_date": "2026-12-02",
            "start_time": "10:00",
            "end_date": "2026-12-02",
            "end_time": "11:00",
            "time_zone": "Europe/Amsterdam",
            "repeat": "weekly",
            "repeat_weekdays": ["0"],
            "repeat_until": "2027-01-01",
            "repeat_interval": "1",
        },
    ).content.decode()
    assert "De eerste keer valt op een woensdag, en dat is geen van de gekozen weekdagen." in (
        refused
    )


def test_the_named_formats_write_the_english_as_before(practice: dict[str, object]) -> None:
    """DAY_HEADING_FORMAT and the WEEKDAY_… formats of calsync/formats/en are the patterns the
    templates wrote before they named formats."""
    anna = practice["anna"]
    assert isinstance(anna, User)
    client = HttpClient(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=anna.email, password=PASSWORD)
    week = client.get("/calendar/?week=2026-11-30").content.decode()
    assert "<h2>Mon 30 Nov</h2>" in week
    assert 'aria-label="Add a meeting on Monday 30 November"' in week
    page = client.get(f"/calendar/meetings/{_pk(practice, 'weekly')}/?on=2026-12-03")
    text = page.content.decode()
    assert "Thursday 3 December 2026, 09:00 – 10:00, one of a series that starts on" in text
    assert "Tuesday 3 November 2026, 09:00 – 10:00 (Europe/Amsterdam)" in text
    assert "Every 2 weeks on Tuesday, Thursday until 2027-06-29" in text
