"""The Redis client every gateway process shares: a blocking pool whose waiters are gevent-friendly."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import gevent.queue
import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from store.errors import StoreUnavailable

try:
    from redis.driver_info import DriverInfo as _DriverInfo
    DriverInfo: type[_DriverInfo] | None = _DriverInfo
except ImportError:  # redis-py before DriverInfo reads its own version once, at import
    DriverInfo = None

T = TypeVar("T")
LUA_DIR = Path(__file__).parent / "lua"
SAFE_CHARS = set(string.ascii_letters + string.digits + ":_.-{}")


def connect(url: str, *, max_connections: int, timeout_s: float, connect_timeout_s: float,
            pool_timeout_s: float) -> redis.Redis:
    """A client on a `BlockingConnectionPool`: greenlets wait for a free connection instead of opening more.

    One retry without backoff replaces a connection that went stale (a Redis restart); a Redis that is down
    costs one connect timeout, so the click path can still fall back within its budget.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        queue_class=gevent.queue.LifoQueue,
        socket_timeout=timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=True,
        # Given, the version is not looked up in the package metadata for each new connection (measured: 5% of
        # the CPU of a 1000-click burst, which opens connections up to max_connections at once).
        **({"driver_info": DriverInfo(lib_version=redis.__version__)} if DriverInfo else {}),
    )
    return redis.Redis(connection_pool=pool)


def is_cooperative(client: redis.Redis) -> bool:
    """True when the client's pool blocks greenlets on a gevent queue rather than over-creating connections."""
    pool = client.connection_pool
    return isinstance(pool, redis.BlockingConnectionPool) and pool.queue_class is gevent.queue.LifoQueue


def available(call: Callable[[], T]) -> T:
    """Run a Redis call, turning "Redis is not there" and any error reply (out of memory, a read-only replica, busy
    with a script, loading, a cluster without a master, also when a Lua script met it) into StoreUnavailable: the
    caller answers 503 or falls back, and its log line says what Redis said."""
    try:
        return call()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis: {exc}") from exc
    except redis.ResponseError as exc:
        raise StoreUnavailable(f"Redis refused: {exc}") from exc


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (SCAN, never KEYS); how many there were."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=re.sub(r"([\\*?\[\]])", r"\\\1", prefix) + "*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += client.delete(*batch)
            batch = []
    return deleted + (client.delete(*batch) if batch else 0)


def register_script(client: redis.Redis, name: str, **constants: int | str) -> Script:
    """Register `lua/<name>.lua` once (EVALSHA on each call, reloaded after a Redis restart), with `constants`
    defined as locals ahead of it: fewer ARGV to encode per call; different constants, a different script."""
    header = "".join(f"local {key} = {value if isinstance(value, int) else _lua_string(value)}\n"
                     for key, value in constants.items())
    return client.register_script(header + (LUA_DIR / f"{name}.lua").read_text())


def _lua_string(value: str) -> str:
    if not set(value) <= SAFE_CHARS:
        raise ValueError(f"unsafe characters in {value!r}")
    return f"'{value}'"
