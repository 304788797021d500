"""The sync history in a real browser (issue 16 §2), against a real Radicale: a meeting's history
after an outside edit, a conflict resolved the other way, a sync deletion undone, and a daily
series converted in one click."""

from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from agenda.models import Meeting
from agenda.services import meeting_update
from calsync.engine.run import run_link
from calsync.models import EventMapping, SyncMessage
from tests.agenda.test_services import data_of
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav
from tests.engine.test_sync_caldav import future, put_outside
from tests.factories import PASSWORD, UserFactory, entitle, make_meeting
from tests.test_sync_history_pages import ics

pytestmark = pytest.mark.browser


def log_in(page: Page, url: str) -> User:
    staff = entitle(UserFactory(role=Role.STAFF, full_name="Hanna History"))
    page.goto(f"{url}/account/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return staff


def test_open_a_meetings_history_after_an_outside_edit(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = log_in(page, live_server.url)
    meeting = make_meeting(staff, title="Intake", start=future(2), location="Room 1")
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    external_id = EventMapping.objects.get(meeting=meeting).external_id
    item = reader.get(external_id)
    reader.update(external_id, replace(item.event, location="Room 7"), etag=item.etag)
    run_link(link.pk)

    page.goto(f"{live_server.url}/calendar/meetings/{meeting.pk}/")
    history = page.locator("#sync-history")
    expect(history.get_by_role("heading", name="Sync history")).to_be_visible()
    latest = history.locator(".sync-change").first
    expect(latest).to_contain_text("From the external calendar to CalSync")
    expect(latest).to_contain_text("Edited in the external calendar")
    row = latest.get_by_role("row", name="Location")
    expect(row).to_contain_text("Room 1")
    expect(row).to_contain_text("Room 7")
    latest.get_by_role("button", name="Undo this change").click()
    expect(page.get_by_role("status")).to_contain_text("The change was undone")
    meeting.refresh_from_db()
    assert meeting.location == "Room 1"
    # The undo synced out (the on-commit push ran the link).
    assert reader.get(external_id).event.location == "Room 1"


def test_resolve_a_conflict_the_other_way(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = log_in(page, live_server.url)
    meeting = make_meeting(staff, title="Planning", start=future(3))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    item = reader.full_listing().items[0]
    reader.update(item.external_id, replace(item.event, title="Planning (outside)"), etag=item.etag)
    meeting_update(meeting=meeting, data=data_of(meeting, title="Planning (here)"))
    run_link(link.pk)
    meeting.refresh_from_db()
    assert meeting.title == "Planning (here)"

    page.goto(f"{live_server.url}/account/calendarsync/")
    conflict = page.locator(".sync-conflict")
    expect(conflict).to_contain_text("Planning (here)")
    expect(conflict).to_contain_text("Planning (outside)")
    conflict.get_by_role("button", name="Take the other side").click()
    expect(page.get_by_role("status")).to_contain_text("other side's value was taken")
    expect(page.locator(".sync-conflict")).to_have_count(0)
    meeting.refresh_from_db()
    assert meeting.title == "Planning (outside)"
    assert reader.get(item.external_id).event.title == "Planning (outside)"


def test_undo_a_sync_deletion(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = log_in(page, live_server.url)
    meeting = make_meeting(staff, title="Dentist", start=future(4))
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    reader.delete(EventMapping.objects.get(meeting=meeting).external_id, etag=None)
    assert run_link(link.pk).counts == {"deleted_here": 1}

    page.goto(f"{live_server.url}/account/calendarsync/")
    deletion = page.locator(".sync-deletion")
    expect(deletion).to_contain_text("Dentist")
    deletion.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("The meeting was restored")
    expect(page.locator(".sync-deletion")).to_have_count(0)
    assert Meeting.objects.filter(pk=meeting.pk).exists()
    assert [i.event.title for i in reader.full_listing().items] == ["Dentist"]


def test_convert_a_daily_series_in_one_click(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
) -> None:
    staff = log_in(page, live_server.url)
    link, reader = link_caldav(staff, radicale)
    run_link(link.pk)
    put_outside(reader, "standup.ics", ics("Stand-up", future(1), "FREQ=DAILY;COUNT=10"))
    run_link(link.pk)
    assert SyncMessage.objects.filter(code="daily").exists()

    page.goto(f"{live_server.url}/account/calendarsync/")
    card = page.locator(".sync-messages li", has_text="repeats daily")
    expect(card).to_contain_text("convert it in one click")
    card.get_by_role("button", name="Convert to weekly").click()
    expect(page.get_by_role("status")).to_contain_text("now repeats weekly")
    expect(page.locator(".sync-messages li", has_text="repeats daily")).to_have_count(0)
    meeting = Meeting.objects.get(title="Stand-up")
    assert meeting.rule is not None and len(meeting.rule.weekdays) == 7
    page.goto(f"{live_server.url}/calendar/meetings/{meeting.pk}/")
    expect(page.locator("#sync-history")).to_contain_text("Created")
