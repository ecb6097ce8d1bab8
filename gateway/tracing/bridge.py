"""The browser's way out: a proxy on 127.0.0.1, one per browser trace, that Chromium is pointed at.

It dials every connection the page makes through the trace's slot (an HTTP proxy, by CONNECT, or a SOCKS5 proxy,
with the slot's credentials: Chromium cannot give a SOCKS5 proxy credentials at all) or directly when the trace
has no slot; refuses a target the SSRF guard refuses (the host before dialing, as the HTTP tracer does, and the
peer after a direct connect); and counts the bytes it moves. Threads, not greenlets: the browser worker that
runs it is a process without gevent.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast
from urllib.parse import unquote, urlsplit

import socks

from gateway.tracing.ssrf import BlockedAddress, Networks, check_host, is_blocked
from gateway.tracing.tracer import destination_refused

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
DROPPED_HEADERS = (b"proxy-connection:", b"proxy-authorization:", b"connection:", b"keep-alive:")


class UpstreamRefused(Exception):
    """The slot's proxy refused the connection itself (its credentials, or its own failure)."""


@dataclass
class Traffic:
    """What went through the bridge: bytes each way, targets the guard refused, the upstream's refusals."""

    sent: int = 0
    received: int = 0
    refused: list[str] = field(default_factory=list)
    upstream_failures: list[str] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, sent: int = 0, received: int = 0) -> None:
        with self.guard:
            self.sent += sent
            self.received += received


class Bridge:
    def __init__(self, upstream: str | None, allowed: Networks, allow_private: bool, timeout_s: float) -> None:
        self.upstream = urlsplit(upstream) if upstream else None
        self.allowed = allowed
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.traffic = Traffic()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def __enter__(self) -> Bridge:
        self._spawn(self._accept)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.server.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(self.timeout_s)
        try:
            head, rest = _read_head(client)
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            host, port = _target(method, target)
            upstream = self._dial(host, port)
        except BlockedAddress as exc:
            self.traffic.refused.append(str(exc))
            _reply(client, b"403 Forbidden", str(exc))
            return
        except UpstreamRefused as exc:
            self.traffic.upstream_failures.append(str(exc))
            _reply(client, b"502 Bad Gateway", str(exc))
            return
        except (OSError, ValueError, socks.ProxyError) as exc:
            _reply(client, b"502 Bad Gateway", f"{type(exc).__name__}: {exc}")
            return
        if method == b"CONNECT":
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            upstream.sendall(_origin_form(head) + rest)
            self.traffic.count(sent=len(head) + len(rest))
        self._pipe(client, upstream)

    def _dial(self, host: str, port: int) -> socket.socket:
        """A connection to host:port through the slot (or directly), after the guard looked at the host."""
        if not self.allow_private:
            check_host(host, port, self.allowed)
        if self.upstream is None:
            sock = socket.create_connection((host, port), timeout=self.timeout_s)
            peer = str(sock.getpeername()[0])
            if not self.allow_private and is_blocked(peer, self.allowed):
                sock.close()
                raise BlockedAddress(f"{host} connected to {peer}, a non-public address")
            return sock
        if self.upstream.scheme.startswith("socks5"):
            return self._socks(host, port)
        return self._connect(host, port)

    def _socks(self, host: str, port: int) -> socket.socket:
        up = self.upstream
        assert up is not None
        sock = socks.socksocket()
        sock.set_proxy(socks.SOCKS5, up.hostname, up.port or 1080, rdns=up.scheme == "socks5h",
                       username=unquote(up.username or "") or None, password=unquote(up.password or "") or None)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect((host, port))
        except socks.ProxyError as exc:
            if destination_refused(exc):
                raise
            raise UpstreamRefused(f"the SOCKS5 proxy failed: {exc}") from None  # credentials, unreachable, ...
        return cast(socket.socket, sock)

    def _connect(self, host: str, port: int) -> socket.socket:
        up = self.upstream
        assert up is not None
        try:
            sock = socket.create_connection((up.hostname or "", up.port or 80), timeout=self.timeout_s)
        except OSError as exc:
            raise UpstreamRefused(f"the HTTP proxy is not reachable: {exc}") from None
        credentials = f"{unquote(up.username or '')}:{unquote(up.password or '')}".encode()
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
                     + b"Proxy-Authorization: Basic " + base64.b64encode(credentials) + b"\r\n\r\n")
        answer, _ = _read_head(sock)
        status = answer.split(b" ", 2)[1] if answer.count(b" ") >= 1 else b"?"
        if status == b"200":
            return sock
        sock.close()
        if status == b"407" or b"proxy-status" in answer.lower():
            raise UpstreamRefused(f"the HTTP proxy answered CONNECT with {status.decode('latin-1')}")
        raise OSError(f"the HTTP proxy could not reach {host}:{port} ({status.decode('latin-1')})")

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        self._spawn(self._copy, upstream, client, False)
        self._copy(client, upstream, True)

    def _copy(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(CHUNK):
                target.sendall(data)
                self.traffic.count(sent=len(data)) if outbound else self.traffic.count(received=len(data))
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """A message head (through its blank line) and whatever arrived after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(CHUNK)
        if not chunk or len(data) > HEAD_LIMIT:
            raise ValueError("no complete message head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n", rest


def _target(method: bytes, target: bytes) -> tuple[str, int]:
    """Where a proxied request goes: `host:port` of a CONNECT, the host of an absolute-form URL."""
    if method == b"CONNECT":
        host, _, port = target.decode("latin-1").rpartition(":")
        return host.strip("[]"), int(port)
    parts = urlsplit(target.decode("latin-1"))
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not a proxy request: {target[:100]!r}")
    return parts.hostname, parts.port or 80


def _origin_form(head: bytes) -> bytes:
    """An absolute-form request as the origin server takes it: the path in the request line, no proxy headers,
    and one request per connection (the bridge does not keep plain-HTTP connections alive)."""
    line, _, headers = head.partition(b"\r\n")
    method, target, version = line.split(b" ", 2)
    parts = urlsplit(target.decode("latin-1"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [h for h in headers.split(b"\r\n") if h and not h.lower().startswith(DROPPED_HEADERS)]
    return b"\r\n".join([b" ".join([method, path.encode("latin-1"), version]), *kept, b"Connection: close",
                         b"", b""])


def _reply(client: socket.socket, status: bytes, message: str) -> None:
    body = message.encode("utf-8", "replace")[:2000]
    with contextlib.suppress(OSError):
        client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    client.close()
