"""`GET|POST /webhooks/trackier`: Trackier's S2S postbacks, a plain WSGI callable. Answers are JSON: 200
accepted or disabled, 404 unresolved, 400/413/414 unreadable, 405 other methods, 429 too many unknown secrets
(with `Retry-After`), 503 when the event cannot be recorded (so Trackier retries)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from gateway.config import WebhookSettings
from gateway.postbacks import receiving
from gateway.postbacks.receiving import Receipt, Receiver
from gateway.routes.clients import Clients
from gateway.routes.wsgi import StartResponse, answer_json, read_body
from gateway.tracing import params
from store.errors import StoreError

log = logging.getLogger(__name__)
STATUS = {"accepted": 200, "disabled": 200, "unresolved": 404, "rate_limited": 429, "refused": 400}


def problem(status: int, code: str, message: str, **extra: object) -> tuple[int, dict, dict]:
    return status, {"error": {"code": code, "message": message, **extra}}, {}


def rendered(receipt: Receipt) -> tuple[int, dict, dict]:
    """A receipt as HTTP: status, JSON body, headers."""
    status = STATUS[receipt.outcome]
    if status == 200:
        return status, {"status": receipt.outcome, "event_id": receipt.event_id, "pair": receipt.pair}, {}
    code = "invalid" if receipt.outcome == "refused" else receipt.outcome
    status, body, headers = problem(status, code, receipt.message or receipt.outcome)
    if receipt.event_id is not None:
        body["event_id"] = receipt.event_id
    if receipt.retry_after_s:
        headers["Retry-After"] = str(receipt.retry_after_s)
    return status, body, headers


class PostbackApp:
    def __init__(self, receiver: Receiver, settings: WebhookSettings, clients: Clients, max_query_bytes: int) -> None:
        self.receiver = receiver
        self.clients = clients
        self.limit = settings.max_body_kb * 1024
        self.max_query_bytes = max_query_bytes

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body, headers = self.handle(environ)
        except Exception:  # a bug still answers JSON, never pywsgi's HTML page
            log.exception("postback failed")
            status, body, headers = problem(500, "internal", "internal error; see the gateway log")
        return answer_json(environ, start_response, status, body, headers)

    def handle(self, environ: dict) -> tuple[int, dict, dict]:
        if environ.get("REQUEST_METHOD") not in ("GET", "POST"):
            return problem(405, "method_not_allowed", "postbacks are GET or POST")
        body = read_body(environ, self.limit)
        if body is None:
            return problem(413, "too_large", f"body over {self.limit} bytes")
        try:
            query = params.parse_query(environ.get("QUERY_STRING", ""), self.max_query_bytes)
            postback = receiving.parse(query, body, environ.get("CONTENT_TYPE", ""))
        except params.BadQuery as exc:
            return problem(exc.status, "invalid", str(exc), **({"field": exc.field} if exc.field else {}))
        except receiving.BadPostback as exc:
            return problem(exc.status, "invalid", exc.message, field=exc.field)
        try:
            return rendered(self.receiver.receive(postback, self.clients.address(environ)))
        except StoreError as exc:
            log.warning("postback not recorded, answered 503 so Trackier retries: %s", exc)
            status, body, _ = problem(503, "unavailable", "postback not recorded; retry")
            return status, body, {"Retry-After": "5"}
