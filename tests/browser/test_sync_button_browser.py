"""*Synchronise* in a real browser: the press, the progress text and the result, with no page
reload. The first test runs the sync eagerly in the web process; the second sends it through
Redis to a real worker process, as production does, and watches a first sync's "n of m"."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from calsync.celery import app
from calsync.models import CalendarLink
from tests.caldav_servers import CalDAVServer
from tests.engine.helpers import link_caldav, link_google
from tests.factories import PASSWORD, UserFactory, entitle, make_meeting
from tests.fakes.google import GoogleFake
from tests.workers import Worker

pytestmark = pytest.mark.browser


def test_press_synchronize_and_see_the_result_without_a_reload(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    radicale: CalDAVServer,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.CALSYNC_SYNC_BUTTON_SECONDS = 1
    staff = entitle(UserFactory(role=Role.STAFF, email="sync@example.test"))
    make_meeting(staff, title="Pushed by the button", start=timezone.now() + timedelta(days=2))
    link, reader = link_caldav(staff, radicale)
    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/account/calendarsync/")
    # A marker on the window: a full reload would remove it.
    page.evaluate("window.notReloaded = true")

    button = page.get_by_role("button", name="Synchronise")
    button.click()
    output = page.locator(f"#sync-output-{link.pk}")
    changes = page.locator(f"#sync-changes-{link.pk}")
    expect(output).to_have_attribute("data-done", "1", timeout=30_000)
    # The status line the server renders, in words: no raw "ok", no "Not yet" after a sync.
    expect(output).to_contain_text("Up to date · synced just now · next in")
    expect(output.locator("time").first).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d"))
    expect(changes).to_contain_text("Last changes, ")
    expect(changes).to_contain_text("1 sent to the external calendar.")
    # The button keeps the keyboard focus through the run (aria-disabled, not disabled).
    assert page.evaluate("document.activeElement.closest('form.sync-now') !== null") is True
    expect(page.locator("body")).not_to_contain_text("Not yet")
    assert page.evaluate("window.notReloaded") is True
    before = changes.inner_text()

    # A second press that finds nothing to do: the line says so, the last changes stay as they
    # were (with their own time) instead of reading as this run's result.
    page.wait_for_timeout(1_200)  # CALSYNC_SYNC_BUTTON_SECONDS, 1 here
    button.click()
    expect(output).to_have_attribute("data-done", "1", timeout=30_000)
    expect(output).to_contain_text("Up to date · synced just now")
    assert changes.inner_text() == before
    assert page.evaluate("window.notReloaded") is True
    assert [i.event.title for i in reader.full_listing().items] == ["Pushed by the button"]
    link.refresh_from_db()
    assert link.last_success_at is not None
    assert CalendarLink.objects.count() == 1


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/account/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.worker
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_worker_s_first_sync_shows_how_many_meetings_of_how_many(
    page: Page,
    live_server,  # type: ignore[no-untyped-def]
    google_fake: GoogleFake,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff = entitle(UserFactory(role=Role.STAFF, email="first@example.test"))
    first = timezone.now().replace(second=0, microsecond=0) + timedelta(days=1)
    for i in range(12):
        make_meeting(staff, title=f"Session {i:02}", start=first + timedelta(hours=i))
    link, _ = link_google(staff, google_fake)
    # The worker sends the creates in batch requests of 3 (50 in production), and each takes a
    # moment at the fake, so the run lasts a few seconds and the page has progress to show (it
    # polls once a second; the run reports once a second).
    original = google_fake.rewrite

    def slow(request: Any) -> Any:
        if request.method == "POST":
            time.sleep(1.0)
        return original(request)

    monkeypatch.setattr(google_fake, "rewrite", slow)
    # The web process (this test's live server) enqueues on Redis instead of running the task.
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    worker = start_worker(CALSYNC_GOOGLE_BATCH_SIZE="3")

    log_in(page, live_server.url, staff.email)
    page.goto(f"{live_server.url}/account/calendarsync/")
    output = page.locator(f"#sync-output-{link.pk}")
    page.get_by_role("button", name="Synchronise").click()
    expect(output).to_have_text(
        re.compile(r"First synchronisation: ([1-9]|1[01]) of 12 meetings…"), timeout=30_000
    )
    expect(output).to_have_attribute("data-done", "1", timeout=30_000)
    expect(output).to_contain_text("Up to date · synced just now")
    expect(page.locator(f"#sync-changes-{link.pk}")).to_contain_text(
        "12 sent to the external calendar."
    )
    assert worker.poll() is None
    link.refresh_from_db()
    assert link.cursor and (link.progress_done, link.progress_total) == (0, 0)
