"""`gateway serve`: the Bottle app on gevent.pywsgi, migrated at start, drained on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable, Iterable

import gevent
import gevent.event

from gateway import egress, wsgiserver
from gateway.app import build_app
from gateway.config import Settings
from gateway.maintenance import MaintenanceLoop
from gateway.runtime import Runtime
from store.errors import StoreError

log = logging.getLogger(__name__)


class InFlight:
    """WSGI middleware counting requests being answered, so a drain knows when the last one is done.

    While draining, responses carry `Connection: close` so keep-alive clients leave instead of lingering.
    """

    def __init__(self, app: Callable, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.count = 0
        self.idle = gevent.event.Event()
        self.idle.set()
        self.draining = False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.count += 1
        self.idle.clear()
        self.rt.metrics.http_in_flight.inc()

        def respond(status: str, headers: list, exc_info=None):
            self.rt.metrics.http_requests.labels(status[0] + "xx").inc()
            if self.draining:
                headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, respond)
        finally:
            self.count -= 1
            self.rt.metrics.http_in_flight.dec()
            if not self.count:
                self.idle.set()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` for in-flight requests; True when none is left."""
        self.draining = True
        return self.idle.wait(timeout)


def start_background(rt: Runtime) -> Callable[[], None]:
    """Start what runs beside the requests (ready notices, maintenance); returns the function stopping it."""
    try:
        egress.reconcile(rt)
    except StoreError as exc:
        log.warning("initial pool reconcile skipped: %s", exc)
    rt.pool.notices.start()
    rt.offer_cache.subscription.start()
    rt.records.start()
    rt.updater.start()
    loop = MaintenanceLoop(rt)
    loop.start()

    def stop() -> None:
        loop.stop()
        rt.updater.stop()
        rt.pool.notices.stop()
        rt.offer_cache.subscription.stop()
        rt.records.stop(drain_s=5.0)

    return stop


def serve(settings: Settings, host: str | None = None, port: int | None = None,
          ready: Callable[[wsgiserver.WSGIServer], None] | None = None,
          prepare: Callable[[Runtime], None] | None = None, workers: int | None = None) -> int:
    """Run until SIGTERM or SIGINT, then stop accepting, drain for `[server] drain_s` and leave the stores.
    `prepare(rt)` runs once the stores are open, before the first request is accepted. With more than one
    worker a supervisor pre-forks them (see `prefork`)."""
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    workers = workers or settings.server.workers
    if workers > 1:
        from gateway import prefork

        return prefork.supervise(settings, host, port, workers)
    with Runtime.open(settings) as rt:
        if prepare:
            prepare(rt)
        return run(rt, (host, port), ready)


def run(rt: Runtime, listener: tuple[str, int] | socket.socket,
        ready: Callable[[wsgiserver.WSGIServer], None] | None = None) -> int:
    """Serve on `listener` (an address, or a socket a supervisor bound) until SIGTERM or SIGINT, then drain."""
    settings = rt.settings
    tracker = InFlight(build_app(rt), rt)
    server = wsgiserver.start(tracker, listener=listener, log=log if settings.server.access_log else None,
                              error_log=log, header_timeout_s=settings.server.header_timeout_s,
                              idle_timeout_s=settings.server.idle_timeout_s)
    stop_background = start_background(rt)
    host, port = server.address[:2]
    log.info("gateway listening on http://%s:%d (data dir %s)", host, port, settings.server.data_dir)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    if ready:
        ready(server)
    stop.wait()
    log.info("stopping: no new connections, draining up to %.1fs", settings.server.drain_s)
    server.close()
    deadline = time.monotonic() + settings.server.drain_s
    if not tracker.drain(settings.server.drain_s):
        log.warning("drain timed out with %d request(s) still in flight", tracker.count)
    if not rt.background.join(timeout=max(0.0, deadline - time.monotonic())):
        log.warning("drain timed out with %d trace(s) of answered clicks still running", len(rt.background))
    server.stop(timeout=1)
    stop_background()
    log.info("stopped")
    return 0
