"""The click path: `GET|HEAD|POST /track-hit?offer=SLUG&...` and `/c/SLUG?...`, a plain WSGI callable.

Answers are redirects, 204 for beacons, or a small page (404 unknown offer, 400/414 unreadable query, 405
other methods, 503 when the offer cannot be looked up). Every answer carries `Cache-Control: no-store` and
`Referrer-Policy: no-referrer`; none shows a stack trace.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from typing import Any

from gateway.clicks.click import PREFETCH_HEADERS, Click, ClickHandler, fallback_url
from gateway.clicks.offer_cache import OfferCache
from gateway.routes.clients import Clients
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import StartResponse, answer
from gateway.tracing import params
from store.errors import StoreError

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
METHODS = frozenset({"GET", "HEAD", "POST"})


def page(status: int, title: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
    return status, {**HEADERS, "Content-Type": "text/html; charset=utf-8"}, body.encode("utf-8")


class ClickApp:
    def __init__(self, offer_cache: OfferCache, handler: ClickHandler, clients: Clients, max_query_bytes: int) -> None:
        self.offer_cache = offer_cache
        self.handler = handler
        self.clients = clients
        self.limit = max_query_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self.handle(environ)
        return answer(environ, start_response, status, headers, body)

    def handle(self, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in METHODS:
            return page(405, "Method not allowed", "Clicks are GET, HEAD or POST.")
        try:
            pairs = params.parse_query(environ.get("QUERY_STRING", ""), self.limit)
        except params.BadQuery as exc:
            failed = problem_for(exc, "click")
            return page(failed.status, "Bad request", failed.message)
        path = environ.get("PATH_INFO", "")
        if path == "/track-hit":
            slug = next((value for name, value in pairs if name == "offer"), None)
            pairs = [(name, value) for name, value in pairs if name != "offer"]
        else:
            slug = path[len("/c/"):]
        return self.click(environ, method, slug, pairs)

    def click(self, environ: dict[str, Any], method: str, slug: str | None,
              inbound: list[tuple[str, str]]) -> tuple[int, dict[str, str], bytes]:
        if not slug:
            return page(404, "Unknown offer", "This link does not name an offer.")
        try:
            offer = self.offer_cache.get(slug)
        except StoreError as exc:
            return page(problem_for(exc, f"click on {slug!r}").status, "Temporarily unavailable",
                        "Please try again in a moment.")
        if offer is None or not offer.enabled:
            return page(404, "Unknown offer", "This link does not lead anywhere.")
        purpose = " ".join(environ.get(h, "") for h in PREFETCH_HEADERS).lower()
        click = Click(slug, inbound, method, environ.get("HTTP_USER_AGENT", ""),
                      "prefetch" in purpose or "preview" in purpose, self.clients.address(environ))
        try:
            result = self.handler.handle(offer, click)
        except Exception:  # a bug must still leave the user on the offer's fallback, never on a stack trace
            log.exception("click on %s failed; sent to the fallback", slug)
            return 302, {**HEADERS, "Location": fallback_url(offer, inbound)}, b""
        headers = {**HEADERS, "X-Click-Id": str(result.click_id)}
        if result.location is None:  # a beacon: nothing to follow
            return 204, headers, b""
        return 302, {**headers, "Location": result.location}, b""
