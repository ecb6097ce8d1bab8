"""Interval locks (at most one holder per interval) and holds (one holder at a time, until it lets go or stops
renewing), across every gateway process sharing this Redis."""

from __future__ import annotations

from typing import cast

import redis

from store.keys import Keyspace
from store.redis_client import available, register_script


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


class Holds:
    """`hold(name, holder, ttl_ms)` takes `gw:hold:NAME` when it is free and renews it when `holder` has it; `let_go`
    frees it. A holder that dies lets go when its last renewal expires; a holder that finds it lost its hold (it
    renewed too late and another took it) must stop: renewing is the fencing check."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys
        self._hold = register_script(client, "hold")
        self._unhold = register_script(client, "unhold")

    def key(self, name: str) -> str:
        return self.keys.key("hold", name)

    def hold(self, name: str, holder: str, ttl_ms: int) -> bool:
        return bool(available(lambda: self._hold(keys=[self.key(name)], args=[holder, max(1, ttl_ms)])))

    def holder(self, name: str) -> str | None:
        return available(lambda: cast(str | None, self.client.get(self.key(name))))  # decode_responses

    def let_go(self, name: str, holder: str) -> None:
        available(lambda: self._unhold(keys=[self.key(name)], args=[holder]))
