"""Who is asking: the one rule for a request's client address, scheme and host, at every edge (clicks, postbacks,
the console, the feed).

The client is the peer of the connection, unless that peer is one of `[server] trusted_proxies`: then
`X-Forwarded-For` is read from the right, past every trusted proxy, and the first address that is not one is the
client (the rightmost untrusted hop: whatever stands to its left the client wrote itself). Only the last
MAX_FORWARDED characters of the header are read; a hop that is not an IP address ends the walk at the hop before
it. `X-Forwarded-Proto` and `X-Forwarded-Host` (its rightmost value, the one the proxy wrote) count only from a
trusted proxy too. The address is always a normalised IP address, never the header's text: an IPv4 address, or for
IPv6 the client's /64 network (`2001:db8:1:2::/64`: one subscriber's network, which a client can fill with
addresses at will; zone ids dropped). A forwarded header from a peer that is not
trusted is ignored, and said once per peer in the log: behind a proxy nobody declared, every client shares the
proxy's address (and its limits).
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Any

from gateway.tracing.ssrf import Networks, parse_networks

log = logging.getLogger(__name__)
MAX_FORWARDED = 2048
WARNED_PEERS = 64


@lru_cache(maxsize=4096)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an IP address (`[v6]`, `v4:port` and IPv4-mapped IPv6 too), None when it is none."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def _client(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, fallback: str) -> str:
    """The address a client is known by: IPv4 as it is, IPv6 as its /64."""
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip or fallback)


class Clients:
    def __init__(self, trusted_proxies: str = "") -> None:
        self.trusted: Networks = parse_networks(trusted_proxies)
        self._warned: set[str] = set()

    def _trusted(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return ip is not None and any(ip in network for network in self.trusted)

    def address(self, environ: dict[str, Any]) -> str:
        """The client's IP address by the rule above ("-" when the server gave no peer)."""
        peer = environ.get("REMOTE_ADDR") or "-"
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if not forwarded:
            return _client(_ip(peer), peer)
        client = _ip(peer)
        if not self._trusted(client):
            self._warn(peer)
            return _client(client, peer)
        for hop in reversed(forwarded[-MAX_FORWARDED:].split(",")):
            ip = _ip(hop)
            if ip is None:
                break
            client = ip
            if not self._trusted(ip):
                break
        return _client(client, peer)

    def https(self, environ: dict[str, Any]) -> bool:
        """The client reached us over HTTPS: our own TLS, or a trusted proxy saying so (any hop of its
        X-Forwarded-Proto list)."""
        if environ.get("wsgi.url_scheme") == "https":
            return True
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "")
        return bool(proto) and self._from_trusted(environ) and "https" in (p.strip().lower() for p in proto.split(","))

    def origin(self, environ: dict[str, Any]) -> str:
        """`scheme://host[:port]` as the client addressed us: for links the console prints."""
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT')}"
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[-1].strip()
        if forwarded_host and self._from_trusted(environ):
            host = forwarded_host
        return f"{'https' if self.https(environ) else 'http'}://{host}"

    def _from_trusted(self, environ: dict[str, Any]) -> bool:
        return self._trusted(_ip(environ.get("REMOTE_ADDR") or ""))

    def _warn(self, peer: str) -> None:
        if peer not in self._warned and len(self._warned) < WARNED_PEERS:
            self._warned.add(peer)
            log.warning("X-Forwarded-For from %s ignored: it is not in [server] trusted_proxies, so every client "
                        "behind it counts as %s (one address, one set of limits)", peer, peer)
