from __future__ import annotations

from django.conf import settings

from connectors import credentials
from connectors.base import Connector, LinkLike, Provider
from connectors.google import oauth
from connectors.google.connector import BATCH_SIZE, GoogleConnector
from connectors.quota import google_pacer


class GoogleProvider(Provider):
    slug = "google"
    name = "Google Calendar"
    capabilities = GoogleConnector.capabilities

    def connector(self, link: LinkLike, *, default_zone: str) -> Connector:
        return GoogleConnector(
            credentials=oauth.credentials_from(credentials.decrypt(link.credentials)),
            calendar_id=link.calendar_id,
            api_endpoint=settings.CALSYNC_GOOGLE_API_ENDPOINT,
            default_zone=default_zone,
            timeout=settings.CALSYNC_HTTP_TIMEOUT,
            pacer=google_pacer(link.account, batch=BATCH_SIZE),
            batch_size=settings.CALSYNC_GOOGLE_BATCH_SIZE,
        )

    def revoke(self, link: LinkLike) -> None:
        if link.credentials:
            oauth.revoke(credentials.decrypt(link.credentials))
