"""Maintenance: reap expired leases, bring quarantined slots back, reconcile Redis with the inventory,
and write pool snapshots. A greenlet in every gateway process; an interval lock in Redis makes one tick
run cluster-wide per interval. Every step is idempotent, so a forced tick (`gateway pool maintain`,
`POST /api/maintenance`) running beside a scheduled one is harmless.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import gevent

from gateway import egress, pool
from gateway.runtime import Runtime
from store.errors import StoreError

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


def tick(rt: Runtime) -> TickReport:
    """One maintenance pass. A step whose store is down is reported and skipped; the others still run."""
    report = TickReport()
    for name, step in (("reap", _reap), ("recover", _recover), ("reconcile", _reconcile),
                       ("postbacks", _postbacks), ("snapshot", _snapshot)):
        try:
            step(rt, report)
        except StoreError as exc:
            report.errors.append(f"{name}: {exc}")
            log.warning("maintenance %s skipped: %s", name, exc)
    rt.metrics.maintenance_ticks.labels("errors" if report.errors else "ok").inc()
    return report


def _reap(rt: Runtime, report: TickReport) -> None:
    report.reaped = rt.pool.reap_expired()
    if report.reaped:
        log.warning("reaped %d expired lease(s): %s", len(report.reaped), ", ".join(report.reaped[:10]))


def _recover(rt: Runtime, report: TickReport) -> None:
    report.recovered = rt.pool.recover_due()
    if report.recovered:
        log.info("%d quarantined slot(s) back half-open: %s", len(report.recovered), ", ".join(report.recovered[:10]))


def _reconcile(rt: Runtime, report: TickReport) -> None:
    report.reconciled = {k: v for k, v in egress.reconcile(rt).items() if k != "ok"}
    if report.reconciled:
        log.info("reconciled the live pool with the inventory: %s", report.reconciled)


def _postbacks(rt: Runtime, report: TickReport) -> None:
    """Postbacks acknowledged but left unprocessed (a process died, a queue was full) go to this process's
    updater; those that failed `max_attempts` times are given up."""
    w = rt.settings.webhooks
    stale = rt.events.stale(w.stale_after_s, w.processing_timeout_s, w.max_attempts)
    report.postbacks_retried = sum(rt.updater.submit(event_id) for event_id in stale)
    if stale:
        log.warning("retrying %d postback(s) left unprocessed", len(stale))


def _snapshot(rt: Runtime, report: TickReport) -> None:
    interval_ms = round(rt.settings.maintenance.snapshot_interval_s * 1000)
    if not rt.locks.claim("snapshot", interval_ms, rt.identity):
        return
    state = pool.status(rt)
    window = rt.pool.take_window()
    taken_at = datetime.now(UTC)
    rt.snapshots.write([{
        "taken_at": taken_at, "country": c.country, "total": c.total, "ready": c.ready, "leased": c.leased,
        "cooling": c.cooling, "quarantined": c.quarantined, "disabled": c.disabled, "utilization": c.utilization,
        "leases": window.get(f"leases:{c.country}", 0), "lease_waits": window.get(f"waits:{c.country}", 0),
        "no_egress": window.get(f"no_egress:{c.country}", 0),
    } for c in state.countries])
    report.snapshot = True
    report.warnings = state.warnings
    for warning in state.warnings:
        log.warning("pool: %s", warning)


class MaintenanceLoop:
    """The per-process maintenance greenlet. Every process wakes each interval (with jitter); the one that
    claims the interval lock runs the tick, the others only refresh their pool gauges."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.greenlet: gevent.Greenlet | None = None

    def start(self) -> gevent.Greenlet:
        self.greenlet = gevent.spawn(self._run)
        self.greenlet.link_exception(lambda g: log.error("maintenance loop crashed: %r", g.exception))
        return self.greenlet

    def stop(self) -> None:
        if self.greenlet:
            self.greenlet.kill()

    def _run(self) -> None:
        interval = self.rt.settings.maintenance.interval_s
        while True:
            gevent.sleep(interval * random.uniform(0.9, 1.1))
            try:
                self.rt.pool.flush_counts()
                if self.rt.locks.claim("maintenance", round(interval * 1000 * 0.9), self.rt.identity):
                    tick(self.rt)
                else:
                    pool.status(self.rt, check_inventory=False)
            except StoreError as exc:
                log.warning("maintenance skipped: %s", exc)
