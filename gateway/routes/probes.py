"""`/healthz`, `/readyz` and `/metrics`: is the process alive, does each store answer (and how fast), are browser
workers there. They are answered to whoever reaches them, so they tell no more than they must: a store that fails
is named, never its error (which may hold an address or a socket path: the log has it), and `/metrics`, which
names every offer, asks for `[metrics] token` when one is set."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from bottle import Bottle, HTTPResponse, request

from gateway.metrics import Metrics
from gateway.routes.auth import bearer_matches
from store import database
from store.browser_jobs import BrowserJobs
from store.errors import StoreError
from store.stores import Stores

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 2.0


def _probe(name: str, check: Callable[[], object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # readiness reports any failure of the store, whatever its type
        log.warning("readiness: %s is not answering: %s: %s", name, type(exc).__name__, exc)
        return {"ok": False, "error": "not answering (the gateway's log says why)"}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def check_stores(stores: Stores, metrics: Metrics) -> dict[str, dict[str, Any]]:
    """Probe Redis and PostgreSQL side by side; each answer is `{"ok": true, "ms": ...}` or an error."""
    probes = {
        "redis": gevent.spawn(_probe, "redis", stores.redis.ping),
        "postgres": gevent.spawn(_probe, "postgres", lambda: database.ping(stores.db, PROBE_TIMEOUT_S)),
    }
    for name, probe in probes.items():
        probe.link_exception(lambda g, n=name: log.error("%s readiness probe crashed: %r", n, g.exception))
    gevent.joinall(list(probes.values()), timeout=PROBE_TIMEOUT_S + 1)
    result: dict[str, dict[str, Any]] = {}
    for name, job in probes.items():
        if not job.ready():
            job.kill(block=False)
        result[name] = job.value if job.ready() and job.value else {"ok": False, "error": "timed out"}
        metrics.store_up.labels(name).set(1 if result[name]["ok"] else 0)
    return result


def browser_state(jobs: BrowserJobs) -> dict[str, Any]:
    """Browser tracing as this gateway sees it (it never fails readiness: without a worker, offers that want a
    browser trace over HTTP and say so)."""
    try:
        workers, waiting = jobs.workers(), jobs.waiting()
    except StoreError:
        return {"state": "unknown"}
    return {"state": "on" if workers else "off", "workers": workers, "waiting_jobs": waiting}


def build(stores: Stores, metrics: Metrics, metrics_token: str = "") -> Bottle:
    app = Bottle()

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "alive"}

    @app.get("/readyz")
    def readyz() -> HTTPResponse:
        checked = check_stores(stores, metrics)
        failing = [name for name, state in checked.items() if not state["ok"]]
        body: dict[str, Any] = {"status": "unavailable" if failing else "ready", "stores": checked,
                                "browser": browser_state(stores.browser_jobs)}
        if failing:
            body["failing"] = failing
        return HTTPResponse(body, status=503 if failing else 200, headers={"Cache-Control": "no-store"})

    @app.get("/metrics")
    def render_metrics() -> HTTPResponse:
        if metrics_token and not bearer_matches(request.environ.get("HTTP_AUTHORIZATION"), metrics_token):
            return HTTPResponse("a bearer token is required: [metrics] token\n", status=401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"})
        payload, content_type = metrics.render()
        return HTTPResponse(payload, headers={"Content-Type": content_type})

    return app
