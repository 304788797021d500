"""Which CalDAV servers are iCloud's. Shared by the connector (which turns on caldav's iCloud
profile) and the link's label (staff see "iCloud" only when it is iCloud, else "CalDAV"); kept
free of the caldav library so that models can import it cheaply."""

from __future__ import annotations

from urllib.parse import urlsplit

ICLOUD_HOSTS = {"caldav.icloud.com"}


def is_icloud_url(url: str) -> bool:
    """True for iCloud's CalDAV endpoint and its partition hosts (``p42-caldav.icloud.com``)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ICLOUD_HOSTS or host.endswith("-caldav.icloud.com")
