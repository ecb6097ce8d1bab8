"""`serve --workers N`: a supervisor process and N pre-forked gevent workers sharing one listening socket.

The supervisor holds what must exist once: the embedded servers (if no store URL is set), the schema
(migrated once, before any worker starts), the listening socket and the shared metrics directory. Each worker
is a whole gateway process of its own (its own Redis and PostgreSQL pools, record writer, pair updater and
maintenance greenlet; maintenance ticks stay single cluster-wide through the Redis lock). A worker that dies
is started again; SIGTERM or SIGINT is passed on to every worker, which drains, and the supervisor exits 0
once they are gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import time

import gevent
import gevent.event
import gevent.os
from prometheus_client import multiprocess

from gateway.config import Settings
from gateway.metrics import MULTIPROC_ENV
from gateway.process import server
from gateway.process.browser_workers import BrowserWorkers
from gateway.process.restarts import RestartPause
from gateway.process.services import Services, check_patched, migrate
from store.embedded import EmbeddedStores

log = logging.getLogger(__name__)
RESTART_BACKOFF_MAX_S = 10.0


class Supervisor:
    def __init__(self, settings: Settings, listener: socket.socket, workers: int) -> None:
        self.settings = settings
        self.listener = listener
        self.count = workers
        self.children: dict[int, float] = {}
        self.stopping = False
        self.exits = gevent.event.Event()
        self.pause = RestartPause(0.5, RESTART_BACKOFF_MAX_S, healthy_after_s=30)

    def spawn(self) -> None:
        pid = gevent.os.fork_and_watch(callback=lambda watcher: self.exits.set())
        if pid == 0:
            os._exit(self._worker())
        self.children[pid] = time.monotonic()
        log.info("worker %d started", pid)

    def _worker(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        try:
            with Services.open(self.settings, migrate_first=False) as services:
                return server.run(services, self.listener)
        except Exception:
            log.exception("worker %d failed", os.getpid())
            return 1

    def reap(self) -> None:
        """Collect workers that exited; start new ones unless stopping (backing off if they keep dying)."""
        for pid in list(self.children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            started = self.children.pop(pid)
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
            if self.stopping:
                continue
            lived = time.monotonic() - started
            code = os.waitstatus_to_exitcode(status)
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            log.error("worker %d %s after %.1fs; starting another", pid, how, lived)
            gevent.sleep(self.pause.after(lived))
            self.spawn()

    def stop(self, drain_s: float) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + drain_s + 3
        while self.children and time.monotonic() < deadline:
            self.reap()
            gevent.sleep(0.05)
        for pid in list(self.children):
            log.warning("worker %d did not stop in time: killed", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.children.pop(pid, None)


def supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    check_patched()
    embedded = None
    if not settings.redis.url or not settings.postgres.url:
        embedded = EmbeddedStores(settings.server.data_dir).acquire()
        settings = settings.replace(redis__url=settings.redis.url or embedded.redis_url,
                                    postgres__url=settings.postgres.url or embedded.postgres_url)
    metrics_dir = settings.server.data_dir / f"metrics-{os.getpid()}"
    try:
        migrate(settings.postgres.url)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
        listener = socket.create_server((host, port), backlog=2048, reuse_port=False)
        log.info("supervisor %d on http://%s:%d with %d workers", os.getpid(), host, listener.getsockname()[1],
                 workers)
        with BrowserWorkers(settings, settings.redis.url, settings.postgres.url):
            return _run(Supervisor(settings, listener, workers), settings.server.drain_s)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if embedded:
            embedded.release()


def _run(supervisor: Supervisor, drain_s: float) -> int:
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    for _ in range(supervisor.count):
        supervisor.spawn()
    while not stop.is_set():
        gevent.wait([stop, supervisor.exits], count=1, timeout=1.0)
        supervisor.exits.clear()
        supervisor.reap()
    log.info("stopping %d worker(s)", len(supervisor.children))
    supervisor.stop(drain_s)
    supervisor.listener.close()
    log.info("stopped")
    return 0
