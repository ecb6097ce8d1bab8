"""The pool at a glance: per-country counts from the live pool, utilization, and the warnings an operator should
act on (above the alert, nothing ready, slots quarantined, inventory and Redis disagreeing)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gateway.metrics import Metrics
from store.errors import StoreUnavailable
from store.inventory import Inventory
from store.pool import EgressPool


@dataclass(frozen=True)
class CountryStatus:
    country: str
    total: int
    ready: int
    cooling: int
    leased: int
    quarantined: int
    disabled: int
    utilization: float
    alert: bool


@dataclass
class PoolStatus:
    countries: list[CountryStatus]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"countries": [asdict(c) for c in self.countries], "warnings": self.warnings}


class Census:
    def __init__(self, pool: EgressPool, inventory: Inventory, metrics: Metrics, alert_utilization: float) -> None:
        self.pool = pool
        self.inventory = inventory
        self.metrics = metrics
        self.alert_utilization = alert_utilization

    def status(self, country: str | None = None, check_inventory: bool = True) -> PoolStatus:
        """Per-country counts from the live pool, utilization, and what an operator should look at.
        Also refreshes the pool gauges of this process."""
        census = self.pool.census()
        rows = [self._row(cc, counts) for cc, counts in sorted(census.items()) if not country or cc == country]
        warnings = [warning for row in rows for warning in _warnings(row, self.alert_utilization)]
        if check_inventory:
            warnings += self._inventory_drift(census, country)
        for row in rows:
            self.metrics.pool_utilization.labels(row.country).set(row.utilization)
            for state in ("ready", "cooling", "leased", "quarantined", "disabled"):
                self.metrics.pool_slots.labels(row.country, state).set(getattr(row, state))
        return PoolStatus(rows, warnings)

    def _row(self, country: str, counts: dict[str, int]) -> CountryStatus:
        enabled = counts["total"] - counts["disabled"]
        utilization = round(1 - counts["ready"] / enabled, 3) if enabled else 0.0
        return CountryStatus(country, utilization=utilization, alert=utilization > self.alert_utilization, **counts)

    def _inventory_drift(self, census: dict[str, Any], country: str | None) -> list[str]:
        try:
            inventory = self.inventory.all()
        except StoreUnavailable as exc:
            return [f"inventory not checked: {exc}"]
        counts: dict[str, int] = {}
        for slot in inventory:
            counts[slot.country] = counts.get(slot.country, 0) + 1
        drift = []
        for cc in sorted(set(counts) | set(census)):
            live = census.get(cc, {}).get("total", 0)
            if (not country or cc == country) and counts.get(cc, 0) != live:
                drift.append(f"{cc}: inventory has {counts.get(cc, 0)} slot(s), the live pool {live}: "
                             "the next maintenance tick reconciles them")
        return drift


def _warnings(row: CountryStatus, threshold: float) -> list[str]:
    found = []
    if row.alert:
        found.append(f"{row.country}: utilization {row.utilization:.0%} is above {threshold:.0%}: add slots")
    if row.total > row.disabled and row.ready == 0:
        found.append(f"{row.country}: no slot is ready right now")
    if row.quarantined:
        found.append(f"{row.country}: {row.quarantined} slot(s) quarantined after repeated egress failures")
    return found
