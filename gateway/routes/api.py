"""The admin API under `/api/`: bearer-token auth before routing, JSON in and out, errors rendered by
`jsonapi`. Each resource registers its routes from its own module (`api_pool`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle, request

from gateway import openapi
from gateway.auth import admin_token, bearer_matches
from gateway.routes import api_offers, api_pairs, api_pool
from gateway.routes.jsonapi import KnownQuery, error, error_page, json_api
from gateway.runtime import Runtime

HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]


def with_headers(app: Callable, headers: list[tuple[str, str]]) -> Callable:
    """WSGI middleware adding `headers` to every response of `app`, errors included."""
    def wrapped(environ: dict, start_response: Callable) -> Any:
        def start(status: str, response_headers: list, exc_info: Any = None) -> Any:
            return start_response(status, response_headers + headers, exc_info)
        return app(environ, start)

    return wrapped


def build(rt: Runtime) -> Callable:
    app = Bottle(catchall=True)
    token = admin_token(rt.settings)

    @app.hook("before_request")
    def authenticate() -> None:
        if not bearer_matches(request.get_header("Authorization"), token):
            raise error(401, "unauthorized", "missing or wrong bearer token")

    app.default_error_handler = error_page
    app.install(json_api)
    app.install(KnownQuery(openapi.query_names))
    app.get("/openapi.json")(openapi.document)
    api_pool.register(app, rt)
    api_offers.register(app, rt)
    api_pairs.register(app, rt)
    return with_headers(app, HEADERS)

