"""The browser workers of `gateway serve` (or of its pre-fork supervisor): `[browser] workers` processes of
`gateway browser-worker` (`browser_worker.py`), started when Chromium is there on exactly the gateway's settings
and stores (a file in the data dir, credentials in their environment), started again when one exits (after a
growing pause), stopped with the gateway. Without Chromium browser tracing is off, said once in the log; offers
that want a browser trace over HTTP and say so in their records."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import gevent

from gateway import config
from gateway.config import Settings
from gateway.tracing.browser import find_executable

log = logging.getLogger(__name__)
RESTART_PAUSE_S = (1.0, 30.0)
STEADY_S = 60.0  # a worker that ran this long before it exited starts again at once
STOP_WAIT_S = 10.0
# a fresh interpreter that gevent never patched; its settings come from GATEWAY_CONFIG (config.child_env)
COMMAND = (sys.executable, "-m", "gateway", "browser-worker")


class BrowserWorkers:

    def __init__(self, settings: Settings, redis_url: str, postgres_url: str, count: int | None = None) -> None:
        self.settings = settings.replace(redis__url=redis_url, postgres__url=postgres_url)
        self.count = settings.browser.workers if count is None else count
        self.config_path = settings.server.data_dir / f"browser-workers-{os.getpid()}.ini"
        self.executable = find_executable(settings.browser.executable)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.watcher: gevent.Greenlet | None = None

    def __enter__(self) -> BrowserWorkers:
        if not self.count:
            return self
        if self.executable is None:
            log.warning("browser tracing is off: no Chromium found (apt-get install chromium, or set [browser] "
                        "executable); offers with tracer browser or auto trace over HTTP and say so")
            return self
        self.env = config.child_env(self.settings, self.config_path)  # exactly the gateway's settings
        self.procs = [self._start() for _ in range(self.count)]
        self.watcher = gevent.spawn(self._watch)
        self.watcher.link_exception(lambda g: log.error("browser worker watch crashed: %r", g.exception))
        log.info("%d browser worker(s) started (%s)", len(self.procs), self.executable)
        return self

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(COMMAND, env=self.env)

    def _watch(self) -> None:
        failures = [0] * len(self.procs)
        started = [time.monotonic()] * len(self.procs)
        while True:
            gevent.sleep(1.0)
            for n, proc in enumerate(self.procs):
                if proc.poll() is None:
                    continue
                failures[n] = 0 if time.monotonic() - started[n] > STEADY_S else failures[n] + 1
                pause = min(RESTART_PAUSE_S[1], RESTART_PAUSE_S[0] * 2 ** failures[n]) if failures[n] else 0.0
                log.warning("browser worker %d exited (%s); starting it again in %.0f s", n, proc.returncode, pause)
                gevent.sleep(pause)
                self.procs[n], started[n] = self._start(), time.monotonic()

    def __exit__(self, *exc: object) -> None:
        if self.watcher is not None:
            self.watcher.kill()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_WAIT_S
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        self.config_path.unlink(missing_ok=True)
