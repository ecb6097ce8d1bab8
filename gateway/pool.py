"""The egress pool as the gateway uses it: leases that land in metrics, status with warnings, sizing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from gateway import tracing
from gateway.egress import proxy_url
from gateway.runtime import Runtime
from store.errors import StoreUnavailable
from store.inventory import Egress
from store.pool import Lease, NoEgress, Released

MAX_STALE_SLOTS = 3


@dataclass(frozen=True)
class Leased:
    """A lease together with its slot and the proxy URL to trace through (credentials included)."""

    lease: Lease
    slot: Egress
    proxy: str = field(repr=False)


def lease_slot(rt: Runtime, countries: Sequence[str], wait_ms: float, holder: str) -> Leased:
    """Lease a slot of the first country that has one free within `wait_ms`; raises NoEgress otherwise."""
    for _ in range(MAX_STALE_SLOTS):
        try:
            lease = rt.pool.lease(countries, wait_ms, holder)
        except NoEgress:
            rt.metrics.no_egress.labels(countries[0]).inc()
            rt.pool.count("no_egress", countries[0])
            raise
        rt.metrics.leases.labels(lease.country).inc()
        rt.metrics.lease_wait.observe(lease.waited_ms / 1000)
        if lease.waited:
            rt.pool.count("waits", lease.country)
        slot = rt.slots.get(lease.slot_id)
        if slot is not None:
            return Leased(lease, slot, proxy_url(slot, rt.settings.providers))
        rt.pool.drop(lease.slot_id)  # left the inventory since Redis last heard of it
    raise NoEgress(countries, -1)


def lease_named(rt: Runtime, slot_id: str, holder: str) -> Leased:
    """Lease one chosen slot if it is ready now (NoEgress otherwise)."""
    slot = rt.inventory.get(slot_id)
    lease = rt.pool.lease_slot_id(slot.id, slot.country, holder)
    return Leased(lease, slot, proxy_url(slot, rt.settings.providers))


def trace_through(rt: Runtime, leased: Leased, url: str, options: tracing.TraceOptions,
                  cooldown_s: float | None = None) -> tracing.TraceResult:
    """Trace `url` through a leased slot, then release it with the trace's outcome, whatever happens."""
    result = None
    try:
        result = tracing.trace(url, tracing.ProxyRoute(leased.slot.id, leased.proxy), options)
        return result
    finally:
        outcome = result.egress_outcome if result else "upstream_error"
        release_slot(rt, leased, outcome, result.total_ms if result and result.ok else None, cooldown_s)


def release_slot(rt: Runtime, leased: Leased, outcome: str, trace_ms: float | None = None,
                 cooldown_s: float | None = None) -> Released:
    """Give the slot back with its outcome (`ok`, `fail`, `upstream_error`); starts its cooldown."""
    cooldown_ms = None if cooldown_s is None else round(cooldown_s * 1000)
    released = rt.pool.release(leased.lease, outcome, trace_ms, cooldown_ms)
    if released.result == "quarantined":
        rt.metrics.quarantines.labels(leased.lease.country).inc()
    elif released.result == "ignored":
        rt.metrics.late_releases.inc()
    return released


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

    def as_dict(self) -> dict:
        return {"countries": [asdict(c) for c in self.countries], "warnings": self.warnings}


def status(rt: Runtime, country: str | None = None, check_inventory: bool = True) -> PoolStatus:
    """Per-country counts from the live pool, utilization, and what an operator should look at.
    Also refreshes the pool gauges of this process."""
    census = rt.pool.census()
    threshold = rt.settings.pool.alert_utilization
    rows, warnings = [], []
    for cc, counts in sorted(census.items()):
        if country and cc != country:
            continue
        enabled = counts["total"] - counts["disabled"]
        utilization = round(1 - counts["ready"] / enabled, 3) if enabled else 0.0
        rows.append(CountryStatus(cc, utilization=utilization, alert=utilization > threshold, **counts))
        warnings += _warnings(rows[-1], threshold)
    if check_inventory:
        warnings += _inventory_drift(rt, census, country)
    for row in rows:
        rt.metrics.pool_utilization.labels(row.country).set(row.utilization)
        for state in ("ready", "cooling", "leased", "quarantined", "disabled"):
            rt.metrics.pool_slots.labels(row.country, state).set(getattr(row, state))
    return PoolStatus(rows, warnings)


def _warnings(row: CountryStatus, threshold: float) -> list[str]:
    found = []
    if row.alert:
        found.append(f"{row.country}: utilization {row.utilization:.0%} is above {threshold:.0%}: add slots")
    if row.total > row.disabled and row.ready == 0:
        found.append(f"{row.country}: no slot is ready right now")
    if row.quarantined:
        found.append(f"{row.country}: {row.quarantined} slot(s) quarantined after repeated egress failures")
    return found


def _inventory_drift(rt: Runtime, census: dict, country: str | None) -> list[str]:
    try:
        inventory = rt.inventory.all()
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


def required_slots(peak_clicks_per_s: float, trace_s: float, cooldown_s: float,
                   headroom: float = 1.5) -> tuple[int, str]:
    """Slots needed for a peak click rate, and the reasoning: each click holds its slot for the trace
    and then rests it for the cooldown, so at peak R x (T + C) slots are busy (Little's law)."""
    busy = peak_clicks_per_s * (trace_s + cooldown_s)
    slots = math.ceil(busy * headroom)
    explanation = (f"{peak_clicks_per_s:g} clicks/s x ({trace_s:g} s trace + {cooldown_s:g} s cooldown) = "
                   f"{busy:g} slots busy at peak; x {headroom:g} headroom = {slots} slots")
    return slots, explanation
