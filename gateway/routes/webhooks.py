"""`GET|POST /webhooks/trackier`: Trackier's S2S postbacks. Answers are JSON: 200 accepted or disabled, 404
unresolved, 400/413/414 unreadable, 429 too many unknown tokens, 503 when the event cannot be recorded."""

from __future__ import annotations

import logging

from bottle import Bottle, HTTPResponse, request

from gateway import params, webhooks
from gateway.routes.jsonapi import error, respond
from gateway.runtime import Runtime
from store.errors import StoreError

log = logging.getLogger(__name__)


def client_address(rt: Runtime) -> str | None:
    forwarded = request.environ.get("HTTP_X_FORWARDED_FOR", "")
    if rt.settings.webhooks.trust_forwarded_for and forwarded:
        return forwarded.split(",")[0].strip() or None
    return request.environ.get("REMOTE_ADDR")


def build(rt: Runtime) -> Bottle:
    app = Bottle()
    limit = rt.settings.webhooks.max_body_kb * 1024

    @app.route("/webhooks/trackier", ["GET", "POST"])
    def trackier() -> HTTPResponse:
        if request.content_length > limit:
            return error(413, "too_large", f"body over {limit} bytes")
        body = request.body.read(limit + 1)
        if len(body) > limit:
            return error(413, "too_large", f"body over {limit} bytes")
        try:
            query = params.parse_query(request.environ.get("QUERY_STRING", ""), rt.settings.clicks.max_query_bytes)
            postback = webhooks.parse(query, body, request.content_type)
        except params.BadQuery as exc:
            return error(exc.status, "invalid", str(exc))
        except webhooks.BadPostback as exc:
            return error(exc.status, "invalid", exc.message, field=exc.field)
        try:
            status, answer = webhooks.receive(rt, postback, client_address(rt))
        except StoreError as exc:
            log.warning("postback not recorded, answered 503 so Trackier retries: %s", exc)
            return respond({"error": {"code": "unavailable", "message": "postback not recorded; retry"}}, 503,
                           **{"Retry-After": "5"})
        return respond(answer, status)

    return app
