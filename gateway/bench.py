"""Benchmarks that print ratios measured side by side in one run, on loopback, never judged by a timer in
a unit test. Each figure compares the gateway's path with the bare thing it is built on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from statistics import median

import gevent

from gateway.runtime import Runtime
from store.pool import EgressPool, PoolPolicy

ROUNDS = 6


def throughput(operation: Callable[[], object], greenlets: int, seconds: float) -> float:
    """Operations per second of `greenlets` greenlets each running `operation` in a loop for `seconds`."""
    done = [0]
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < deadline:
            operation()
            done[0] += 1

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(loop) for _ in range(greenlets)], raise_error=True)
    return done[0] / (time.perf_counter() - started)


def side_by_side(subject: Callable[[], object], baseline: Callable[[], object], greenlets: int,
                 seconds: float, rounds: int = ROUNDS) -> tuple[list[float], list[float]]:
    """Throughputs of `subject` and `baseline` in alternating short rounds, so that drift in what else the
    machine is doing hits both alike; compare them round by round."""
    subjects, baselines = [], []
    for _ in range(rounds):
        baselines.append(throughput(baseline, greenlets, seconds / (2 * rounds)))
        subjects.append(throughput(subject, greenlets, seconds / (2 * rounds)))
    return subjects, baselines


def pool_figure(rt: Runtime, greenlets: int = 200, seconds: float = 3.0) -> dict:
    """Lease+release pairs/s against pairs of Redis PINGs/s, from one process, same client, same greenlets.

    A pair is two round trips by design (the trace runs between lease and release), so the baseline is
    two PINGs; a ratio near 1 means each pool call costs one round trip and little else.
    """
    prefix = f"{rt.settings.redis.prefix}bench:{uuid.uuid4().hex[:8]}:"
    bench_pool = EgressPool(rt.redis, prefix, PoolPolicy(lease_ms=60_000, cooldown_ms=0))
    bench_pool.ensure((f"bench-{i}", "us", True, "bench") for i in range(greenlets))

    def lease_and_release() -> None:
        bench_pool.release(bench_pool.lease(["us"]), "ok", 1.0)

    def two_pings() -> None:
        rt.redis.ping()
        rt.redis.ping()

    try:
        throughput(lease_and_release, greenlets, 0.3)
        pairs, pings = side_by_side(lease_and_release, two_pings, greenlets, seconds)
    finally:
        keys = list(rt.redis.scan_iter(match=prefix + "*", count=1000))
        if keys:
            rt.redis.delete(*keys)
    return {"lease_release_pairs_per_s": round(median(pairs)), "ping_pairs_per_s": round(median(pings)),
            "ping_round_trips_per_s": round(median(pings) * 2),
            "lease_ratio": round(median(a / b for a, b in zip(pairs, pings, strict=True)), 3)}
