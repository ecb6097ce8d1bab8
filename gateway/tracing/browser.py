"""Browser traces as the gateway asks for them: a job for a browser worker (`chromium.py`, in a process of its own,
fed through Redis by `process/browser_worker.py`), and its answer, a TraceResult like any other.

A job names the URL, the slot to go out through (its id only: the worker looks the proxy's credentials up itself,
so no secret is queued; only `gateway trace --proxy URL`, a proxy that is no slot, sends its URL), the options that
shape the trace (user agent, budget, settle time, blocked resource
types, the SSRF guard's exemptions) and the cookies an HTTP trace had gathered when `auto` hands its chain over.
A job nobody took by its deadline is dropped by the worker that finds it; an answer that does not come within the
queue wait and the budget is a `browser_timeout`.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gateway.config import BrowserSettings
from gateway.tracing.tracer import SlotRoute, TraceOptions, TraceResult
from store.browser_jobs import BrowserJobs
from store.errors import StoreError

WORKERS_SEEN_S = 5.0
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HTTP, BROWSER, AUTO = "http", "browser", "auto"
MODES = (HTTP, BROWSER, AUTO)


def find_executable(configured: str) -> str | None:
    """The browser to run: `[browser] executable`, else the first Chromium on PATH; None when there is none."""
    if configured:
        return shutil.which(configured) or None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@dataclass(frozen=True)
class BrowserJob:
    id: str
    url: str
    slot_id: str | None
    user_agent: str
    referer: str | None
    budget_s: float
    settle_ms: int
    blocked: list[str]
    allow_private: bool
    allow_networks: str
    deadline_ms: int  # not started after this (epoch ms): the gateway has stopped waiting by then
    cookies: list[dict[str, Any]] = field(default_factory=list)
    proxy: str | None = None  # a proxy named on the command line (never a pool slot's)

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> BrowserJob:
        return cls(**json.loads(text))

    @property
    def expired(self) -> bool:
        return time.time() * 1000 > self.deadline_ms


class BrowserTracer:
    def __init__(self, jobs: BrowserJobs, settings: BrowserSettings) -> None:
        self.jobs = jobs
        self.settings = settings
        self._workers, self._seen_at = 0, -WORKERS_SEEN_S

    def available(self, fresh: bool = False) -> bool:
        """Whether any browser worker is alive (looked up at most every WORKERS_SEEN_S, unless `fresh`)."""
        if fresh or time.monotonic() - self._seen_at > WORKERS_SEEN_S:
            try:
                self._workers = self.jobs.workers()
            except StoreError:
                self._workers = 0
            self._seen_at = time.monotonic()
        return self._workers > 0

    def trace(self, url: str, route: SlotRoute | None, options: TraceOptions,
              cookies: Sequence[dict[str, Any]] = ()) -> TraceResult:
        """Follow `url` in a browser worker's Chromium, through `route`'s slot (directly without one)."""
        started = time.perf_counter()
        budget_s = min(self.settings.trace_timeout_s, options.total_timeout_s)
        wait_s = self.settings.queue_wait_s + budget_s + 2
        pooled = route is not None and route.pooled
        job = BrowserJob(uuid.uuid4().hex, url, route.id if pooled and route else None, options.user_agent_header,
                         options.referer, budget_s, self.settings.settle_ms, sorted(self.settings.blocked_types),
                         options.allow_private, options.allow_networks,
                         int((time.time() + self.settings.queue_wait_s) * 1000), list(cookies),
                         route.url if route and not pooled else None)
        try:
            answer = self.jobs.submit(job.id, job.dump(), wait_s)
        except StoreError as exc:
            return failed(url, job.slot_id, "store_unavailable", f"store: {exc}", started)
        if answer is None:
            return failed(url, job.slot_id, "browser_timeout", f"no browser worker answered within {wait_s:g} s",
                          started)
        return TraceResult.from_dict(json.loads(answer))


def continued(first: TraceResult, then: TraceResult) -> TraceResult:
    """An `auto` trace: the HTTP trace up to the page that needed a script engine, then the browser's from that
    page on (the browser requests that page again: its first hop replaces the HTTP trace's last)."""
    return replace(then, hops=[*first.hops[:-1], *then.hops], total_ms=round(first.total_ms + then.total_ms, 1),
                   tracer="http+browser")


def failed(url: str, slot_id: str | None, error: str, detail: str, started: float) -> TraceResult:
    """A browser trace that never ran: no worker answered, none could reach the store or the slot's proxy."""
    return TraceResult(ok=False, error=error, final_url=url, hops=[], params=[],
                       total_ms=round((time.perf_counter() - started) * 1000, 1), slot_id=slot_id, detail=detail,
                       tracer=BROWSER)
