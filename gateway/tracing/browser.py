"""Browser traces as the gateway asks for them: a job for a browser worker (`chromium.py`, in a process of its own,
fed through Redis by `process/browser_worker.py`), and its answer, a TraceResult like any other.

A job names the URL, the slot to go out through (its id only: the worker looks the proxy's credentials up itself,
so no pool credential is queued; only `gateway trace --proxy URL`, a proxy that is no slot, sends its URL), the
options that shape the trace (user agent and whether it is a phone's, budget, settle time, hop limit, blocked
resource types, allowed app-link schemes, the SSRF guard's exemptions) and, when `auto` hands its chain over,
the cookies the HTTP trace gathered and the page it fetched last (the browser starts from it instead of
requesting it again). A job must be started by its deadline, and the worker stops it before the gateway stops
waiting for its answer (`ends_in_s`): the slot is released only once nothing of the trace can still use it.

Browser workers are few and a browser trace is slow, so a trace does not queue behind a backlog: with as many
jobs waiting as there are workers, the offer is traced over HTTP (`TracedBy.HTTP_NO_BROWSER`), as without any.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gateway.config import BrowserSettings
from gateway.tracing.outcomes import TracedBy
from gateway.tracing.tracer import SlotRoute, TraceOptions, TraceResult
from store.browser_jobs import BrowserJobs
from store.errors import StoreError

log = logging.getLogger(__name__)
WORKERS_SEEN_S = 5.0
ANSWER_MARGIN_S = 2.0  # the gateway waits this much longer than the worker may run
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


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
    mobile: bool
    referer: str | None
    budget_s: float
    settle_ms: int
    max_hops: int
    blocked: list[str]
    app_schemes: list[str]
    allow_private: bool
    allow_networks: str
    start_by_ms: int  # epoch ms: not started after this
    end_by_ms: int  # epoch ms: over by then (the gateway stops waiting ANSWER_MARGIN_S later)
    cookies: list[dict[str, Any]] = field(default_factory=list)
    page: dict[str, Any] | None = None  # the page to start from, as the HTTP trace fetched it
    proxy: str | None = None  # a proxy named on the command line (never a pool slot's)

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> BrowserJob:
        """A job as `dump` wrote it; fields a gateway of another version added are left out. ValueError (or
        TypeError, a required field missing) when it is no job."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})

    @property
    def expired(self) -> bool:
        return time.time() * 1000 > self.start_by_ms

    @property
    def ends_in_s(self) -> float:
        return self.end_by_ms / 1000 - time.time()


class BrowserTracer:
    def __init__(self, jobs: BrowserJobs, settings: BrowserSettings) -> None:
        self.jobs = jobs
        self.settings = settings
        self._workers, self._seen_at = 0, -WORKERS_SEEN_S

    def workers(self, fresh: bool = False) -> int:
        """Browser workers alive (looked up at most every WORKERS_SEEN_S, unless `fresh`)."""
        if fresh or time.monotonic() - self._seen_at > WORKERS_SEEN_S:
            try:
                self._workers = self.jobs.workers()
            except StoreError:
                self._workers = 0
            self._seen_at = time.monotonic()
        return self._workers

    def available(self, fresh: bool = False) -> bool:
        """Whether a browser trace would be taken now: a worker is alive and fewer jobs wait than there are
        workers (a deeper backlog would hold slots and Redis connections for nothing)."""
        workers = self.workers(fresh)
        if not workers:
            return False
        try:
            return self.jobs.waiting() < workers
        except StoreError:
            return False

    def trace(self, url: str, route: SlotRoute | None, options: TraceOptions,
              cookies: Sequence[dict[str, Any]] = (), page: dict[str, Any] | None = None) -> TraceResult:
        """Follow `url` in a browser worker's Chromium, through `route`'s slot (directly without one)."""
        started = time.perf_counter()
        budget_s = min(self.settings.trace_timeout_s, options.total_timeout_s)
        now_ms = time.time() * 1000
        start_by_ms = now_ms + self.settings.queue_wait_s * 1000
        pooled = route is not None and route.pooled
        job = BrowserJob(
            uuid.uuid4().hex, url, route.id if pooled and route else None, options.user_agent_header,
            options.mobile, options.referer, budget_s, self.settings.settle_ms, options.max_hops,
            sorted(self.settings.blocked_types), sorted(options.app_schemes), options.allow_private,
            options.allow_networks, int(start_by_ms), int(start_by_ms + budget_s * 1000), list(cookies), page,
            route.url if route and not pooled else None)
        wait_s = (job.end_by_ms - now_ms) / 1000 + ANSWER_MARGIN_S
        try:
            answer = self.jobs.submit(job.id, job.dump(), wait_s)
        except StoreError as exc:
            return TraceResult.never_ran("store_unavailable", f"store: {exc}", started, url, job.slot_id,
                                         TracedBy.BROWSER)
        if answer is None:
            return TraceResult.never_ran("browser_timeout", f"no browser worker answered within {wait_s:.0f} s",
                                         started, url, job.slot_id, TracedBy.BROWSER)
        return TraceResult.from_dict(json.loads(answer))


def continued(first: TraceResult, then: TraceResult) -> TraceResult:
    """An `auto` trace: the HTTP trace up to the page that needed a script engine, then the browser's from that
    page on. The browser was handed that page as fetched: its first hop is the HTTP trace's last, with the status
    and bytes of the one time it was fetched, and the time it took to fetch and then to leave."""
    hops = list(first.hops)
    if then.hops and hops and then.hops[0].url == hops[-1].url:
        fetched = hops.pop()
        hops.append(replace(then.hops[0], status=fetched.status, bytes=fetched.bytes,
                            ms=round(fetched.ms + then.hops[0].ms, 1)))
        hops.extend(then.hops[1:])
    else:
        hops.extend(then.hops)
    return replace(then, hops=hops, total_ms=round(first.total_ms + then.total_ms, 1),
                   tracer=TracedBy.HTTP_THEN_BROWSER)
