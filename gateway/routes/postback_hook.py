"""`GET|POST /webhooks/trackier`: Trackier's S2S postbacks, a plain WSGI callable. Answers are JSON: 200
accepted or disabled, 404 unresolved, 400/413/414 unreadable, 405 other methods, 429 too many unknown secrets
(with `Retry-After`), 503 when the event cannot be recorded (so Trackier retries)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.config import WebhookSettings
from gateway.postbacks import receiving
from gateway.postbacks.receiving import Receipt, Received, Receiver
from gateway.routes.clients import Clients
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import StartResponse, answer_json, read_body
from gateway.tracing import params

STATUS = {Received.ACCEPTED: 200, Received.DISABLED: 200, Received.UNRESOLVED: 404, Received.RATE_LIMITED: 429,
          Received.REFUSED: 400}


def problem(status: int, code: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"error": {"code": code, "message": message}}, {}


def rendered(receipt: Receipt) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A receipt as HTTP: status, JSON body, headers."""
    status = STATUS[receipt.outcome]
    if status == 200:
        return status, {"status": receipt.outcome, "event_id": receipt.event_id, "pair": receipt.pair}, {}
    code = "invalid" if receipt.outcome == Received.REFUSED else str(receipt.outcome)
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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, body, headers = self.handle(environ)
        return answer_json(environ, start_response, status, body, headers)

    def handle(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Every answer is JSON, a bug's included (routes/errors.py); a store that is down answers 503 with
        Retry-After, so Trackier sends the postback again."""
        if environ.get("REQUEST_METHOD") not in ("GET", "POST"):
            return problem(405, "method_not_allowed", "postbacks are GET or POST")
        try:
            body = read_body(environ, self.limit)
            if body is None:
                raise receiving.PostbackTooLarge("body", f"over {self.limit} bytes")
            query = params.parse_query(environ.get("QUERY_STRING", ""), self.max_query_bytes)
            postback = receiving.parse(query, body, environ.get("CONTENT_TYPE", ""))
            return rendered(self.receiver.receive(postback, self.clients.address(environ)))
        except Exception as exc:
            failed = problem_for(exc, "postback (not recorded)")
            return failed.status, failed.body(), failed.headers()
