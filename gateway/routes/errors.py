"""The one table from a domain error to what an HTTP client is told: a status, a code and a message. The admin API
(JSON), the console (pages), the suffix feed, postbacks and clicks all answer through it; the domain raises its
errors with no status.

The message is the error's own words, except for a store that is not answering: then it is one sentence that names
no address or socket (the log keeps the detail). An error no row names is a bug: 500, logged with its traceback
(`problem_for`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.ahead.feed import FeedClosed
from gateway.errors import GatewayError, RateLimited, Unauthorized, ValidationError
from gateway.postbacks.pair_setup import NoSlotToTrace
from gateway.postbacks.receiving import PostbackTooLarge
from gateway.postbacks.trackier_api import TrackierError
from gateway.tracing.params import QueryTooLong
from store.errors import BadValue, Conflict, NotFound, StoreError
from store.pool import NoEgress

log = logging.getLogger(__name__)
STORE_DOWN = "Redis or PostgreSQL is not answering; retry in a moment"
RETRY_AFTER_S = 5

# Most specific first: the first row whose error class matches answers.
TABLE: tuple[tuple[type[Exception], int, str], ...] = (
    (QueryTooLong, 414, "too_long"),
    (PostbackTooLarge, 413, "too_large"),
    (ValidationError, 400, "invalid"),
    (BadValue, 400, "invalid"),
    (Unauthorized, 401, "unauthorized"),
    (FeedClosed, 404, "not_found"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (RateLimited, 429, "rate_limited"),
    (TrackierError, 502, "trackier"),
    (NoSlotToTrace, 503, "no_egress"),
    (NoEgress, 503, "no_egress"),
    (StoreError, 503, "unavailable"),
    (GatewayError, 500, "internal"),
)


@dataclass(frozen=True)
class Problem:
    """What a client is told of an error; `field` names the input to blame, `retry_after_s` when to try again."""

    status: int
    code: str
    message: str
    field: str | None = None
    retry_after_s: int | None = None

    def body(self) -> dict[str, dict[str, Any]]:
        """The JSON error every JSON edge answers: `{"error": {"code", "message"[, "field"]}}`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        return {"error": {**error, "field": self.field} if self.field else error}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else {}


def problem_for(exc: BaseException, where: str) -> Problem:
    """What to tell a client of `exc`, logged as `where` failing: a bug (no row names it) with its traceback and a
    500, an outage or an outside service's failure in one line."""
    found = problem(exc)
    if found is None or found.status == 500:
        log.error("%s failed", where, exc_info=exc)
        return Problem(500, "internal", "internal error; see the gateway log")
    if found.status >= 500:
        log.warning("%s: %s", where, exc)
    return found


def problem(exc: BaseException) -> Problem | None:
    """What to answer for `exc`; None when no row names it (a bug)."""
    for kind, status, code in TABLE:
        if isinstance(exc, kind):
            if isinstance(exc, StoreError) and status == 503 and code == "unavailable":
                return Problem(status, code, STORE_DOWN, retry_after_s=RETRY_AFTER_S)
            field = exc.field if isinstance(exc, ValidationError) else None
            message = exc.message if isinstance(exc, ValidationError) else str(exc)
            retry = getattr(exc, "retry_after_s", None) or (RETRY_AFTER_S if status == 503 else None)
            return Problem(status, code, message, field, retry)
    return None
