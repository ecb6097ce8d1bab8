"""The one path of every trace: lease an egress slot, follow the chain through it, release the slot with the
trace's outcome (and the offer's cooldown), record the trace. Clicks, trace ahead's filler, pair updates and pair
creation all take it. The chain is followed as the offer's `tracer` says: over HTTP (`tracer.py`), in a browser
worker's Chromium (`browser.py`), or `auto`: over HTTP, then in the browser from a page that needs a script
engine, through the same slot. Without a browser worker, browser and auto offers trace over HTTP and say so.

A click cannot wait for the whole of it: it starts a `TraceJob`, waits at most its budget for the result, answers
and says so (`answered`). The job records the trace once it has ended *and* its click has answered, so the record
carries the click's outcome whether the trace ended in time or after the visitor was sent to the fallback; a trace
that succeeds only after its click was answered is handed to the job's `late` hook (trace ahead keeps it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import gevent
import gevent.pool

from gateway.egress.leases import LeasedSlot, Leases
from gateway.metrics import Metrics
from gateway.tracing import tracer
from gateway.tracing.browser import BrowserTracer, continued
from gateway.tracing.outcomes import Outcome, TracedBy, Tracer
from gateway.tracing.records import RecordWriter, TraceRecord
from gateway.tracing.tracer import TraceOptions, TraceResult
from store.errors import StoreError
from store.offers import Offer
from store.pool import NoEgress, Release

log = logging.getLogger(__name__)


class TraceJob:
    """A trace under way: its record, its result once it has ended, and whether its click has answered. The
    record is submitted by whichever comes second, the end of the trace or the answer: neither waits for the
    other."""

    def __init__(self, record: TraceRecord, records: RecordWriter, answered: bool = False,
                 late: Callable[[TraceResult, str], None] | None = None) -> None:
        self.record = record
        self.records = records
        self.late = late
        self.greenlet: gevent.Greenlet | None = None
        self.result: TraceResult | None = None
        self.country: str | None = None  # of the slot it went out through
        self._waiting_for = 1 if answered else 2

    def wait(self, timeout: float | None) -> TraceResult | None:
        """The trace's result, or None when it has not ended within `timeout` seconds."""
        if self.greenlet is not None:
            self.greenlet.join(timeout)
        return self.result

    def answered(self) -> None:
        """The click has answered (its outcome is on the record): the record may be written once the trace ends."""
        self._one_done()

    def ended(self, result: TraceResult | None) -> None:
        self.record.describe(result)
        self.result = result
        answered_first = self._waiting_for == 1
        self._one_done()
        if answered_first and self.late and result is not None and result.ok and self.country:
            self.late(result, self.country)

    def _one_done(self) -> None:
        self._waiting_for -= 1
        if self._waiting_for == 0:
            ok = self.result is not None and self.result.ok
            self.record.outcome = self.record.outcome or (Outcome.TRACED if ok else Outcome.FAILED)
            self.records.submit(self.record)


class TraceRunner:
    def __init__(self, leases: Leases, records: RecordWriter, options: TraceOptions, metrics: Metrics,
                 background: gevent.pool.Group, identity: str, browser: BrowserTracer) -> None:
        self.browser = browser
        self.identity = identity
        self.leases = leases
        self.records = records
        self.options = options
        self.metrics = metrics
        self.background = background

    def run(self, offer: Offer, url: str, *, wait_ms: float, purpose: str, record: TraceRecord,
            countries: Sequence[str] | None = None) -> TraceResult:
        """Trace `url` for `offer` now and record it with the outcome `traced` or `failed`. The lease is held in
        the name of this process and `purpose`, in `countries` (default: the offer's)."""
        job = TraceJob(record, self.records, answered=True)
        self._run(job, offer, url, wait_ms, f"{self.identity}:{purpose}", countries)
        assert job.result is not None, "_run ends every trace with a result"
        return job.result

    def start(self, offer: Offer, url: str, *, wait_ms: float, purpose: str, record: TraceRecord,
              late: Callable[[TraceResult, str], None] | None = None) -> TraceJob:
        """Trace `url` for `offer` in a greenlet of the background group (a drain waits for it)."""
        job = TraceJob(record, self.records, late=late)
        job.greenlet = self.background.spawn(self._run, job, offer, url, wait_ms, f"{self.identity}:{purpose}")
        job.greenlet.link_exception(lambda g: log.error("trace %s crashed: %r", record.id, g.exception))
        return job

    def _run(self, job: TraceJob, offer: Offer, url: str, wait_ms: float, holder: str,
             countries: Sequence[str] | None = None) -> None:
        started, result = time.perf_counter(), None
        try:
            result = self._trace(job, offer, url, wait_ms, holder, countries)
        except Exception as exc:  # a bug in a trace still ends it: its click falls back, its record says why
            log.exception("trace %s crashed", job.record.id)
            result = TraceResult.never_ran("crashed", f"{type(exc).__name__}: {exc}", started)
        finally:
            job.ended(result)

    def _trace(self, job: TraceJob, offer: Offer, url: str, wait_ms: float, holder: str,
               countries: Sequence[str] | None) -> TraceResult:
        started = time.perf_counter()
        try:
            leased = self.leases.lease(countries or [offer.country, *offer.fallback_countries], wait_ms, holder)
        except NoEgress as exc:
            return TraceResult.never_ran("no_egress", str(exc), started)
        except StoreError as exc:
            return TraceResult.never_ran("store_unavailable", f"store: {exc}", started)
        job.record.lease_wait_ms = round(leased.lease.waited_ms)
        job.country = leased.lease.country
        result = self.through(leased, url, self.options.with_user_agent(offer.ua_profile), offer.cooldown_s,
                              offer.tracer)
        self.metrics.trace_seconds.observe(result.total_ms / 1000)
        return result

    def through(self, leased: LeasedSlot, url: str, options: TraceOptions, cooldown_s: float | None = None,
                mode: str = Tracer.HTTP) -> TraceResult:
        """Trace `url` through a leased slot (by `mode`), then release it with the trace's outcome, whatever
        happens."""
        result = None
        try:
            result = self.follow(url, tracer.SlotRoute(leased.slot.id, leased.proxy), options, mode)
            return result
        finally:
            outcome = result.egress_outcome if result else Release.UPSTREAM_ERROR
            self.leases.release(leased, outcome, result.total_ms if result and result.ok else None, cooldown_s)

    def follow(self, url: str, route: tracer.SlotRoute | None, options: TraceOptions, mode: str) -> TraceResult:
        """Follow the chain at `url` by `mode` (a Tracer) through `route` (None: directly). Whether a browser is
        free is asked once: `browser` before anything, `auto` only once HTTP ended on a page that needs one."""
        if mode == Tracer.BROWSER and self.browser.available():
            return self._in_browser(url, route, options)
        result = tracer.trace(url, route, options)
        if mode == Tracer.HTTP or (mode == Tracer.AUTO and not result.needs_script):
            return result
        if mode == Tracer.BROWSER or not self.browser.available():
            self.metrics.browser_traces.labels("no_browser").inc()
            return replace(result, tracer=TracedBy.HTTP_NO_BROWSER)
        rest = replace(options, total_timeout_s=max(1.0, options.total_timeout_s - result.total_ms / 1000))
        return continued(result, self._in_browser(result.final_url or url, route, rest, result))

    def _in_browser(self, url: str, route: tracer.SlotRoute | None, options: TraceOptions,
                    first: TraceResult | None = None) -> TraceResult:
        """A browser worker's trace of `url`; with `first`, from the page that HTTP trace fetched, with its
        cookies."""
        result = self.browser.trace(url, route, options, first.cookies if first else (), first.page if first else None)
        self.metrics.browser_traces.labels("browser" if result.ok else result.error or "error").inc()
        return result

    def probe(self, url: str, options: TraceOptions, holder: str, slot_id: str | None = None,
              country: str | None = None, mode: str = Tracer.HTTP) -> TraceResult:
        """An operator's trace of `url` (by `mode`): through the named slot, through a slot of `country` (waiting
        up to 5 s), or direct. Not recorded. NotFound for an unknown slot, NoEgress when none came free."""
        if slot_id:
            return self.through(self.leases.lease_one(slot_id, f"{self.identity}:{holder}"), url, options,
                                 mode=mode)
        if country:
            return self.through(self.leases.lease([country], 5000, f"{self.identity}:{holder}"), url, options,
                                 mode=mode)
        return self.follow(url, None, options, mode)
