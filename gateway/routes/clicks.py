"""The click path: `GET|HEAD|POST /track-hit?offer=SLUG&...` and `/c/SLUG?...`.

Answers are redirects, 204 for beacons, or a small page (404 unknown offer, 400/414 unreadable query, 503 when
the offer cannot be looked up). Every answer carries `Cache-Control: no-store` and `Referrer-Policy:
no-referrer`; none shows a stack trace.
"""

from __future__ import annotations

import html
import logging

from bottle import Bottle, HTTPResponse, request

from gateway import clicks, params
from gateway.runtime import Runtime
from store.errors import StoreError

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
METHODS = ["GET", "HEAD", "POST"]


def page(status: int, title: str, message: str) -> HTTPResponse:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
    return HTTPResponse(body, status=status, headers={**HEADERS, "Content-Type": "text/html; charset=utf-8"})


def answer_click(rt: Runtime, slug: str | None, inbound: list[tuple[str, str]]) -> HTTPResponse:
    if not slug:
        return page(404, "Unknown offer", "This link does not name an offer.")
    try:
        offer = rt.offer_cache.get(slug)
    except StoreError:
        log.warning("offer %r could not be looked up: the store is unavailable", slug)
        return page(503, "Temporarily unavailable", "Please try again in a moment.")
    if offer is None or not offer.enabled:
        return page(404, "Unknown offer", "This link does not lead anywhere.")
    purpose = " ".join(request.environ.get(h, "") for h in clicks.PREFETCH_HEADERS).lower()
    click = clicks.Click(slug, inbound, request.method, request.get_header("User-Agent", ""),
                         "prefetch" in purpose or "preview" in purpose)
    try:
        answer = clicks.handle(rt, offer, click)
    except Exception:  # a bug must still leave the user on the offer's fallback, never on a stack trace
        log.exception("click on %s failed; sent to the fallback", slug)
        return HTTPResponse(status=302, headers={**HEADERS, "Location": clicks.fallback_url(offer, inbound)})
    headers = {**HEADERS, "X-Click-Id": str(answer.click_id)}
    if answer.location:
        headers["Location"] = answer.location
    return HTTPResponse(status=answer.status, headers=headers)


def build(rt: Runtime) -> Bottle:
    app = Bottle()
    limit = rt.settings.clicks.max_query_bytes

    def click(slug: str | None) -> HTTPResponse:
        """`slug` from the path, or (None) from the query's `offer` parameter."""
        try:
            pairs = params.parse_query(request.environ.get("QUERY_STRING", ""), limit)
        except params.BadQuery as exc:
            return page(exc.status, "Bad request", str(exc))
        if slug is None:
            slug = next((value for name, value in pairs if name == "offer"), None)
            pairs = [(name, value) for name, value in pairs if name != "offer"]
        return answer_click(rt, slug, pairs)

    app.route("/track-hit", METHODS, lambda: click(None))
    app.route("/c/<slug>", METHODS, click)
    return app
