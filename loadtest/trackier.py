"""A local Trackier double speaking the v2 shapes of the real API (../shared/REFERENCE.md, "Trackier API": public
integrators' code and logged real answers). Each shape and where it comes from:

- Auth: `X-Api-Key` header (or `apiKey` query). A bad key is `400 {"success": false, "errors": [{"statusCode":
  400, "code": "102", "codeMsg": "INVALID_API_KEY", "message": ...}]}` (a real logged answer).
- Other refusals use the same `errors[]` list, one entry per problem (`code`, `codeMsg`, `message`; `param`
  here names the field). The `code`/`codeMsg` values of validation errors are this double's own (the real ones
  are not public); a missing campaign answers the publisher API's other shape, `{"success": false, "error":
  {"code": 13, "message": ...}}`, so a client must read both.
- `POST /v2/campaigns`: `title`, `url`, `status`, `advertiserId`, `currency`, `device` (a string on the way in),
  `convTracking`, `convTrackingDomain` and `payouts` required. Answer `{"success": true, "campaign": {"id":
  <int>, "hashId": "<string>", "advertiserId": "<24 hex>", "device": ["all"], ...}}`. Not idempotent: the same
  title twice is two campaigns. A destination that is one of this Trackier's own tracking links is refused.
- `GET /v2/campaigns?page=&limit=` -> `{"campaigns": [...], "pagination": {...}}`; `GET /v2/campaigns/{id}` ->
  `{"campaign": {...}}`. Updates are `POST /v2/campaigns/{id}`; `PATCH` answers 405.
- `subIdOverride` on update: whether Trackier merges it into the earlier values or replaces them is not
  documented; `override_mode` ("replace" or "merge") plays either. An empty value clears its key.
- `GET /click?campaign_id=...`: the tracking link. `force_transparent=true&url=...` is followed only for a
  campaign created with deep links allowed (`allowDeepLink: true`; the real field name is not public); otherwise
  the campaign's destination with `{p1}`..`{p10}` filled from its overrides.

Faults for tests: `fail_next(status, ...)` answers an error instead of doing the call; `fail_after(mode, ...)`
does the call and then answers 502 (`"502"`), drops the connection (`"drop"`) or outlives the client's timeout
(`"hang"`), the three ways a create can succeed without the client knowing. Every call lands in `calls`.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import gevent
from bottle import Bottle, HTTPResponse, request

from gateway.process import wsgiserver

SUB_ID_KEYS = frozenset({f"p{n}" for n in range(1, 11)} | {"erid", "app_name", "app_id", "cr_name"})
REQUIRED = {"title": str, "url": str, "status": str, "advertiserId": int, "currency": str, "device": str,
            "convTracking": str, "convTrackingDomain": str, "payouts": list}
MACRO = re.compile(r"\{(p(?:10|[1-9]))\}")
ADVERTISER_HEX = "5f1a2b3c4d5e6f7a8b9c0d1e"


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
    method: str = ""
    mode: str = "answer"  # answer: refuse instead of doing it | 502, drop, hang: do it, then fail to answer
    hang_s: float = 0.0


def errors(status: int, *problems: tuple[str, str, str, str | None]) -> HTTPResponse:
    """Trackier's refusal shape: one `errors[]` entry per (code, codeMsg, message, param)."""
    items = [{"statusCode": status, "code": code, "codeMsg": code_msg, "message": message,
              **({"param": param} if param else {})} for code, code_msg, message, param in problems]
    return _answer({"success": False, "errors": items}, status)


class _Handler(wsgiserver.Handler):
    """Hands the app its connection, so a fault can drop it after the work is done."""

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ["fake.socket"] = self.socket
        return environ


@dataclass
class FakeTrackier:
    api_key: str = "fake-trackier-key"
    latency_ms: float = 0.0
    override_mode: str = "replace"
    campaigns: dict[int, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    overrides: dict[int, list[dict]] = field(default_factory=dict)
    next_id: int = 1001

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server: wsgiserver.WSGIServer | None = None

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None, path: str = "",
                  after: int = 0, method: str = "") -> None:
        """After `after` more calls matching `path` (and `method`), the next `count` answer `status` instead."""
        self.faults.append(Fault(status, count, retry_after, path, after, method))

    def fail_after(self, mode: str, count: int = 1, path: str = "/v2/campaigns", method: str = "POST",
                   after: int = 0, hang_s: float = 5.0) -> None:
        """The next `count` matching calls are carried out, then answered 502, dropped, or left hanging."""
        self.faults.append(Fault(502, count, None, path, after, method, mode, hang_s))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTrackier:
        self.server = wsgiserver.start(self.app(), host, port, handler_class=_Handler)
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop(timeout=1)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def click_host(self) -> str:
        return urlsplit(self.url).netloc

    def adopt(self, campaign_id: str, url: str) -> None:
        """Know a campaign created by an earlier run (this double keeps its state in memory only)."""
        number = int(campaign_id)
        self.campaigns.setdefault(number, self._campaign({"title": f"adopted {number}", "url": url,
                                                          "allowDeepLink": True}, number))
        self.next_id = max(self.next_id, number + 1)

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def titled(self, title: str) -> list[dict]:
        return [c for c in self.campaigns.values() if c["title"] == title]

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
                fault = self._fault()
                response = (fault if isinstance(fault, HTTPResponse) else None) or self._auth() \
                    or handler(body, *args, **kwargs)
                self.calls.append(Call(request.method, request.path, response.status_code, body))
                return self._after(fault, response) if isinstance(fault, Fault) else response
            return wrapped

        app.post("/v2/campaigns", callback=api(self._create))
        app.get("/v2/campaigns", callback=api(self._list))
        app.get("/v2/campaigns/<campaign_id:int>", callback=api(self._get))
        app.post("/v2/campaigns/<campaign_id:int>", callback=api(self._update))
        app.route("/v2/campaigns/<campaign_id:int>", "PATCH", callback=api(self._patch))
        app.get("/v2/advertisers", callback=api(self._advertisers))
        app.get("/click", callback=self._click)
        return app

    def _fault(self) -> HTTPResponse | Fault | None:
        for fault in self.faults:
            if fault.count > 0 and request.path.startswith(fault.path) and fault.method in ("", request.method):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                if fault.mode != "answer":
                    return fault
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return _answer({"success": False, "errors": [{"statusCode": fault.status, "code": "500",
                                                              "codeMsg": "INJECTED", "message":
                                                              f"injected {fault.status}"}]}, fault.status, **headers)
        return None

    def _after(self, fault: Fault, response: HTTPResponse) -> HTTPResponse:
        """The call was carried out; now fail to tell the client."""
        if fault.mode == "hang":
            gevent.sleep(fault.hang_s)
        elif fault.mode == "drop":
            sock = request.environ["fake.socket"]
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return _answer({"success": False, "errors": [{"statusCode": 502, "code": "502", "codeMsg": "BAD_GATEWAY",
                                                      "message": "upstream failed"}]}, 502)

    def _auth(self) -> HTTPResponse | None:
        given = request.get_header("X-Api-Key") or request.query.get("apiKey")
        if given != self.api_key:
            return errors(400, ("102", "INVALID_API_KEY", "Invalid API key", None))
        return None

    def _campaign(self, body: dict, campaign_id: int) -> dict:
        device = body.get("device", "all")
        return {**body, "id": campaign_id, "hashId": secrets.token_hex(16), "advertiserId": ADVERTISER_HEX,
                "device": [device] if isinstance(device, str) else device, "subIdOverride": {},
                "allowDeepLink": bool(body.get("allowDeepLink"))}

    def _create(self, body: dict | None) -> HTTPResponse:
        body = body or {}
        problems = [("103", "VALIDATION_ERROR", f"\"{name}\" is required ({kind.__name__})", name)
                    for name, kind in REQUIRED.items() if not isinstance(body.get(name), kind)]
        url = str(body.get("url", ""))
        if not problems and not url.startswith(("http://", "https://")):
            problems.append(("103", "VALIDATION_ERROR", "\"url\" must be an http(s) URL", "url"))
        if not problems and urlsplit(url).netloc == self.click_host and urlsplit(url).path == "/click":
            problems.append(("104", "INVALID_DESTINATION", "a tracking link cannot be a campaign's destination",
                             "url"))
        if problems:
            return errors(400, *problems)
        with self._lock:
            campaign_id, self.next_id = self.next_id, self.next_id + 1
        self.campaigns[campaign_id] = self._campaign(body, campaign_id)
        return _answer({"success": True, "campaign": self.campaigns[campaign_id]})

    def _list(self, body: dict | None) -> HTTPResponse:
        page, limit = max(1, int(request.query.get("page") or 1)), max(1, int(request.query.get("limit") or 20))
        rows = [self.campaigns[k] for k in sorted(self.campaigns)]
        return _answer({"success": True, "campaigns": rows[(page - 1) * limit: page * limit],
                        "pagination": {"page": page, "limit": limit, "totalCount": len(rows),
                                       "totalPages": max(1, -(-len(rows) // limit))}})

    def _get(self, body: dict | None, campaign_id: int) -> HTTPResponse:
        if campaign_id not in self.campaigns:
            return _answer({"success": False, "error": {"code": 13, "message": "Campaign not found"}}, 404)
        return _answer({"success": True, "campaign": self.campaigns[campaign_id]})

    def _update(self, body: dict | None, campaign_id: int) -> HTTPResponse:
        if campaign_id not in self.campaigns:
            return _answer({"success": False, "error": {"code": 13, "message": "Campaign not found"}}, 404)
        override = (body or {}).get("subIdOverride")
        if not isinstance(override, dict) or not set(override) <= SUB_ID_KEYS or not all(
                isinstance(v, str) for v in override.values()):
            return errors(400, ("103", "VALIDATION_ERROR", "must map p1..p10 to strings", "subIdOverride"))
        campaign = self.campaigns[campaign_id]
        merged = {**campaign["subIdOverride"], **override} if self.override_mode == "merge" else dict(override)
        campaign["subIdOverride"] = {k: v for k, v in merged.items() if v}
        self.overrides.setdefault(campaign_id, []).append({k: v for k, v in override.items() if v})
        return _answer({"success": True, "campaign": campaign})

    def _patch(self, body: dict | None, campaign_id: int) -> HTTPResponse:
        return errors(405, ("105", "METHOD_NOT_ALLOWED", "PATCH is not supported; update with POST", None))

    def _advertisers(self, body: dict | None) -> HTTPResponse:
        advertisers = [{"id": 1, "name": "Local advertiser", "status": "active"}]
        return _answer({"success": True, "advertisers": advertisers, "pagination": {"totalCount": 1}})

    def _click(self) -> HTTPResponse:
        campaign = self.campaigns.get(int(request.query.get("campaign_id") or 0))
        if campaign is None:
            return HTTPResponse("unknown campaign", status=404)
        override = request.query.get("url")
        if request.query.get("force_transparent") == "true" and override and campaign["allowDeepLink"]:
            return HTTPResponse(status=302, headers={"Location": override})
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
