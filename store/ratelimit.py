"""Fixed-window counters in Redis: `gw:rate:NAME:KEY:MINUTE`, expiring after two minutes."""

from __future__ import annotations

import time

import redis

from store.redis_client import available


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}rate:"

    def _key(self, name: str, key: str) -> str:
        return f"{self.prefix}{name}:{key}:{int(time.time() // 60)}"

    def exceeded(self, name: str, key: str, limit: int) -> bool:
        """True when `key` has already been counted `limit` times this minute."""
        return int(available(lambda: self.client.get(self._key(name, key))) or 0) >= limit

    def hit(self, name: str, key: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        counter = self._key(name, key)
        pipe.incr(counter)
        pipe.expire(counter, 120)
        available(pipe.execute)
