"""The gateway's view of the buckets: a finished trace as an entry, the offer's depth and age limits (its own or
the `[ahead]` defaults), taking a trace for one click (the offer's country first, then its fallback countries) and
putting one back, and what an operator sees of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import AheadSettings
from gateway.metrics import Metrics
from gateway.tracing import params
from gateway.tracing.tracer import TraceResult
from store.buckets import Buckets, Look
from store.offers import Offer

AHEAD_MODES = ("ahead", "ahead_only")


@dataclass(frozen=True)
class AheadTrace:
    """What a click needs of a finished trace: where it ended, what the chain handed out on the way, and the final
    URL's parameters (its record's `params`, parsed once when the trace ended rather than at every click)."""

    trace_id: uuid.UUID
    final_url: str
    chain: list[tuple[str, str]]
    egress_id: str | None
    params: list[list[str]]

    def dump(self) -> str:
        return json.dumps({"id": str(self.trace_id), "final_url": self.final_url, "chain": self.chain,
                           "egress": self.egress_id, "params": self.params}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> AheadTrace:
        data = json.loads(text)
        return cls(uuid.UUID(data["id"]), data["final_url"], [tuple(pair) for pair in data["chain"]], data["egress"],
                   data["params"])

    @classmethod
    def of(cls, trace_id: uuid.UUID, result: TraceResult) -> AheadTrace:
        return cls(trace_id, result.final_url, params.chain_params([hop.url for hop in result.hops]),
                   result.egress_id, [list(pair) for pair in result.params])


@dataclass(frozen=True)
class Handed:
    """A trace handed to one click (or one feed request): the trace, its age, the bucket it came from."""

    trace: AheadTrace
    age_ms: int
    traced_at_ms: int
    country: str


class AheadBuckets:
    def __init__(self, buckets: Buckets, metrics: Metrics, defaults: AheadSettings) -> None:
        self.buckets = buckets
        self.metrics = metrics
        self.defaults = defaults
        self.listeners: list[Callable[[Offer], object]] = []  # told of every trace taken (the filler looks again)

    def depth(self, offer: Offer) -> int:
        return offer.ahead_depth or self.defaults.depth

    def max_age_ms(self, offer: Offer) -> int:
        return (offer.ahead_max_age_s or self.defaults.max_age_s) * 1000

    def take(self, offer: Offer, use: str = "hits") -> Handed | None:
        """A fresh trace for exactly one use, from the offer's country's bucket, then its fallback countries'; None
        (a miss) when all are empty."""
        for country in (offer.country, *offer.fallback_countries):
            taken = self.buckets.take(str(offer.id), country, self.max_age_ms(offer), use)
            self._count_expired(offer, country, taken.expired)
            if taken.entry:
                self.metrics.ahead_handed.labels(offer.slug, "click" if use == "hits" else use).inc()
                for listener in self.listeners:
                    listener(offer)
                return Handed(AheadTrace.load(taken.entry), taken.age_ms, taken.traced_at_ms, country)
        self.metrics.ahead_misses.labels(offer.slug).inc()
        return None

    def put(self, offer: Offer, country: str, trace_id: uuid.UUID, result: TraceResult) -> None:
        """Keep a successful trace for the next click of the offer (in the bucket of the country it went out in)."""
        _, dropped = self.buckets.put(str(offer.id), country, AheadTrace.of(trace_id, result).dump(),
                                      self.max_age_ms(offer), self.depth(offer))
        self.metrics.ahead_made.labels(offer.slug).inc()
        self._count_expired(offer, country, dropped)

    def _count_expired(self, offer: Offer, country: str, count: int) -> None:
        if count:
            self.metrics.ahead_expired.labels(offer.slug).inc(count)

    def status(self, offer: Offer) -> dict:
        """Per country the entries, the oldest one's age; the offer's counts since it started; its limits."""
        looks = {country: self.look(offer, country) for country in (offer.country, *offer.fallback_countries)}
        return {"offer": offer.slug, "click_mode": offer.click_mode, "depth": self.depth(offer),
                "max_age_s": self.max_age_ms(offer) // 1000,
                "buckets": [{"country": country, "entries": look.entries, "oldest_age_s": _seconds(look.oldest_age_ms)}
                            for country, look in looks.items()],
                "counts": self.buckets.stats(str(offer.id))}

    def look(self, offer: Offer, country: str) -> Look:
        """The bucket with its expired entries dropped and counted; its depth and age seen in the metrics."""
        look = self.buckets.look(str(offer.id), country, self.max_age_ms(offer))
        self._count_expired(offer, country, look.expired)
        self.metrics.ahead_depth.labels(offer.slug, country).set(look.entries)
        self.metrics.ahead_age.labels(offer.slug, country).set(_seconds(look.oldest_age_ms) or 0)
        return look


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)
