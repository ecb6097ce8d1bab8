"""The bare things the benchmarks compare the gateway with, each run in a process of its own.

- `redirect_app`: Bottle on gevent answering every `/c/<slug>` with a 302 built from its query, the least a
  redirecting web app can do; served by the same server class as the gateway.
- `fanout`: greenlets calling `requests.get` on a chain (redirects followed), the least a tracer can do.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import gevent
import requests
from bottle import Bottle, HTTPResponse, request


def redirect_app() -> Bottle:
    app = Bottle()

    @app.route("/c/<slug>", ["GET", "HEAD"])
    def click(slug: str) -> HTTPResponse:
        location = f"https://landing.example/{slug}?{urlencode(list(request.query.allitems()))}"
        return HTTPResponse(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    return app


def fanout(url: str, concurrency: int, seconds: float, proxy: str | None = None) -> dict:
    """Chains followed per second by `concurrency` greenlets doing `requests.get(url)` for `seconds`."""
    proxies = {"http": proxy, "https": proxy} if proxy else None
    done, failed = [0], [0]
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < deadline:
            try:
                requests.get(url, proxies=proxies, timeout=30)
                done[0] += 1
            except requests.RequestException:
                failed[0] += 1

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(loop) for _ in range(concurrency)])
    elapsed = time.perf_counter() - started
    return {"chains": done[0], "errors": failed[0], "per_second": round(done[0] / elapsed, 1)}
