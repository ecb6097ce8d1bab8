"""The Trackier API client (v2): campaigns, sub-id overrides, the credential check.

`[trackier] base_url` may or may not end in `/v2`; paths are always `/v2/...` exactly once. The key travels
only in the `X-Api-Key` header and is never logged or stored. Every attempt is recorded (method, path, status,
milliseconds, Trackier's own words for a refusal) through `record_call`.

What is retried: a request that clearly never reached Trackier (connection refused, connect timeout) and a 429
(waiting out `Retry-After`), with exponential backoff and jitter; reads and updates also after a 5xx, a read
timeout or a dropped connection. A campaign creation is not idempotent: after such an ambiguous failure the
campaign may exist, so it is first looked up by its (unique) title and adopted when found, and created again only
when it is not there.

Trackier's refusals come as `{"success": false, "errors": [{"statusCode", "code", "codeMsg", "message"}]}` (a
bad key: code 102, INVALID_API_KEY) or `{"success": false, "error": {"code", "message"}}`; both are read and
turned into one sentence an operator can act on.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import gevent
import requests

from gateway.config import TrackierSettings
from gateway.errors import GatewayError, causes

log = logging.getLogger(__name__)
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 60.0
PAGE_SIZE = 100
MAX_PAGES = 200
KEY_CODES = frozenset({"INVALID_API_KEY", "102"})


class TrackierError(GatewayError):
    """Trackier refused or could not be reached (after the retries); the message says which, in its words."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class Ambiguous(TrackierError):
    """The request may or may not have been carried out (a 5xx, a read timeout, a connection dropped after the
    request was sent)."""


@dataclass(frozen=True)
class Campaign:
    id: str
    hash_id: str | None = None


def api_root(base_url: str) -> str:
    """`https://api.trackier.com` from either `https://api.trackier.com` or `https://api.trackier.com/v2/`."""
    root = base_url.rstrip("/")
    return root[:-3] if root.endswith("/v2") else root


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    if value.strip().isdigit():
        return min(float(value), RETRY_AFTER_MAX_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), RETRY_AFTER_MAX_S)


def refusal(status: int, data: object, text: str = "") -> str:
    """Trackier's own words for a refused call, from either error shape: its messages, then its `codeMsg` (or
    `code`) in brackets, once when every error shares it."""
    items = _errors(data)
    said = [(_message(item), _label(item)) for item in items]
    said = [(message, label) for message, label in said if message or label]
    if not said:
        message = data.get("message") if isinstance(data, dict) else None
        return str(message)[:500] if message else (text.strip()[:200] or f"HTTP {status}")
    labels = {label for _, label in said}
    if len(labels) == 1:
        joined = "; ".join(message for message, _ in said if message)
        label = labels.pop()
        return (f"{joined} ({label})" if joined and label else joined or label)[:500]
    return "; ".join(f"{message} ({label})" if label else message for message, label in said)[:500]


def _errors(data: object) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    errors = data.get("errors")
    items = errors if isinstance(errors, list) else [data.get("error")]
    return [item for item in items if isinstance(item, dict)]


def _message(item: dict[str, Any]) -> str:
    message = str(item.get("message") or item.get("msg") or "").strip()
    param = item.get("param")
    return f"{param}: {message}" if param and message and str(param) not in message else message


def _label(item: dict[str, Any]) -> str:
    return str(item.get("codeMsg") or (f"code {item['code']}" if item.get("code") not in (None, "") else ""))


def key_refused(data: object) -> str | None:
    """`INVALID_API_KEY` (or its code) when Trackier refused the key itself."""
    for item in _errors(data):
        if (str(item.get("codeMsg")) in KEY_CODES or str(item.get("code")) in KEY_CODES
                or "api key" in str(item.get("message", "")).lower()):
            return str(item.get("codeMsg") or "INVALID_API_KEY")
    return None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached Trackier (the connection was not even made)."""
    return isinstance(exc, requests.exceptions.ConnectTimeout) or any(
        isinstance(e, ConnectionRefusedError) or type(e).__name__ == "NewConnectionError" for e in causes(exc))


class TrackierClient:
    def __init__(self, settings: TrackierSettings, record_call: Callable[[dict[str, Any]], None] = lambda call: None,
                 sleep: Callable[[float], None] = gevent.sleep) -> None:
        self.settings = settings
        self.root = api_root(settings.base_url)
        self.record_call = record_call
        self.sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False

    # -- campaigns -----------------------------------------------------------------------------------------------

    def create_campaign(self, payload: Mapping[str, Any], **context: object) -> Campaign:
        """Create a campaign (its `title` must be unique). After an ambiguous failure the campaign is looked up
        by title and adopted when it exists; it is created again only when it does not."""
        title = str(payload.get("title") or "")
        for attempt in range(1, self.settings.max_retries + 2):
            try:
                return _campaign(self._call("POST", "/v2/campaigns", dict(payload), context, ambiguous_ok=False))
            except Ambiguous as exc:
                found = self.find_campaign(title, **context) if title else None
                if found:
                    log.warning("Trackier created campaign %r (%s) although its answer was lost: adopted it",
                                title, found.id)
                    return found
                if attempt > self.settings.max_retries:
                    raise TrackierError(f"{exc}; no campaign titled {title!r} exists, gave up", exc.http_status) \
                        from None
                self._pause(attempt, None)
        raise AssertionError("unreachable")

    def find_campaign(self, title: str, **context: object) -> Campaign | None:
        """The campaign with exactly this title (`GET /v2/campaigns`, page by page), or None."""
        for page in range(1, MAX_PAGES + 1):
            answer = self._call("GET", f"/v2/campaigns?page={page}&limit={PAGE_SIZE}", None, context)
            listed = answer.get("campaigns")
            campaigns = listed if isinstance(listed, list) else []
            for campaign in campaigns:
                if isinstance(campaign, dict) and campaign.get("title") == title:
                    return _campaign({"campaign": campaign})
            if len(campaigns) < PAGE_SIZE:
                return None
        return None

    def get_campaign(self, campaign_id: str, **context: object) -> dict[str, Any]:
        answer = self._call("GET", f"/v2/campaigns/{campaign_id}", None, context)
        return cast(dict[str, Any], answer.get("campaign", {}))

    def set_sub_ids(self, campaign_id: str, values: Mapping[str, str], **context: object) -> dict[str, Any]:
        """Set every mapped `{pN}` macro of the campaign: a value the chain no longer hands out is sent empty, so
        it is cleared whether Trackier merges an override into the old one or replaces it."""
        return self._call("POST", f"/v2/campaigns/{campaign_id}", {"subIdOverride": dict(values)}, context)

    def check(self) -> int:
        """The credential check: how many advertisers the key can see."""
        answer = self._call("GET", "/v2/advertisers?limit=50", None, {})
        return int((answer.get("pagination") or {}).get("totalCount", len(answer.get("advertisers", []))))

    # -- one call ------------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None, context: Mapping[str, object],
              ambiguous_ok: bool = True) -> dict[str, Any]:
        """One API call with its retries; its JSON answer, or TrackierError in Trackier's own words."""
        if not self.settings.api_key:
            raise TrackierError("no Trackier API key: set GATEWAY_TRACKIER_API_KEY")
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, path, body, context, attempt)
            except _Retry as again:
                if attempt == attempts or (again.ambiguous and not ambiguous_ok):
                    raise again.error from None
                self._pause(attempt, again.wait_s)
        raise AssertionError("unreachable")

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None, context: Mapping[str, object],
                 attempt: int) -> dict[str, Any]:
        started = time.perf_counter()
        headers = {"X-Api-Key": self.settings.api_key.reveal(), "Accept": "application/json"}
        where = f"Trackier {method} {path.split('?')[0]}"
        try:
            response = self.session.request(method, self.root + path, json=body, headers=headers,
                                            timeout=self.settings.timeout_s)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            self._record(method, path, None, started, attempt, error, context)
            if _never_sent(exc):
                raise _Retry(TrackierError(f"{where}: Trackier could not be reached ({error})"), False) from None
            raise _Retry(Ambiguous(f"{where}: no answer ({error})"), True) from None
        data = _json(response)
        if 200 <= response.status_code < 300 and isinstance(data, dict) and data.get("success") is not False:
            self._record(method, path, response.status_code, started, attempt, None, context)
            return data
        said = refusal(response.status_code, data, response.text)
        self._record(method, path, response.status_code, started, attempt, said, context)
        raise self._refused(where, response, data, said)

    def _refused(self, where: str, response: requests.Response, data: object, said: str) -> Exception:
        status = response.status_code
        if status == 429:
            return _Retry(TrackierError(f"{where}: rate limited (429): {said}", status), False,
                          retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            return _Retry(Ambiguous(f"{where}: Trackier failed ({status}): {said}", status), True)
        key = key_refused(data)
        if key:
            return TrackierError(f"Trackier refused the API key ({key}): check [trackier] api_key "
                                 "(GATEWAY_TRACKIER_API_KEY)", status)
        if 200 <= status < 300:
            return TrackierError(f"{where}: Trackier answered {status} but reported a failure: {said}", status)
        return TrackierError(f"{where} refused ({status}): {said}", status)

    def _pause(self, attempt: int, wait_s: float | None) -> None:
        self.sleep(wait_s if wait_s is not None else
                   min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))

    def _record(self, method: str, path: str, status: int | None, started: float, attempt: int,
                error: str | None, context: Mapping[str, object]) -> None:
        call = {"method": method, "path": path.split("?")[0], "status": status, "attempt": attempt,
                "ms": round((time.perf_counter() - started) * 1000), "error": error,
                "offer_id": context.get("offer_id"), "pair_id": context.get("pair_id")}
        try:
            self.record_call(call)
        except Exception as exc:  # the call log is an audit aid; losing a line must not fail the call
            log.warning("Trackier call not logged: %s", exc)


class _Retry(Exception):
    """An attempt that may be tried again: `error` if not; `ambiguous` when it may have been carried out."""

    def __init__(self, error: TrackierError, ambiguous: bool, wait_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous
        self.wait_s = wait_s


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _campaign(answer: dict[str, Any]) -> Campaign:
    found = answer.get("campaign")
    campaign: dict[str, Any] = found if isinstance(found, dict) else {}
    campaign_id = campaign.get("id", answer.get("id"))
    if campaign_id in (None, ""):
        raise TrackierError("Trackier created a campaign but its answer carries no id")
    hash_id = campaign.get("hashId")
    return Campaign(str(campaign_id), str(hash_id) if hash_id else None)
