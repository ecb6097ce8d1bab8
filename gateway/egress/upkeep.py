"""The pool's upkeep, one step at a time: reap expired leases, bring quarantined slots back half-open, reconcile
the live pool in Redis with the inventory, write a pool snapshot when one is due. `process/maintenance.py` runs
the steps once per interval cluster-wide, beside the other wings' own (the postbacks' retry)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.egress.census import Census
from gateway.egress.slots import Slots
from store.locks import IntervalLocks
from store.pool import EgressPool
from store.snapshots import Snapshots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpkeepStores:
    pool: EgressPool
    snapshots: Snapshots
    locks: IntervalLocks


class PoolUpkeep:
    def __init__(self, stores: UpkeepStores, slots: Slots, census: Census, snapshot_interval_s: float,
                 identity: str) -> None:
        self.pool, self.snapshots, self.locks = stores.pool, stores.snapshots, stores.locks
        self.slots = slots
        self.census = census
        self.snapshot_interval_s = snapshot_interval_s
        self.identity = identity

    def reap(self) -> list[str]:
        """Leases past their deadline, given back (their slot ids)."""
        reaped = self.pool.reap_expired()
        if reaped:
            log.warning("reaped %d expired lease(s): %s", len(reaped), ", ".join(reaped[:10]))
        return reaped

    def recover(self) -> list[str]:
        """Quarantined slots whose retry time came, back half-open (their ids)."""
        recovered = self.pool.recover_due()
        if recovered:
            log.info("%d quarantined slot(s) back half-open: %s", len(recovered), ", ".join(recovered[:10]))
        return recovered

    def reconcile(self) -> dict[str, int]:
        """The live pool made to match the inventory: what had to change, by kind."""
        reconciled = {k: v for k, v in self.slots.reconcile().items() if k != "ok"}
        if reconciled:
            log.info("reconciled the live pool with the inventory: %s", reconciled)
        return reconciled

    def snapshot(self) -> list[str] | None:
        """A pool snapshot to PostgreSQL once per `snapshot_interval_s` cluster-wide: the pool's warnings when one
        was written, None when none was due."""
        if not self.locks.claim("snapshot", round(self.snapshot_interval_s * 1000), self.identity):
            return None
        state = self.census.status()
        window = self.pool.take_window()
        taken_at = datetime.now(UTC)
        self.snapshots.write([{
            "taken_at": taken_at, "country": c.country, "total": c.total, "ready": c.ready, "leased": c.leased,
            "cooling": c.cooling, "quarantined": c.quarantined, "disabled": c.disabled,
            "utilization": c.utilization, "leases": window.get(f"leases:{c.country}", 0),
            "lease_waits": window.get(f"waits:{c.country}", 0), "no_egress": window.get(f"no_egress:{c.country}", 0),
        } for c in state.countries])
        for warning in state.warnings:
            log.warning("pool: %s", warning)
        return state.warnings

    def every_interval(self, ticking: bool) -> None:
        """What every process does each interval: hand its lease counts to Redis, and refresh its pool gauges when
        it is not the one ticking (the tick's census does it there)."""
        self.pool.flush_counts()
        if not ticking:
            self.census.status(check_inventory=False)
