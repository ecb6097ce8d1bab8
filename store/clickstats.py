"""Click statistics in Redis: per-offer, per-minute outcome counters (expiring) and a capped stream of
recent traces. Both are written in batches by the record writer, never on the click's own path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis

from store.keys import Keyspace
from store.redis_client import available

# One stream entry: its id and its fields (decode_responses=True; redis-py's types also allow bytes and None).
StreamEntry = tuple[str, dict[str, str]]


class ClickStats:
    """`gw:clicks:OFFER_ID:YYYYMMDDHHMM` (outcome counts of a minute) and the stream `gw:traces`."""

    def __init__(self, client: redis.Redis, keys: Keyspace, ttl_s: int, stream_maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self.stream_maxlen = stream_maxlen
        self.stream = keys.key("traces")

    def counter_key(self, offer_id: str, minute: str) -> str:
        return self.keys.key("clicks", offer_id, minute)

    @staticmethod
    def minute(at: datetime) -> str:
        return at.astimezone(UTC).strftime("%Y%m%d%H%M")

    def add(self, entries: Iterable[tuple[str, datetime, str, dict[str, str]]]) -> None:
        """Count (offer_id, at, outcome) per minute and append each entry's fields to the stream, in one
        round trip."""
        counts: Counter[tuple[str, str]] = Counter()
        pipe = self.client.pipeline(transaction=False)
        for offer_id, at, outcome, fields in entries:
            counts[(self.counter_key(offer_id, self.minute(at)), outcome)] += 1
            pipe.xadd(self.stream, fields,  # type: ignore[arg-type]  # redis-py types it a Dict, not a Mapping
                      maxlen=self.stream_maxlen, approximate=True)
        for (key, outcome), amount in counts.items():
            pipe.hincrby(key, outcome, amount)
            pipe.expire(key, self.ttl_s)
        available(pipe.execute)

    def minutes(self, offer_id: str, minutes: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """Outcome counts of the last `minutes` minutes (oldest first), empty minutes included."""
        return self.summed([offer_id], minutes, now)

    def summed(self, offer_ids: list[str], minutes: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """Outcome counts of the last `minutes` minutes of all these offers together (oldest first), in one round
        trip."""
        now = now or datetime.now(UTC)
        stamps = [self.minute(now - timedelta(minutes=n)) for n in reversed(range(minutes))]
        pipe = self.client.pipeline(transaction=False)
        for stamp in stamps:
            for offer_id in offer_ids:
                pipe.hgetall(self.counter_key(offer_id, stamp))
        rows = iter(available(pipe.execute))
        summed = []
        for s in stamps:
            counts: Counter[str] = Counter()
            for _ in offer_ids:
                counts.update({k: int(v) for k, v in next(rows).items()})
            summed.append({"minute": f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:]}Z", "counts": dict(counts)})
        return summed

    def recent(self, count: int) -> list[StreamEntry]:
        """The newest `count` stream entries, newest first."""
        return available(lambda: cast(list[StreamEntry], self.client.xrevrange(self.stream, count=count)))

    def follow(self, after: str, block_ms: int) -> list[StreamEntry]:
        """Entries after stream id `after`, waiting up to `block_ms` for some."""
        reply = available(lambda: cast(list[tuple[str, list[StreamEntry]]],
                                       self.client.xread({self.stream: after}, block=block_ms, count=500)))
        return reply[0][1] if reply else []
