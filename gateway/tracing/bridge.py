"""The browser's way out: a proxy on 127.0.0.1, one per browser trace, that Chromium is pointed at.

It takes every request of the page (CONNECT for https, absolute-form for plain http) and sends it on through the
trace's slot (an HTTP proxy, with the slot's credentials; a SOCKS5 proxy, which Chromium could not give
credentials at all) or directly when the trace has no slot. The SSRF guard looks at every target first, as the
HTTP tracer's does: the host (and what it resolves to, which is then the address dialled, not the name again)
before dialing, the peer after a direct connect. A plain-http answer goes back with `Connection: close`, so that
Chromium sends its next request on a new connection the guard sees. What the guard refused and what the slot's
proxy itself failed are kept by target, so that the trace can tell which navigation they ended.

At `deadline_s` (when the gateway stops waiting for the trace and gives the slot back) every connection is cut
and no new one is made: nothing of this trace goes out through the slot after it is released. Threads, not
greenlets: the browser worker that runs it is a process without gevent.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast
from urllib.parse import unquote, urlsplit

import socks

from gateway.tracing.ssrf import BlockedAddress, Networks, check_host, is_blocked
from gateway.tracing.tracer import destination_refused, proxy_failure

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
HOP_HEADERS = (b"proxy-connection:", b"proxy-authorization:", b"connection:", b"keep-alive:")


class UpstreamRefused(Exception):
    """The slot's proxy failed the connection itself (its credentials, its own failure, not reachable)."""


@dataclass
class Traffic:
    """Targets (`host:port`) the guard refused, and those the slot's proxy itself failed, each with why."""

    refused: dict[str, str] = field(default_factory=dict)
    upstream_failures: dict[str, str] = field(default_factory=dict)

    def why(self, url: str) -> tuple[str, str] | None:
        """(`blocked_address` or `egress_failed`, detail) when the bridge ended a request to `url`'s target."""
        key = target_of(url)
        if key in self.refused:
            return "blocked_address", self.refused[key]
        if key in self.upstream_failures:
            return "egress_failed", self.upstream_failures[key]
        return None


def target_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


class Bridge:
    def __init__(self, upstream: str | None, allowed: Networks, allow_private: bool, timeout_s: float,
                 deadline_s: float) -> None:
        self.upstream = urlsplit(upstream) if upstream else None
        self.allowed = allowed
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.traffic = Traffic()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.closed = threading.Event()
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.expiry = threading.Timer(deadline_s, self.close)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def __enter__(self) -> Bridge:
        self._spawn(self._accept)
        self.expiry.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.expiry.cancel()
        self.close()
        for thread in self.threads:
            thread.join(1.0)

    def close(self) -> None:
        """Stop accepting (shutdown wakes the accepting thread) and cut every connection."""
        self.closed.set()
        with self.guard:
            sockets, self.open = [self.server, *self.open], set()
        for sock in sockets:
            _close(sock)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.guard:
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> socket.socket:
        """Track `sock` until the bridge closes (at once, when it already has)."""
        with self.guard:
            if not self.closed.is_set():
                self.open.add(sock)
                return sock
        _close(sock)
        raise OSError("the trace is over: its slot is released")

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                self._spawn(self._serve, self._keep(client))

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(self.timeout_s)
        try:
            head, rest = _read_head(client)
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            host, port = _target(method, target)
            key = f"{host}:{port}"
            if method == b"CONNECT":
                upstream = self._dial(host, port, key)
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._pipe(client, upstream)
            else:
                self._forward(client, head + rest, host, port, key)
        except BlockedAddress as exc:
            self.traffic.refused[key] = str(exc)
            _reply(client, b"403 Forbidden", str(exc))
        except UpstreamRefused as exc:
            self.traffic.upstream_failures[key] = str(exc)
            _reply(client, b"502 Bad Gateway", str(exc))
        except (OSError, ValueError, socks.ProxyError) as exc:
            _reply(client, b"502 Bad Gateway", f"{type(exc).__name__}: {exc}")

    def _forward(self, client: socket.socket, request: bytes, host: str, port: int, key: str) -> None:
        """One plain-http request: to an HTTP proxy as it came (absolute-form, the slot's credentials added), else
        to the origin (origin-form); the answer's head says `Connection: close`."""
        if self.upstream is not None and not self.upstream.scheme.startswith("socks5"):
            self._check(host, port)
            upstream = self._proxy_connection()
            upstream.sendall(_request(request, absolute=True, credentials=self._credentials()))
        else:
            upstream = self._dial(host, port, key)
            upstream.sendall(_request(request, absolute=False))
        self._spawn(self._copy, client, upstream)
        head, rest = _read_head(upstream)
        status, headers = _status(head)
        if self.upstream is not None and (failed := proxy_failure(status, headers.get(b"proxy-status", ""))):
            self.traffic.upstream_failures[key] = failed
        client.sendall(_closing(head) + rest)
        self._copy(upstream, client)

    def _check(self, host: str, port: int) -> list[str]:
        return [] if self.allow_private else check_host(host, port, self.allowed)

    def _dial(self, host: str, port: int, key: str) -> socket.socket:
        """A connection to host:port through the slot (or directly), after the guard looked at the host."""
        addresses = self._check(host, port)
        if self.upstream is None:
            sock = self._keep(socket.create_connection((addresses[0] if addresses else host, port),
                                                       timeout=self.timeout_s))
            peer = str(sock.getpeername()[0])
            if not self.allow_private and is_blocked(peer, self.allowed):
                raise BlockedAddress(f"{host} connected to {peer}, a non-public address")
            return sock
        if self.upstream.scheme.startswith("socks5"):
            remote_dns = self.upstream.scheme == "socks5h"  # else the address checked, never the name again
            return self._socks(host if remote_dns or not addresses else addresses[0], port, remote_dns)
        return self._tunnel(host, port)

    def _credentials(self) -> tuple[str | None, str | None]:
        up = self.upstream
        assert up is not None
        return unquote(up.username or "") or None, unquote(up.password or "") or None

    def _socks(self, host: str, port: int, remote_dns: bool) -> socket.socket:
        up = self.upstream
        assert up is not None
        username, password = self._credentials()
        sock = socks.socksocket()
        sock.set_proxy(socks.SOCKS5, up.hostname, up.port or 1080, rdns=remote_dns, username=username,
                       password=password)
        sock.settimeout(self.timeout_s)
        self._keep(cast(socket.socket, sock))
        try:
            sock.connect((host, port))
        except socks.ProxyError as exc:
            if destination_refused(exc):
                raise
            raise UpstreamRefused(f"the SOCKS5 proxy failed: {exc}") from None  # credentials, unreachable, ...
        return cast(socket.socket, sock)

    def _proxy_connection(self) -> socket.socket:
        up = self.upstream
        assert up is not None
        try:
            return self._keep(socket.create_connection((up.hostname or "", up.port or 80), timeout=self.timeout_s))
        except OSError as exc:
            raise UpstreamRefused(f"the HTTP proxy is not reachable: {exc}") from None

    def _tunnel(self, host: str, port: int) -> socket.socket:
        """CONNECT through the slot's HTTP proxy. Its refusal (407, or a Proxy-Status naming its own error) is the
        slot's fault; any other failure is the destination's, as for the HTTP tracer."""
        sock = self._proxy_connection()
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n".encode()
                     + _proxy_authorization(self._credentials()) + b"\r\n")
        status, headers = _status(_read_head(sock)[0])
        if status == 200:
            return sock
        if failed := proxy_failure(status, headers.get(b"proxy-status", "")):
            raise UpstreamRefused(failed)
        raise OSError(f"the HTTP proxy could not reach {authority} ({status})")

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        self._spawn(self._copy, upstream, client)
        self._copy(client, upstream)

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
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


def _status(head: bytes) -> tuple[int, dict[bytes, str]]:
    """A response head's status and its headers (lower-case names; the last of a repeated one)."""
    line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    parts = line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {name.strip().lower(): value.strip().decode("latin-1")
               for name, _, value in (h.partition(b":") for h in lines)}
    return status, headers


def _target(method: bytes, target: bytes) -> tuple[str, int]:
    """Where a proxied request goes: `host:port` of a CONNECT, the host of an absolute-form URL."""
    if method == b"CONNECT":
        host, _, port = target.decode("latin-1").rpartition(":")
        return host.strip("[]"), int(port)
    parts = urlsplit(target.decode("latin-1"))
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not a proxy request: {target[:100]!r}")
    return parts.hostname, parts.port or 80


def _proxy_authorization(credentials: tuple[str | None, str | None]) -> bytes:
    user, password = credentials
    return b"Proxy-Authorization: Basic " + base64.b64encode(f"{user or ''}:{password or ''}".encode()) + b"\r\n"


def _request(request: bytes, absolute: bool, credentials: tuple[str | None, str | None] = (None, None)) -> bytes:
    """A plain-http request as it leaves: absolute-form with the slot's credentials to an HTTP proxy, else in
    origin-form; no hop-by-hop headers of Chromium's, and one request per connection."""
    head, rest = request.split(b"\r\n\r\n", 1)
    line, _, headers = head.partition(b"\r\n")
    method, target, version = line.split(b" ", 2)
    if not absolute:
        parts = urlsplit(target.decode("latin-1"))
        target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
    kept = [h for h in headers.split(b"\r\n") if h and not h.lower().startswith(HOP_HEADERS)]
    extra = _proxy_authorization(credentials) if absolute else b""
    return b"\r\n".join([b" ".join([method, target, version]), *kept]) + b"\r\n" + extra + \
        b"Connection: close\r\n\r\n" + rest


def _closing(head: bytes) -> bytes:
    """A response head that tells Chromium not to send another request on this connection."""
    line, _, headers = head.rstrip(b"\r\n").partition(b"\r\n")
    kept = [h for h in headers.split(b"\r\n") if h and not h.lower().startswith(HOP_HEADERS)]
    return b"\r\n".join([line, *kept, b"Connection: close", b"Proxy-Connection: close", b"", b""])


def _reply(client: socket.socket, status: bytes, message: str) -> None:
    body = message.encode("utf-8", "replace")[:2000]
    with contextlib.suppress(OSError):
        client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    _close(client)
