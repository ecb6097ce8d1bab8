"""gevent.pywsgi with TCP_NODELAY on every accepted connection, and deadlines for slow clients.

pywsgi writes a response's headers and body in separate sends; with Nagle's algorithm on, the body then waits
for the client's delayed ACK, about 40 ms on Linux, for every response on a keep-alive connection. Measured
here: 44 ms per keep-alive request without, 2 ms with.

pywsgi itself never gives up on a client: a connection that sends its headers a byte at a time, or sits idle
between keep-alive requests, holds its file descriptor for good. With `header_timeout_s` a request's line and
headers must arrive within that time of its first byte; with `idle_timeout_s` no single read or write of the
connection (waiting for the next request included) may stall longer than that.

The access log (when on) never shows a secret a client put in the query (`?token=` of the feed and of postbacks).
"""

from __future__ import annotations

import http.client
import re
import socket
from typing import Any, Literal, TypeAlias, cast
from urllib.parse import unquote_plus

import gevent
import gevent.pool
from gevent import pywsgi

from gateway.routes.wsgi import WSGIApp

SECRET_NAME = re.compile(r"token|secret|password", re.IGNORECASE)
QUERY = re.compile(r"\?(\S*)")
# what pywsgi's handle_one_request returns: None (close), (status, raw response) (close after it), True (read more)
Outcome: TypeAlias = tuple[str, bytes] | Literal[True] | None


def redacted(request_line: str) -> str:
    """`request_line` with the value of every query parameter whose name, decoded as the server reads it (`%74oken`
    is `token`), speaks of a token, a secret or a password replaced by `[redacted]`."""
    def query(found: re.Match[str]) -> str:
        fields = []
        for field in re.split("([&;])", found.group(1)):
            name, equals, _ = field.partition("=")
            fields.append(f"{name}=[redacted]" if equals and SECRET_NAME.search(unquote_plus(name)) else field)
        return "?" + "".join(fields)

    return QUERY.sub(query, request_line, count=1)


class SlowClient(socket.timeout):
    """The request's headers did not arrive within the header timeout."""


class Handler(pywsgi.WSGIHandler):  # type: ignore[misc]  # gevent ships no type information: its classes are Any
    """Starts the header deadline once the first byte of a request is there, ends it once the headers are read."""

    _deadline: gevent.Timeout | None = None
    requestline: str | None

    def read_requestline(self) -> str:
        timeout = self.server.header_timeout_s
        if timeout:
            self.rfile.peek(1)  # the idle wait before a request: bounded by the socket's own timeout
            self._deadline = gevent.Timeout.start_new(timeout, SlowClient("request headers too slow"))
        return cast(str, super().read_requestline())

    def read_request(self, raw_requestline: str) -> bool:
        try:
            return cast(bool, super().read_request(raw_requestline))
        finally:
            self._end_deadline()

    def handle_one_request(self) -> Outcome:
        try:
            return cast(Outcome, super().handle_one_request())
        finally:
            self._end_deadline()

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes] | None:
        if isinstance(ex, SlowClient):
            return None  # close the connection without a word: the client was not talking anyway
        if isinstance(ex, http.client.HTTPException):  # too many or too long headers: the client's, one log line
            ex = ValueError(f"unreadable headers: {type(ex).__name__}: {ex}")
        return cast("tuple[str, bytes] | None", super()._handle_client_error(ex))

    def format_request(self) -> str:
        """The access log's line, with the values of secret query parameters (`token=`) replaced."""
        line = self.requestline
        self.requestline = redacted(line) if line else line
        try:
            return cast(str, super().format_request())
        finally:
            self.requestline = line

    def _end_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.close()
            self._deadline = None


class WSGIServer(pywsgi.WSGIServer):  # type: ignore[misc]  # gevent ships no type information: its classes are Any
    handler_class = Handler
    header_timeout_s: float | None = None
    idle_timeout_s: float | None = None

    def handle(self, sock: socket.socket, address: tuple[Any, ...]) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.idle_timeout_s:
            sock.settimeout(self.idle_timeout_s)
        super().handle(sock, address)


def start(app: WSGIApp, host: str = "127.0.0.1", port: int = 0,
          listener: tuple[str, int] | socket.socket | None = None, *, header_timeout_s: float | None = None,
          idle_timeout_s: float | None = None, **kwargs: Any) -> WSGIServer:
    """A started server for `app` on `listener` (a bound socket or an address), else on host:port (port 0:
    a free one; see `server_port`); handlers in a pool so that `stop()` also ends idle keep-alive
    connections. Without timeouts a client may be as slow as it likes (the local doubles)."""
    kwargs.setdefault("log", None)
    server = WSGIServer(listener or (host, port), app, spawn=gevent.pool.Pool(), **kwargs)
    server.header_timeout_s, server.idle_timeout_s = header_timeout_s, idle_timeout_s
    server.start()
    return server
