"""Buckets of traces made ahead of the clicks, one per offer and country, in Redis.

`gw:{ahead:OFFER_ID}:bucket:CC` is a sorted set of finished traces (JSON entries, each naming its trace) scored by
when they were put in; `gw:{ahead:OFFER_ID}:stats` counts what was made, handed out (`hits`, `feed`), missed and
wasted (`expired`: aged out or trimmed); `gw:{ahead:OFFER_ID}:filler:CC` says which process fills the bucket. The
keys of one offer share a hash tag, so each script runs on one Redis Cluster slot. A bucket holds at most its
depth; entries past their age are dropped (and counted) whenever a bucket is looked at, put to or taken from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import redis

from store.batching import GroupCommit
from store.keys import Keyspace
from store.redis_client import available, register_script

STATS = ("made", "hits", "feed", "misses", "expired")


@dataclass(frozen=True)
class Taken:
    """What a take found: an entry (None on a miss), when it was put in, the server's time, how many expired."""

    entry: str | None
    traced_at_ms: int
    now_ms: int
    expired: int

    @property
    def age_ms(self) -> int:
        return self.now_ms - self.traced_at_ms


@dataclass(frozen=True)
class Look:
    """A bucket's entries, the age of its oldest (None when empty), and how many were dropped as expired."""

    entries: int
    oldest_age_ms: int | None
    expired: int


class Buckets:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys
        self._push = register_script(client, "ahead_push")
        self._pop = register_script(client, "ahead_pop")
        self._hold = register_script(client, "hold")
        self._takers: dict[tuple, GroupCommit] = {}

    def bucket_key(self, offer_id: str, country: str) -> str:
        return self.keys.tagged(f"ahead:{offer_id}", "bucket", country)

    def stats_key(self, offer_id: str) -> str:
        return self.keys.tagged(f"ahead:{offer_id}", "stats")

    def filler_key(self, offer_id: str, country: str) -> str:
        return self.keys.tagged(f"ahead:{offer_id}", "filler", country)

    def put(self, offer_id: str, country: str, entry: str, max_age_ms: int, depth: int) -> tuple[int, int]:
        """Add a finished trace; (the bucket's size now, how many entries were dropped as too old or too many)."""
        keys = [self.bucket_key(offer_id, country), self.stats_key(offer_id)]
        size, dropped = available(lambda: self._push(keys=keys, args=[entry, max_age_ms, depth]))
        return int(size), int(dropped)

    def take(self, offer_id: str, country: str, max_age_ms: int, use: str = "hits") -> Taken:
        """The oldest entry younger than `max_age_ms`, removed for this one caller (`use`: hits or feed). Callers
        taking from one bucket at the same moment share one round trip; each still gets an entry of its own."""
        key = (offer_id, country, max_age_ms, use)
        taker = self._takers.get(key)
        if taker is None:
            taker = self._takers[key] = GroupCommit(partial(self._take_many, *key))
        return taker.submit(None)

    def _take_many(self, offer_id: str, country: str, max_age_ms: int, use: str, callers: list) -> list[Taken]:
        keys = [self.bucket_key(offer_id, country), self.stats_key(offer_id)]
        now, expired, _, _, *flat = available(lambda: self._pop(keys=keys, args=[max_age_ms, use, len(callers)]))
        taken = [Taken(flat[i], int(flat[i + 1]), int(now), 0) for i in range(0, len(flat), 2)]
        taken += [Taken(None, 0, int(now), 0)] * (len(callers) - len(taken))
        taken[0] = replace(taken[0], expired=int(expired))  # counted once
        return taken

    def close(self) -> None:
        for taker in self._takers.values():
            taker.stop()

    def look(self, offer_id: str, country: str, max_age_ms: int) -> Look:
        """The bucket after dropping (and counting) the entries past `max_age_ms`."""
        keys = [self.bucket_key(offer_id, country), self.stats_key(offer_id)]
        _, expired, entries, age = available(lambda: self._pop(keys=keys, args=[max_age_ms, "hits", 0]))
        return Look(int(entries), int(age) if int(age) >= 0 else None, int(expired))

    def stats(self, offer_id: str) -> dict[str, int]:
        counts = available(lambda: self.client.hgetall(self.stats_key(offer_id)))
        return {name: int(counts.get(name, 0)) for name in STATS}

    def hold_filler(self, offer_id: str, country: str, holder: str, ttl_ms: int) -> bool:
        """Be (or stay) the one process filling this bucket, for `ttl_ms`."""
        return bool(available(lambda: self._hold(keys=[self.filler_key(offer_id, country)], args=[holder, ttl_ms])))
