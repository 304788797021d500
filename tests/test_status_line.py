"""The one status line per link (issue 18 §2) and the administrators' sync health (§1): what
the CalendarSync page, its polling and *Settings > Integrations* say of a link."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calsync.models import CalendarLink, LinkState, RunStatus, SyncRun
from tests.conftest import login
from tests.factories import UserFactory
from tests.test_scheduler import make_link

pytestmark = pytest.mark.django_db


def test_up_to_date_says_when_it_synced_and_when_it_syncs_next(staff: User) -> None:
    now = timezone.now()
    link = make_link(
        staff,
        due=now + timedelta(minutes=3, seconds=10),
        cursor="token-1",
        last_success_at=now - timedelta(minutes=2, seconds=5),
    )
    client = login(staff)
    # The page's own polling (a background request, which does not move the next poll forward
    # the way the user's visit does: accounts/middleware.py).
    status = client.get(
        reverse("calsync:sync_status", args=[link.pk]), headers={"X-CalSync-Background": "1"}
    ).json()
    assert status["line"].startswith("Up to date · synced <time datetime=")
    assert ">2 min ago</time> · <time" in status["line"]
    assert ">next in about 3 min</time>" in status["line"]
    assert (status["tone"], status["action"]) == ("ok", "")
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Up to date · synced" in page and ">2 min ago</time>" in page
    # The exact time is on hover, in the user's zone (Europe/Amsterdam).
    synced_at = timezone.localtime(
        CalendarLink.objects.get(pk=link.pk).last_success_at, ZoneInfo("Europe/Amsterdam")
    )
    assert f'title="{synced_at:%-d %b %Y, %H:%M}">2 min ago</time>' in page
    assert "Not yet" not in page and ">ok<" not in page


def test_a_quiet_synchronise_does_not_repeat_the_previous_summary(staff: User) -> None:
    """A run that changes nothing leaves no SyncRun row: the line says "synced just now" and the
    last changes keep their own date, instead of reading as this run's result."""
    now = timezone.now()
    link = make_link(staff, cursor="t", last_success_at=now - timedelta(hours=3))
    SyncRun.objects.create(
        link=link,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3),
        status=RunStatus.OK,
        counts={"created_there": 8},
    )
    client = login(staff)
    # The quiet run: only last_success_at moves (calsync/engine/run.py).
    CalendarLink.objects.filter(pk=link.pk).update(last_success_at=timezone.now())
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert ">just now</time>" in status["line"]
    assert status["changes"].startswith("Last changes, <time")
    assert "8 sent to the external calendar." in status["changes"]


def test_a_link_needing_a_reconnect_offers_the_button_that_fixes_it(staff: User) -> None:
    link = make_link(staff, state=LinkState.NEEDS_RECONNECT, last_error="revoked")
    client = login(staff)
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert f"Needs reconnecting: Google Calendar ({link.account}) no longer accepts" in page
    assert 'data-action="reconnect"' in page
    assert page.count(reverse("calsync:reconnect", args=[link.pk])) == 1
    assert reverse("calsync:sync_now", args=[link.pk]) not in page
    status = client.get(reverse("calsync:sync_status", args=[link.pk])).json()
    assert (status["tone"], status["action"]) == ("error", "reconnect")


def test_a_run_stopped_at_the_guard_asks_for_the_decision(staff: User) -> None:
    link = make_link(staff, cursor="t", last_success_at=timezone.now() - timedelta(hours=1))
    SyncRun.objects.create(
        link=link, status=RunStatus.STOPPED, error="This sync would delete 5 of your 6 meetings."
    )
    page = login(staff).get(reverse("calsync:calendarsync")).content.decode()
    assert "Stopped, waiting for your decision: This sync would delete 5 of your 6" in page
    assert 'data-action="allow_deletions"' in page and "Allow these deletions" in page


def test_a_billing_pause_says_who_can_fix_it(staff: User) -> None:
    link = make_link(staff, billing_paused=True)
    page = login(staff).get(reverse("calsync:calendarsync")).content.decode()
    assert "Paused: calendar synchronisation is not paid for" in page
    assert "administrator can renew it" in page
    # Nothing to press that cannot succeed: no Synchronise for a paused link.
    assert reverse("calsync:sync_now", args=[link.pk]) not in page


def test_administrators_see_each_practitioners_sync_health(
    staff: User, admin_user: User, outsider: User
) -> None:
    now = timezone.now()
    make_link(staff, cursor="t", last_success_at=now - timedelta(minutes=4))
    broken = UserFactory(tenant=staff.tenant, role="staff", full_name="Bea Broken")
    make_link(broken, state=LinkState.NEEDS_RECONNECT)
    UserFactory(tenant=staff.tenant, role="staff", full_name="Nina Nolink")
    make_link(outsider, calendar_name="Outsider's calendar")
    page = login(admin_user).get(reverse("billing:integrations")).content.decode()
    health = page.split('id="sync-health"')[1].split("</section>")[0]
    rows = health.split("<tr")[2:]
    assert [r.split("<td")[1].split(">")[1].split("<")[0] for r in rows] == [
        "Bea Broken",
        "Nina Nolink",
        "Sam Staff",
    ]
    assert "Needs reconnecting" in rows[0] and "No calendar linked yet." in rows[1]
    assert "Up to date · synced" in rows[2] and ">4 min ago</time>" in rows[2]
    assert "Outsider" not in health
