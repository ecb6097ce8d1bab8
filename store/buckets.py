"""Buckets of traces made ahead of the clicks, one per offer, version of the offer and country, in Redis.

`gw:{ahead:OFFER_ID}:bucket:CC:VERSION` is a sorted set of finished traces (JSON entries, each naming its trace)
scored by when they were put in. VERSION names what shaped the traces (the offer's tracking URL, country, policy,
user agent): a change of the offer leaves the old entries behind, unreachable, until their key expires.
`gw:{ahead:OFFER_ID}:stats` counts what was made, handed out (`clicks`, `feed`), missed, wasted (`expired`: aged out
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

STATS = ("made", "clicks", "feed", "misses", "limited", "expired", "late_private", "taken_unanswered")
LIMITED = "!"  # a take's answer for a caller past its budget
BUDGET_WINDOW_S = 60


class Bucket(NamedTuple):
    """One bucket: an offer's traces of one version of the offer, gone out through one country."""

    offer_id: str
    version: str
    country: str


class Spend(NamedTuple):
    """A take that spends one trace of a client's budget: at most `limit` per client, offer and minute."""

    client: str
    limit: int


class Take(NamedTuple):
    """How a use takes from a bucket: entries younger than `max_age_ms`, counted as `use` (clicks or feed), its use
    answered within `answer_within_ms`. Its `first` bucket is where it counts: its client's budget (`limit` per
    minute, 0: none) and, for the feed, its demand."""

    max_age_ms: int
    use: str
    answer_within_ms: int
    first: bool = True
    limit: int = 0


@dataclass(frozen=True)
class Taken:
    """What a take found: an entry (None on a miss or past the budget), when it was put in, the server's time, how
    many expired, how many handed-out entries were found never answered."""

    entry: str | None
    traced_at_ms: int
    now_ms: int
    expired: int = 0
    unanswered: int = 0
    limited: bool = False

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
    def __init__(self, client: redis.Redis, keys: Keyspace, remember_ms: int) -> None:
        self.client = client
        self.keys = keys
        self.remember_ms = remember_ms  # how long a take's reply is kept for a client that sends it again
        self._push = register_script(client, "ahead_push")
        self._pop = register_script(client, "ahead_pop")
        self._hold = register_script(client, "hold")
        # per (bucket, rule): each take's budget key (None when it spends none) -> what it took
        self._takers: dict[tuple[Bucket, Take], GroupCommit[str | None, Taken]] = {}

    def _key(self, offer_id: str, *parts: object) -> str:
        return self.keys.tagged(f"ahead:{offer_id}", *parts)

    def bucket_key(self, bucket: Bucket) -> str:
        return self._key(bucket.offer_id, "bucket", bucket.country, bucket.version)

    def stats_key(self, offer_id: str) -> str:
        return self._key(offer_id, "stats")

    def filler_key(self, offer_id: str, country: str) -> str:
        return self._key(offer_id, "filler", country)

    def budget_key(self, offer_id: str, client: str) -> str:
        """A client's traces of an offer this minute, beside the offer's buckets so that a take can count them."""
        return self._key(offer_id, "client", client, int(time.time() // BUDGET_WINDOW_S))

    def feed_key(self, offer_id: str) -> str:
        return self._key(offer_id, "feed")

    def _pop_keys(self, bucket: Bucket, take_id: str) -> list[str]:
        return [self.bucket_key(bucket), self.stats_key(bucket.offer_id), self._key(bucket.offer_id, "take", take_id),
                self._key(bucket.offer_id, "handed"), self.feed_key(bucket.offer_id)]

    def put(self, bucket: Bucket, entry: str, max_age_ms: int, depth: int) -> tuple[int, int]:
        """Add a finished trace; (the bucket's size now, how many entries were dropped as too old or too many)."""
        keys = [self.bucket_key(bucket), self.stats_key(bucket.offer_id)]
        size, dropped = available(lambda: self._push(keys=keys, args=[entry, max_age_ms, depth]))
        return int(size), int(dropped)

    def take(self, bucket: Bucket, rule: Take, client: str | None = None) -> Taken:
        """The oldest entry younger than the rule's age, removed for this one caller, who answers its use in time
        (`answered`) or has it counted `taken_unanswered`; with a budget (`rule.limit`), only while `client` is
        within it (`Taken.limited` past it; the trace is spent either way). Callers taking from one bucket at the
        same moment share one round trip; each still gets an entry of its own. The round trip names its take, so a
        client that sends it again gets the same entries, never more."""
        key = (bucket, rule)
        taker = self._takers.get(key)
        if taker is None:
            taker = self._takers[key] = GroupCommit(partial(self._take_many, bucket, rule))
        return taker.submit(self.budget_key(bucket.offer_id, client or "-") if rule.limit and rule.first else None)

    def _take_many(self, bucket: Bucket, rule: Take, budgets: list[str | None]) -> list[Taken]:
        counted = rule.limit and rule.first
        keys = self._pop_keys(bucket, uuid.uuid4().hex) + ([b for b in budgets if b is not None] if counted else [])
        args: list[int | str] = [rule.max_age_ms, rule.use, len(budgets), rule.answer_within_ms, rule.limit,
                                 self.remember_ms, int(rule.first)]
        now, expired, _, _, unanswered, *flat = available(lambda: self._pop(keys=keys, args=args))
        taken = [Taken(flat[i] or None, int(flat[i + 1]), int(now)) for i in range(0, len(flat), 2)]
        taken = [Taken(None, 0, t.now_ms, limited=True) if t.entry == LIMITED else t for t in taken]
        taken[0] = replace(taken[0], expired=int(expired), unanswered=int(unanswered))  # counted once
        return taken

    def spend(self, offer_id: str, spend: Spend) -> bool:
        """Spend one trace of the client's budget for the offer (a click traced without a take): False past it."""
        key = self.budget_key(offer_id, spend.client)
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2 * BUDGET_WINDOW_S)
        spent, _ = available(pipe.execute)
        if spent > spend.limit:
            available(lambda: self.client.hincrby(self.stats_key(offer_id), "limited", 1))
            return False
        return True

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
        _, expired, entries, age, unanswered = available(
            lambda: self._pop(keys=keys, args=[max_age_ms, "clicks", 0, 0, 0, 0, 0]))
        return Look(int(entries), int(age) if int(age) >= 0 else None, int(expired), int(unanswered))

    def count(self, offer_id: str, name: str) -> None:
        """Add one to one of the offer's counts (STATS)."""
        available(lambda: self.client.hincrby(self.stats_key(offer_id), name, 1))

    def stats(self, offer_id: str) -> dict[str, int]:
        counts = available(lambda: self.client.hgetall(self.stats_key(offer_id)))
        return {name: int(counts.get(name, 0)) for name in STATS}

    def feed_demand(self, offer_id: str) -> FeedDemand:
        fields = available(lambda: self.client.hgetall(self.feed_key(offer_id)))
        last = fields.pop("last", None)
        return FeedDemand({int(minute): int(n) for minute, n in fields.items()}, int(last) if last else None)

    def hold_filler(self, offer_id: str, country: str, holder: str, ttl_ms: int) -> bool:
        """Be (or stay) the one process filling this bucket, for `ttl_ms`."""
        return bool(available(lambda: self._hold(keys=[self.filler_key(offer_id, country)], args=[holder, ttl_ms])))


def epoch_minute(at_s: float) -> int:
    """The minute `at_s` falls in, as the feed's demand counts it (by Redis's clock)."""
    return int(at_s // 60)
