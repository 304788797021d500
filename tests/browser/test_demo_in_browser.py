"""The demo as a newcomer meets it (issue 15 part 4): ``scripts/run_demo.py`` (what
``scripts/run`` starts) with its local stand-ins; in Chromium, Alice links Google and Microsoft
through the stand-ins' consent pages and sees the first syncs' recurrence messages, and the
administrator buys a credit pack through the payment stand-in. Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.test_demo import ROOT, free_port, port_open

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    web, dav = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "CALSYNC_VAR_DIR": str(tmp_path),
        "CALSYNC_PORT": str(web),
        "CALSYNC_CALDAV_PORT": str(dav),
    }
    log_path = tmp_path / "run.log"
    with log_path.open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/run_demo.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "Press Ctrl-C" not in log_path.read_text():
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            output = log_path.read_text()
            assert "Local stand-ins (no real Google, Microsoft or Stripe is reached)" in output
            assert "alice@gmail.example" in output and "alice@outlook.example" in output
            yield f"http://127.0.0.1:{web}"
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=60)
    assert code == 0, log_path.read_text()
    assert not port_open(web) and not port_open(dav)
    assert "==> stopped" in log_path.read_text()


def log_in(page: Page, url: str, email: str) -> None:
    page.goto(f"{url}/account/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("calsync-demo")
    page.get_by_role("button", name="Log in").click()


def test_the_demo_links_google_and_microsoft_and_sells_credits(page: Page, demo: str) -> None:
    log_in(page, demo, "alice@demo.calsync.test")
    page.goto(f"{demo}/account/calendarsync/")
    expect(page.locator("#standins")).to_contain_text("local stand-ins")
    expect(page.locator("#standins")).to_contain_text("alice@gmail.example")

    # Google: the stand-in's consent screen, Allow, and the first sync's messages.
    page.get_by_role("link", name="Set up Google Calendar").click()
    page.get_by_label("Use my primary Google calendar").check()
    page.get_by_role("button", name="Continue to Google").click()
    page.get_by_label("Choose an account").fill("alice@gmail.example")
    page.locator("#allow").click()
    expect(page.get_by_role("status")).to_contain_text("Linked Google Calendar")
    messages = page.locator("body")
    for _ in range(60):
        if "repeats daily" in messages.inner_text():
            break
        time.sleep(1)
        page.reload()
    expect(messages).to_contain_text("repeats daily")
    expect(messages).to_contain_text("weeks start on Sunday")
    expect(messages).to_contain_text("exception on this repeated meeting")

    # Microsoft: likewise.
    page.get_by_role("link", name="Set up Microsoft 365 / Outlook").click()
    page.get_by_label("Use my default Outlook calendar").check()
    page.get_by_role("button", name="Continue to Microsoft").click()
    page.get_by_label("Email, phone, or Skype").fill("alice@outlook.example")
    page.locator("#allow").click()
    expect(page.get_by_role("status")).to_contain_text("Linked Microsoft 365 / Outlook")
    for _ in range(60):
        if page.locator("article[data-link]").count() == 2 and "repeats daily" in (
            page.locator("article[data-link]").nth(1).inner_text()
        ):
            break
        time.sleep(1)
        page.reload()
    outlook = page.locator("article[data-link]").filter(has_text="Microsoft 365 / Outlook")
    expect(outlook).to_contain_text("repeats daily")
    expect(outlook).to_contain_text("exception on this repeated meeting")
    page.get_by_role("button", name="Log out").click()

    # The administrator buys 100 credits on the payment stand-in.
    log_in(page, demo, "admin@demo.calsync.test")
    page.goto(f"{demo}/settings/integrations/credits/")
    expect(page.locator("#balance")).to_have_text("100")
    page.get_by_role("button", name="Buy 100 credits").click()
    expect(page.get_by_text("Local stand-in for Stripe Checkout")).to_be_visible()
    page.get_by_role("button", name="Pay").click()
    # The webhook grants the credits and marks the purchase paid in one transaction, but the
    # page reads the purchases and the balance in two statements: wait for both to show it.
    for _ in range(20):
        if page.locator("#balance").inner_text() == "200" and page.locator("#receipts").count():
            break
        time.sleep(0.5)
        page.reload()
    expect(page.locator("#balance")).to_have_text("200")
    expect(page.locator("#receipts")).to_contain_text("EUR 25.00")
