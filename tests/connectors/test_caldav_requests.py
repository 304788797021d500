"""What reaches a real server: the requests are counted by a proxy in front of it, not mocked."""

from __future__ import annotations

import pytest

from connectors.caldav.connector import CalDAVConnector
from tests.caldav_servers import CalDAVServer, CountingProxy
from tests.connectors.contract import sample

SERVERS = ["radicale", "xandikos", "cyrus"]


@pytest.mark.parametrize("server_name", SERVERS)
def test_a_quiet_poll_is_one_request(server_name: str, request: pytest.FixtureRequest) -> None:
    """QUALITY.md: a no-change poll costs one provider request. Each poll builds its connector
    afresh, as a sync run does, so nothing learnt by an earlier poll (a challenge) helps."""
    server: CalDAVServer = request.getfixturevalue(server_name)
    calendar_url = server.new_calendar_url()
    with CountingProxy(server.url) as proxy:

        def connector() -> CalDAVConnector:
            return CalDAVConnector(
                calendar_url=proxy.proxied(calendar_url),
                username=server.username,
                password=server.password,
                timeout=10,
            )

        connector().create(sample(), idempotency_key="calsync-quiet")
        cursor = connector().changes(None).cursor
        proxy.reset()
        assert connector().changes(cursor).items == ()
        assert [(method, status) for method, _, status in proxy.requests] == [("REPORT", 207)]
