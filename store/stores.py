"""Every store client of one process, opened together and closed together.

`Stores.open(options)` starts (or reuses) the embedded servers when a URL is empty, connects one Redis client
and one PostgreSQL pool, and builds every repository on them with one key prefix. It refuses to run when gevent
patching came too late for either driver to cooperate with it. A browser worker, which runs without gevent, opens
`WorkerStores` instead: the few it needs, on plain thread-safe clients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool
from redis import Redis

from store import database, redis_client
from store.batching import GroupCommit
from store.browser_jobs import BrowserJobs
from store.buckets import Buckets
from store.calls import TrackierCalls
from store.clickstats import ClickStats
from store.console import ConsoleJobs, ConsoleSessions
from store.embedded import EmbeddedStores
from store.errors import StoreError
from store.inventory import Inventory
from store.keys import Keyspace
from store.locks import Holds, IntervalLocks
from store.offer_changes import OfferChanges
from store.offers import Offers
from store.pair_guards import Decision, PairGuards
from store.pairs import Pairs, WebhookEvents
from store.pool import EgressPool, PoolPolicy
from store.ratelimit import RateLimiter
from store.snapshots import Snapshots
from store.traces import Traces

log = logging.getLogger(__name__)


class NotCooperative(StoreError):
    """A driver would block every greenlet of the process (imported before gevent patching, or misconfigured)."""


@dataclass(frozen=True)
class StoreOptions:
    """What the stores need to know: where they are (empty URL: embedded under `data_dir`), how big their pools
    are, and the policies their scripts enforce."""

    redis_url: str
    postgres_url: str
    data_dir: Path
    prefix: str = "gw:"
    redis_max_connections: int = 256
    redis_timeout_s: float = 2.0
    redis_connect_timeout_s: float = 1.0
    redis_pool_timeout_s: float = 5.0
    postgres_min_connections: int = 1
    postgres_max_connections: int = 10
    postgres_connect_timeout_s: float = 3.0
    postgres_pool_timeout_s: float = 5.0
    pool_policy: PoolPolicy = field(default_factory=PoolPolicy)
    counter_ttl_s: int = 86_400
    stream_maxlen: int = 10_000
    pair_lock_ms: int = 180_000
    duplicate_window_s: int = 3600


@dataclass
class Stores:
    redis: Redis  # (a field named after the module: hence `Redis`, imported by name)
    db: ConnectionPool
    keys: Keyspace
    embedded: EmbeddedStores | None
    offers: Offers
    offer_changes: OfferChanges
    pairs: Pairs
    events: WebhookEvents
    inventory: Inventory
    traces: Traces
    snapshots: Snapshots
    calls: TrackierCalls
    pool: EgressPool
    click_stats: ClickStats
    pair_guards: PairGuards
    limiter: RateLimiter
    locks: IntervalLocks
    holds: Holds
    buckets: Buckets
    browser_jobs: BrowserJobs
    sessions: ConsoleSessions
    jobs: ConsoleJobs
    redis_url: str = ""
    postgres_url: str = ""
    event_log: GroupCommit[dict[str, Any], int] = field(init=False)
    event_finisher: GroupCommit[tuple[int, str], None] = field(init=False)
    pair_decisions: GroupCommit[Decision, str] = field(init=False)

    def __post_init__(self) -> None:
        self.event_log = GroupCommit(self.events.receive)  # postbacks, each caller back once its row is durable
        self.event_finisher = GroupCommit(self.events.finish_quick)  # duplicate, throttled, coalesced outcomes
        self.pair_decisions = GroupCommit(self.pair_guards.decide)  # many postbacks' decisions, one round trip

    @classmethod
    def open(cls, options: StoreOptions) -> Stores:
        redis_url, postgres_url, embedded = _servers(options)
        try:
            stores = cls.on(*_connect(options, redis_url, postgres_url), options, embedded)
        except BaseException:
            if embedded:
                embedded.release()
            raise
        stores.redis_url, stores.postgres_url = redis_url, postgres_url
        return stores

    @classmethod
    def on(cls, client: Redis, db: ConnectionPool, options: StoreOptions,
           embedded: EmbeddedStores | None = None) -> Stores:
        """The repositories on these clients."""
        keys = Keyspace(options.prefix)
        return cls(
            redis=client, db=db, keys=keys, embedded=embedded, offers=Offers(db),
            offer_changes=OfferChanges(client, keys), pairs=Pairs(db), events=WebhookEvents(db),
            inventory=Inventory(db), traces=Traces(db), snapshots=Snapshots(db), calls=TrackierCalls(db),
            pool=EgressPool(client, keys, options.pool_policy),
            click_stats=ClickStats(client, keys, options.counter_ttl_s, options.stream_maxlen),
            pair_guards=PairGuards(client, keys, options.pair_lock_ms, options.duplicate_window_s),
            limiter=RateLimiter(client, keys), locks=IntervalLocks(client, keys), holds=Holds(client, keys),
            browser_jobs=BrowserJobs(client, keys, poll_s=max(0.1, options.redis_timeout_s / 2)),
            buckets=Buckets(client, keys, remember_ms=max(10_000, round(options.redis_timeout_s * 5000))),
            sessions=ConsoleSessions(client, keys), jobs=ConsoleJobs(client, keys))

    def close(self) -> None:
        """Stop the group commits, close the clients, then leave the embedded servers (stopped by the last
        process to leave)."""
        for commit in (self.event_log, self.event_finisher, self.pair_decisions):
            commit.stop()
        self.buckets.close()
        self.pool.notices.stop()
        self.db.close()
        self.redis.close()
        self.redis.connection_pool.disconnect()
        if self.embedded:
            self.embedded.release()


@dataclass
class WorkerStores:
    """The stores of a browser worker, a process without gevent whose threads share them: a plain Redis client
    and a small PostgreSQL pool on the gateway's servers (the embedded ones too), the queue of browser jobs and
    the inventory its slots' proxy credentials come from."""

    redis: Redis
    db: ConnectionPool
    embedded: EmbeddedStores | None
    browser_jobs: BrowserJobs
    inventory: Inventory

    @classmethod
    def open(cls, options: StoreOptions, redis_timeout_s: float) -> WorkerStores:
        redis_url, postgres_url, embedded = _servers(options)
        client = Redis.from_url(redis_url, decode_responses=True, socket_timeout=redis_timeout_s,
                                socket_connect_timeout=options.redis_connect_timeout_s)
        db = database.connect(postgres_url, min_size=1, max_size=2, pool_timeout_s=options.postgres_pool_timeout_s,
                              connect_timeout_s=options.postgres_connect_timeout_s, name="gateway-browser-worker")
        return cls(client, db, embedded, BrowserJobs(client, Keyspace(options.prefix)), Inventory(db))

    def close(self) -> None:
        self.db.close()
        self.redis.close()
        if self.embedded:
            self.embedded.release()


def _servers(options: StoreOptions) -> tuple[str, str, EmbeddedStores | None]:
    """The Redis and PostgreSQL URLs to use: the configured ones, else those of the embedded servers (started by
    the first process on the data dir, shared by the others)."""
    redis_url, postgres_url = options.redis_url, options.postgres_url
    if redis_url and postgres_url:
        return redis_url, postgres_url, None
    embedded = EmbeddedStores(options.data_dir).acquire()
    if embedded.started:
        log.info("started embedded %s under %s", " and ".join(embedded.started), embedded.data_dir)
    return redis_url or embedded.redis_url, postgres_url or embedded.postgres_url, embedded


def _connect(options: StoreOptions, redis_url: str, postgres_url: str) -> tuple[Redis, ConnectionPool]:
    if not database.is_cooperative():
        raise NotCooperative("psycopg was imported before gevent patching: its C wait function would block the hub")
    client = redis_client.connect(redis_url, max_connections=options.redis_max_connections,
                                  timeout_s=options.redis_timeout_s, connect_timeout_s=options.redis_connect_timeout_s,
                                  pool_timeout_s=options.redis_pool_timeout_s)
    if not redis_client.is_cooperative(client):
        raise NotCooperative("redis-py must use a BlockingConnectionPool with a gevent queue")
    db = database.connect(postgres_url, min_size=options.postgres_min_connections,
                          max_size=options.postgres_max_connections,
                          connect_timeout_s=options.postgres_connect_timeout_s,
                          pool_timeout_s=options.postgres_pool_timeout_s)
    return client, db
