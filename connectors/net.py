"""Outgoing connections and the addresses they may reach (SSRF; QUALITY "Security").

CalDAV addresses are user input, and so is everything a CalDAV server answers: a redirect, a
``current-user-principal`` or a ``calendar-home-set`` pointing at another host. Checking the URL
typed at setup is not enough, so the check is made where each connection is made, on the address
actually connected to:

* caldav's niquests session (``guard_niquests``): its adapters are replaced by ones whose
  resolver is ``GuardedResolver`` (urllib3-future's resolver protocol, which niquests documents
  as the way to give a session its own name resolution). Every new connection, at setup and in
  the worker, to the typed URL, a redirect's target or a discovered URL, resolves through it, and
  urllib3-future then connects to exactly the addresses it returned: there is no second lookup a
  changed DNS answer (rebinding) could slip into.
* ``requests`` sessions (Microsoft Graph and msal, whose hosts are operator settings):
  ``guard_requests`` mounts ``GuardedAdapter``, whose connections resolve, check and connect to
  the checked address in the same way.
* CalDAV writes (``guarded_pool_manager``): a urllib3 pool manager with the same connection
  classes, whose plain http pool refuses unless http is allowed, so that a redirect of a PUT is
  checked as its first URL is.
* A pooled connection that is reused was checked when it was made: a quiet poll costs no lookup
  beyond the ones connecting already needs.

The same adapters (and ``CountingHttp`` for Google's httplib2) are where every provider request
is counted for the Prometheus metrics (``calsync_provider_requests_total``, by provider and
status; README "Metrics"): the one place each client library sends.

Refused: every address that is not globally reachable, as the IANA special-purpose registries
list them (private, loopback, link-local, shared, multicast, unspecified, reserved,
documentation), 6to4 (``2002::/16``), Teredo, the local-use NAT64 prefix ``64:ff9b:1::/48``, and
addresses that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``) when that IPv4 address is refused. An operator allows
everything (``CALSYNC_ALLOW_PRIVATE_ADDRESSES``: tests and the demo, whose servers run on
127.0.0.1) or named networks (``CALSYNC_ALLOWED_PRIVATE_NETWORKS``, e.g. an internal CalDAV
server). A refusal says which host was refused and nothing else: it is decided before any packet
is sent, so its words are the same whether a port there is open, closed or filtered
(``last_error`` is no port scanner).

Plain http is refused unless ``CALSYNC_ALLOW_HTTP``, for the typed URL and for every CalDAV
request: an app-specific password would otherwise cross the network in clear text.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httplib2
import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
import urllib3.util.connection
from django.conf import settings
from django.utils.translation import gettext as _
from niquests import PreparedRequest, Session
from niquests import utils as niquests_utils
from niquests.adapters import HTTPAdapter as NiquestsAdapter
from prometheus_client import Counter
from urllib3_future.contrib.resolver import BaseResolver, ProtocolResolver, ResolverDescription

from connectors.errors import SetupError

PROVIDER_REQUESTS = Counter(
    "calsync_provider_requests",
    "HTTP requests sent to calendar providers, by provider and answer status (429: throttled; "
    "0: no answer).",
    ["provider", "status"],
)


def count_request(provider: str, status: int) -> None:
    PROVIDER_REQUESTS.labels(provider=provider, status=str(status)).inc()


class CountingHttp(httplib2.Http):  # type: ignore[misc]  # httplib2 ships no types
    """Google's transport (googleapiclient and google-auth send through it): counts each
    request it sends."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            answer = super().request(*args, **kwargs)
        except Exception:
            count_request("google", 0)
            raise
        count_request("google", int(answer[0].status))
        return answer


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not globally reachable (IANA IPv4 and IPv6 Special-Purpose Address Registries), listed because
# Python 3.11's ``is_global`` misses several of them (multicast, 192.0.0.0/24, 2002::/16,
# fec0::/10, 3fff::/20 count as global there).
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.88.99.0/24",  # the deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): the embedding is the operator's choice
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 among them
        "2001:db8::/32",
        "2002::/16",  # 6to4: tunnels to the IPv4 address it embeds, relays are deprecated
        "3fff::/20",
    )
)
# IANA allocates global unicast only from 2000::/3; the rest is loopback, ULA, link-local,
# site-local, multicast or reserved.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(SetupError):
    """A connection was refused before it was made: the address is private or local, or the
    scheme is plain http, and the operator does not allow it.

    A ``SetupError``, so that setup shows it on the form as it is; in the worker it fails the run
    with back-off like any ``ConnectorError``. Deliberately not an ``OSError``: the HTTP libraries
    would wrap that into their "could not connect" errors and its words would be lost."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``address`` goes to, for the forms that embed one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Whether ``address`` is globally reachable (settings aside)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address not in _GLOBAL_UNICAST_V6 or any(address in n for n in _REFUSED_V6):
            return False
    elif any(address in n for n in _REFUSED_V4):
        return False
    return address.is_global and not (
        address.is_private or address.is_reserved or address.is_multicast
    )


@lru_cache(maxsize=4)
def _networks(texts: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(text, strict=False) for text in texts)


def allowed_networks() -> tuple[Network, ...]:
    """``CALSYNC_ALLOWED_PRIVATE_NETWORKS``, parsed (settings/base.py has validated it)."""
    return _networks(tuple(settings.CALSYNC_ALLOWED_PRIVATE_NETWORKS))


def is_allowed(address: Address) -> bool:
    """Whether we may connect to ``address`` under this installation's settings."""
    if settings.CALSYNC_ALLOW_PRIVATE_ADDRESSES:
        return True
    candidates: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)):
        candidates.append(embedded)  # an operator allowing 10.0.0.0/8 allows ::ffff:10.0.0.5
    for network in allowed_networks():
        if any(candidate in network for candidate in candidates):
            return True
    return is_public(address)


def _parse(text: str) -> Address:
    # getaddrinfo gives IPv6 link-local addresses with their zone (fe80::1%eth0).
    return ipaddress.ip_address(text.split("%", 1)[0])


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Raise ``AddressRefused`` when any address ``host`` resolved to may not be connected to.

    All of them, not only the first: the connection may go to any of them. The message names the
    host, never the address it resolved to (that would tell about internal DNS)."""
    if settings.CALSYNC_ALLOW_PRIVATE_ADDRESSES:
        return
    for text in addresses:
        if not is_allowed(_parse(text)):
            raise AddressRefused(
                f"The address {host} points to a private or local network, which this installation "
                "does not connect to."
            )


def check_server_url(url: str) -> str:
    """``url`` normalised (scheme and host lower-cased, IPv6 literals in brackets, trailing
    slash), or ``SetupError``. The early, friendly check of what a user typed; every connection
    is checked again when it is made (``guard_niquests``)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        hostname = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise SetupError(_("The server address has an invalid host or port.")) from exc
    if scheme not in ("http", "https") or not hostname:
        raise SetupError(_("Enter the server address as a URL, e.g. https://caldav.example.com/."))
    if scheme == "http" and not settings.CALSYNC_ALLOW_HTTP:
        raise SetupError(_("Use an https:// address: the password must not travel unencrypted."))
    if parts.username or parts.password:
        raise SetupError(
            _("Put the user name and password in their own fields, not in the address.")
        )
    try:
        infos = socket.getaddrinfo(
            hostname, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise SetupError(
            _("The server name %(host)s could not be found.") % {"host": hostname}
        ) from exc
    host = hostname.lower()
    check_addresses(host, (str(info[4][0]) for info in infos))
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal (RFC 3986 §3.2.2)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


# -- niquests (caldav) --------------------------------------------------------------------------


class GuardedResolver(BaseResolver):
    """A resolver (urllib3-future's protocol) that refuses addresses ``is_allowed`` refuses.

    urllib3-future's connections resolve through their resolver and connect to the addresses
    it returns (``BaseResolver.create_connection``; its Happy Eyeballs path too), so what is
    checked here is what is connected to."""

    protocol = ProtocolResolver.CUSTOM
    implementation = "calsync-guard"

    def __init__(self, inner: BaseResolver | None = None) -> None:
        super().__init__(None, None)
        self._inner = (
            inner if inner is not None else ResolverDescription.from_url("system://").new()
        )

    def recycle(self) -> BaseResolver:
        return GuardedResolver(self._inner.recycle())

    def close(self) -> None:
        self._inner.close()

    def is_available(self) -> bool:
        return self._inner.is_available()

    def getaddrinfo(
        self,
        host: bytes | str | None,
        port: str | int | None,
        family: socket.AddressFamily,
        type: socket.SocketKind,
        proto: int = 0,
        flags: int = 0,
        *,
        quic_upgrade_via_dns_rr: bool = False,
    ) -> list[Any]:
        records = self._inner.getaddrinfo(
            host, port, family, type, proto, flags, quic_upgrade_via_dns_rr=quic_upgrade_via_dns_rr
        )
        name = host.decode() if isinstance(host, bytes) else str(host)
        check_addresses(name, (str(record[4][0]) for record in records))
        return records


def refuse_plain_http(url: str) -> None:
    """CalDAV requests carry a password: none goes to a plain http:// address (a redirect's or a
    discovered one included) unless the operator allows http."""
    if url.lower().startswith("http://") and not settings.CALSYNC_ALLOW_HTTP:
        raise AddressRefused(
            f"The server sent us to a plain http:// address ({urlsplit(url).hostname}); "
            "the password must not travel unencrypted."
        )


class _GuardedNiquestsAdapter(NiquestsAdapter):
    """niquests' adapter with the guarded resolver; refuses plain http unless allowed (a
    server's redirect or discovered URL may be http:// where the typed one was https://)."""

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        refuse_plain_http(request.url or "")
        try:
            response = super().send(request, *args, **kwargs)
        except Exception:
            count_request("caldav", 0)
            raise
        count_request("caldav", int(response.status_code or 0))
        return response


def guard_niquests(session: Session) -> None:
    """Make every connection of ``session`` go through the check (see the module docstring).

    Only http and https stay mounted: niquests also mounts ``http+unix://``, and a redirect
    there would reach a Unix socket on this machine."""
    resolver = GuardedResolver()
    for prefix in list(session.adapters):
        session.adapters.pop(prefix).close()
    options: dict[str, Any] = {"max_retries": session.retries, "resolver": resolver}
    session.mount(
        "https://",
        _GuardedNiquestsAdapter(quic_cache_layer=session.quic_cache_layer, **options),
    )
    session.mount("http://", _GuardedNiquestsAdapter(**options))
    # niquests fetches OCSP and CRL answers through the session's resolver.
    session.resolver = resolver


# -- requests (Microsoft Graph, msal) -----------------------------------------------------------


def _connect(conn: urllib3.connection.HTTPConnection) -> socket.socket:
    """``HTTPConnection._new_conn`` with the check: resolve once, check every address, connect
    to a checked address (not to the name, which would resolve again). Errors as urllib3's."""
    host = conn.host.strip("[]")
    try:
        infos = socket.getaddrinfo(
            host, conn.port, urllib3.util.connection.allowed_gai_family(), socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise urllib3.exceptions.NameResolutionError(conn.host, conn, exc) from exc
    check_addresses(host, (str(info[4][0]) for info in infos))
    error: OSError | None = None
    for info in infos:
        try:
            # A numeric address: create_connection's own getaddrinfo makes no DNS query.
            return urllib3.util.connection.create_connection(
                (str(info[4][0]), int(info[4][1])),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as exc:
            error = exc  # try the next address, as urllib3 does
    if isinstance(error, TimeoutError):
        raise urllib3.exceptions.ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from error
    raise urllib3.exceptions.NewConnectionError(
        conn, f"Failed to establish a new connection: {error}"
    ) from error


class _GuardedHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _GuardedHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_GUARDED_POOLS = {"http": _GuardedHTTPConnectionPool, "https": _GuardedHTTPSConnectionPool}


class _PasswordHTTPConnectionPool(_GuardedHTTPConnectionPool):
    """A plain http pool for requests that carry a password: refused unless http is allowed,
    checked before any connection, so a redirect to http:// is refused as the first URL is."""

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        refuse_plain_http(f"http://{self.host}/")
        return super().urlopen(method, url, *args, **kwargs)


def guarded_pool_manager(*, maxsize: int) -> urllib3.PoolManager:
    """A urllib3 pool manager for CalDAV writes (connectors/caldav/connector.py): every connection
    it makes, to a redirect's target too, is checked like the sessions' (``_connect``), and plain
    http is refused unless allowed. Direct connections only: where the environment names a proxy
    for a server (``environment_proxy``) its writes go through the library's session instead."""
    manager = urllib3.PoolManager(num_pools=4, maxsize=maxsize)
    manager.pool_classes_by_scheme = {
        "http": _PasswordHTTPConnectionPool,
        "https": _GuardedHTTPSConnectionPool,
    }
    return manager


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``, less
    ``NO_PROXY``) as caldav's niquests session reads it (once per process: niquests caches
    the environment's proxies); ``None`` for a direct connection."""
    proxy = niquests_utils.select_proxy(url, niquests_utils.get_environ_proxies(url))
    return str(proxy) if proxy else None


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections (direct, or to an http proxy) are checked, and whose
    requests are counted (``provider``: the metrics' label)."""

    def __init__(self, *args: Any, provider: str = "microsoft", **kwargs: Any) -> None:
        self.provider = provider
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().send(request, *args, **kwargs)
        except Exception:
            count_request(self.provider, 0)
            raise
        count_request(self.provider, int(response.status_code))
        return response

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _GUARDED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _GUARDED_POOLS
        return manager


def guard_requests(session: requests.Session, provider: str = "microsoft") -> requests.Session:
    """Mount ``GuardedAdapter`` for http and https on ``session``; returns it. Microsoft Graph
    and msal are its users, hence the default label."""
    session.mount("https://", GuardedAdapter(provider=provider))
    session.mount("http://", GuardedAdapter(provider=provider))
    return session
