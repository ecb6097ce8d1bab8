"""The composition root: every service of one gateway process, built once at start-up from the settings and the
stores, and handed to what uses it. Nothing below this module receives the whole: each service gets only the
stores and services it needs, through its constructor.

`Services.open(settings)` opens the stores (starting the embedded ones when a URL is empty), applies missing
migrations and builds the services; `start()` starts what runs beside the requests; `close()` undoes it all.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass

import gevent.pool

from gateway.ahead.buckets import AheadBuckets
from gateway.ahead.feed import SuffixFeed
from gateway.ahead.filler import Filler, FillerStores
from gateway.clicks.catalog import Catalog
from gateway.clicks.click import ClickHandler
from gateway.clicks.offer_cache import OfferCache
from gateway.clicks.reports import ClickReports
from gateway.config import Settings
from gateway.console.gate import Gate, Tokens
from gateway.console.overview import Overview, OverviewStores
from gateway.console.pair_jobs import PairJobs
from gateway.console.trace_tool import TraceTool
from gateway.egress.census import Census
from gateway.egress.directory import SlotDirectory
from gateway.egress.leases import Leases
from gateway.egress.slots import Slots
from gateway.egress.upkeep import PoolUpkeep, UpkeepStores
from gateway.metrics import Metrics
from gateway.postbacks.pair_controls import PairControls
from gateway.postbacks.pair_setup import PairCreation, PairStores
from gateway.postbacks.pair_views import PairViews
from gateway.postbacks.receiving import Receiver
from gateway.postbacks.routing import PostbackRouter
from gateway.postbacks.trackier_api import TrackierClient
from gateway.postbacks.updating import PairUpdater, UpdateStores
from gateway.process.maintenance import Maintenance
from gateway.routes.auth import admin_token
from gateway.routes.clients import Clients
from gateway.routes.probes import check_stores
from gateway.tracing.browser import BrowserTracer
from gateway.tracing.records import RecordWriter
from gateway.tracing.runner import TraceRunner
from gateway.tracing.tracer import TraceOptions
from store import migrate as migrations
from store.errors import StoreError
from store.pool import PoolPolicy
from store.stores import StoreOptions, Stores

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The process cannot run safely as configured (e.g. gevent patched after psycopg was imported)."""


def check_patched() -> None:
    """Refuse to start when a blocking driver would freeze every greenlet of the process."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        raise StartupError("gevent.monkey.patch_all() has not run: start through `gateway` or `python -m gateway`")


def store_options(settings: Settings) -> StoreOptions:
    """The settings the store layer needs, in its own terms."""
    r, p, pool, w = settings.redis, settings.postgres, settings.pool, settings.webhooks
    return StoreOptions(
        redis_url=r.url, postgres_url=p.url, data_dir=settings.server.data_dir, prefix=r.prefix,
        redis_max_connections=r.max_connections, redis_timeout_s=r.timeout_s,
        redis_connect_timeout_s=r.connect_timeout_s, redis_pool_timeout_s=r.pool_timeout_s,
        postgres_min_connections=p.min_connections, postgres_max_connections=p.max_connections,
        postgres_connect_timeout_s=p.connect_timeout_s, postgres_pool_timeout_s=p.pool_timeout_s,
        pool_policy=PoolPolicy(lease_ms=round(pool.lease_s * 1000), cooldown_ms=round(pool.cooldown_s * 1000),
                               fail_threshold=pool.fail_threshold, quarantine_ms=round(pool.quarantine_s * 1000),
                               quarantine_max_ms=round(pool.quarantine_max_s * 1000)),
        counter_ttl_s=settings.clicks.counter_ttl_s, stream_maxlen=settings.clicks.stream_maxlen,
        pair_lock_ms=round(w.update_lock_s * 1000), duplicate_window_s=w.duplicate_window_s)


def migrate(postgres_url: str) -> list[migrations.Migration]:
    """Apply missing migrations (logged); returns those applied."""
    applied = migrations.migrate_database(postgres_url)
    for migration in applied:
        log.info("applied migration %04d_%s", migration.version, migration.name)
    return applied


@dataclass
class Services:
    settings: Settings
    stores: Stores
    metrics: Metrics
    identity: str
    background: gevent.pool.Group
    offer_cache: OfferCache
    catalog: Catalog
    reports: ClickReports
    directory: SlotDirectory
    slots: Slots
    leases: Leases
    census: Census
    records: RecordWriter
    browser: BrowserTracer
    runner: TraceRunner
    clicks: ClickHandler
    trackier: TrackierClient
    router: PostbackRouter
    updater: PairUpdater
    receiver: Receiver
    pair_creation: PairCreation
    pair_views: PairViews
    pair_controls: PairControls
    maintenance: Maintenance
    ahead: AheadBuckets
    filler: Filler
    feed: SuffixFeed
    admin_token: str
    clients: Clients
    gate: Gate
    overview: Overview
    pair_jobs: PairJobs
    trace_tool: TraceTool

    @classmethod
    def open(cls, settings: Settings, migrate_first: bool = True) -> Services:
        """Open the stores and build every service on them; unless told not to, apply missing migrations first,
        so every command finds the schema `serve` would."""
        check_patched()
        stores = Stores.open(store_options(settings))
        try:
            if migrate_first:
                migrate(stores.postgres_url)
            return build(settings, stores)
        except BaseException:
            stores.close()
            raise

    def start(self) -> None:
        """Start what runs beside the requests: ready notices, offer changes, the record writer, the pair updater
        and maintenance (after one reconcile of the live pool with the inventory)."""
        try:
            self.slots.reconcile()
        except StoreError as exc:
            log.warning("initial pool reconcile skipped: %s", exc)
        self.stores.pool.notices.start()
        self.offer_cache.subscription.start()
        self.records.start()
        self.updater.start()
        self.maintenance.start()
        self.filler.start()

    def stop(self) -> None:
        """Stop what `start` started; traces under way and queued records get up to 5 s each to finish."""
        self.filler.stop()
        self.background.join(timeout=5.0)
        self.ahead.answers.stop()
        self.maintenance.stop()
        self.updater.stop()
        self.stores.pool.notices.stop()
        self.offer_cache.subscription.stop()
        self.records.stop(drain_s=5.0)

    def close(self) -> None:
        self.background.kill(timeout=1.0)
        self.ahead.answers.stop()
        self.offer_cache.subscription.stop()
        self.stores.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process_identity() -> str:
    """Who holds a lease, a bucket or a maintenance job: host and pid, and a random part telling apart two
    gateways opened in one process (as tests do)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def build(settings: Settings, stores: Stores) -> Services:
    """Every service of the process, each given what it uses."""
    longest_s = settings.tracing.total_timeout_s + settings.browser.queue_wait_s + 2  # HTTP, then a browser job
    if settings.pool.lease_s <= longest_s:
        log.warning("[pool] lease_s (%g) is not longer than the longest trace (%g s: [tracing] total_timeout_s + "
                    "[browser] queue_wait_s + 2): a lease may end mid-trace", settings.pool.lease_s, longest_s)
    metrics, identity, background = Metrics(), process_identity(), gevent.pool.Group()
    offer_cache = OfferCache(stores.offers, stores.offer_changes, settings.clicks.offer_cache_s)
    catalog = Catalog(stores.offers, offer_cache, settings.ahead.click_mode)
    ahead = AheadBuckets(stores.buckets, metrics, settings.ahead)
    directory = SlotDirectory(stores.inventory)
    leases = Leases(stores.pool, directory, stores.inventory, settings.providers, metrics)
    records = RecordWriter(stores.traces, stores.click_stats, metrics, settings.clicks)
    browser = BrowserTracer(stores.browser_jobs, settings.browser)
    runner = TraceRunner(leases, records, TraceOptions.from_settings(settings.tracing), metrics, background, identity,
                         browser)
    trackier = TrackierClient(settings.trackier, stores.calls.record)
    router = PostbackRouter(stores.offers, stores.pairs, settings.webhooks.campaign_route_secret,
                            settings.clicks.offer_cache_s)
    offer_cache.listeners.append(router.clear)
    updater = PairUpdater(UpdateStores(stores.events, stores.pairs, stores.pair_guards, stores.pair_decisions,
                                       stores.event_finisher), router, runner, trackier, metrics, settings.webhooks)
    receiver = Receiver(router, stores.event_log, stores.events, stores.limiter, updater, metrics,
                        settings.webhooks.unknown_per_minute)
    slots = Slots(stores.inventory, stores.pool, directory, settings.providers)
    filler = Filler(FillerStores(stores.offers, stores.click_stats, stores.pool, stores.buckets), ahead, runner,
                    metrics, settings.ahead, identity, background)
    ahead.listeners.append(filler.poke)
    offer_cache.listeners.append(filler.changed)
    census = Census(stores.pool, stores.inventory, metrics, settings.pool.alert_utilization)
    reports = ClickReports(stores.offers, stores.click_stats, stores.traces)
    pair_creation = PairCreation(PairStores(stores.offers, stores.pairs, stores.holds), catalog, trackier, runner,
                                 settings.trackier, settings.webhooks.lease_wait_ms)
    token = admin_token(settings)
    return Services(
        settings=settings, stores=stores, metrics=metrics, identity=identity, background=background,
        offer_cache=offer_cache, catalog=catalog, reports=reports,
        directory=directory, slots=slots, leases=leases, census=census, records=records, browser=browser,
        runner=runner,
        clicks=ClickHandler(runner, ahead, records, metrics, settings.clicks), trackier=trackier, router=router,
        updater=updater, receiver=receiver, pair_creation=pair_creation,
        pair_views=PairViews(stores.offers, stores.pairs, stores.events, settings.trackier.public_base_url),
        pair_controls=PairControls(stores.offers, stores.pairs, catalog, receiver),
        maintenance=Maintenance(PoolUpkeep(UpkeepStores(stores.pool, stores.snapshots, stores.locks), slots, census,
                                           settings.maintenance.snapshot_interval_s, identity),
                                updater.retry_stale, stores.locks, metrics, settings.maintenance, identity),
        ahead=ahead, filler=filler, feed=SuffixFeed(offer_cache.get, ahead, stores.limiter, settings.ahead),
        admin_token=token, clients=Clients(settings.server.trusted_proxies),
        gate=Gate(stores.sessions, stores.limiter, Tokens(token, settings.admin.viewer_token.reveal(),
                                                          settings.admin.session_ttl_s,
                                                          settings.admin.sign_ins_per_minute)),
        overview=Overview(OverviewStores(stores.click_stats, stores.snapshots, stores.events), census, records,
                          lambda: check_stores(stores, metrics)),
        pair_jobs=PairJobs(pair_creation, stores.jobs, background),
        trace_tool=TraceTool(runner, settings.tracing, stores.limiter, settings.clicks.client_traces_per_minute))
