"""The benchmark runner behind `gateway bench`: each figure measures the gateway's path side by side with
the bare thing it is built on, in alternating rounds of one run, on loopback, and reports their ratio.
Never judged by a timer in a unit test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from statistics import median

import gevent
import requests

from gateway.runtime import Runtime
from gateway.tracing import TraceOptions, trace
from loadtest.chains import chain
from loadtest.processes import ServiceProcess
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


def cpu_per_call(operation: Callable[[], object], calls: int) -> float:
    """CPU seconds of this process per call of `operation`, run `calls` times one after another."""
    started = time.process_time()
    for _ in range(calls):
        operation()
    return (time.process_time() - started) / calls


def trace_figure(hops: int = 5, traces: int = 40, rounds: int = ROUNDS) -> dict:
    """CPU ms per hop of the tracer against a bare `requests.get` following the same 3xx chain.

    The chain server runs in its own process, so only the client's CPU is counted; the tracer runs with the
    SSRF guard off (the chain is on loopback), as the bare client has none.
    """
    with ServiceProcess.python("-m", "loadtest", "chains") as server:
        base = server.url
        start = chain(base, ["302"] * hops, f"{base}/land?clickid=bench")
        options = TraceOptions(allow_private=True)
        assert trace(start, None, options).ok
        tracer_cpu, bare_cpu = [], []
        for _ in range(rounds):
            tracer_cpu.append(cpu_per_call(lambda: trace(start, None, options), traces) / (hops + 1))
            bare_cpu.append(cpu_per_call(lambda: requests.get(start, timeout=10), traces) / (hops + 1))
    return {"tracer_cpu_ms_per_hop": round(median(tracer_cpu) * 1000, 3),
            "requests_cpu_ms_per_hop": round(median(bare_cpu) * 1000, 3),
            "trace_cpu_ratio": round(median(t / b for t, b in zip(tracer_cpu, bare_cpu, strict=True)), 3)}
