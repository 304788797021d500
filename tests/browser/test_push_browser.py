"""With push on, an edit in the Google fake shows on the week view in a real browser without
the user reloading (issue 14): Google's notification reaches the web (a live server) over HTTP,
a real worker process runs the link from Redis, and the week page, which polls the calendar's
version every few seconds (static/js/live.js), fetches itself again and swaps the new week in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.celery import app
from calsync.engine.run import run_link
from tests.browser.test_sync_button_browser import log_in
from tests.engine.helpers import link_google
from tests.factories import UserFactory, entitle
from tests.fakes.google import GoogleFake
from tests.push_helpers import current
from tests.workers import Worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def test_an_edit_at_google_shows_on_the_week_view_without_a_reload(
    page: Page,
    live_server: Any,
    google_fake: GoogleFake,
    start_worker: Callable[..., Worker],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.CALSYNC_PUBLIC_URL = str(live_server.url)
    for name, value in google_fake.django_settings().items():
        setattr(settings, name, value)
    google_fake.start_push()
    staff = entitle(UserFactory(role=Role.STAFF, email="push@example.test"))
    link, calendar_id = link_google(staff, google_fake)  # its channel is made on commit
    assert current(link).state == "active"
    assert run_link(link.pk).status == "ok"
    monkeypatch.setitem(app.conf, "task_always_eager", False)  # the web enqueues on Redis
    start_worker(CALSYNC_PUBLIC_URL=str(live_server.url))

    zone = ZoneInfo(staff.time_zone)
    start = (
        (timezone.now() + timedelta(days=1))
        .astimezone(zone)
        .replace(hour=10, minute=0, second=0, microsecond=0)
    )
    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/calendar/?week={start.date().isoformat()}")
    week = page.get_by_test_id("week")
    expect(week).not_to_contain_text("Booked at Google")
    page.evaluate("window.notReloaded = true")  # a full reload would remove it

    google_fake.user_insert(
        calendar_id,
        {
            "summary": "Booked at Google",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        },
    )
    # Push (about 2 s on a quiet machine: bench/push_bench.py) plus the page's next version check
    # (every 5 s); the wait is generous because a loaded CI machine starts the worker slowly.
    expect(week).to_contain_text("Booked at Google", timeout=60_000)
    expect(week.locator(".occ", has_text="Booked at Google")).to_contain_text("10:00")
    assert page.evaluate("window.notReloaded") is True
    assert week.get_attribute("data-refreshed")
