"""Buckets of traces made ahead of the clicks, one per offer, version of the offer and country, in Redis.

`gw:{ahead:OFFER_ID}:bucket:CC:VERSION` is a sorted set of finished traces (JSON entries, each naming its trace)
scored by when they were put in. VERSION names what shaped the traces (the offer's tracking URL, country, policy,
user agent): a change of the offer leaves the old entries behind, unreachable, until their key expires.
`gw:{ahead:OFFER_ID}:stats` counts what was made, handed out (`hits`, `feed`), missed, wasted (`expired`: aged out
or trimmed), kept from the buckets (`late_private`) and handed out but never answered (`taken_unanswered`);
`gw:{ahead:OFFER_ID}:handed` holds the entries handed out until their use is answered; `gw:{ahead:OFFER_ID}:take:ID`
remembers one take's reply for a retry; `gw:{ahead:OFFER_ID}:feed` counts the suffix feed's requests per minute;
`gw:{ahead:OFFER_ID}:filler:CC` says which process fills the bucket. The keys of one offer share a hash tag, so each
script runs on one Redis Cluster slot. A bucket holds at most its depth; entries past their age are dropped (and
counted) whenever a bucket is looked at, put to or taken from.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import NamedTuple

import redis

from store.batching import GroupCommit
from store.keys import Keyspace
from store.redis_client import available, register_script

STATS = ("made", "hits", "feed", "misses", "expired", "late_private", "taken_unanswered")


class Bucket(NamedTuple):
    """One bucket: an offer's traces of one version of the offer, gone out through one country."""

    offer_id: str
    version: str
    country: str


@dataclass(frozen=True)
class Taken:
    """What a take found: an entry (None on a miss), when it was put in, the server's time, how many expired, how
    many handed-out entries were found never answered."""

    entry: str | None
    traced_at_ms: int
    now_ms: int
    expired: int = 0
    unanswered: int = 0

    @property
    def age_ms(self) -> int:
        return self.now_ms - self.traced_at_ms


@dataclass(frozen=True)
class Look:
    """A bucket's entries, the age of its oldest (None when empty), how many were dropped as expired and how many
    handed-out entries were found never answered."""

    entries: int
    oldest_age_ms: int | None
    expired: int
    unanswered: int


@dataclass(frozen=True)
class FeedDemand:
    """The suffix feed's requests of an offer per epoch minute (the last hour), and when it was last asked (ms)."""

    per_minute: dict[int, int]
    last_ms: int | None


class Buckets:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys
        self._push = register_script(client, "ahead_push")
        self._pop = register_script(client, "ahead_pop")
        self._hold = register_script(client, "hold")
        self._takers: dict[tuple, GroupCommit] = {}

    def _key(self, offer_id: str, *parts: object) -> str:
        return self.keys.tagged(f"ahead:{offer_id}", *parts)

    def bucket_key(self, bucket: Bucket) -> str:
        return self._key(bucket.offer_id, "bucket", bucket.country, bucket.version)

    def stats_key(self, offer_id: str) -> str:
        return self._key(offer_id, "stats")

    def filler_key(self, offer_id: str, country: str) -> str:
        return self._key(offer_id, "filler", country)

    def _pop_keys(self, bucket: Bucket, take_id: str) -> list[str]:
        return [self.bucket_key(bucket), self.stats_key(bucket.offer_id), self._key(bucket.offer_id, "take", take_id),
                self._key(bucket.offer_id, "handed"), self._key(bucket.offer_id, "feed")]

    def put(self, bucket: Bucket, entry: str, max_age_ms: int, depth: int) -> tuple[int, int]:
        """Add a finished trace; (the bucket's size now, how many entries were dropped as too old or too many)."""
        keys = [self.bucket_key(bucket), self.stats_key(bucket.offer_id)]
        size, dropped = available(lambda: self._push(keys=keys, args=[entry, max_age_ms, depth]))
        return int(size), int(dropped)

    def take(self, bucket: Bucket, max_age_ms: int, use: str = "hits", answer_within_ms: int = 30_000) -> Taken:
        """The oldest entry younger than `max_age_ms`, removed for this one caller (`use`: hits or feed), who answers
        its use within `answer_within_ms` (`answered`) or has it counted `taken_unanswered`. Callers taking from one
        bucket at the same moment share one round trip; each still gets an entry of its own. The round trip names
        its take, so a client that sends it again gets the same entries, never more."""
        key = (bucket, max_age_ms, use, answer_within_ms)
        taker = self._takers.get(key)
        if taker is None:
            taker = self._takers[key] = GroupCommit(partial(self._take_many, *key))
        return taker.submit(None)

    def _take_many(self, bucket: Bucket, max_age_ms: int, use: str, answer_within_ms: int,
                   callers: list) -> list[Taken]:
        keys = self._pop_keys(bucket, uuid.uuid4().hex)
        now, expired, _, _, unanswered, *flat = available(
            lambda: self._pop(keys=keys, args=[max_age_ms, use, len(callers), answer_within_ms]))
        taken = [Taken(flat[i], int(flat[i + 1]), int(now)) for i in range(0, len(flat), 2)]
        taken += [Taken(None, 0, int(now))] * (len(callers) - len(taken))
        taken[0] = replace(taken[0], expired=int(expired), unanswered=int(unanswered))  # counted once
        return taken

    def answered(self, uses: Iterable[tuple[str, str]]) -> None:
        """These (offer id, trace id) entries were handed out and their uses answered: accounted for."""
        by_offer = defaultdict(list)
        for offer_id, trace_id in uses:
            by_offer[offer_id].append(trace_id)
        pipe = self.client.pipeline(transaction=False)
        for offer_id, trace_ids in by_offer.items():
            pipe.zrem(self._key(offer_id, "handed"), *trace_ids)
        available(pipe.execute)

    def close(self) -> None:
        for taker in self._takers.values():
            taker.stop()

    def look(self, bucket: Bucket, max_age_ms: int) -> Look:
        """The bucket after dropping (and counting) the entries past `max_age_ms` and the handed-out entries never
        answered."""
        keys = self._pop_keys(bucket, "-")
        _, expired, entries, age, unanswered = available(lambda: self._pop(keys=keys, args=[max_age_ms, "hits", 0, 0]))
        return Look(int(entries), int(age) if int(age) >= 0 else None, int(expired), int(unanswered))

    def count(self, offer_id: str, name: str, amount: int = 1) -> None:
        """Add to one of the offer's counts (STATS)."""
        available(lambda: self.client.hincrby(self.stats_key(offer_id), name, amount))

    def stats(self, offer_id: str) -> dict[str, int]:
        counts = available(lambda: self.client.hgetall(self.stats_key(offer_id)))
        return {name: int(counts.get(name, 0)) for name in STATS}

    def feed_demand(self, offer_id: str) -> FeedDemand:
        fields = available(lambda: self.client.hgetall(self._key(offer_id, "feed")))
        last = fields.pop("last", None)
        return FeedDemand({int(minute): int(n) for minute, n in fields.items()}, int(last) if last else None)

    def hold_filler(self, offer_id: str, country: str, holder: str, ttl_ms: int) -> bool:
        """Be (or stay) the one process filling this bucket, for `ttl_ms`."""
        return bool(available(lambda: self._hold(keys=[self.filler_key(offer_id, country)], args=[holder, ttl_ms])))


def epoch_minute(at_s: float | None = None) -> int:
    """The minute `at_s` (default: now) falls in, as the feed's demand counts it."""
    return int((time.time() if at_s is None else at_s) // 60)
