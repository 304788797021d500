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


def test_creates_run_on_a_bounded_pool_of_puts_and_each_keeps_its_idempotency(
    radicale: CalDAVServer,
) -> None:
    """Issue 17 §3: a first sync's PUTs go over a bounded pool of concurrent requests per
    server (4 here), not one round trip per event, and each is the create it was alone: the
    same calls again make no second copy and answer the first copies."""
    from dataclasses import replace

    from connectors.base import NewItem, Written

    calendar_url = radicale.new_calendar_url()
    with CountingProxy(radicale.url, latency=0.05) as proxy:
        connector = CalDAVConnector(
            calendar_url=proxy.proxied(calendar_url),
            username=radicale.username,
            password=radicale.password,
            timeout=10,
            put_concurrency=4,
        )
        items = [
            NewItem(replace(sample(), title=f"Pooled {n}"), f"calsync-pool-{n}") for n in range(12)
        ]
        first = connector.create_many(items)
        assert all(isinstance(r, Written) for r in first), first
        assert [r.external_id for r in first if isinstance(r, Written)] == [
            f"calsync-pool-{n}.ics" for n in range(12)
        ]
        puts = [r for r in proxy.requests if r[0] == "PUT"]
        assert len(puts) == 12 and {status for _, _, status in puts} == {201}
        # Four at a time, never more (the 50 ms per request makes them overlap).
        assert proxy.max_in_flight == 4
        proxy.reset()
        again = connector.create_many(items)
        assert [(w.external_id, w.etag) for w in again if isinstance(w, Written)] == [
            (w.external_id, w.etag) for w in first if isinstance(w, Written)
        ]
        assert proxy.max_in_flight <= 4
    listed = CalDAVConnector(
        calendar_url=calendar_url,
        username=radicale.username,
        password=radicale.password,
        timeout=10,
    ).full_listing()
    assert sorted(i.event.title for i in listed.items if i.event) == sorted(
        f"Pooled {n}" for n in range(12)
    )
