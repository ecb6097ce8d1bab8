"""The gateway's view of the buckets: a finished trace as an entry, the offer's depth and age limits (its own or
the `[ahead]` defaults), taking a trace for one use (the offer's country first, then its fallback countries), its use
answered, putting one back, and what an operator sees of them.

Only clean traces are shared: a trace of the offer's own tracking URL with nothing of a click in it (`clean_url`).
A bucket belongs to a version of the offer (`version`): a change of what shapes a trace starts new buckets, so no
use after the change gets the old chain's result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event

from gateway.config import AheadSettings
from gateway.metrics import Metrics
from gateway.tracing import params
from gateway.tracing.tracer import TraceResult
from store.buckets import Bucket, Buckets, Look, Spend, Take
from store.errors import StoreError
from store.offers import Offer

log = logging.getLogger(__name__)
AHEAD_MODES = ("ahead", "ahead_only")
ANSWERS_GATHER_S = 0.05
ANSWERS_KEPT = 100_000
ANSWERS_RETRY_MAX_S = 5.0


def version(offer: Offer) -> str:
    """What shaped the offer's traces and what a use makes of them: the tracking URL, the country, the user agent
    and the parameter policy. Another value, other buckets."""
    shape = [offer.tracking_url, offer.country, offer.ua_profile, offer.param_policy]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]


def clean_url(offer: Offer) -> str:
    """The URL a trace that any use may get follows: the offer's tracking URL with no click's value filled in."""
    return params.fill(offer.tracking_url, [])


class OverBudget(Exception):
    """The client has used its traces of the offer for this minute (`[clicks] client_traces_per_minute`)."""


@dataclass(frozen=True)
class AheadTrace:
    """What a click needs of a finished trace: where it ended, what the chain handed out on the way, and the final
    URL's parameters (its record's `params`, parsed once when the trace ended rather than at every click)."""

    trace_id: uuid.UUID
    final_url: str
    chain: list[tuple[str, str]]
    slot_id: str | None
    params: list[list[str]]

    def dump(self) -> str:
        return json.dumps({"id": str(self.trace_id), "final_url": self.final_url, "chain": self.chain,
                           "slot": self.slot_id, "params": self.params}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> AheadTrace:
        data = json.loads(text)
        return cls(uuid.UUID(data["id"]), data["final_url"], [tuple(pair) for pair in data["chain"]], data["slot"],
                   data["params"])

    @classmethod
    def of(cls, trace_id: uuid.UUID, result: TraceResult) -> AheadTrace:
        """A successful trace (it has a final URL) as an entry."""
        assert result.final_url is not None, "only a successful trace is kept"
        return cls(trace_id, result.final_url, params.chain_params([hop.url for hop in result.hops]),
                   result.slot_id, [list(pair) for pair in result.params])


@dataclass(frozen=True)
class Handed:
    """A trace handed to one click (or one feed request): the trace, its age, the bucket it came from."""

    trace: AheadTrace
    age_ms: int
    traced_at_ms: int
    country: str


class Answers:
    """Uses of handed-out traces that were answered, told to Redis in the background in batches: a click never waits
    for it. While Redis is away they are kept (at most ANSWERS_KEPT, the oldest forgotten first: those end up counted
    `taken_unanswered`) and sent again; `sent` is set after each batch Redis took."""

    def __init__(self, buckets: Buckets, metrics: Metrics) -> None:
        self.buckets = buckets
        self.metrics = metrics
        self.pending: list[tuple[str, str]] = []
        self.wake = gevent.event.Event()
        self.sent = gevent.event.Event()
        self.greenlet: gevent.Greenlet | None = None
        self.stopped = False

    def add(self, offer_id: str, trace_id: str) -> None:
        self.pending.append((offer_id, trace_id))
        del self.pending[:-ANSWERS_KEPT]
        self.wake.set()
        if not self.stopped and (self.greenlet is None or self.greenlet.dead):
            self.greenlet = gevent.spawn(self._run)
            self.greenlet.link_exception(lambda g: log.error("answered uses not sent: %r", g.exception))

    def _run(self) -> None:
        failures = 0
        while True:
            self.wake.wait()
            self.wake.clear()
            gevent.sleep(ANSWERS_GATHER_S)
            if self.send():
                failures = 0
            else:
                failures += 1
                gevent.sleep(min(ANSWERS_RETRY_MAX_S, 0.1 * 2 ** failures))
                self.wake.set()

    def send(self) -> bool:
        """Send what is pending now; False (and kept) when Redis did not take it."""
        batch, self.pending, sent = self.pending, [], False
        if not batch:
            return True
        try:
            self.buckets.answered(batch)
            sent = True
        except StoreError as exc:
            log.warning("%d answered use(s) not sent yet: %s", len(batch), exc)
        finally:
            if not sent:
                self.pending[:0] = batch
            self.metrics.ahead_answers_pending.set(len(self.pending))
        if sent:
            self.sent.set()
        return sent

    def stop(self) -> None:
        """Send what is pending, once, and start no sender again."""
        self.stopped = True
        if self.greenlet:
            self.greenlet.kill()
            self.greenlet = None
        self.send()


class AheadBuckets:
    def __init__(self, buckets: Buckets, metrics: Metrics, defaults: AheadSettings) -> None:
        self.buckets = buckets
        self.metrics = metrics
        self.defaults = defaults
        self.answers = Answers(buckets, metrics)
        self.listeners: list[Callable[[Offer], object]] = []  # told of every take, hit or miss (the filler looks)

    def depth(self, offer: Offer) -> int:
        return offer.ahead_depth or self.defaults.depth

    def max_age_ms(self, offer: Offer) -> int:
        return (offer.ahead_max_age_s or self.defaults.max_age_s) * 1000

    def bucket(self, offer: Offer, country: str) -> Bucket:
        return Bucket(str(offer.id), version(offer), country)

    def take(self, offer: Offer, use: str = "clicks", countries: Sequence[str] = (),
             spend: Spend | None = None) -> Handed | None:
        """A fresh trace for exactly one use, from the bucket of the first of `countries` (default: the offer's
        country, then its fallback countries) that has one; None (a miss) when all are empty. With `spend` the
        take costs one trace of the client's budget, hit or miss; OverBudget past it (nothing taken). The caller
        says when the use was answered (`answered`)."""
        rule = Take(self.max_age_ms(offer), use, round(self.defaults.answer_within_s * 1000), True,
                    spend.limit if spend else 0)
        try:
            for country in countries or (offer.country, *offer.fallback_countries):
                taken = self.buckets.take(self.bucket(offer, country), rule, spend.client if spend else None)
                rule = rule._replace(first=False)  # the use is counted (budget, demand) in its first bucket only
                self._count_lost(offer, taken.expired, taken.unanswered)
                if taken.limited:
                    raise OverBudget(offer.slug)
                if taken.entry:
                    self.metrics.ahead_handed.labels(offer.slug, use).inc()
                    return Handed(AheadTrace.load(taken.entry), taken.age_ms, taken.traced_at_ms, country)
            self.metrics.ahead_misses.labels(offer.slug).inc()
            return None
        finally:
            for listener in self.listeners:
                listener(offer)

    def answered(self, offer: Offer, handed: Handed) -> None:
        """The use `handed` was taken for is answered: its entry is accounted for."""
        self.answers.add(str(offer.id), str(handed.trace.trace_id))

    def put(self, offer: Offer, country: str, trace_id: uuid.UUID, result: TraceResult) -> None:
        """Keep a successful clean trace for the next use of the offer (in the bucket of the country it went out
        in)."""
        _, dropped = self.buckets.put(self.bucket(offer, country), AheadTrace.of(trace_id, result).dump(),
                                      self.max_age_ms(offer), self.depth(offer))
        self.metrics.ahead_made.labels(offer.slug).inc()
        self._count_lost(offer, dropped, 0)

    def keep_late(self, offer: Offer, traced_url: str, country: str, trace_id: uuid.UUID, result: TraceResult) -> None:
        """A click's trace that ended after the click fell back: into the bucket when nothing of the click reached
        the chain (it traced the clean URL), else recorded only and counted `late_private`."""
        if traced_url == clean_url(offer):
            self.put(offer, country, trace_id, result)
            return
        self.metrics.ahead_late_private.labels(offer.slug).inc()
        self.buckets.count(str(offer.id), "late_private")

    def spend(self, offer: Offer, spend: Spend) -> bool:
        """One trace of the client's budget for the offer, for a click traced without a take; False past it."""
        return self.buckets.spend(str(offer.id), spend)

    def _count_lost(self, offer: Offer, expired: int, unanswered: int) -> None:
        if expired:
            self.metrics.ahead_expired.labels(offer.slug).inc(expired)
        if unanswered:
            self.metrics.ahead_unanswered.labels(offer.slug).inc(unanswered)

    def status(self, offer: Offer) -> dict[str, Any]:
        """Per country the entries, the oldest one's age; the offer's counts since it started; its limits."""
        looks = {country: self.look(offer, country) for country in (offer.country, *offer.fallback_countries)}
        return {"offer": offer.slug, "click_mode": offer.click_mode, "depth": self.depth(offer),
                "max_age_s": self.max_age_ms(offer) // 1000, "version": version(offer),
                "buckets": [{"country": country, "entries": look.entries, "oldest_age_s": _seconds(look.oldest_age_ms)}
                            for country, look in looks.items()],
                "counts": self.buckets.stats(str(offer.id))}

    def look(self, offer: Offer, country: str) -> Look:
        """The bucket with its expired entries dropped and counted; its depth and age seen in the metrics."""
        look = self.buckets.look(self.bucket(offer, country), self.max_age_ms(offer))
        self._count_lost(offer, look.expired, look.unanswered)
        self.metrics.ahead_depth.labels(offer.slug, country).set(look.entries)
        self.metrics.ahead_age.labels(offer.slug, country).set(_seconds(look.oldest_age_ms) or 0)
        return look


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)
