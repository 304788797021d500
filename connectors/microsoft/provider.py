from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from connectors import credentials
from connectors.base import Connector, LinkLike, Provider
from connectors.microsoft.connector import BATCH_SIZE, MicrosoftConnector
from connectors.microsoft.oauth import TokenSource
from connectors.quota import graph_pacer


class MicrosoftProvider(Provider):
    slug = "microsoft"
    name = "Microsoft 365 / Outlook"
    capabilities = MicrosoftConnector.capabilities

    def connector(self, link: LinkLike, *, default_zone: str) -> Connector:
        return MicrosoftConnector(
            tokens=TokenSource(credentials.decrypt(link.credentials)),
            calendar_id=link.calendar_id,
            graph_endpoint=settings.CALSYNC_MICROSOFT_GRAPH_ENDPOINT,
            mailbox=link.account,
            default_zone=default_zone,
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
            window_past=timedelta(days=settings.CALSYNC_MICROSOFT_WINDOW_PAST_DAYS),
            window_future=timedelta(days=settings.CALSYNC_MICROSOFT_WINDOW_FUTURE_DAYS),
            pacer=graph_pacer(link.account, batch=BATCH_SIZE),
        )

    def revoke(self, link: LinkLike) -> None:
        """Microsoft has no per-grant revoke for a delegated web app (PROTOCOLS.md §2.8): the
        token cache is deleted with the link's credentials (``calsync.services.link_revoke``),
        after the link's subscriptions were deleted (``calsync.push``). Nothing to call, so this
        cannot fail."""
        return None
