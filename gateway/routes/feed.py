"""`GET|HEAD /feed/{offer}/suffix[?country=CC]`: a fresh trace as a Google Ads final URL suffix, a plain WSGI
callable. Authorised by the offer's feed token (`Authorization: Bearer TOKEN`, or `?token=`, which the access log
never shows), not the admin token. Answers JSON: 200 `{"suffix", "final_url", "traced_at", "age_s"}`, 204 (no body)
when the bucket is empty; HEAD takes nothing and answers 200 or 204 by whether a suffix is there. 400 bad query,
401 no token, a wrong one or an unknown offer (alike), 404 the offer is disabled or not in an ahead mode, 405,
429 with Retry-After past `[ahead] feed_per_minute` for the token (or `feed_refusals_per_minute` refusals for the
client address), 503 a store is down or refusing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.ahead.feed import FeedRequest, SuffixFeed
from gateway.metrics import Metrics
from gateway.routes.clients import Clients
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import StartResponse, answer, answer_json
from gateway.tracing import params

HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
MAX_QUERY = 2048


def problem(status: int, code: str, message: str, **headers: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"error": {"code": code, "message": message}}, headers


class FeedApp:
    def __init__(self, feed: SuffixFeed, clients: Clients, metrics: Metrics) -> None:
        self.feed = feed
        self.clients = clients
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, body, headers = self.handle(environ)
        self.metrics.feed_requests.labels(str(status)).inc()
        if body is None:
            return answer(environ, start_response, status, {**HEADERS, **headers})
        return answer_json(environ, start_response, status, body, {**HEADERS, **headers})

    def handle(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) != 4 or parts[3] != "suffix" or not parts[2]:
            return problem(404, "not_found", "no such route: /feed/{offer}/suffix")
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return problem(405, "method_not_allowed", "the feed is GET (HEAD: is a suffix there?)", Allow="GET, HEAD")
        try:
            query = dict(params.parse_query(environ.get("QUERY_STRING", ""), MAX_QUERY))
            request = FeedRequest(parts[2], _token(environ, query), query.get("country"),
                                  self.clients.address(environ))
            if method == "HEAD":
                return (200 if self.feed.ready(request) else 204), None, {}
            found = self.feed.suffix(request)
        except Exception as exc:
            failed = problem_for(exc, "suffix feed")
            return failed.status, failed.body(), failed.headers()
        return (204, None, {}) if found is None else (200, found.as_dict(), {})


def _token(environ: dict[str, Any], query: dict[str, Any]) -> str | None:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else query.get("token")
