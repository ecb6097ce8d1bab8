"""A gevent resolver that answers literal addresses at once.

gevent's default resolver hands every `getaddrinfo` to its thread pool, literal addresses included: measured
here, 216 µs per call for "127.0.0.1" against 2 µs done directly, paid on every outbound connection (each
proxy connect resolves the proxy's address). Names still go to the thread pool, exactly as before.
"""

from __future__ import annotations

import _socket
import ipaddress
import socket
from typing import TypeAlias, cast

import gevent
from gevent.resolver.thread import Resolver as ThreadResolver


def _literal(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


AddrInfo: TypeAlias = list[tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]]


class Resolver(ThreadResolver):  # type: ignore[misc]  # gevent ships no type information: its classes are Any
    def getaddrinfo(self, host: bytes | str | None, port: bytes | str | int | None, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> AddrInfo:
        if _literal(host):
            return _socket.getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return cast(AddrInfo, super().getaddrinfo(host, port, family, type, proto, flags))


def install() -> None:
    """Use this resolver in this process (call before the first lookup)."""
    gevent.config.resolver = f"{__name__}.Resolver"
