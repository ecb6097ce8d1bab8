"""`GET /feed/{offer}/suffix[?country=CC]`: a fresh trace as a Google Ads final URL suffix, a plain WSGI callable.
Authorised by the offer's feed token (`Authorization: Bearer TOKEN`, or `?token=`), not the admin token. Answers
JSON: 200 `{"suffix", "final_url", "traced_at", "age_s"}`, 204 when the bucket is empty, 400 bad query, 401 no or
wrong token, 404 unknown offer or path, 405, 503 a store is down."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from gateway.ahead.feed import FeedRefused, SuffixFeed
from gateway.errors import ValidationError
from gateway.routes.wsgi import StartResponse, answer, answer_json
from gateway.tracing import params
from store.errors import NotFound, StoreError

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
MAX_QUERY = 2048


def problem(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message}}


class FeedApp:
    def __init__(self, feed: SuffixFeed) -> None:
        self.feed = feed

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        status, body = self.handle(environ)
        if status == 204:
            return answer(environ, start_response, 204, HEADERS)
        return answer_json(environ, start_response, status, body, HEADERS)

    def handle(self, environ: dict) -> tuple[int, dict | None]:
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) != 4 or parts[3] != "suffix" or not parts[2]:
            return problem(404, "not_found", "no such route: /feed/{offer}/suffix")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return problem(405, "method_not_allowed", "the feed is GET")
        try:
            query = dict(params.parse_query(environ.get("QUERY_STRING", ""), MAX_QUERY))
            found = self.feed.suffix(parts[2], _token(environ, query), query.get("country"))
        except params.BadQuery as exc:
            return problem(exc.status, "invalid", str(exc))
        except ValidationError as exc:
            return problem(400, "invalid", str(exc))
        except NotFound:
            return problem(404, "not_found", "no such offer")
        except FeedRefused as exc:
            return problem(401, "unauthorized", str(exc))
        except StoreError as exc:
            log.warning("suffix feed of %s unavailable: %s", parts[2], exc)
            return problem(503, "unavailable", "the feed cannot be read now; retry")
        return (204, None) if found is None else (200, found.as_dict())


def _token(environ: dict, query: dict) -> str | None:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else query.get("token")
