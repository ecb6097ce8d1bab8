"""The filler: keeps the bucket of every offer that answers ahead at the depth its clicks need.

A greenlet in every process wakes each `[ahead] tick_s`, and at once (at most every 50 ms) when a click of its own
process took a trace. For each enabled offer in `ahead`/`ahead_only` mode it
holds the bucket of the offer's country cluster-wide (one filler per bucket, however many processes), reads the
offer's recent click rate from the per-minute counters, and starts as many traces as the bucket lacks:

    want = min(depth, ceil(clicks per second x max age x 0.8)), at least 1 while the offer has clicks

so a burst is refilled as fast as the pool allows, a slow offer keeps no more than it will use before the traces
age out, and an offer without clicks for `[ahead] idle_s` is not traced at all (proxy traffic costs money). Its
traces take the same path as clicks (lease, trace, release, record with source `ahead`), but a lease only while more
than `[ahead] reserve_ready` slots of the country are ready, and never by waiting: inline clicks come first.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass

import gevent
import gevent.event
import gevent.pool

from gateway.ahead.buckets import AHEAD_MODES, AheadBuckets
from gateway.config import AheadSettings
from gateway.metrics import Metrics
from gateway.tracing import params
from gateway.tracing.records import TraceRecord
from gateway.tracing.runner import TraceRunner
from store.buckets import Buckets
from store.clickstats import ClickStats
from store.errors import StoreError
from store.offers import Offer, Offers
from store.pool import EgressPool

log = logging.getLogger(__name__)
OFFERS_REFRESH_S = 10.0
NOT_CLICKS = frozenset({"fallback_bot", "beacon", "traced", "failed"})  # bots, beacons, traces made for no click
FILL_FACTOR = 0.8
MIN_TICK_GAP_S = 0.05


@dataclass(frozen=True)
class Demand:
    clicks_per_s: float
    idle: bool


@dataclass(frozen=True)
class FillerStores:
    offers: Offers
    click_stats: ClickStats
    pool: EgressPool
    buckets: Buckets


class Filler:
    def __init__(self, stores: FillerStores, ahead: AheadBuckets, runner: TraceRunner, metrics: Metrics,
                 settings: AheadSettings, identity: str, background: gevent.pool.Group) -> None:
        self.offers, self.click_stats, self.pool, self.buckets = (stores.offers, stores.click_stats, stores.pool,
                                                                  stores.buckets)
        self.ahead = ahead
        self.background = background
        self.runner = runner
        self.metrics = metrics
        self.settings = settings
        self.identity = identity
        self.in_flight: Counter[tuple] = Counter()
        self.greenlet: gevent.Greenlet | None = None
        self._offers: list[Offer] = []
        self._offers_at = -OFFERS_REFRESH_S
        self._poked = gevent.event.Event()

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._loop)
        self.greenlet.link_exception(lambda g: log.error("ahead filler crashed: %r", g.exception))

    def stop(self) -> None:
        if self.greenlet:
            self.greenlet.kill()
            self.greenlet = None

    def _loop(self) -> None:
        while True:
            self._poked.clear()
            try:
                self.tick()
            except StoreError as exc:
                log.warning("ahead filler skipped a tick: %s", exc)
            gevent.sleep(MIN_TICK_GAP_S)
            self._poked.wait(self.settings.tick_s)

    def poke(self, *_: object) -> None:
        """A trace was taken here: look again now rather than at the next tick (at most every MIN_TICK_GAP_S)."""
        self._poked.set()

    def tick(self) -> int:
        """One look at every bucket this process may fill; how many traces it started."""
        return sum(self._fill(offer) for offer in self._ahead_offers())

    def _ahead_offers(self) -> list[Offer]:
        if time.monotonic() - self._offers_at > OFFERS_REFRESH_S:
            self._offers = [o for o in self.offers.all() if o.enabled and o.click_mode in AHEAD_MODES]
            self._offers_at = time.monotonic()
        return self._offers

    def changed(self, *_: object) -> None:
        """An offer changed: read the list again at the next tick."""
        self._offers_at = -OFFERS_REFRESH_S

    def _fill(self, offer: Offer) -> int:
        country, ttl_ms = offer.country, round(self.settings.tick_s * 3000) + 1000
        if not self.buckets.hold_filler(str(offer.id), country, self.identity, ttl_ms):
            return 0
        bucket = self.ahead.look(offer, country)
        lacking = self.wanted(offer, self.demand(offer)) - bucket.entries - self.in_flight[(offer.id, country)]
        if lacking <= 0:
            return 0
        started = max(0, min(lacking, self.pool.ready_count(country) - self.settings.reserve_ready))
        for _ in range(started):
            self.in_flight[(offer.id, country)] += 1
            greenlet = self.background.spawn(self._trace, offer, country)
            greenlet.link_exception(lambda g: log.error("ahead trace crashed: %r", g.exception))
        return started

    def demand(self, offer: Offer) -> Demand:
        """The offer's clicks per second, and whether none came for `[ahead] idle_s`. The rate is the higher of the
        average over `demand_window_s` and that of the last minute and this one so far: a burst is seen within
        seconds, and a quiet minute does not empty the bucket of an offer that clicks on average."""
        window, idle = math.ceil(self.settings.demand_window_s / 60), math.ceil(self.settings.idle_s / 60)
        rows = self.click_stats.minutes(str(offer.id), max(window, idle) + 1)
        counts = [sum(n for outcome, n in row["counts"].items() if outcome not in NOT_CLICKS) for row in rows]
        into_minute = time.time() % 60
        rate = max(sum(counts[-window - 1:]) / (window * 60 + into_minute), sum(counts[-2:]) / (60 + into_minute))
        return Demand(rate, not any(counts[-idle - 1:]))

    def wanted(self, offer: Offer, demand: Demand) -> int:
        if demand.idle:
            return 0
        need = math.ceil(demand.clicks_per_s * self.ahead.max_age_ms(offer) / 1000 * FILL_FACTOR)
        return max(1, min(self.ahead.depth(offer), need))

    def _trace(self, offer: Offer, country: str) -> None:
        record = TraceRecord(outcome="", offer_id=offer.id, offer_slug=offer.slug, source="ahead")
        try:
            result = self.runner.run(offer, params.fill(offer.tracking_url, []), wait_ms=0, purpose="ahead",
                                     record=record, countries=[country])
            self.metrics.ahead_traces.labels(offer.slug, "ok" if result.ok else result.error).inc()
            if result.ok:
                self.ahead.put(offer, country, record.id, result)
        finally:
            self.in_flight[(offer.id, country)] -= 1
