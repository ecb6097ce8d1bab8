"""The SSRF guard: a traced hop may not reach loopback, private, link-local, multicast or reserved addresses.

A hop's host is checked before the request (a literal address, or every address its name resolves to), and
for direct connections once more on the connected socket's peer, so a name that resolves differently the
second time (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class BlockedAddress(Exception):
    """The hop would reach an address the guard refuses."""


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def parse_networks(text: str) -> Networks:
    """`10.1.2.3/32, fd00::/8` as networks exempt from the guard."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def is_blocked(address: str, allowed: Networks = ()) -> bool:
    """True for every address that is not globally routable unicast, unless it is in `allowed`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return False
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def check_host(host: str, port: int = 443, allowed: Networks = ()) -> list[str]:
    """The addresses `host` is or resolves to (none when it does not resolve: the request itself will say so);
    BlockedAddress when one of them is refused. Connect to one of these, not to the name again (DNS rebinding)."""
    host = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        except socket.gaierror:
            return []
    for address in addresses:
        if is_blocked(address, allowed):
            raise BlockedAddress(f"{host} resolves to {address}, a non-public address")
    return addresses


def _check_peer(sock: socket.socket, host: str, allowed: Networks) -> None:
    peer = sock.getpeername()[0]
    if is_blocked(peer, allowed):
        sock.close()
        raise BlockedAddress(f"{host} connected to {peer}, a non-public address")


def _guarded_pools(allowed: Networks) -> dict[str, type]:
    """Connection-pool classes whose new connections check their peer against the guard."""
    def checked(base: type[HTTPConnection]) -> type:
        def _new_conn(self: HTTPConnection) -> socket.socket:
            sock: socket.socket = base._new_conn(self)
            _check_peer(sock, self.host, allowed)
            return sock

        return type(f"Guarded{base.__name__}", (base,), {"_new_conn": _new_conn})

    return {"http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": checked(HTTPConnection)}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": checked(HTTPSConnection)})}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose direct connections refuse non-public peers (proxied ones reach the proxy)."""

    def __init__(self, allowed: Networks = (), **kwargs: Any) -> None:
        self.allowed = allowed
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self.allowed)
