"""Leases as the gateway takes them: in the wanted countries' order, counted in metrics and in the pool's window
counters, handed out with the slot's inventory row and the proxy URL to trace through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.config import ProviderSettings
from gateway.egress.directory import SlotDirectory
from gateway.egress.providers import proxy_url
from gateway.metrics import Metrics
from store.inventory import Inventory, Slot
from store.pool import EgressPool, Lease, NoEgress, Release, ReleaseResult

MAX_STALE_SLOTS = 3


@dataclass(frozen=True)
class LeasedSlot:
    """A lease together with its slot and the proxy URL to trace through (credentials included)."""

    lease: Lease
    slot: Slot
    proxy: str = field(repr=False)


class Leases:
    def __init__(self, pool: EgressPool, directory: SlotDirectory, inventory: Inventory,
                 providers: Mapping[str, ProviderSettings], metrics: Metrics) -> None:
        self.pool = pool
        self.directory = directory
        self.inventory = inventory
        self.providers = providers
        self.metrics = metrics

    def lease(self, countries: Sequence[str], wait_ms: float, holder: str) -> LeasedSlot:
        """Lease a slot of the first country that has one free within `wait_ms`; raises NoEgress otherwise."""
        for _ in range(MAX_STALE_SLOTS):
            try:
                lease = self.pool.lease(countries, wait_ms, holder)
            except NoEgress:
                self.metrics.no_egress.labels(countries[0]).inc()
                self.pool.count("no_egress", countries[0])
                raise
            self.metrics.leases.labels(lease.country).inc()
            self.metrics.lease_wait.observe(lease.waited_ms / 1000)
            if lease.waited:
                self.pool.count("waits", lease.country)
            slot = self.directory.get(lease.slot_id)
            if slot is not None:
                return LeasedSlot(lease, slot, proxy_url(slot, self.providers))
            self.pool.drop(lease.slot_id)  # left the inventory since Redis last heard of it
        raise NoEgress(countries, -1)

    def lease_one(self, slot_id: str, holder: str) -> LeasedSlot:
        """Lease one chosen slot if it is ready now (NoEgress otherwise)."""
        slot = self.inventory.get(slot_id)
        lease = self.pool.lease_one(slot.id, slot.country, holder)
        return LeasedSlot(lease, slot, proxy_url(slot, self.providers))

    def release(self, leased: LeasedSlot, outcome: Release, trace_ms: float | None = None,
                cooldown_s: float | None = None) -> ReleaseResult:
        """Give the slot back with its outcome (`ok`, `fail`, `upstream_error`); starts its cooldown."""
        cooldown_ms = None if cooldown_s is None else round(cooldown_s * 1000)
        released = self.pool.release(leased.lease, outcome, trace_ms, cooldown_ms)
        if released.result == "quarantined":
            self.metrics.quarantines.labels(leased.lease.country).inc()
        elif released.result == "ignored":
            self.metrics.late_releases.inc()
        return released
