"""Pair updates: what an accepted postback sets in motion, off the request, in a bounded pool per process.

For each event: claim it (so no two workers or processes run it), then skip it when it repeats a recent
(pair, click_id) (`duplicate`), when the pair was updated within the offer's `update_interval_s` and
`force_update` is not set (`throttled`), or when an update of the pair is running (`coalesced`: that update
runs exactly once more afterwards). The last two are one atomic decision in Redis, shared by all processes.
Otherwise: lease a slot, trace the offer's chain, map what it handed out
to p1..p10 by the offer's sub-id mapping, push them into the pair's URL2 campaign (`subIdOverride`), and
count the update on the pair. Events left unprocessed (a full queue, a process that died) are picked up by
maintenance.

Which postback parameters reach the re-trace: only those the offer's tracking URL names as macros (`{click_id}`)
or its `pass_through` list lets through; everything else is recorded with the event and goes no further.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import gevent
import gevent.event
import gevent.queue

from gateway.config import WebhookSettings
from gateway.metrics import Metrics
from gateway.postbacks.routing import PostbackRouter
from gateway.postbacks.trackier_api import TrackierClient, TrackierError
from gateway.tracing import params
from gateway.tracing.records import TraceRecord
from gateway.tracing.runner import TraceRunner
from store.batching import GroupCommit
from store.errors import StoreError, StoreUnavailable
from store.offers import Offer
from store.pair_guards import Decision, PairGuards
from store.pairs import Pair, Pairs, WebhookEvents

log = logging.getLogger(__name__)
RUN = "run"  # pair_decide.lua: this postback updates the pair now (else the status it ends with)


class EventStatus(StrEnum):
    """Where a postback's event stands (`webhook_events.status`; its CHECK lists the same values, a test keeps
    them equal)."""

    PENDING = "pending"  # recorded, waiting for an update
    PROCESSING = "processing"  # claimed by an update
    UPDATED = "updated"  # the pair's URL2 campaign got fresh sub ids
    THROTTLED = "throttled"  # the pair was updated within the offer's update_interval_s
    DUPLICATE = "duplicate"  # the pair had this click_id within the duplicate window
    COALESCED = "coalesced"  # folded into the update already running for the pair
    DISABLED = "disabled"  # its offer or pair is disabled (or incomplete)
    UNRESOLVED = "unresolved"  # no offer or pair has its secret
    FAILED = "failed"  # the trace or Trackier failed (the error says which)


@dataclass
class Outcome:
    status: EventStatus
    error: str | None = None
    trace_ms: int | None = None
    update_ms: int | None = None
    sub_id_values: dict[str, Any] | None = field(default=None)


def sub_ids(mapping: dict[str, Any], handed_out: list[tuple[str, str]]) -> dict[str, str]:
    """A value for every key of the offer's mapping (pN -> parameter name) from what the chain handed out, empty
    where it handed nothing out: sending every mapped key clears a stale value whether Trackier merges an
    override into the earlier one or replaces it."""
    values = dict(handed_out)
    return {key: values.get(name, "") for key, name in mapping.items()}


@dataclass(frozen=True)
class UpdateStores:
    """What the updater reads and writes: events, pairs, and the Redis guards (with their group commits)."""

    events: WebhookEvents
    pairs: Pairs
    guards: PairGuards
    decisions: GroupCommit[Decision, str]
    finisher: GroupCommit[tuple[int, str], None]


class PairUpdater:
    def __init__(self, stores: UpdateStores, router: PostbackRouter, runner: TraceRunner, trackier: TrackierClient,
                 metrics: Metrics, settings: WebhookSettings) -> None:
        self.stores = stores
        self.router = router
        self.runner = runner
        self.trackier = trackier
        self.metrics = metrics
        self.settings = settings
        self.queue: gevent.queue.Queue = gevent.queue.Queue(settings.queue)
        self.workers: list[gevent.Greenlet] = []
        self.pending = 0
        self._idle = gevent.event.Event()
        self._idle.set()

    def submit(self, event_id: int, event: dict[str, Any] | None = None) -> bool:
        """Queue an event (with its row when the caller has it); False when the queue is full (maintenance
        picks the event up later)."""
        try:
            self.queue.put_nowait((event_id, event))
        except gevent.queue.Full:
            return False
        self.pending += 1
        self._idle.clear()
        return True

    def retry_stale(self) -> int:
        """Queue the postbacks acknowledged but left unprocessed (a process died, a queue was full); those that
        failed `max_attempts` times are given up. Returns how many were queued (maintenance calls this)."""
        w = self.settings
        stale = self.stores.events.stale(w.stale_after_s, w.processing_timeout_s, w.max_attempts)
        if stale:
            log.warning("retrying %d postback(s) left unprocessed", len(stale))
        return sum(self.submit(event_id) for event_id in stale)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued event has been processed (or `timeout`)."""
        return cast(bool, self._idle.wait(timeout))

    def start(self) -> None:
        for _ in range(self.settings.workers):
            worker = gevent.spawn(self._work)
            worker.link_exception(lambda g: log.error("pair update worker crashed: %r", g.exception))
            self.workers.append(worker)

    def stop(self) -> None:
        gevent.killall(self.workers)
        self.workers = []

    def _work(self) -> None:
        while True:
            event_id, event = self.queue.get()
            try:
                self.process(event_id, event)
            except StoreError as exc:
                log.warning("postback %s not processed now (%s); maintenance retries it", event_id, exc)
            finally:
                self.pending -= 1
                if not self.pending:
                    self._idle.set()

    def process(self, event_id: int, event: dict[str, Any] | None = None) -> EventStatus | None:
        """Run one event to its end; its final status (None when another worker had it). Without its row
        (a retry, a test) the event is claimed from PostgreSQL first; with it, only an event that runs an update
        is claimed, and the quick outcomes are written in group commits."""
        timeout = self.settings.processing_timeout_s
        claimed = event is None
        if event is None:
            event = self.stores.events.claim(event_id, timeout)
            if event is None:
                return None
        route = self.router.for_pair(event["pair_id"]) if event["pair_id"] else None
        if route is None:
            return self._finish(event_id, Outcome(EventStatus.FAILED, "the pair or offer no longer exists"))
        holder = f"postback:{event_id}"  # the same in every process: a retry of this event re-enters its lock
        decision = self.stores.decisions.submit(Decision(route.pair.id, event["click_id"], event_id, holder,
                                                         event["force_update"]))
        if decision != RUN:
            status = EventStatus(decision)
            self.stores.finisher.submit((event_id, status))
            self.metrics.pair_updates.labels(status).inc()
            return status
        if not claimed and self.stores.events.claim(event_id, timeout) is None:
            self._release(route.pair.id, holder)
            return None
        return self._finish(event_id, self._run(event, route.offer, route.pair, holder))

    def _finish(self, event_id: int, outcome: Outcome) -> EventStatus:
        self.stores.events.finish(event_id, outcome.status, trace_ms=outcome.trace_ms, update_ms=outcome.update_ms,
                                  sub_id_values=outcome.sub_id_values, error=outcome.error)
        self.metrics.pair_updates.labels(outcome.status).inc()
        return outcome.status

    def _run(self, event: dict[str, Any], offer: Offer, pair: Pair, holder: str) -> Outcome:
        """Update the pair (holding its lock), then once more for each burst folded in meanwhile."""
        guards = self.stores.guards
        fresh_ms = offer.update_interval_s * 1000
        try:
            outcome = self._update(event, offer, pair)
            while guards.finish(pair.id, holder, fresh_ms if outcome.status == EventStatus.UPDATED else 0):
                outcome = self._update(event, offer, pair)
        except BaseException:
            self._release(pair.id, holder)  # the event stays unfinished; maintenance retries it
            raise
        return outcome

    def _release(self, pair_id: int, holder: str) -> None:
        """Let go of the pair entirely, dropping any follow-up asked for meanwhile."""
        while self.stores.guards.finish(pair_id, holder, 0):
            pass

    def _update(self, event: dict[str, Any], offer: Offer, pair: Pair) -> Outcome:
        started = time.monotonic()
        result = self.runner.run(offer, params.fill(offer.tracking_url, list(event["params"].items()),
                                                    params.passes(offer.pass_through)),
                                 wait_ms=self.settings.lease_wait_ms, purpose=f"postback:{event['id']}",
                                 record=TraceRecord(outcome="", offer_id=offer.id, offer_slug=offer.slug,
                                                    source="postback", webhook_event_id=event["id"],
                                                    inbound=[list(p) for p in event["params"].items()]))
        trace_ms = round(result.total_ms)
        if result.error == "store_unavailable":
            raise StoreUnavailable(result.detail)  # the event stays unfinished; maintenance retries it
        if result.error == "no_egress":
            return Outcome(EventStatus.FAILED, "no free egress slot")
        if not result.ok:
            return Outcome(EventStatus.FAILED, f"trace: {result.error}: {result.detail}"[:300], trace_ms)
        override = sub_ids(offer.sub_id_mapping, params.chain_params([hop.url for hop in result.hops]))
        values = {key: value for key, value in override.items() if value}
        if not values:
            return Outcome(EventStatus.FAILED, "the chain handed out none of the mapped parameters", trace_ms)
        pushed = time.monotonic()
        try:
            self.trackier.set_sub_ids(pair.url2_campaign_id, override, offer_id=offer.id, pair_id=pair.id)
        except TrackierError as exc:
            return Outcome(EventStatus.FAILED, str(exc)[:300], trace_ms, sub_id_values=values)
        update_ms = round((time.monotonic() - pushed) * 1000)
        self.stores.pairs.record_update(pair.id, values, round((time.monotonic() - started) * 1000))
        return Outcome(EventStatus.UPDATED, None, trace_ms, update_ms, values)
