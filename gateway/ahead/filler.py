"""The filler: keeps the bucket of every offer that answers ahead at the depth its demand needs.

A greenlet in every process wakes each `[ahead] tick_s`, and at once (at most every 50 ms) when a click or a feed
request of its own process took from a bucket or found it empty. For each enabled offer in `ahead`/`ahead_only` mode
it holds the bucket of the offer's country cluster-wide (one filler per bucket, however many processes), reads the
offer's recent demand (clicks and beacons from the per-minute counters, the suffix feed's requests from its own), and
starts as many traces as the bucket lacks:

    want = min(depth, ceil(demand per second x max age x 0.8)), at least 1 while the offer has demand

so a burst is refilled as fast as the pool allows, a slow offer keeps no more than it will use before the traces
age out, and an offer without demand for `[ahead] idle_s` is not traced at all (proxy traffic costs money). Its
traces take the same path as clicks (lease, trace, release, record with source `ahead`), of the offer's clean
tracking URL, but a lease only while more than `[ahead] reserve_ready` slots of the country are ready, and never by
waiting: inline clicks come first. A tick that fails (Redis away or refusing writes) is logged, counted and tried
again after a backoff; the greenlet never stays dead.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import gevent
import gevent.event
import gevent.pool

from gateway.ahead.buckets import AHEAD_MODES, AheadBuckets, clean_url
from gateway.config import AheadSettings
from gateway.metrics import Metrics
from gateway.tracing.outcomes import NOT_CLICKS, Outcome
from gateway.tracing.records import TraceRecord
from gateway.tracing.runner import TraceRunner
from store.buckets import Buckets, epoch_minute
from store.clickstats import ClickStats
from store.errors import StoreError
from store.offers import Offer, Offers
from store.pool import EgressPool

log = logging.getLogger(__name__)
OFFERS_REFRESH_S = 10.0
# bots, clients past their budget, and traces made for no click
NOT_DEMAND = frozenset({Outcome.FALLBACK_BOT, Outcome.FALLBACK_LIMITED, *NOT_CLICKS})
FILL_FACTOR = 0.8
MIN_TICK_GAP_S = 0.05
BACKOFF_MAX_S = 30.0
RESTART_S = 1.0


@dataclass(frozen=True)
class Demand:
    uses_per_s: float  # clicks, beacons and feed requests
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
        self.in_flight: Counter[tuple[uuid.UUID | None, str]] = Counter()  # traces under way per (offer, country)
        self.greenlet: gevent.Greenlet | None = None
        self._offers: list[Offer] = []
        self._offers_at = -OFFERS_REFRESH_S
        self._poked = gevent.event.Event()

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._loop)
        self.greenlet.link_exception(self._crashed)

    def _crashed(self, greenlet: gevent.Greenlet) -> None:
        log.error("ahead filler crashed, restarting in %.0f s: %r", RESTART_S, greenlet.exception)
        self.metrics.ahead_filler_errors.labels("crash").inc()
        self.greenlet = gevent.spawn_later(RESTART_S, self._loop)
        self.greenlet.link_exception(self._crashed)

    def stop(self) -> None:
        if self.greenlet:
            self.greenlet.kill()
            self.greenlet = None

    def _loop(self) -> None:
        failures = 0
        while True:
            self._poked.clear()
            try:
                self.tick()
                failures = 0
            except Exception as exc:  # a store away or refusing, or a bug (logged with its traceback): go on
                failures += 1
                if not isinstance(exc, StoreError):
                    log.exception("ahead filler tick failed")
                self._failed("store" if isinstance(exc, StoreError) else "bug", failures, exc)
                continue
            gevent.sleep(MIN_TICK_GAP_S)
            self._poked.wait(self.settings.tick_s)

    def _failed(self, kind: str, failures: int, exc: Exception) -> None:
        pause = min(BACKOFF_MAX_S, self.settings.tick_s * 2 ** failures)
        self.metrics.ahead_filler_errors.labels(kind).inc()
        if failures in (1, 10) or failures % 100 == 0:
            log.warning("ahead filler: tick failed (%d in a row), trying again in %.1f s: %s", failures, pause, exc)
        gevent.sleep(pause)

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
        """The offer's uses per second (clicks and beacons, feed requests), and whether none came for `[ahead]
        idle_s`. The rate is the higher of the average over `demand_window_s` and that of the last minute and this
        one so far: a burst is seen within seconds, and a quiet minute does not empty the bucket of an offer that is
        used on average."""
        window, idle = math.ceil(self.settings.demand_window_s / 60), math.ceil(self.settings.idle_s / 60)
        now = time.time()
        rows = self.click_stats.minutes(str(offer.id), max(window, idle) + 1, datetime.fromtimestamp(now, UTC))
        feed = self.buckets.feed_demand(str(offer.id))
        first_minute = epoch_minute(now) - len(rows) + 1
        counts = [sum(n for outcome, n in row["counts"].items() if outcome not in NOT_DEMAND)
                  + feed.per_minute.get(first_minute + i, 0) for i, row in enumerate(rows)]
        into_minute = now % 60
        rate = max(sum(counts[-window - 1:]) / (window * 60 + into_minute), sum(counts[-2:]) / (60 + into_minute))
        fed_lately = feed.last_ms is not None and now * 1000 - feed.last_ms <= self.settings.idle_s * 1000
        return Demand(rate, not any(counts[-idle - 1:]) and not fed_lately)

    def wanted(self, offer: Offer, demand: Demand) -> int:
        if demand.idle:
            return 0
        need = math.ceil(demand.uses_per_s * self.ahead.max_age_ms(offer) / 1000 * FILL_FACTOR)
        return max(1, min(self.ahead.depth(offer), need))

    def _trace(self, offer: Offer, country: str) -> None:
        record = TraceRecord(outcome="", offer_id=offer.id, offer_slug=offer.slug, source="ahead")
        try:
            result = self.runner.run(offer, clean_url(offer), wait_ms=0, purpose="ahead", record=record,
                                     countries=[country])
            self.metrics.ahead_traces.labels(offer.slug, "ok" if result.ok else result.error).inc()
            if result.ok:
                self.ahead.put(offer, country, record.id, result)
        except StoreError as exc:
            self.metrics.ahead_filler_errors.labels("put").inc()
            log.warning("a trace made ahead for %s was not kept: %s", offer.slug, exc)
        finally:
            self.in_flight[(offer.id, country)] -= 1
