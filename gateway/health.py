"""Liveness and readiness: does each store answer, and how fast."""

from __future__ import annotations

import time

import gevent

from gateway.runtime import Runtime

PROBE_TIMEOUT_S = 2.0


def _probe(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # readiness reports any failure of the store, whatever its type
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _ping_postgres(rt: Runtime) -> None:
    with rt.db.connection(timeout=PROBE_TIMEOUT_S) as conn:
        conn.execute("SELECT 1")


def check_stores(rt: Runtime) -> dict[str, dict]:
    """Probe Redis and PostgreSQL side by side; each answer is `{"ok": true, "ms": ...}` or an error."""
    probes = {
        "redis": gevent.spawn(_probe, rt.redis.ping),
        "postgres": gevent.spawn(_probe, lambda: _ping_postgres(rt)),
    }
    gevent.joinall(list(probes.values()), timeout=PROBE_TIMEOUT_S + 1)
    result = {}
    for name, job in probes.items():
        if not job.ready():
            job.kill(block=False)
        result[name] = job.value if job.ready() and job.value else {"ok": False, "error": "timed out"}
        rt.metrics.store_up.labels(name).set(1 if result[name]["ok"] else 0)
    return result
