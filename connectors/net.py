"""Outgoing addresses that users type (CalDAV servers) are checked before we connect (SSRF):
private, loopback, link-local and other non-public addresses are refused unless an operator
allows them (``CALSYNC_ALLOW_PRIVATE_ADDRESSES``; tests and the demo do, since their servers run
on 127.0.0.1). Plain http is refused unless ``CALSYNC_ALLOW_HTTP``: the app-specific password
would otherwise cross the network in clear text.

Residual risk, stated: the check resolves the name once; a DNS answer that changes between the
check and the connection (rebinding) is not caught here.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from connectors.errors import SetupError


def check_server_url(url: str) -> str:
    """``url`` normalised (scheme and host lower-cased, trailing slash), or ``SetupError``."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise SetupError("Enter the server address as a URL, e.g. https://caldav.example.com/.")
    if scheme == "http" and not settings.CALSYNC_ALLOW_HTTP:
        raise SetupError("Use an https:// address: the password must not travel unencrypted.")
    if parts.username or parts.password:
        raise SetupError("Put the user name and password in their own fields, not in the address.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise SetupError("The server address has an invalid port.") from exc
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SetupError(f"The server name {parts.hostname} could not be found.") from exc
    if not settings.CALSYNC_ALLOW_PRIVATE_ADDRESSES:
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                raise SetupError(
                    f"The address {parts.hostname} points to a private or local network "
                    f"({address}), which this installation does not connect to."
                )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    host = parts.hostname.lower()
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return f"{scheme}://{netloc}{path}"
