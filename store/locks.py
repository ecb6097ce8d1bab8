"""Interval locks: at most one holder per interval across every gateway process sharing this Redis."""

from __future__ import annotations

import redis

from store.keys import Keyspace
from store.redis_client import available


class IntervalLocks:
    """`claim(name, ttl_ms)` succeeds for one caller per `ttl_ms` cluster-wide (`gw:lock:NAME`). Claims are never
    released early: the key's expiry is the interval, so a tick runs once per interval whoever runs it."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys

    def key(self, name: str) -> str:
        return self.keys.key("lock", name)

    def claim(self, name: str, ttl_ms: int, holder: str) -> bool:
        return bool(available(lambda: self.client.set(self.key(name), holder, nx=True, px=max(1, ttl_ms))))
