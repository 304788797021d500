"""Issue 18 §10, the words staff read: *Set up* as the verb, a CalDAV link named by what it is,
CalendarSync not filed under "Documents", and the week's legend in the meeting form's words."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import User
from calsync.models import CalendarLink, Provider
from connectors.caldav.hosts import is_icloud_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


@pytest.mark.parametrize(
    ("url", "icloud"),
    [
        ("https://caldav.icloud.com/", True),
        ("https://p42-caldav.icloud.com/123/calendars/", True),
        ("https://CALDAV.iCloud.com/", True),
        ("https://caldav.example.com/", False),
        ("https://icloud.com.evil.example/", False),
        ("https://notcaldav.icloud.com/", False),
        ("", False),
    ],
)
def test_icloud_is_told_apart_by_its_host(url: str, icloud: bool) -> None:
    assert is_icloud_url(url) is icloud


def _link(staff: User, server_url: str, name: str) -> CalendarLink:
    return CalendarLink.objects.create(
        tenant=staff.tenant,
        user=staff,
        provider=Provider.CALDAV,
        account="alice",
        server_url=server_url,
        calendar_id=f"/{name}/",
        calendar_name=name,
    )


def test_a_caldav_link_is_labelled_by_its_server(staff: User, staff_client: HttpClient) -> None:
    plain = _link(staff, "https://caldav.example.com/", "Work")
    icloud = _link(staff, "https://p42-caldav.icloud.com/", "Phone")
    assert (plain.provider_label, icloud.provider_label) == ("CalDAV", "iCloud")

    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    assert "iCloud / CalDAV" not in page
    assert "CalDAV: Work" in page and "iCloud: Phone" in page


def test_set_up_is_the_verb_on_the_calendarsync_page(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("calsync:calendarsync")).content.decode()
    assert ">Set up iCloud</a>" in page and ">Set up CalDAV</a>" in page
    assert "Setup " not in page
    for url in (reverse("calsync:setup_caldav"), reverse("calsync:setup_caldav") + "?icloud=1"):
        setup = staff_client.get(url).content.decode()
        assert re.search(r"<h1>Set up (iCloud|CalDAV)</h1>", setup)
        assert "Setup " not in setup


def test_calendarsync_is_not_filed_under_documents(staff_client: HttpClient) -> None:
    page = staff_client.get(reverse("accounts:my_account")).content.decode()
    assert "Documents" not in page
    assert "<h2>Calendar sync</h2>" in page and "CalendarSync</a>" in page


def test_the_week_legend_and_the_meeting_form_use_the_same_words(
    staff_client: HttpClient,
) -> None:
    week = staff_client.get(reverse("agenda:week")).content.decode()
    legend = re.search(r'<p class="legend">(.*?)</p>', week, re.S)
    assert legend is not None
    chips = re.findall(r'<span class="chip \w+">([^<]+)</span>', legend.group(1))
    assert chips == ["Meeting", "Client appointment", "Personal"]

    form = staff_client.get(reverse("agenda:meeting_new")).content.decode()
    kind = re.search(r'<select name="kind"[^>]*>(.*?)</select>', form, re.S)
    assert kind is not None
    options = re.findall(r"<option[^>]*>([^<]+)</option>", kind.group(1))
    # The two kinds the form offers are two of the legend's words; the third (a meeting with a
    # client) is what the client field's help calls it.
    assert options == ["Meeting", "Personal"]
    assert "A meeting with a client is a client appointment." in form
