"""The Redis client every gateway process shares: a blocking pool whose waiters are gevent-friendly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import gevent.queue
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from store.errors import StoreUnavailable

T = TypeVar("T")


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
    )
    return redis.Redis(connection_pool=pool)


def is_cooperative(client: redis.Redis) -> bool:
    """True when the client's pool blocks greenlets on a gevent queue rather than over-creating connections."""
    pool = client.connection_pool
    return isinstance(pool, redis.BlockingConnectionPool) and pool.queue_class is gevent.queue.LifoQueue


def available(call: Callable[[], T]) -> T:
    """Run a Redis call, turning "Redis is not there" into StoreUnavailable."""
    try:
        return call()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"Redis: {exc}") from exc
