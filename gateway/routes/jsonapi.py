"""JSON API plumbing shared by the admin routes: responses, errors (by `routes/errors.py`), body and query
parsing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from bottle import HTTPResponse, request, response

from gateway import text
from gateway.encoding import json_default
from gateway.errors import ValidationError
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import read_body

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20


def respond(body: Any, status: int = 200, **headers: str) -> HTTPResponse:
    return HTTPResponse(json.dumps(body, default=json_default), status=status,
                        headers={"Content-Type": "application/json", **headers})


def error(status: int, code: str, message: str, **extra: Any) -> HTTPResponse:
    return respond({"error": {"code": code, "message": message, **extra}}, status)


CODES = {400: "invalid", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
         500: "internal"}


def error_page(err: Any) -> str:
    """Bottle's own errors (no route, wrong method, an unreadable request) as the API's JSON error."""
    response.content_type = "application/json"
    status = err.status_code
    message = {404: "no such route", 405: "method not allowed", 500: "internal error; see the gateway log"}.get(
        status, err.body if isinstance(err.body, str) and err.body else err.status_line)
    return json.dumps({"error": {"code": CODES.get(status, "error"), "message": message}})


def json_api(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Bottle plugin: render results as JSON and errors as `routes/errors.py` says; never a stack trace."""
    def wrapper(*args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            result = callback(*args, **kwargs)
        except HTTPResponse:
            raise
        except Exception as exc:
            found = problem_for(exc, f"admin API {request.method} {request.path}")
            return respond(found.body(), found.status, **found.headers())
        return result if isinstance(result, HTTPResponse) else respond(result)

    return wrapper


class KnownQuery:
    """Bottle plugin: refuse query parameters a route does not document, naming the first one; a mistyped
    `limt=5` would otherwise be ignored without a word."""

    api = 2

    def __init__(self, names: Callable[[str, str], frozenset[str]]) -> None:
        self.names = names

    def apply(self, callback: Callable[..., Any], route: Any) -> Callable[..., Any]:
        known = self.names(route.method, route.rule)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for name in request.query:
                if name not in known:
                    raise ValidationError(name, "is not a query parameter of this route"
                                          + (f" (known: {', '.join(sorted(known))})" if known else ""))
            return callback(*args, **kwargs)

        return wrapper


def raw_body(limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body (with a Content-Length or chunked), read straight from the server's input."""
    body = read_body(request.environ, limit)
    if body is None:
        raise error(413, "too_large", f"request body over {limit} bytes")
    return body


def json_body() -> dict[str, Any]:
    """The request's JSON object, nesting bounded and every string storable; ValidationError naming the field
    (or `body`) otherwise."""
    data = text.checked_json(raw_body() or b"{}")
    if not isinstance(data, dict):
        raise ValidationError("body", "must be a JSON object")
    return data


def query_number(name: str, default: float | None, low: float, high: float, kind: type = float) -> Any:
    """A numeric query parameter within [low, high], or ValidationError naming it."""
    text = request.query.get(name)
    if text is None or text == "":
        if default is None:
            raise ValidationError(name, "is required")
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValidationError(name, f"must be a{'n integer' if kind is int else ' number'}") from None
    if not low <= value <= high:
        raise ValidationError(name, f"must be between {low:g} and {high:g}")
    return value
