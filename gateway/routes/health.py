"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

from bottle import Bottle, HTTPResponse

from gateway import health
from gateway.runtime import Runtime


def build(rt: Runtime) -> Bottle:
    app = Bottle()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "alive"}

    @app.get("/readyz")
    def readyz() -> HTTPResponse:
        stores = health.check_stores(rt)
        failing = [name for name, state in stores.items() if not state["ok"]]
        body = {"status": "unavailable" if failing else "ready", "stores": stores}
        if failing:
            body["failing"] = failing
        return HTTPResponse(body, status=503 if failing else 200, headers={"Cache-Control": "no-store"})

    @app.get("/metrics")
    def metrics() -> HTTPResponse:
        payload, content_type = rt.metrics.render()
        return HTTPResponse(payload, headers={"Content-Type": content_type})

    return app
