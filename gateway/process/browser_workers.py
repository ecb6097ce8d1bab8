"""The browser workers of `gateway serve` (or of its pre-fork supervisor): `[browser] workers` processes of
`gateway browser-worker` (`browser_worker.py`), started when Chromium is there on exactly the gateway's settings
and stores (a file in the data dir, credentials in their environment), started again when one exits (after a
growing pause), stopped with the gateway. Without Chromium browser tracing is off, said once in the log; offers
that want a browser trace over HTTP and say so in their records."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

import gevent

from gateway import config
from gateway.config import NO_SECRET, Settings
from gateway.process.restarts import RestartPause
from gateway.tracing.browser import find_executable

log = logging.getLogger(__name__)
RESTART_PAUSE_S = (1.0, 30.0)
HEALTHY_AFTER_S = 60.0
STOP_WAIT_S = 10.0
PR_SET_PDEATHSIG = 1
# a fresh interpreter that gevent never patched; its settings come from GATEWAY_CONFIG (config.child_env)
COMMAND = (sys.executable, "-m", "gateway", "browser-worker")


class BrowserWorkers:

    def __init__(self, settings: Settings, redis_url: str, postgres_url: str, count: int | None = None) -> None:
        # the gateway's settings, but for secrets a worker has no use for (it reads the slots' proxy credentials)
        self.settings = settings.replace(redis__url=redis_url, postgres__url=postgres_url, admin__token=NO_SECRET,
                                         admin__viewer_token=NO_SECRET, trackier__api_key=NO_SECRET,
                                         webhooks__campaign_route_secret=NO_SECRET, metrics__token=NO_SECRET)
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
        return subprocess.Popen(COMMAND, env=self.env, preexec_fn=_die_with_parent)

    def _watch(self) -> None:
        pauses = [RestartPause(*RESTART_PAUSE_S, healthy_after_s=HEALTHY_AFTER_S) for _ in self.procs]
        started = [time.monotonic()] * len(self.procs)
        while True:
            gevent.sleep(1.0)
            for n, proc in enumerate(self.procs):
                if proc.poll() is None:
                    continue
                pause = pauses[n].after(time.monotonic() - started[n])
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


def _die_with_parent() -> None:
    """In the worker, before it runs: SIGTERM when the gateway that started it dies, even by SIGKILL (Linux), so
    that no orphan keeps taking jobs beside the next gateway's workers."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
