"""Linking a staff member's calendar to a real test server, and reading that server back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from accounts.models import User
from calsync.models import CalendarLink, Provider, Target
from calsync.services import link_create
from connectors.base import ItemResult, NewItem
from connectors.caldav.connector import CalDAVConnector
from connectors.events import EventData
from connectors.google.connector import GoogleConnector
from connectors.microsoft.connector import MicrosoftConnector
from connectors.microsoft.oauth import TokenSource
from tests.caldav_servers import CalDAVServer
from tests.fakes.google import SCOPE_APP_CREATED, GoogleFake
from tests.fakes.microsoft import MicrosoftFake


def link_caldav(user: User, server: CalDAVServer) -> tuple[CalendarLink, CalDAVConnector]:
    calendar_url = server.new_calendar_url()
    link = link_create(
        user=user,
        provider=Provider.CALDAV,
        account=server.username,
        server_url=server.url,
        calendar_id=calendar_url,
        calendar_name="test",
        target=Target.EXISTING,
        secrets={"password": server.password},
    )
    reader = CalDAVConnector(
        calendar_url=calendar_url,
        username=server.username,
        password=server.password,
        default_zone=user.time_zone,
        timeout=10,
    )
    return link, reader


def link_google(user: User, fake: GoogleFake) -> tuple[CalendarLink, str]:
    email = f"{user.pk}@gmail.example"
    tokens = fake.issue_tokens(email, [SCOPE_APP_CREATED, "openid"])
    calendar_id = fake.create_calendar(email, "CS_test", client_id=fake.client_id)
    creds = tokens.credentials()
    link = link_create(
        user=user,
        provider=Provider.GOOGLE,
        account=email,
        calendar_id=calendar_id,
        calendar_name="CS_test",
        target=Target.DEDICATED,
        secrets={
            "token": creds.token,
            "refresh_token": creds.refresh_token,
            "expiry": None,
            "scopes": [SCOPE_APP_CREATED],
        },
    )
    return link, calendar_id


def link_microsoft(user: User, fake: MicrosoftFake) -> tuple[CalendarLink, str]:
    """A Microsoft link whose token cache comes from msal's real flow against the fake (the
    test must run with the CALSYNC_MICROSOFT_* settings pointing at ``fake``)."""
    email = f"{user.pk}@outlook.example"
    calendar_id = fake.create_calendar(email, "CS_test")
    link = link_create(
        user=user,
        provider=Provider.MICROSOFT,
        account=email,
        calendar_id=calendar_id,
        calendar_name="CS_test",
        target=Target.DEDICATED,
        secrets=fake.sign_in(email),
    )
    return link, calendar_id


def link_again(old: CalendarLink, secrets: dict[str, object]) -> CalendarLink:
    """What a staff member does after a revoke: *Setup* again with the same calendar (new
    credentials, a new link row; the revoked one stays for history)."""
    return link_create(
        user=old.user,
        provider=old.provider,
        account=old.account,
        server_url=old.server_url,
        calendar_id=old.calendar_id,
        calendar_name=old.calendar_name,
        target=old.target,
        secrets=secrets,
    )


class Wrapped:
    """A provider whose connectors are passed through ``wrap`` (a fault injector around the real
    connector), for ``calsync.engine.run.registry.get``: the engine runs against the real
    provider with one behaviour changed."""

    def __init__(self, provider: Any, wrap: Any) -> None:
        self.provider = provider
        self.wrap = wrap

    def connector(self, link: Any, *, default_zone: str) -> Any:
        return self.wrap(self.provider.connector(link, default_zone=default_zone))


def inject(monkeypatch: Any, wrap: Any) -> None:
    """Run every engine connector through ``wrap`` for the rest of the test."""
    from calsync.engine import run as engine

    original = engine.registry.get
    monkeypatch.setattr(engine.registry, "get", lambda slug: Wrapped(original(slug), wrap))


def google_reader(fake: GoogleFake, link: CalendarLink) -> GoogleConnector:
    """Another client of the link's Google calendar (the web UI, a phone): a connector with
    tokens of its own, so the engine's grant is not shared."""
    return GoogleConnector(
        credentials=fake.issue_tokens(link.account, [SCOPE_APP_CREATED]).credentials(),
        calendar_id=link.calendar_id,
        api_endpoint=fake.api_endpoint,
        default_zone=link.user.time_zone,
        timeout=10,
    )


def graph_reader(fake: MicrosoftFake, link: CalendarLink) -> MicrosoftConnector:
    """Another client of the link's Outlook calendar, signed in on its own (msal against the
    fake; the CALSYNC_MICROSOFT_* settings must point at ``fake``)."""
    return MicrosoftConnector(
        tokens=TokenSource(fake.sign_in(link.account)),
        calendar_id=link.calendar_id,
        graph_endpoint=fake.graph_endpoint,
        mailbox=link.account,
        default_zone=link.user.time_zone,
        timeout=10,
    )


def google_secrets(fake: GoogleFake, account: str) -> dict[str, object]:
    """Fresh credentials for ``account``, as a new consent stores them on a link."""
    creds = fake.issue_tokens(account, [SCOPE_APP_CREATED, "openid"]).credentials()
    return {
        "token": creds.token,
        "refresh_token": creds.refresh_token,
        "expiry": None,
        "scopes": [SCOPE_APP_CREATED],
    }


def create_many_checking(
    inner: Any, items: Sequence[NewItem], check: Callable[[EventData], None]
) -> list[ItemResult]:
    """``create_many`` for a fault injector: each item that ``check`` raises for gets that
    exception as its answer (the provider refusing it), the others go to the real connector's
    ``create_many`` (its batches), answers in the order asked."""
    results: list[ItemResult | None] = [None] * len(items)
    passed = []
    for index, item in enumerate(items):
        try:
            check(item.event)
        except Exception as exc:
            results[index] = exc
        else:
            passed.append(index)
    answers = inner.create_many([items[i] for i in passed]) if passed else []
    for index, answer in zip(passed, answers, strict=True):
        results[index] = answer
    return [r for r in results if r is not None]
