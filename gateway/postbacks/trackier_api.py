"""The Trackier API client (v2): campaigns, sub-id overrides, the credential check.

`[trackier] base_url` may or may not end in `/v2`; paths are always `/v2/...` exactly once. The key travels
only in the `X-Api-Key` header and is never logged or stored. 429, 5xx and connection errors are retried with
exponential backoff and jitter, honouring `Retry-After`; every attempt is recorded (method, path, status,
milliseconds, error) through `record_call`.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import gevent
import requests

from gateway.config import TrackierSettings
from gateway.errors import GatewayError

log = logging.getLogger(__name__)
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 60.0


class TrackierError(GatewayError):
    """Trackier refused or could not be reached (after the retries)."""

    status = 502
    code = "trackier"

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


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


class TrackierClient:
    def __init__(self, settings: TrackierSettings, record_call: Callable[[dict], None] = lambda call: None,
                 sleep: Callable[[float], None] = gevent.sleep) -> None:
        self.settings = settings
        self.root = api_root(settings.base_url)
        self.record_call = record_call
        self.sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False

    def create_campaign(self, payload: Mapping, **context: object) -> str:
        """Create a campaign; its id (`campaign.id`, or `id`) as a string."""
        answer = self._call("POST", "/v2/campaigns", dict(payload), context)
        campaign = answer.get("campaign") if isinstance(answer.get("campaign"), dict) else {}
        campaign_id = campaign.get("id", answer.get("id"))
        if campaign_id in (None, ""):
            raise TrackierError("Trackier created a campaign but its answer carries no id")
        return str(campaign_id)

    def get_campaign(self, campaign_id: str, **context: object) -> dict:
        return self._call("GET", f"/v2/campaigns/{campaign_id}", None, context).get("campaign", {})

    def set_sub_ids(self, campaign_id: str, values: Mapping[str, str], **context: object) -> dict:
        """Set the values of the campaign's `{p1}`..`{p10}` macros; empty values are not sent."""
        override = {key: value for key, value in values.items() if value}
        return self._call("POST", f"/v2/campaigns/{campaign_id}", {"subIdOverride": override}, context)

    def check(self) -> int:
        """The credential check: how many advertisers the key can see."""
        answer = self._call("GET", "/v2/advertisers?limit=50", None, {})
        return int((answer.get("pagination") or {}).get("totalCount", len(answer.get("advertisers", []))))

    def _call(self, method: str, path: str, body: dict | None, context: Mapping) -> dict:
        if not self.settings.api_key:
            raise TrackierError("no Trackier API key: set GATEWAY_TRACKIER_API_KEY")
        headers = {"X-Api-Key": self.settings.api_key.reveal(), "Accept": "application/json"}
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            response, error = None, None
            try:
                response = self.session.request(method, self.root + path, json=body, headers=headers,
                                                timeout=self.settings.timeout_s)
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            status = response.status_code if response is not None else None
            self._record(method, path, status, started, attempt, error or _problem(response), context)
            if status is not None and 200 <= status < 300:
                return _json(response)
            retryable = status is None or status == 429 or status >= 500
            if not retryable or attempt == attempts:
                raise TrackierError(f"Trackier {method} {path.split('?')[0]}: "
                                    f"{error or f'{status} {_problem(response)}'}", status)
            delay = retry_after(response.headers.get("Retry-After")) if response is not None else None
            self.sleep(delay if delay is not None else
                       min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))
        raise AssertionError("unreachable")

    def _record(self, method: str, path: str, status: int | None, started: float, attempt: int,
                error: str | None, context: Mapping) -> None:
        call = {"method": method, "path": path.split("?")[0], "status": status, "attempt": attempt,
                "ms": round((time.perf_counter() - started) * 1000), "error": error,
                "offer_id": context.get("offer_id"), "pair_id": context.get("pair_id")}
        try:
            self.record_call(call)
        except Exception as exc:  # the call log is an audit aid; losing a line must not fail the call
            log.warning("Trackier call not logged: %s", exc)


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise TrackierError(f"Trackier answered {response.status_code} with a body that is not JSON") from None
    if not isinstance(data, dict) or data.get("success") is False:
        raise TrackierError(f"Trackier answered {response.status_code} but reported a failure: {_problem(response)}")
    return data


def _problem(response: requests.Response | None) -> str | None:
    """Trackier's own words for a failed call (message or per-field errors), short."""
    if response is None or 200 <= response.status_code < 300:
        return None
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e.get('param', '?')}: {e.get('msg', '')}" for e in errors if isinstance(e, dict))[:300]
    return str(data.get("message", data))[:300] if isinstance(data, dict) else str(data)[:200]
