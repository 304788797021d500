"""*My Account > CalendarSync* with a real Radicale server: setup, errors, revoke."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import niquests
import pytest
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuditEntry, User
from agenda.models import Meeting
from calsync.models import CalendarLink, LinkState
from connectors import credentials
from tests.caldav_servers import CalDAVServer
from tests.conftest import login
from tests.factories import make_meeting

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entitled")]


def setup(client: HttpClient, server: CalDAVServer, **overrides: str):  # type: ignore[no-untyped-def]
    data = {
        "server_url": server.url,
        "username": server.username,
        "password": server.password,
        "target": "dedicated",
    }
    data.update(overrides)
    return client.post(reverse("calsync:setup_caldav"), data, follow=True)


def calendar_names(server: CalDAVServer) -> list[str]:
    body = (
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/>'
        "</d:prop></d:propfind>"
    )
    response = niquests.request(
        "PROPFIND",
        server.home,
        data=body,
        headers={"Depth": "1"},
        auth=(server.username, server.password),
        timeout=10,
    )
    import re

    return re.findall(r"<[^>]*displayname>([^<]+)<", response.text or "")


def test_setup_creates_the_dedicated_calendar_and_an_encrypted_link(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
) -> None:
    response = setup(staff_client, radicale)
    assert b"Linked \xe2\x80\x9cCS_Sam Staff\xe2\x80\x9d" in response.content
    link = CalendarLink.objects.get(user=staff)
    assert (link.provider, link.account, link.target, link.state) == (
        "caldav",
        "alice",
        "dedicated",
        LinkState.ACTIVE,
    )
    assert radicale.password not in link.credentials
    assert credentials.decrypt(link.credentials) == {"password": radicale.password}
    assert "CS_Sam Staff" in calendar_names(radicale)
    page = response.content.decode()
    assert "CalDAV" in page and "Revoke access" in page and "alice" in page

    # Setting up again finds the calendar (no second one) and says the link exists.
    again = setup(staff_client, radicale)
    assert b"linked to your account already" in again.content
    assert calendar_names(radicale).count("CS_Sam Staff") == 1
    assert CalendarLink.objects.filter(user=staff).count() == 1


def test_wrong_password_is_explained_and_nothing_is_saved(
    staff_client: HttpClient,
    radicale: CalDAVServer,
) -> None:
    response = setup(staff_client, radicale, password="wrong")
    assert b"refused the user name or password" in response.content
    assert b"app-specific password" in response.content
    assert not CalendarLink.all_objects.exists()


@pytest.fixture
def not_caldav() -> Iterator[str]:
    """A web server that is not a CalDAV server."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PROPFIND(self) -> None:
            self.send_response(405)
            self.end_headers()

        do_GET = do_PROPFIND

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_server_that_is_not_caldav_is_explained(
    staff_client: HttpClient,
    radicale: CalDAVServer,
    not_caldav: str,
) -> None:
    response = setup(staff_client, radicale, server_url=not_caldav)
    assert b"did not answer as a CalDAV server" in response.content
    assert not CalendarLink.all_objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:5232/", b"points to a private or local network"),
        ("http://10.1.2.3/dav/", b"points to a private or local network"),
        ("ftp://example.com/", b"Enter the server address as a URL"),
        ("https://user:pw@example.com/", b"not in the address"),
    ],
)
@override_settings(CALSYNC_ALLOW_PRIVATE_ADDRESSES=False)
def test_private_addresses_are_refused_unless_allowed(
    staff_client: HttpClient,
    radicale: CalDAVServer,
    url: str,
    message: bytes,
) -> None:
    response = setup(staff_client, radicale, server_url=url)
    assert message in response.content
    assert not CalendarLink.all_objects.exists()


@override_settings(CALSYNC_ALLOW_HTTP=False, CALSYNC_ALLOW_PRIVATE_ADDRESSES=True)
def test_plain_http_is_refused_in_production(
    staff_client: HttpClient,
    radicale: CalDAVServer,
) -> None:
    response = setup(staff_client, radicale)
    assert b"Use an https:// address" in response.content


def test_link_an_existing_calendar_in_two_steps(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
) -> None:
    existing = radicale.new_calendar_url()
    response = setup(staff_client, radicale, target="existing")
    assert b"Choose a calendar" in response.content
    # Between the steps the password is in the session only encrypted.
    pending = staff_client.session["calsync:pending-caldav"]
    assert radicale.password not in str(pending)
    # A calendar the server did not list is refused (no linking of arbitrary URLs).
    refused = staff_client.post(reverse("calsync:setup_caldav_choose"), {"calendar": "/evil/"})
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content
    assert not CalendarLink.objects.exists()
    response = staff_client.post(
        reverse("calsync:setup_caldav_choose"), {"calendar": existing}, follow=True
    )
    link = CalendarLink.objects.get(user=staff)
    assert (link.calendar_id, link.target) == (existing, "existing")
    assert "calsync:pending-caldav" not in staff_client.session
    # Once linked, the pending step is gone: posting it again starts over.
    again = staff_client.post(reverse("calsync:setup_caldav_choose"), {"calendar": existing})
    assert again.status_code == 302 and again["Location"] == reverse("calsync:setup_caldav")
    assert CalendarLink.objects.count() == 1


def test_revoke_stops_sync_deletes_credentials_and_keeps_meetings(
    staff: User,
    staff_client: HttpClient,
    radicale: CalDAVServer,
) -> None:
    setup(staff_client, radicale)
    meeting = make_meeting(staff, title="Stays")
    link = CalendarLink.objects.get(user=staff)
    response = staff_client.post(reverse("calsync:revoke", args=[link.pk]), follow=True)
    assert b"was revoked" in response.content
    link.refresh_from_db()
    assert (link.state, link.credentials, link.next_sync_at) == (LinkState.REVOKED, "", None)
    assert link.revoked_at is not None and not link.syncs
    assert Meeting.objects.filter(pk=meeting.pk).exists()
    assert b"You have no linked calendars." in response.content
    # A second revoke of the same link is a 404 (it is no longer a live link).
    assert staff_client.post(reverse("calsync:revoke", args=[link.pk])).status_code == 404


@pytest.mark.parametrize(
    "url_name", ["calsync:setup_caldav", "calsync:setup_google", "calsync:setup_microsoft"]
)
def test_setup_is_refused_until_sync_is_bought(
    url_name: str, colleague: User, radicale: CalDAVServer
) -> None:
    client = login(colleague)  # no subscription
    page = client.get(reverse("calsync:calendarsync")).content.decode()
    assert "Set up CalDAV" not in page and 'data-allowed="false"' in page
    with override_settings(
        CALSYNC_GOOGLE_CLIENT_ID="id",
        CALSYNC_GOOGLE_CLIENT_SECRET="s",
        CALSYNC_MICROSOFT_CLIENT_ID="id",
        CALSYNC_MICROSOFT_CLIENT_SECRET="s",
    ):
        response = client.post(
            reverse(url_name),
            {
                "server_url": radicale.url,
                "username": radicale.username,
                "password": radicale.password,
                "target": "dedicated",
            },
            follow=True,
        )
    assert response.redirect_chain[-1][0] == reverse("calsync:calendarsync")
    assert not CalendarLink.all_objects.exists()
    assert 'data-allowed="false"' in response.content.decode()


def test_link_and_revoke_leave_audit_entries(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    setup(staff_client, radicale)
    link = CalendarLink.objects.get(user=staff)
    staff_client.post(reverse("calsync:revoke", args=[link.pk]))
    actions = list(
        AuditEntry.objects.filter(tenant=staff.tenant, action__startswith="calsync.")
        .order_by("pk")
        .values_list("action", "actor")
    )
    assert actions == [("calsync.link", staff.pk), ("calsync.revoke", staff.pk)]
