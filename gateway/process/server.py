"""`gateway serve` in one process: the app on gevent.pywsgi, migrated at start, drained on SIGTERM/SIGINT (a
supervisor runs several of these, see `prefork`)."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import gevent
import gevent.event

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.process import wsgiserver
from gateway.process.app import build_app
from gateway.process.browser_workers import BrowserWorkers
from gateway.process.services import Services
from gateway.routes.auth import TOKEN_FILE
from gateway.routes.wsgi import StartResponse, WSGIApp

log = logging.getLogger(__name__)


class InFlight:
    """WSGI middleware counting requests being answered, so a drain knows when the last one is done.

    While draining, responses carry `Connection: close` so keep-alive clients leave instead of lingering.
    """

    def __init__(self, app: WSGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.count = 0
        self.idle = gevent.event.Event()
        self.idle.set()
        self.draining = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self.count += 1
        self.idle.clear()
        self.metrics.http_in_flight.inc()

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.metrics.http_requests.labels(status[0] + "xx").inc()
            if self.draining:
                headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, respond)
        finally:
            self.count -= 1
            self.metrics.http_in_flight.dec()
            if not self.count:
                self.idle.set()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` for in-flight requests; True when none is left."""
        self.draining = True
        return cast(bool, self.idle.wait(timeout))


def serve(settings: Settings, host: str | None = None, port: int | None = None,
          ready: Callable[[wsgiserver.WSGIServer], None] | None = None,
          prepare: Callable[[Services], None] | None = None) -> int:
    """One process: run until SIGTERM or SIGINT, then stop accepting, drain for `[server] drain_s` and leave the
    stores. `prepare(services)` runs once the stores are open, before the first request is accepted."""
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    with Services.open(settings) as services, \
            BrowserWorkers(settings, services.stores.redis_url, services.stores.postgres_url):
        if prepare:
            prepare(services)
        return run(services, (host, port), ready)


def run(services: Services, listener: tuple[str, int] | socket.socket,
        ready: Callable[[wsgiserver.WSGIServer], None] | None = None) -> int:
    """Serve on `listener` (an address, or a socket a supervisor bound) until SIGTERM or SIGINT, then drain."""
    settings = services.settings
    tracker = InFlight(build_app(services), services.metrics)
    server = wsgiserver.start(tracker, listener=listener, log=log if settings.server.access_log else None,
                              error_log=log, header_timeout_s=settings.server.header_timeout_s,
                              idle_timeout_s=settings.server.idle_timeout_s)
    services.start()
    host, port = server.address[:2]
    log.info("gateway listening on http://%s:%d (data dir %s)", host, port, settings.server.data_dir)
    log.info("console: http://%s:%d/ (sign in with %s)", host, port, "[admin] token" if settings.admin.token
             else f"the token in {Path(settings.server.data_dir) / TOKEN_FILE}")
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    if ready:
        ready(server)
    stop.wait()
    _drain(services, server, tracker)
    log.info("stopped")
    return 0


def _drain(services: Services, server: wsgiserver.WSGIServer, tracker: InFlight) -> None:
    drain_s = services.settings.server.drain_s
    log.info("stopping: no new connections, draining up to %.1fs", drain_s)
    server.close()
    deadline = time.monotonic() + drain_s
    if not tracker.drain(drain_s):
        log.warning("drain timed out with %d request(s) still in flight", tracker.count)
    if not services.background.join(timeout=max(0.0, deadline - time.monotonic())):
        log.warning("drain timed out with %d trace(s) of answered clicks still running", len(services.background))
    server.stop(timeout=1)
    services.stop()
