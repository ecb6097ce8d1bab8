"""The runtime of one gateway process: settings, the store clients and metrics, opened once and closed once.

Opening starts (or reuses) the embedded servers when a store URL is empty, and refuses to run when gevent
patching came too late for psycopg or redis-py to cooperate with it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from functools import cached_property

import gevent.pool
import redis
from psycopg_pool import ConnectionPool

from gateway.config import Settings
from gateway.metrics import Metrics
from store import database, redis_client
from store import migrate as migrations
from store.batching import GroupCommit
from store.calls import TrackierCalls
from store.clickstats import ClickStats
from store.embedded import EmbeddedStores
from store.inventory import Inventory
from store.locks import IntervalLocks
from store.offers import Offers
from store.pair_guards import PairGuards
from store.pairs import Pairs, WebhookEvents
from store.pool import EgressPool, PoolPolicy
from store.ratelimit import RateLimiter
from store.snapshots import Snapshots
from store.traces import Traces

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The process cannot run safely as configured (e.g. gevent patched after psycopg was imported)."""


def check_patched() -> None:
    """Refuse to start when a blocking driver would freeze every greenlet of the process."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        raise StartupError("gevent.monkey.patch_all() has not run: start through `gateway` or `python -m gateway`")
    if not database.is_cooperative():
        raise StartupError("psycopg was imported before gevent patching: its C wait function would block the hub")


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    db: ConnectionPool
    metrics: Metrics
    embedded: EmbeddedStores | None = None

    @classmethod
    def open(cls, settings: Settings, migrate: bool = True) -> Runtime:
        """Open the stores (starting the embedded ones if no URL is set) and, unless told not to, apply
        missing migrations, so every command finds the schema `serve` would."""
        check_patched()
        embedded = None
        redis_url, postgres_url = settings.redis.url, settings.postgres.url
        if not redis_url or not postgres_url:
            embedded = EmbeddedStores(settings.server.data_dir).acquire()
            redis_url = redis_url or embedded.redis_url
            postgres_url = postgres_url or embedded.postgres_url
            if embedded.started:
                log.info("started embedded %s under %s", " and ".join(embedded.started), embedded.data_dir)
        r, p = settings.redis, settings.postgres
        client = redis_client.connect(redis_url, max_connections=r.max_connections, timeout_s=r.timeout_s,
                                      connect_timeout_s=r.connect_timeout_s, pool_timeout_s=r.pool_timeout_s)
        if not redis_client.is_cooperative(client):
            raise StartupError("redis-py must use a BlockingConnectionPool with a gevent queue")
        db = database.connect(postgres_url, min_size=p.min_connections, max_size=p.max_connections,
                              connect_timeout_s=p.connect_timeout_s, pool_timeout_s=p.pool_timeout_s)
        rt = cls(settings, client, db, Metrics(), embedded)
        if migrate:
            rt.migrate()
        return rt

    def migrate(self) -> list[migrations.Migration]:
        """Apply missing migrations; returns those applied."""
        with database.translated_errors(), self.db.connection() as conn:
            applied = migrations.migrate(conn)
        for migration in applied:
            log.info("applied migration %04d_%s", migration.version, migration.name)
        return applied

    @cached_property
    def background(self) -> gevent.pool.Group:
        """Greenlets that outlive the request that started them (the trace of a click answered before it
        ended, and its record); a drain waits for them."""
        return gevent.pool.Group()

    @cached_property
    def identity(self) -> str:
        """This process, as lease holders and lock claims name it."""
        return f"{socket.gethostname()}:{os.getpid()}"

    @cached_property
    def pool(self) -> EgressPool:
        p = self.settings.pool
        policy = PoolPolicy(lease_ms=round(p.lease_s * 1000), cooldown_ms=round(p.cooldown_s * 1000),
                            fail_threshold=p.fail_threshold, quarantine_ms=round(p.quarantine_s * 1000),
                            quarantine_max_ms=round(p.quarantine_max_s * 1000))
        return EgressPool(self.redis, self.settings.redis.prefix, policy)

    @cached_property
    def inventory(self) -> Inventory:
        return Inventory(self.db)

    @cached_property
    def slots(self):
        from gateway.egress import SlotDirectory

        return SlotDirectory(self)

    @cached_property
    def snapshots(self) -> Snapshots:
        return Snapshots(self.db)

    @cached_property
    def offers(self) -> Offers:
        return Offers(self.db)

    @cached_property
    def offer_cache(self):
        from gateway.offers import OfferCache

        return OfferCache(self, self.settings.clicks.offer_cache_s)

    @cached_property
    def traces(self) -> Traces:
        return Traces(self.db)

    @cached_property
    def click_stats(self) -> ClickStats:
        c = self.settings.clicks
        return ClickStats(self.redis, self.settings.redis.prefix, c.counter_ttl_s, c.stream_maxlen)

    @cached_property
    def records(self):
        from gateway.records import RecordWriter

        return RecordWriter(self)

    @cached_property
    def pairs(self) -> Pairs:
        return Pairs(self.db)

    @cached_property
    def events(self) -> WebhookEvents:
        return WebhookEvents(self.db)

    @cached_property
    def trackier_calls(self) -> TrackierCalls:
        return TrackierCalls(self.db)

    @cached_property
    def trackier(self):
        from gateway.trackier import TrackierClient

        return TrackierClient(self.settings.trackier, self.trackier_calls.record)

    @cached_property
    def pair_guards(self) -> PairGuards:
        w = self.settings.webhooks
        return PairGuards(self.redis, self.settings.redis.prefix, round(w.update_lock_s * 1000), w.duplicate_window_s)

    @cached_property
    def pair_decisions(self) -> GroupCommit:
        """Pair guard decisions, many postbacks' in one Redis round trip under load."""
        return GroupCommit(self.pair_guards.decide)

    @cached_property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.redis, self.settings.redis.prefix)

    @cached_property
    def event_log(self) -> GroupCommit:
        """Postbacks written in group commits (each caller returns once its row is durable)."""
        return GroupCommit(self.events.receive)

    @cached_property
    def event_finisher(self) -> GroupCommit:
        """Quick postback outcomes (duplicate, throttled, coalesced) written in group commits."""
        return GroupCommit(self.events.finish_quick)

    @cached_property
    def routes(self):
        from gateway.webhooks import RouteCache

        return RouteCache(self, self.settings.clicks.offer_cache_s)

    @cached_property
    def updater(self):
        from gateway.updates import PairUpdater

        return PairUpdater(self)

    @cached_property
    def locks(self) -> IntervalLocks:
        return IntervalLocks(self.redis, self.settings.redis.prefix)

    def close(self) -> None:
        """Close the clients, then leave the embedded servers (stopped if no other process holds them)."""
        if "pool" in self.__dict__:
            self.pool.notices.stop()
        for name in ("event_log", "event_finisher", "pair_decisions"):
            if name in self.__dict__:
                self.__dict__[name].stop()
        self.db.close()
        self.redis.close()
        self.redis.connection_pool.disconnect()
        if self.embedded:
            self.embedded.release()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
