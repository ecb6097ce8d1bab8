"""Trace records and the writer that stores them off the click's path.

A click hands its record to `RecordWriter.submit` and answers at once. The writer's greenlet flushes in
batches: PostgreSQL first (COPY, all or nothing), then the Redis counters and stream. While PostgreSQL is
down records stay queued and are written when it returns; the queue is bounded, and what does not fit is
dropped and counted (`gateway_records_dropped_total`), never blocking a click. A record PostgreSQL refuses
(`BadValue`) is set aside alone, logged and counted (`gateway_records_rejected_total`): it never holds back
the records behind it. Text a chain handed out is stored with NUL and lone surrogates replaced.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import gevent
import gevent.event
import gevent.lock

from gateway import text
from gateway.config import ClickSettings
from gateway.metrics import Metrics
from gateway.tracing.tracer import TraceResult
from store.batching import write_apart
from store.clickstats import ClickStats
from store.errors import BadValue, StoreError
from store.traces import Traces

log = logging.getLogger(__name__)
RETRY_MAX_S = 5.0


@dataclass
class TraceRecord:
    outcome: str
    offer_id: uuid.UUID | None
    offer_slug: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = "click"
    webhook_event_id: int | None = None
    error: str | None = None
    slot_id: str | None = None
    inbound: Sequence[Sequence[str]] = field(default_factory=list)  # (name, value) pairs
    params: list[list[str]] = field(default_factory=list)
    hops: list[dict[str, Any]] = field(default_factory=list)
    final_url: str | None = None
    redirect_url: str | None = None
    lease_wait_ms: int | None = None
    trace_ms: int | None = None
    total_ms: int | None = None
    ahead_trace_id: uuid.UUID | None = None
    ahead_age_ms: int | None = None
    tracer: str | None = None

    def describe(self, result: TraceResult | None) -> None:
        """Take in what a trace found (None: it crashed): the one mapping from a trace's result to its record."""
        if result is None:
            self.error = self.error or "trace crashed"
            return
        self.error = result.error
        self.slot_id = result.slot_id
        self.final_url = result.final_url
        self.hops = [vars(hop) for hop in result.hops]
        self.params = [list(pair) for pair in result.params]
        self.trace_ms = round(result.total_ms)
        self.tracer = result.tracer

    def row(self) -> dict[str, Any]:
        """The columns of the record, with text no store can hold (from the chain) replaced."""
        return {name: text.scrub(getattr(self, name)) for name in self.__dataclass_fields__ if name != "offer_slug"}

    def stream_fields(self) -> dict[str, Any]:
        """The compact form kept in the recent-trace stream (no None values: Redis stores strings)."""
        fields = {"id": str(self.id), "at": self.created_at.isoformat(timespec="milliseconds"),
                  "offer": self.offer_slug, "outcome": self.outcome, "error": self.error,
                  "slot": self.slot_id, "final_url": self.final_url, "redirect": self.redirect_url,
                  "trace_ms": self.trace_ms, "total_ms": self.total_ms}
        return {k: text.scrub(str(v)) for k, v in fields.items() if v is not None}


class RecordWriter:
    def __init__(self, traces: Traces, click_stats: ClickStats, metrics: Metrics, clicks: ClickSettings) -> None:
        self.traces = traces
        self.click_stats = click_stats
        self.metrics = metrics
        self.capacity, self.batch = clicks.writer_queue, clicks.writer_batch
        self.interval_s = clicks.writer_interval_ms / 1000
        self.queue: deque[TraceRecord] = deque()
        self.dropped = 0
        self.rejected = 0
        self.submitted = 0
        self._submitted_event = gevent.event.Event()
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._failures = 0
        self._writing = gevent.lock.Semaphore()  # the writer greenlet and a flush never write the same batch

    def submit(self, record: TraceRecord) -> bool:
        """Queue a record for writing; False (and counted) when the queue is full."""
        if len(self.queue) >= self.capacity:
            self.dropped += 1
            self.metrics.writer_dropped.inc()
            return False
        self.queue.append(record)
        self.submitted += 1
        self._submitted_event.set()
        self.metrics.writer_queue.set(len(self.queue))
        if len(self.queue) >= self.batch:
            self._wake.set()
        return True

    def wait_submitted(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` records were submitted in this process's life (or `timeout`)."""
        deadline = gevent.get_hub().loop.now() + timeout
        while self.submitted < count:
            self._submitted_event.clear()
            remaining = deadline - gevent.get_hub().loop.now()
            if remaining <= 0 or not self._submitted_event.wait(remaining):
                return self.submitted >= count
        return True

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)
        self._greenlet.link_exception(lambda g: log.error("record writer crashed: %r", g.exception))

    def stop(self, drain_s: float = 5.0) -> None:
        """Write what is queued (for up to `drain_s`), then stop."""
        if self._greenlet:
            self._greenlet.kill()
            self._greenlet = None
        self.flush(drain_s)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if not self.write_batches():
                gevent.sleep(min(RETRY_MAX_S, 0.2 * 2 ** min(self._failures, 5)))

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything queued now; True when the queue is empty."""
        deadline = gevent.get_hub().loop.now() + timeout
        while self.queue and gevent.get_hub().loop.now() < deadline:
            if not self.write_batches():
                gevent.sleep(0.1)
        return not self.queue

    def write_batches(self) -> bool:
        """Write queued records batch by batch; False when PostgreSQL is unavailable (they stay queued)."""
        with self._writing:
            return self._write_queued()

    def _write_queued(self) -> bool:
        while self.queue:
            batch = [self.queue[i] for i in range(min(self.batch, len(self.queue)))]
            try:
                results = write_apart(self._write, batch)
            except StoreError as exc:
                self._failures += 1
                self.metrics.writer_errors.labels("postgres").inc()
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    log.warning("trace records not written (%d queued): %s", len(self.queue), exc)
                return False
            for _ in batch:
                self.queue.popleft()
            batch = self._set_aside(batch, results)
            if self._failures:
                log.info("wrote %d queued trace record(s) after %d failed attempt(s); %d still queued",
                         len(batch), self._failures, len(self.queue))
                self._failures = 0
            self.metrics.writer_written.inc(len(batch))
            self.metrics.writer_queue.set(len(self.queue))
            self._count(batch)
        return True

    def _write(self, records: list[TraceRecord]) -> list[None]:
        try:
            self.traces.write([record.row() for record in records])
        except StoreError:
            raise
        except Exception as exc:  # a row the driver cannot even encode is refused alone, never a stuck writer
            raise BadValue(f"{type(exc).__name__}: {exc}") from exc
        return [None] * len(records)

    def _set_aside(self, batch: list[TraceRecord], results: list[BadValue | None]) -> list[TraceRecord]:
        """The records written; those PostgreSQL refused are logged and counted, never retried."""
        written = []
        for record, result in zip(batch, results, strict=True):
            if isinstance(result, BadValue):
                self.rejected += 1
                self.metrics.writer_rejected.inc()
                log.warning("trace record %s set aside: PostgreSQL refused it (%s)", record.id, result)
            else:
                written.append(record)
        return written

    def _count(self, batch: list[TraceRecord]) -> None:
        try:
            self.click_stats.add((str(r.offer_id or "-"), r.created_at, r.outcome, r.stream_fields())
                                    for r in batch)
        except Exception as exc:  # the records are in PostgreSQL; only the live counters miss them
            self.metrics.writer_errors.labels("redis").inc()
            log.warning("click counters not updated for %d record(s): %s", len(batch), exc)
