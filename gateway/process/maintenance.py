"""Maintenance: the background steps every wing needs once per interval, run cluster-wide by one process: the
pool's upkeep (`egress/upkeep.py`: reap, recover, reconcile, snapshot) and the postbacks' retry of events a dead
process left (`PairUpdater.retry_stale`). A greenlet in every gateway process; an interval lock in Redis makes one
tick run per interval. Every step is idempotent, so a forced tick (`gateway pool maintain`, `POST /api/maintenance`)
running beside a scheduled one is harmless; a step whose store is down is reported and skipped, the others run.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gevent

from gateway.config import MaintenanceSettings
from gateway.egress.upkeep import PoolUpkeep
from gateway.metrics import Metrics
from store.errors import StoreError
from store.locks import IntervalLocks

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Maintenance:
    def __init__(self, upkeep: PoolUpkeep, retry_postbacks: Callable[[], int], locks: IntervalLocks,
                 metrics: Metrics, settings: MaintenanceSettings, identity: str) -> None:
        self.upkeep = upkeep
        self.retry_postbacks = retry_postbacks
        self.locks = locks
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
        report.reaped = self.upkeep.reap()

    def _recover(self, report: TickReport) -> None:
        report.recovered = self.upkeep.recover()

    def _reconcile(self, report: TickReport) -> None:
        report.reconciled = self.upkeep.reconcile()

    def _postbacks(self, report: TickReport) -> None:
        report.postbacks_retried = self.retry_postbacks()

    def _snapshot(self, report: TickReport) -> None:
        warnings = self.upkeep.snapshot()
        report.snapshot, report.warnings = warnings is not None, warnings or []

    # -- the per-process loop ------------------------------------------------------------------------------------

    def start(self) -> gevent.Greenlet:
        """Every process wakes each interval (with jitter); the one that claims the interval lock runs the tick."""
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
                ticking = self.locks.claim("maintenance", round(interval * 1000 * 0.9), self.identity)
                self.upkeep.every_interval(ticking)
                if ticking:
                    self.tick()
            except StoreError as exc:
                log.warning("maintenance skipped: %s", exc)
