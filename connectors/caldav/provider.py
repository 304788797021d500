from __future__ import annotations

from django.conf import settings

from connectors import credentials
from connectors.base import Connector, LinkLike, Provider
from connectors.caldav.connector import CalDAVConnector


class CalDAVProvider(Provider):
    slug = "caldav"
    name = "iCloud / CalDAV"
    capabilities = CalDAVConnector.capabilities

    def connector(self, link: LinkLike, *, default_zone: str) -> Connector:
        secrets = credentials.decrypt(link.credentials)
        return CalDAVConnector(
            calendar_url=link.calendar_id,
            username=link.account,
            password=str(secrets["password"]),
            default_zone=default_zone,
            account_email=link.account if "@" in link.account else None,
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
            max_item_bytes=settings.CALSYNC_CALDAV_MAX_ITEM_BYTES,
            put_concurrency=settings.CALSYNC_CALDAV_PUT_CONCURRENCY,
        )

    def revoke(self, link: LinkLike) -> None:
        """CalDAV has no grant to give up: deleting the stored password is all we can do; the
        user withdraws an app-specific password at the provider (appleid.apple.com)."""
