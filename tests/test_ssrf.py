"""SSRF (issue 12 §4, QUALITY "Security"): every address we connect to is checked when the
connection is made, after DNS resolution: redirects, discovered URLs and the worker's requests
included, not only the URL typed at setup.

The hostile servers here are small local HTTP servers on 127.0.0.1, the one network these tests
allow (``CALSYNC_ALLOWED_PRIVATE_NETWORKS``); they send us on to 127.0.0.2 or [::1], where a
``Bait`` listener counts every connection that reaches it: a refused address must count none.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calsync.engine.run import run_link
from calsync.models import CalendarLink, Provider, Target
from calsync.services import link_create
from connectors.caldav.connector import CalDAVAccount, CalDAVConnector
from connectors.errors import SetupError
from connectors.microsoft.connector import GraphClient
from connectors.microsoft.oauth import TimeoutSession, TokenSource
from connectors.net import AddressRefused, check_server_url, is_allowed, is_public
from tests.caldav_servers import Bait, CalDAVServer, LocalHTTPServer
from tests.engine.helpers import link_caldav
from tests.factories import make_meeting
from tests.test_settings_and_deploy import PROD_ENV, load_settings

REFUSED = "points to a private or local network, which this installation does not connect to"
# Private addresses refused.
REFUSING = {"CALSYNC_ALLOW_PRIVATE_ADDRESSES": False, "CALSYNC_ALLOWED_PRIVATE_NETWORKS": []}
# Private addresses refused, only the test servers' own address allowed.
GUARDED = {
    "CALSYNC_ALLOW_PRIVATE_ADDRESSES": False,
    "CALSYNC_ALLOWED_PRIVATE_NETWORKS": ["127.0.0.1/32"],
    "CALSYNC_ALLOW_HTTP": True,
    "CALSYNC_HTTP_TIMEOUT": 3,
}


# -- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.2",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "0.1.2.3",
        "224.0.1.1",  # multicast: Python 3.11 calls it global
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.8",  # IETF protocol assignments: Python 3.11 calls it global
        "192.0.2.1",
        "192.88.99.1",  # 6to4 relay anycast
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local: Python 3.11 calls it global
        "ff02::1",
        "100::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.5",
        "::127.0.0.1",  # IPv4-compatible loopback
        "::10.0.0.5",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "64:ff9b:1::a00:5",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:808:808::1",  # 6to4 of a public address: 6to4 is refused as a whole
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",
        "3fff::1",
        "5f00::1",
    ],
)
@override_settings(**REFUSING)
def test_non_public_addresses_are_refused(address: str) -> None:
    parsed = ipaddress.ip_address(address.split("%")[0])
    assert not is_public(parsed)
    assert not is_allowed(parsed)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "17.253.144.10",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:8.8.8.8",  # judged by the IPv4 address it embeds
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8 (an IPv6-only host behind DNS64)
    ],
)
@override_settings(**REFUSING)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert is_allowed(ipaddress.ip_address(address))


@override_settings(
    CALSYNC_ALLOW_PRIVATE_ADDRESSES=False,
    CALSYNC_ALLOWED_PRIVATE_NETWORKS=["10.0.0.5/32", "fd00:1::/64"],
)
def test_an_operator_allows_named_private_networks() -> None:
    def allowed(text: str) -> bool:
        return is_allowed(ipaddress.ip_address(text))

    # The same host in its IPv6 forms is allowed too.
    assert allowed("10.0.0.5") and allowed("::ffff:10.0.0.5") and allowed("64:ff9b::a00:5")
    assert allowed("fd00:1::7")
    assert not allowed("10.0.0.6") and not allowed("127.0.0.1") and not allowed("fd00:2::7")


@override_settings(CALSYNC_ALLOW_PRIVATE_ADDRESSES=True)
def test_an_operator_allows_every_address() -> None:
    assert is_allowed(ipaddress.ip_address("127.0.0.2"))
    assert is_allowed(ipaddress.ip_address("::ffff:169.254.169.254"))


@override_settings(CALSYNC_ALLOW_PRIVATE_ADDRESSES=True)
def test_ipv6_literals_keep_their_brackets() -> None:
    assert check_server_url("https://[::127.0.0.1]/") == "https://[::127.0.0.1]/"
    assert check_server_url("HTTPS://[2606:4700:4700::1111]:8443/Dav") == (
        "https://[2606:4700:4700::1111]:8443/Dav/"
    )
    assert check_server_url("https://LocalHost/dav") == "https://localhost/dav/"


@pytest.mark.parametrize(
    "url", ["https://[::127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[64:ff9b::7f00:1]/"]
)
@override_settings(**REFUSING)
def test_ipv4_loopback_in_an_ipv6_literal_is_refused(url: str) -> None:
    with pytest.raises(SetupError) as refused:
        check_server_url(url)
    # The host as typed, nothing learnt from the network.
    assert str(refused.value) == f"The address {url[9:-2]} {REFUSED}."


# -- local servers: the bait and the hostile CalDAV server --------------------------------------


@pytest.fixture
def bait() -> Iterator[Bait]:
    listener = Bait("127.0.0.2")
    yield listener
    listener.close()


@pytest.fixture
def bait_v6() -> Iterator[Bait]:
    listener = Bait("::1")
    yield listener
    listener.close()


def _closed_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])  # closed again when the socket is


MULTISTATUS = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{}</d:multistatus>'
)


def _response(href: str, props: str) -> str:
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


class Hostile:
    """A CalDAV server on 127.0.0.1 that sends its client on to ``target``.

    ``mode``: ``redirect`` answers every request with a 307 to the same path on ``target``;
    ``home-set`` answers discovery with a ``calendar-home-set`` on ``target`` (as iCloud does
    with its per-user hosts); ``calendar`` serves an empty calendar at ``/cal/`` whose PUTs are
    redirected to ``target``."""

    def __init__(self) -> None:
        self.mode = "redirect"
        self.target = ""
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def _asked(self) -> str:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

            def _send(self, status: int, body: str = "", location: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                if data:
                    self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self) -> None:
                self._send(307, location=hostile.target + self.path)

            def do_PROPFIND(self) -> None:
                asked = self._asked()
                if hostile.mode == "redirect":
                    return self._redirect()
                if "current-user-principal" in asked:
                    props = "<d:current-user-principal><d:href>/principal/</d:href>"
                    props += "</d:current-user-principal>"
                elif "calendar-home-set" in asked:
                    props = f"<c:calendar-home-set><d:href>{hostile.target}/home/</d:href>"
                    props += "</c:calendar-home-set>"
                else:
                    props = "<d:resourcetype><d:collection/></d:resourcetype>"
                self._send(207, MULTISTATUS.format(_response(self.path, props)))

            def do_REPORT(self) -> None:
                self._asked()
                if hostile.mode == "redirect":
                    return self._redirect()
                self._send(207, MULTISTATUS.format("<d:sync-token>urn:hostile:1</d:sync-token>"))

            def do_PUT(self) -> None:
                self._asked()
                self._redirect()

            do_GET = do_DELETE = do_OPTIONS = do_MKCALENDAR = do_PUT

            def log_message(self, *args: object) -> None:
                pass

        self._http = LocalHTTPServer(Handler)
        self.url = self._http.url

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def setup_caldav(client: HttpClient, server_url: str) -> str:
    """The errors the setup form shows (one string), after posting ``server_url``."""
    response = client.post(
        reverse("calsync:setup_caldav"),
        {"server_url": server_url, "username": "u", "password": "p", "target": "dedicated"},
    )
    assert response.status_code == 200
    return " ".join(response.context["form"].non_field_errors())


# -- setup --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@pytest.mark.parametrize("mode", ["redirect", "home-set"])
@override_settings(**GUARDED)
def test_setup_refuses_a_server_that_sends_us_to_a_private_address(
    mode: str, staff_client: HttpClient, hostile: Hostile, bait: Bait
) -> None:
    hostile.mode, hostile.target = mode, bait.url
    page = setup_caldav(staff_client, hostile.url)
    assert "The address 127.0.0.2 " + REFUSED in page
    assert bait.connections == 0
    assert not CalendarLink.all_objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_setup_refuses_a_redirect_to_ipv6_loopback(
    staff_client: HttpClient, hostile: Hostile, bait_v6: Bait
) -> None:
    hostile.target = bait_v6.url
    page = setup_caldav(staff_client, hostile.url)
    assert "The address ::1 " + REFUSED in page
    assert bait_v6.connections == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_a_refusal_reads_the_same_whether_the_port_is_open_closed_or_filtered(
    staff_client: HttpClient, hostile: Hostile, bait: Bait
) -> None:
    """No port scanner: the answer is decided before any packet goes to the refused address."""
    pages = []
    # Open (the bait), closed, and filtered (TEST-NET-1 is routed nowhere: a connection to it
    # would hang until the timeout).
    for target in (bait.url, f"http://127.0.0.2:{_closed_port('127.0.0.2')}", "http://192.0.2.1"):
        hostile.target = target
        pages.append(setup_caldav(staff_client, hostile.url))
    assert pages[0] == pages[1] == "The address 127.0.0.2 " + REFUSED + "."
    assert pages[2] == "The address 192.0.2.1 " + REFUSED + "."
    assert bait.connections == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_a_dns_answer_that_changes_after_the_check_is_caught_at_connect_time(
    staff_client: HttpClient, bait: Bait, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to a public address when the typed URL is checked,
    then to a private one when the connection is made."""
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14"])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real(next(answers, "127.0.0.2"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    page = setup_caldav(staff_client, f"http://rebind.example:{bait.port}/")
    assert "The address rebind.example " + REFUSED in page
    assert bait.connections == 0


# -- the worker ---------------------------------------------------------------------------------


def _hostile_link(user: User, hostile: Hostile) -> CalendarLink:
    return link_create(
        user=user,
        provider=Provider.CALDAV,
        account="u",
        server_url=hostile.url,
        calendar_id=hostile.url + "cal/",
        calendar_name="test",
        target=Target.EXISTING,
        secrets={"password": "p"},
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_the_worker_sends_no_event_to_a_private_address(
    staff: User, hostile: Hostile, bait: Bait
) -> None:
    """The calendar reads normally, but its PUTs are redirected to a private address: the
    meeting's body never reaches it, and the run fails with back-off and the message."""
    hostile.mode, hostile.target = "calendar", bait.url
    make_meeting(staff, title="Board meeting", start=timezone.now() + timedelta(days=2))
    link = _hostile_link(staff, hostile)
    outcome = run_link(link.pk)
    link.refresh_from_db()
    assert outcome.status == "failed"
    assert link.last_error == "The address 127.0.0.2 " + REFUSED + "."
    assert link.failure_count == 1 and link.lease_until is None
    assert bait.connections == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_last_error_is_no_port_scanner(staff: User, hostile: Hostile, bait: Bait) -> None:
    link = _hostile_link(staff, hostile)
    errors = []
    for target in (bait.url, f"http://127.0.0.2:{_closed_port('127.0.0.2')}"):
        hostile.target = target
        assert run_link(link.pk).status == "failed"
        link.refresh_from_db()
        errors.append(link.last_error)
    assert errors[0] == errors[1] == "The address 127.0.0.2 " + REFUSED + "."
    assert bait.connections == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(CALSYNC_ALLOW_PRIVATE_ADDRESSES=True, CALSYNC_ALLOW_HTTP=False)
def test_the_worker_sends_nothing_over_plain_http_unless_allowed(
    staff: User, hostile: Hostile
) -> None:
    """A link whose calendar is on http:// (a discovered URL, or a setting since changed):
    the password would cross the network in clear text, so no request goes out."""
    hostile.mode = "calendar"
    link = _hostile_link(staff, hostile)
    outcome = run_link(link.pk)
    assert outcome.status == "failed"
    assert outcome.detail == (
        "The server sent us to a plain http:// address (127.0.0.1); the password must not "
        "travel unencrypted."
    )


@override_settings(**GUARDED)
def test_a_reused_connection_costs_no_lookup(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check runs when a connection is made; a quiet poll on a kept-alive connection pays
    no DNS lookup for it."""
    hostile.mode = "calendar"
    lookups: list[object] = []
    real = socket.getaddrinfo

    def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    connector = CalDAVConnector(calendar_url=hostile.url + "cal/", username="u", password="p")
    cursor = connector.changes(None).cursor
    for _ in range(5):
        assert connector.changes(cursor).items == ()
    assert lookups == ["127.0.0.1"]


# -- a real server with the guard on ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("entitled")
@override_settings(**GUARDED)
def test_ordinary_sync_works_with_the_guard_on(
    staff: User, staff_client: HttpClient, radicale: CalDAVServer
) -> None:
    account = CalDAVAccount(
        server_url=radicale.url, username=radicale.username, password=radicale.password
    )
    assert account.calendars() is not None
    make_meeting(staff, title="Upcoming", start=timezone.now() + timedelta(days=3))
    link, reader = link_caldav(staff, radicale)
    outcome = run_link(link.pk)
    assert outcome.status == "ok", outcome.detail
    assert outcome.counts == {"created_there": 1}
    assert [i.event.title for i in reader.full_listing().items] == ["Upcoming"]

    # The worker's own connections are checked: once 127.0.0.1 is no longer allowed, the
    # stored address is refused at connect time although setup accepted it.
    with override_settings(CALSYNC_ALLOWED_PRIVATE_NETWORKS=["127.0.0.2/32"]):
        refused = run_link(link.pk)
    assert refused.status == "failed"
    assert refused.detail == "The address 127.0.0.1 " + REFUSED + "."


# -- requests sessions (Microsoft Graph, msal) --------------------------------------------------


class _Tokens(TokenSource):
    def __init__(self) -> None:
        pass

    def token(self, *, force_refresh: bool = False) -> str:
        return "t"


@pytest.mark.parametrize(
    "session",
    [
        lambda: TimeoutSession(3),
        lambda: (
            GraphClient(
                tokens=_Tokens(), graph_endpoint="https://graph.example/v1.0", mailbox="m@example"
            ).session
        ),
    ],
    ids=["msal", "graph"],
)
@override_settings(**GUARDED)
def test_requests_sessions_refuse_private_addresses(
    session: Callable[[], requests.Session], hostile: Hostile, bait: Bait
) -> None:
    hostile.target = bait.url
    with pytest.raises(AddressRefused, match="The address 127.0.0.2 " + REFUSED):
        session().get(hostile.url + "me", timeout=3)
    with pytest.raises(AddressRefused, match="The address 127.0.0.2 " + REFUSED):
        session().get(bait.url, timeout=3)
    assert bait.connections == 0


# -- settings -----------------------------------------------------------------------------------


def test_dev_reads_the_switches_from_the_environment() -> None:
    expression = "s.CALSYNC_ALLOW_PRIVATE_ADDRESSES, s.CALSYNC_ALLOW_HTTP"
    dev = {"DJANGO_SETTINGS_MODULE": "calsync.settings.dev"}
    defaults = load_settings(dev, expression)
    assert defaults.stdout.split() == ["True", "True"], defaults.stderr
    off = {**dev, "CALSYNC_ALLOW_PRIVATE_ADDRESSES": "false", "CALSYNC_ALLOW_HTTP": "false"}
    assert load_settings(off, expression).stdout.split() == ["False", "False"]


def test_production_refuses_private_addresses_and_http_by_default() -> None:
    allowed = {**PROD_ENV, "CALSYNC_ALLOWED_PRIVATE_NETWORKS": "10.0.0.5/32,fd00::/8"}
    expression = "s.CALSYNC_ALLOW_PRIVATE_ADDRESSES, s.CALSYNC_ALLOW_HTTP"
    result = load_settings(allowed, expression + ", s.CALSYNC_ALLOWED_PRIVATE_NETWORKS")
    assert result.stdout.split() == ["False", "False", "['10.0.0.5/32',", "'fd00::/8']"]
    wrong = load_settings({**PROD_ENV, "CALSYNC_ALLOWED_PRIVATE_NETWORKS": "intranet"}, "1")
    assert "CALSYNC_ALLOWED_PRIVATE_NETWORKS: 'intranet' is not a network" in wrong.stderr
