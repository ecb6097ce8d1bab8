"""A browser worker: a process of its own, without gevent (Playwright brings its own event loop), that takes
browser traces from Redis one at a time, follows each in Chromium (`tracing/chromium.py`) through the job's slot,
whose proxy credentials it looks up itself, and answers. `gateway serve` starts `[browser] workers` of them
(`BrowserWorkers`, below) when Chromium is there; `gateway browser-worker` runs one more anywhere that reaches the
same Redis and PostgreSQL. A worker says it is alive every few seconds (`BrowserJobs.beat`); SIGTERM lets it
finish its trace and leave.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time

from gateway import config
from gateway.config import Settings
from gateway.egress.providers import proxy_url
from gateway.process import logs
from gateway.process.services import store_options
from gateway.tracing.browser import BrowserJob, find_executable
from gateway.tracing.chromium import KILL_GRACE_S, Chromium
from gateway.tracing.outcomes import TracedBy
from gateway.tracing.tracer import TraceResult
from store.errors import StoreError
from store.stores import WorkerStores

log = logging.getLogger(__name__)
BEAT_S = 2.0
TAKE_WAIT_S = 2


def main(argv: list[str]) -> int:
    """`gateway [--config PATH] browser-worker`, in a process gevent never patched."""
    parser = argparse.ArgumentParser(prog="gateway browser-worker",
                                     description="Follow browser traces from Redis in headless Chromium.")
    parser.add_argument("--config", metavar="PATH")
    parser.add_argument("command", choices=["browser-worker"])
    args = parser.parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    for name in [name for name in os.environ if name.startswith(config.ENV_PREFIX)]:
        del os.environ[name]  # read: Playwright's driver and Chromium, which runs hostile pages, never see them
    logs.configure(settings.server.log_level)
    try:
        return run(settings)
    except StoreError as exc:
        print(f"gateway: browser worker: {exc}", file=sys.stderr)
        return 1


def run(settings: Settings) -> int:
    """One worker until SIGTERM or SIGINT; 1 when it cannot start (no browser)."""
    executable = find_executable(settings.browser.executable)
    if executable is None:
        log.error("browser worker: no Chromium (apt-get install chromium, or set [browser] executable)")
        return 1
    stores = WorkerStores.open(store_options(settings), redis_timeout_s=TAKE_WAIT_S + 5)
    try:
        worker = BrowserWorker(stores, settings, Chromium(executable, settings.browser.max_traces))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stopping.set())
        log.info("browser worker %s ready (%s)", worker.identity, executable)
        worker.run()
    finally:
        stores.close()
    return 0


class BrowserWorker:
    """Takes jobs one at a time and answers every one it takes. A thread of its own says the worker is alive every
    BEAT_S, as long as its loop came round within the longest a trace may take: a worker wedged in a trace stops
    being counted, and traces go to HTTP instead of waiting for it."""

    def __init__(self, stores: WorkerStores, settings: Settings, chromium: Chromium) -> None:
        self.jobs, self.stores, self.settings, self.chromium = stores.browser_jobs, stores, settings, chromium
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.turned_at = time.monotonic()
        self.longest_s = settings.browser.trace_timeout_s + KILL_GRACE_S + TAKE_WAIT_S + BEAT_S
        self._beat()

    def run(self) -> None:
        beating = threading.Thread(target=self._beating, name="heartbeat", daemon=True)
        beating.start()
        try:
            while not self.stopping.is_set():
                self.turned_at = time.monotonic()
                try:
                    found = self.jobs.take(TAKE_WAIT_S)
                except StoreError as exc:
                    log.warning("browser worker: Redis not answering: %s", exc)
                    self.stopping.wait(BEAT_S)
                    continue
                if found is not None:
                    self._serve(found)
        finally:
            self.stopping.set()
            beating.join()
            self.chromium.close()
            with contextlib.suppress(StoreError):
                self.jobs.gone(self.identity)

    def _beat(self) -> None:
        if time.monotonic() - self.turned_at > self.longest_s:
            log.warning("browser worker %s is stuck in a trace: not counted as alive", self.identity)
            return
        with contextlib.suppress(StoreError):
            self.jobs.beat(self.identity, BEAT_S * 3)

    def _beating(self) -> None:
        while not self.stopping.wait(BEAT_S):
            self._beat()

    def _serve(self, text: str) -> None:
        """Trace one job and answer it; whatever goes wrong on the way is its answer (`browser_failed`), never the
        end of the worker."""
        try:
            job = BrowserJob.load(text)
        except (ValueError, TypeError) as exc:
            log.error("browser worker: not a job, dropped (%s): %.200s", exc, text)
            return
        started = time.perf_counter()
        try:
            if job.expired or not self.jobs.claim(job.id):
                log.info("browser job for %s dropped: expired, or taken by another worker", job.url)
                return
            result = self._trace(job, started)
        except Exception as exc:  # a job this worker cannot follow is answered as such; the next one may work
            log.exception("browser job for %s failed", job.url)
            result = TraceResult.never_ran("browser_failed", f"{type(exc).__name__}: {exc}", started, job.url,
                                           job.slot_id, TracedBy.BROWSER)
        try:
            self.jobs.answer(job.id, json.dumps(result.as_dict()))
        except StoreError as exc:
            log.warning("browser job for %s not answered: %s", job.url, exc)

    def _trace(self, job: BrowserJob, started: float) -> TraceResult:
        try:
            proxy = proxy_url(self.stores.inventory.get(job.slot_id), self.settings.providers) \
                if job.slot_id else job.proxy
        except StoreError as exc:  # NotFound included: an unknown slot, a provider not configured here
            return TraceResult.never_ran("browser_failed", f"this worker cannot use the slot: {exc}", started,
                                         job.url, job.slot_id, TracedBy.BROWSER)
        return self.chromium.trace(job, proxy)
