"""Fixed-window counters in Redis: `gw:rate:NAME:KEY:MINUTE`, expiring after two minutes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from store.keys import Keyspace
from store.redis_client import available

WINDOW_S = 60


@dataclass(frozen=True)
class Hit:  # not a NamedTuple: its `count` would shadow tuple.count
    count: int  # hits of this key in the current window, this one included
    retry_after_s: int  # seconds until the window ends


class RateLimiter:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys

    def key(self, name: str, key: str, window: int) -> str:
        return self.keys.key("rate", name, key, window)

    def hit(self, name: str, key: str) -> Hit:
        """Count one hit of `key` and return the window's count so far: deciding and counting in one round trip
        (MULTI/INCR/EXPIRE), so that concurrent callers can never all see the count below a limit."""
        now = time.time()
        window = int(now // WINDOW_S)
        counter = self.key(name, key, window)
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(counter)
        pipe.expire(counter, 2 * WINDOW_S)
        count, _ = available(pipe.execute)
        return Hit(int(count), max(1, int((window + 1) * WINDOW_S - now + 0.999)))
