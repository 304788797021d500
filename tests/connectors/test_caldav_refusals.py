"""A server's refusal of one write is that item's problem, not a revoked password (only a 401 to
a request that carried our credentials is): real Radicale, Xandikos and Cyrus servers."""

from __future__ import annotations

import niquests
import pytest

from connectors.caldav.connector import CalDAVConnector
from connectors.errors import AuthRevoked, InvalidData
from tests.caldav_servers import CalDAVServer
from tests.connectors.contract import sample

THEIRS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261209T130000Z\r\n"
    "DTEND:20261209T140000Z\r\nSUMMARY:Theirs\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
SERVERS = ["radicale", "xandikos", "cyrus"]


def connector_for(server: CalDAVServer, calendar_url: str, password: str = "") -> CalDAVConnector:
    return CalDAVConnector(
        calendar_url=calendar_url,
        username=server.username,
        password=password or server.password,
        timeout=10,
    )


@pytest.mark.parametrize("server_name", SERVERS)
def test_a_uid_conflict_refuses_that_write_and_nothing_else(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    """Radicale answers 409, Xandikos 412 and Cyrus 403, each naming the precondition: the UID
    our create uses is already another resource's."""
    server: CalDAVServer = request.getfixturevalue(server_name)
    calendar_url = server.new_calendar_url()
    put = niquests.put(
        f"{calendar_url}theirs.ics",
        data=THEIRS.format(uid="calsync-7").encode(),
        headers={"Content-Type": "text/calendar"},
        auth=(server.username, server.password),
        timeout=10,
    )
    assert put.status_code in (201, 204)
    connector = connector_for(server, calendar_url)
    with pytest.raises(InvalidData) as refused:
        connector.create(sample(), idempotency_key="calsync-7")
    assert refused.value.item_id == "calsync-7.ics"
    assert "refused this event: another event in this calendar already has its UID" in str(
        refused.value
    )
    # The password is fine: the next write goes through.
    written = connector.create(sample(title="Next"), idempotency_key="calsync-8")
    assert connector.get(written.external_id).event is not None


@pytest.mark.parametrize("server_name", ["radicale", "cyrus"])
def test_only_a_401_after_sending_the_password_is_a_revoked_password(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    """(Xandikos accepts any password, PROTOCOLS.md §3.2.)"""
    server: CalDAVServer = request.getfixturevalue(server_name)
    calendar_url = server.new_calendar_url()
    wrong = connector_for(server, calendar_url, password="not-the-password")
    with pytest.raises(AuthRevoked):
        wrong.changes(None)
    with pytest.raises(AuthRevoked):
        wrong.create(sample(), idempotency_key="calsync-9")
