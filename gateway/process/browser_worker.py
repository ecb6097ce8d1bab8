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
from gateway.tracing.browser import BrowserJob, failed, find_executable
from gateway.tracing.chromium import Chromium
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
    logs.configure(settings.server.log_level)
    return run(settings)


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
    """Takes jobs one at a time and answers every one it takes; a thread of its own says it is alive every
    BEAT_S, whatever the trace in hand is doing."""

    def __init__(self, stores: WorkerStores, settings: Settings, chromium: Chromium) -> None:
        self.jobs, self.stores, self.settings, self.chromium = stores.browser_jobs, stores, settings, chromium
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._beat()

    def run(self) -> None:
        beating = threading.Thread(target=self._beating, name="heartbeat", daemon=True)
        beating.start()
        try:
            while not self.stopping.is_set():
                try:
                    found = self.jobs.take(TAKE_WAIT_S)
                except StoreError as exc:
                    log.warning("browser worker: Redis not answering: %s", exc)
                    self.stopping.wait(BEAT_S)
                    continue
                if found is not None:
                    self._serve(BrowserJob.load(found))
        finally:
            self.stopping.set()
            beating.join()
            self.chromium.close()
            with contextlib.suppress(StoreError):
                self.jobs.gone(self.identity)

    def _beat(self) -> None:
        with contextlib.suppress(StoreError):
            self.jobs.beat(self.identity, BEAT_S * 3)

    def _beating(self) -> None:
        while not self.stopping.wait(BEAT_S):
            self._beat()

    def _serve(self, job: BrowserJob) -> None:
        if job.expired:
            log.info("browser job for %s dropped: nobody waits for it any more", job.url)
            return
        started = time.perf_counter()
        try:
            proxy = proxy_url(self.stores.inventory.get(job.slot_id), self.settings.providers) \
                if job.slot_id else job.proxy
        except StoreError as exc:  # NotFound included: an unknown slot, a provider not configured here
            result = failed(job.url, job.slot_id, "egress_failed", f"the worker has no proxy: {exc}", started)
        else:
            result = self.chromium.trace(job, proxy)
        try:
            self.jobs.answer(job.id, json.dumps(result.as_dict()))
        except StoreError as exc:
            log.warning("browser job for %s not answered: %s", job.url, exc)
