"""A local Trackier double speaking the v2 shapes the gateway uses (see ../shared/REFERENCE.md).

`X-Api-Key` is checked; `POST /v2/campaigns` validates its body and answers `{"success": true, "campaign":
{"id": ..., "campaignNo": ...}}`; `GET /v2/campaigns/{id}`; `POST /v2/campaigns/{id}` with `subIdOverride`;
`GET /v2/advertisers`. Faults are injected with `fail_next(...)` and `latency_ms`; every call lands in `calls`.
`GET /click?campaign_id=...` plays the tracking link: it redirects to `url=` (force_transparent) or to the
campaign's destination with `{p1}`..`{p10}` filled from its subIdOverride.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import gevent
from bottle import Bottle, HTTPResponse, request

from gateway.process import wsgiserver

SUB_ID_KEYS = frozenset({f"p{n}" for n in range(1, 11)} | {"erid", "app_name", "app_id", "cr_name"})
REQUIRED = {"title": str, "url": str, "advertiserId": int, "status": str, "currency": str, "device": str}
MACRO = re.compile(r"\{(p(?:10|[1-9]))\}")


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: dict | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    status: int
    count: int
    retry_after: str | None = None
    path: str = ""
    after: int = 0


@dataclass
class FakeTrackier:
    api_key: str = "fake-trackier-key"
    latency_ms: float = 0.0
    campaigns: dict[int, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    overrides: dict[int, list[dict]] = field(default_factory=dict)
    next_id: int = 1001

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server: wsgiserver.WSGIServer | None = None

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None, path: str = "",
                  after: int = 0) -> None:
        """After `after` more calls whose path starts with `path`, the next `count` answer `status` instead."""
        self.faults.append(Fault(status, count, retry_after, path, after))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTrackier:
        self.server = wsgiserver.start(self.app(), host, port)
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop(timeout=1)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}"

    def adopt(self, campaign_id: str, url: str) -> None:
        """Know a campaign created by an earlier run (this double keeps its state in memory only)."""
        number = int(campaign_id)
        self.campaigns.setdefault(number, {"id": number, "campaignNo": f"C{number}", "title": "adopted",
                                           "url": url, "subIdOverride": {}})
        self.next_id = max(self.next_id, number + 1)

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    # -- the API ---------------------------------------------------------------------------------------------

    def app(self) -> Bottle:
        app = Bottle()

        @app.hook("before_request")
        def before() -> None:
            if self.latency_ms:
                gevent.sleep(self.latency_ms / 1000)

        def api(handler):
            def wrapped(*args, **kwargs):
                body = _json_body()
                response = self._fault() or self._auth() or handler(body, *args, **kwargs)
                self.calls.append(Call(request.method, request.path, response.status_code, body))
                return response
            return wrapped

        app.post("/v2/campaigns", callback=api(self._create))
        app.get("/v2/campaigns/<campaign_id:int>", callback=api(self._get))
        app.post("/v2/campaigns/<campaign_id:int>", callback=api(self._update))
        app.get("/v2/advertisers", callback=api(self._advertisers))
        app.get("/click", callback=self._click)
        return app

    def _fault(self) -> HTTPResponse | None:
        for fault in self.faults:
            if fault.count > 0 and request.path.startswith(fault.path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return _answer({"success": False, "message": f"injected {fault.status}"}, fault.status, **headers)
        return None

    def _auth(self) -> HTTPResponse | None:
        if request.get_header("X-Api-Key") != self.api_key:
            return _answer({"success": False, "message": "Invalid or missing API key"}, 401)
        return None

    def _create(self, body: dict | None) -> HTTPResponse:
        errors = [{"param": name, "msg": f"{name} is required and must be a {kind.__name__}"}
                  for name, kind in REQUIRED.items() if not isinstance((body or {}).get(name), kind)]
        if not errors and not str(body["url"]).startswith(("http://", "https://")):
            errors.append({"param": "url", "msg": "url must be an http(s) URL"})
        if errors:
            return _answer({"success": False, "errors": errors}, 400)
        with self._lock:
            campaign_id, self.next_id = self.next_id, self.next_id + 1
        campaign = {**body, "id": campaign_id, "campaignNo": f"C{campaign_id}", "subIdOverride": {}}
        self.campaigns[campaign_id] = campaign
        return _answer({"success": True, "campaign": campaign})

    def _get(self, body: dict | None, campaign_id: int) -> HTTPResponse:
        if campaign_id not in self.campaigns:
            return _answer({"success": False, "message": "Campaign not found"}, 404)
        return _answer({"success": True, "campaign": self.campaigns[campaign_id]})

    def _update(self, body: dict | None, campaign_id: int) -> HTTPResponse:
        if campaign_id not in self.campaigns:
            return _answer({"success": False, "message": "Campaign not found"}, 404)
        override = (body or {}).get("subIdOverride")
        if not isinstance(override, dict) or not set(override) <= SUB_ID_KEYS or not all(
                isinstance(v, str) and v for v in override.values()):
            return _answer({"success": False, "errors": [{"param": "subIdOverride",
                                                          "msg": "must map p1..p10 to non-empty strings"}]}, 400)
        self.campaigns[campaign_id]["subIdOverride"] = dict(override)
        self.overrides.setdefault(campaign_id, []).append(dict(override))
        return _answer({"success": True, "campaign": self.campaigns[campaign_id]})

    def _advertisers(self, body: dict | None) -> HTTPResponse:
        advertisers = [{"id": 1, "name": "Local advertiser", "status": "active"}]
        return _answer({"success": True, "advertisers": advertisers, "pagination": {"totalCount": 1}})

    def _click(self) -> HTTPResponse:
        campaign = self.campaigns.get(int(request.query.get("campaign_id") or 0))
        if campaign is None:
            return HTTPResponse("unknown campaign", status=404)
        if request.query.get("force_transparent") == "true" and request.query.get("url"):
            return HTTPResponse(status=302, headers={"Location": request.query.get("url")})
        values = campaign["subIdOverride"]
        return HTTPResponse(status=302, headers={"Location": MACRO.sub(
            lambda m: quote(values.get(m.group(1), ""), safe=""), campaign["url"])})


def _json_body() -> dict | None:
    raw = request.body.read()
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _answer(body: dict, status: int = 200, **headers: str) -> HTTPResponse:
    return HTTPResponse(json.dumps(body), status=status, headers={"Content-Type": "application/json", **headers})
