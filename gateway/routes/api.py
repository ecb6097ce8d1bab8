"""The admin API under `/api/`: bearer-token auth before routing, JSON in and out, errors rendered by
`jsonapi`. Each resource registers its routes from its own module (`api_pool`, ...), given its services by the
process that builds the app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bottle import Bottle, request

from gateway.routes import openapi
from gateway.routes.auth import bearer_matches
from gateway.routes.jsonapi import KnownQuery, error, error_page, json_api
from gateway.routes.wsgi import StartResponse, WSGIApp

HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]


def with_headers(app: WSGIApp, headers: list[tuple[str, str]]) -> WSGIApp:
    """WSGI middleware adding `headers` to every response of `app`, errors included."""
    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, response_headers + headers, exc_info)
        return app(environ, start)

    return wrapped


def build(token: str, resources: Iterable[Callable[[Bottle], None]]) -> WSGIApp:
    """The admin API: `token` required on every route, each of `resources` registering its routes."""
    app = Bottle(catchall=True)

    @app.hook("before_request")
    def authenticate() -> None:
        if not bearer_matches(request.environ.get("HTTP_AUTHORIZATION"), token):  # raw: never decoded
            raise error(401, "unauthorized", "missing or wrong bearer token")

    app.default_error_handler = error_page
    app.install(json_api)
    app.install(KnownQuery(openapi.query_names))
    app.get("/openapi.json")(openapi.document)
    for register in resources:
        register(app)
    return with_headers(app, HEADERS)

