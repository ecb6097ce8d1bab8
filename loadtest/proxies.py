"""Local residential-proxy doubles: a real HTTP proxy (CONNECT and absolute-form requests) and a real SOCKS5
proxy, both requiring a username and password, on loopback.

Like a residential provider, any username is accepted with the right password (the username names the
session), so one proxy serves many slots. Per username the proxy logs how many connections it carried at
once: the load test's proof that no slot ever carried two traces together. `mode` injects faults:
`ok`, `bad_auth` (407 / SOCKS auth failure), `reject` (502 with `Proxy-Status: ...; error=proxy_internal_error`
/ SOCKS general failure).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import gevent
from gevent.server import StreamServer

HEAD_LIMIT = 64 * 1024


@dataclass
class Usage:
    connections: int = 0
    active: int = 0
    max_active: int = 0
    bytes_up: int = 0  # client to destination, after the proxy's own handshake: what a provider bills, with...
    bytes_down: int = 0  # ...destination to client


@dataclass
class ProxyStats:
    by_user: dict[str, Usage] = field(default_factory=lambda: defaultdict(Usage))
    refused: int = 0

    def max_concurrency(self) -> int:
        return max((u.max_active for u in self.by_user.values()), default=0)


class ProxyServer:
    """An HTTP or SOCKS5 proxy on loopback. `url(username)` is the proxy URL a client should use."""

    def __init__(self, kind: str, password: str = "proxy-secret", host: str = "127.0.0.1", port: int = 0) -> None:
        if kind not in ("http", "socks5"):
            raise ValueError(kind)
        self.kind, self.password = kind, password
        self.mode = "ok"
        self.stats = ProxyStats()
        self.server = StreamServer((host, port), self._handle)

    def start(self) -> ProxyServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(timeout=1)

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server_host, self.server.server_port

    def url(self, username: str, password: str | None = None, scheme: str | None = None) -> str:
        host, port = self.address
        scheme = scheme or ("socks5h" if self.kind == "socks5" else "http")
        return f"{scheme}://{quote(username, safe='')}:{quote(password or self.password, safe='')}@{host}:{port}"

    def _authorized(self, password: str) -> bool:
        return self.mode != "bad_auth" and password == self.password

    def _handle(self, client: socket.socket, address: tuple) -> None:
        client.settimeout(30)
        try:
            if self.kind == "http":
                self._http(client)
            else:
                self._socks(client)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            client.close()

    def _carry(self, user: str, client: socket.socket, upstream: socket.socket, first: bytes = b"") -> None:
        usage = self.stats.by_user[user]
        usage.connections += 1
        usage.active += 1
        usage.max_active = max(usage.max_active, usage.active)
        try:
            if first:
                upstream.sendall(first)
                usage.bytes_up += len(first)
            _pipe(client, upstream, usage)
        finally:
            usage.active -= 1
            upstream.close()

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _http(self, client: socket.socket) -> None:
        head, rest = _read_head(client)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        user, password = _basic(headers)
        if user is None or not self._authorized(password):
            self.stats.refused += 1
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\""
                           b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._dial(host.strip("[]"), int(port))
            if upstream is None:
                self._bad_gateway(client)
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._carry(user, client, upstream, rest)
            return
        parts = urlsplit(target)
        upstream = self._dial(parts.hostname or "", parts.port or 80)
        if upstream is None:
            self._bad_gateway(client)
            return
        path = parts.path or "/"
        forwarded = [f"{method} {path}{'?' + parts.query if parts.query else ''} {version}"]
        forwarded += [h for h in headers if not h.lower().startswith(("proxy-", "connection:"))]
        forwarded.append("Connection: close")
        self._carry(user, client, upstream, ("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1") + rest)

    def _bad_gateway(self, client: socket.socket) -> None:
        """A 502 saying whose fault it is, in an RFC 9209 `Proxy-Status` header as proxies do."""
        error = "proxy_internal_error" if self.mode == "reject" else "connection_refused"
        client.sendall(f"HTTP/1.1 502 Bad Gateway\r\nProxy-Status: loadtest-proxy; error={error}\r\n"
                       "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

    def _dial(self, host: str, port: int) -> socket.socket | None:
        if self.mode == "reject":
            return None
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError:
            return None

    # -- SOCKS5 --------------------------------------------------------------------------------------------

    def _socks(self, client: socket.socket) -> None:
        version, count = _recv(client, 2)
        methods = _recv(client, count)
        if version != 5 or 2 not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(b"\x05\x02")
        _, user_len = _recv(client, 2)
        user = _recv(client, user_len).decode("utf-8", "replace")
        password = _recv(client, _recv(client, 1)[0]).decode("utf-8", "replace")
        if not self._authorized(password):
            self.stats.refused += 1
            client.sendall(b"\x01\x01")
            return
        client.sendall(b"\x01\x00")
        _, command, _, kind = _recv(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(_recv(client, 4))
        elif kind == 3:
            host = _recv(client, _recv(client, 1)[0]).decode("idna")
        else:
            host = socket.inet_ntop(socket.AF_INET6, _recv(client, 16))
        port = struct.unpack("!H", _recv(client, 2))[0]
        if command != 1:
            client.sendall(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        if self.mode == "reject":
            client.sendall(b"\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        upstream = self._dial(host, port)
        if upstream is None:
            client.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        self._carry(user, client, upstream)


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("connection closed")
        data += chunk
    return data


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > HEAD_LIMIT:
            raise ValueError("no request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _basic(headers: list[str]) -> tuple[str | None, str]:
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "proxy-authorization" and value.strip().lower().startswith("basic "):
            decoded = base64.b64decode(value.strip()[6:]).decode("utf-8", "replace")
            user, _, password = decoded.partition(":")
            return user, password
    return None, ""


def _pipe(client: socket.socket, upstream: socket.socket, usage: Usage) -> None:
    """Copy bytes both ways until either side closes, counting them."""
    def copy(src: socket.socket, dst: socket.socket, counter: str) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                setattr(usage, counter, getattr(usage, counter) + len(data))
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    gevent.joinall([gevent.spawn(copy, client, upstream, "bytes_up"),
                    gevent.spawn(copy, upstream, client, "bytes_down")])
