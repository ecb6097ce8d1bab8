"""Maintenance: reap expired leases, bring quarantined slots back, reconcile Redis with the inventory, retry
postbacks left unprocessed (through the hook it is given), and write pool snapshots. A greenlet in every gateway
process; an interval lock in Redis makes one tick run cluster-wide per interval. Every step is idempotent, so a
forced tick (`gateway pool maintain`, `POST /api/maintenance`) running beside a scheduled one is harmless.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import gevent

from gateway.config import MaintenanceSettings
from gateway.egress.census import Census
from gateway.egress.slots import Slots
from gateway.metrics import Metrics
from store.errors import StoreError
from store.locks import IntervalLocks
from store.pool import EgressPool
from store.snapshots import Snapshots

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    reaped: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    reconciled: dict[str, int] = field(default_factory=dict)
    postbacks_retried: int = 0
    snapshot: bool = False
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MaintenanceStores:
    pool: EgressPool
    snapshots: Snapshots
    locks: IntervalLocks


class Maintenance:
    def __init__(self, stores: MaintenanceStores, slots: Slots, census: Census, retry_postbacks: Callable[[], int],
                 metrics: Metrics, settings: MaintenanceSettings, identity: str) -> None:
        self.pool, self.snapshots, self.locks = stores.pool, stores.snapshots, stores.locks
        self.slots = slots
        self.census = census
        self.retry_postbacks = retry_postbacks
        self.metrics = metrics
        self.settings = settings
        self.identity = identity
        self.greenlet: gevent.Greenlet | None = None

    def tick(self) -> TickReport:
        """One maintenance pass. A step whose store is down is reported and skipped; the others still run."""
        report = TickReport()
        for name, step in (("reap", self._reap), ("recover", self._recover), ("reconcile", self._reconcile),
                           ("postbacks", self._postbacks), ("snapshot", self._snapshot)):
            try:
                step(report)
            except StoreError as exc:
                report.errors.append(f"{name}: {exc}")
                log.warning("maintenance %s skipped: %s", name, exc)
        self.metrics.maintenance_ticks.labels("errors" if report.errors else "ok").inc()
        return report

    def _reap(self, report: TickReport) -> None:
        report.reaped = self.pool.reap_expired()
        if report.reaped:
            log.warning("reaped %d expired lease(s): %s", len(report.reaped), ", ".join(report.reaped[:10]))

    def _recover(self, report: TickReport) -> None:
        report.recovered = self.pool.recover_due()
        if report.recovered:
            log.info("%d quarantined slot(s) back half-open: %s", len(report.recovered),
                     ", ".join(report.recovered[:10]))

    def _reconcile(self, report: TickReport) -> None:
        report.reconciled = {k: v for k, v in self.slots.reconcile().items() if k != "ok"}
        if report.reconciled:
            log.info("reconciled the live pool with the inventory: %s", report.reconciled)

    def _postbacks(self, report: TickReport) -> None:
        report.postbacks_retried = self.retry_postbacks()

    def _snapshot(self, report: TickReport) -> None:
        if not self.locks.claim("snapshot", round(self.settings.snapshot_interval_s * 1000), self.identity):
            return
        state = self.census.status()
        window = self.pool.take_window()
        taken_at = datetime.now(UTC)
        self.snapshots.write([{
            "taken_at": taken_at, "country": c.country, "total": c.total, "ready": c.ready, "leased": c.leased,
            "cooling": c.cooling, "quarantined": c.quarantined, "disabled": c.disabled,
            "utilization": c.utilization, "leases": window.get(f"leases:{c.country}", 0),
            "lease_waits": window.get(f"waits:{c.country}", 0), "no_egress": window.get(f"no_egress:{c.country}", 0),
        } for c in state.countries])
        report.snapshot = True
        report.warnings = state.warnings
        for warning in state.warnings:
            log.warning("pool: %s", warning)

    # -- the per-process loop ------------------------------------------------------------------------------------

    def start(self) -> gevent.Greenlet:
        """Every process wakes each interval (with jitter); the one that claims the interval lock runs the tick,
        the others only refresh their pool gauges."""
        self.greenlet = gevent.spawn(self._loop)
        self.greenlet.link_exception(lambda g: log.error("maintenance loop crashed: %r", g.exception))
        return self.greenlet

    def stop(self) -> None:
        if self.greenlet:
            self.greenlet.kill()

    def _loop(self) -> None:
        interval = self.settings.interval_s
        while True:
            gevent.sleep(interval * random.uniform(0.9, 1.1))
            try:
                self.pool.flush_counts()
                if self.locks.claim("maintenance", round(interval * 1000 * 0.9), self.identity):
                    self.tick()
                else:
                    self.census.status(check_inventory=False)
            except StoreError as exc:
                log.warning("maintenance skipped: %s", exc)
