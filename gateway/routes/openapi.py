"""The OpenAPI 3.0 document of the admin API, served at `/api/openapi.json`.

Request schemas state what the handlers accept (they still check every field themselves and answer 400
naming it); response schemas state what clients may rely on. The suite runs schemathesis against this document
and the live API (tests/test_openapi.py), so a route that drifts from it fails there.
"""

from __future__ import annotations

import re
from typing import Any

from gateway import __version__
from gateway.tracing.outcomes import Tracer

JSON = "application/json"
OBJECT: dict[str, Any] = {"type": "object"}
COUNTRY = {"type": "string", "pattern": "^[A-Za-z]{2}$", "example": "us"}
URL = {"type": "string", "pattern": "^https?://", "maxLength": 2048, "example": "https://aff.example/click?gclid={gclid}"}
NULLABLE_URL = {**URL, "nullable": True}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), closed: bool = False, **properties: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def integer(low: int, high: int, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, **extra}


OFFER_FIELDS: dict[str, dict[str, Any]] = {
    "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$", "example": "shoes"},
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "tracking_url": URL,
    "fallback_url": NULLABLE_URL,
    "final_url": NULLABLE_URL,
    "country": COUNTRY,
    "fallback_countries": {"type": "array", "items": COUNTRY, "maxItems": 10},
    "wait_ms": integer(0, 120_000),
    "cooldown_s": integer(0, 3600, nullable=True),
    "ua_profile": {"type": "string", "minLength": 1, "maxLength": 400, "example": "desktop"},
    "param_policy": OBJECT,
    "pass_through": {"type": "array", "maxItems": 100,
                     "items": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-\[\]]{0,100}\*?$", "minLength": 1}},
    "sub_id_mapping": {"type": "object", "additionalProperties": {"type": "string"}},
    "update_interval_s": integer(0, 86_400),
    "enabled": {"type": "boolean"},
    "click_mode": {"type": "string", "enum": ["inline", "ahead", "ahead_only"]},
    "tracer": {"type": "string", "enum": [str(mode) for mode in Tracer]},
    "ahead_depth": integer(1, 1000, nullable=True),
    "ahead_max_age_s": integer(5, 86_400, nullable=True),
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj(("error",), error=obj(("code", "message"), code={"type": "string"}, message={"type": "string"},
                                       field={"type": "string"})),
    "Offer": obj(("id", "slug", "name", "tracking_url", "country", "enabled"), closed=False, id={"type": "string"},
                 **OFFER_FIELDS),
    "OfferCreate": obj(("slug", "name", "tracking_url", "country"), closed=True, **OFFER_FIELDS),
    "OfferChange": obj((), closed=True, **OFFER_FIELDS),
    "Pair": obj(("pair", "name", "enabled", "webhook_url"), pair=integer(1, 20), name={"type": "string"},
                enabled={"type": "boolean"}, complete={"type": "boolean"}, webhook_url={"type": "string"}),
    "Slot": obj(("id", "country"), id={"type": "string"}, country={"type": "string"},
                provider={"type": "string", "nullable": True}),
    "PoolStatus": obj(("countries", "warnings"), countries={"type": "array", "items": OBJECT},
                      warnings={"type": "array", "items": {"type": "string"}}),
}

ERRORS = {
    "400": "invalid input; `error.field` names the field",
    "401": "missing or wrong bearer token",
    "404": "no such offer, pair or slot",
    "409": "conflicts with what exists",
    "413": "request body too large",
    "503": "a store is unavailable; retry",
}


def operation(summary: str, ok: str = "200", body: dict[str, Any] | None = None, result: dict[str, Any] = OBJECT,
              errors: tuple[str, ...] = ("400", "404"), media: str = JSON, params: tuple[dict[str, Any], ...] = (),
              also_ok: tuple[str, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {status: {"description": "done", "content": {media: {"schema": result}}}
                                 for status in (ok, *also_ok)}
    for status in ("401", "503", *errors):
        responses[status] = {"description": ERRORS.get(status, "failed"),
                             "content": {JSON: {"schema": ref("Error")}}}
    spec: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        spec["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if params:
        spec["parameters"] = list(params)
    return spec


def query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


KEY = path("key")
INDEX = path("index", integer(1, 20))
SLOT = path("slot_id")
PAIR = (KEY, INDEX)


def _paths() -> dict[str, Any]:
    offer = ref("Offer")
    pair = ref("Pair")
    return {
        "/offers": {
            "get": operation("list offers", result=obj(("offers",), offers={"type": "array", "items": offer}),
                             errors=()),
            "post": operation("create an offer", "201", ref("OfferCreate"), offer, ("400", "409", "413")),
        },
        "/offers/{key}": {
            "parameters": [KEY],
            "get": operation("one offer, by id or slug", result=offer, errors=("404",)),
            "patch": operation("change some fields of an offer", body=ref("OfferChange"), result=offer,
                               errors=("400", "404", "409", "413")),
            "delete": operation("disable an offer (offers are never deleted)", result=offer, errors=("404",)),
        },
        "/offers/{key}/ahead": {
            "parameters": [KEY],
            "get": operation("the offer's buckets of traces made ahead: entries, ages, counts", errors=("404",)),
        },
        "/offers/{key}/feed-token": {
            "parameters": [KEY],
            "post": operation("a new feed token for the suffix feed (the old one stops working)", errors=("404",)),
        },
        "/offers/{key}/clicks": {
            "parameters": [KEY],
            "get": operation("clicks per minute by outcome", params=(query("minutes", integer(1, 1440)),)),
        },
        "/traces": {
            "get": operation("recent trace records", params=(query("offer", {"type": "string"}),
                                                             query("limit", integer(1, 500)))),
        },
        "/offers/{key}/pairs": {
            "parameters": [KEY],
            "get": operation("the offer's campaign pairs", errors=("404",),
                             result=obj(("offer", "pairs"), pairs={"type": "array", "items": pair})),
            "post": operation("create campaign pairs in Trackier up to `count`", "201",
                              obj(("count",), count=integer(1, 20)), errors=("400", "404", "409", "413", "502")),
        },
        "/offers/{key}/pairs/{index}": {
            "parameters": list(PAIR),
            "patch": operation("rename, enable or disable a pair", body=obj(
                closed=True, name={"type": "string", "minLength": 1, "maxLength": 200}, enabled={"type": "boolean"}),
                result=pair, errors=("400", "404", "409", "413")),
            "delete": operation("disable a pair (pair 1 cannot be)", result=pair, errors=("404", "409")),
        },
        "/offers/{key}/pairs/{index}/test": {
            "parameters": list(PAIR),
            "post": operation("a synthetic postback through the real path", errors=("404", "409", "429")),
        },
        "/offers/{key}/stats": {"parameters": [KEY], "get": operation("webhook and update counts", errors=("404",))},
        "/offers/{key}/pairs.csv": {
            "parameters": [KEY],
            "get": operation("the pairs as CSV (formula-safe)", media="text/csv", result={"type": "string"},
                             errors=("404",)),
        },
        "/pool": {"get": operation("per-country pool status", result=ref("PoolStatus"), errors=("400",),
                                   params=(query("country", COUNTRY),))},
        "/pool/slots": {
            "get": operation("inventory slots with their live state", errors=("400",),
                             params=(query("country", COUNTRY), query("limit", integer(1, 10_000))),
                             result=obj(("slots",), slots={"type": "array", "items": ref("Slot")})),
            "post": operation("add a static proxy (200: it was there already)", "201", obj(
                ("url", "country"), url={"type": "string", "example": "socks5h://user:pass@203.0.113.7:1080"},
                country=COUNTRY, id={"type": "string", "nullable": True}), ref("Slot"), ("400", "409", "413"),
                also_ok=("200",)),
        },
        "/pool/slots/{slot_id}": {
            "parameters": [SLOT],
            "get": operation("one slot: inventory, state, health", errors=("404",)),
            "delete": operation("remove a slot", errors=("404",), result=obj(("removed",))),
        },
        "/pool/slots/{slot_id}/enable": {"parameters": [SLOT], "post": operation("enable a slot", errors=("404",))},
        "/pool/slots/{slot_id}/disable": {"parameters": [SLOT], "post": operation("disable a slot", errors=("404",))},
        "/pool/slots/{slot_id}/reset-health": {
            "parameters": [SLOT], "post": operation("forget a slot's failures", errors=("404",))},
        "/pool/reset-health": {"post": operation("forget every slot's failures", errors=())},
        "/pool/provision": {
            "post": operation("add provider session slots up to N per country", body=obj(
                ("provider", "countries"), provider={"type": "string"},
                countries={"type": "object", "additionalProperties": integer(0, 10_000)}), errors=("400", "413")),
        },
        "/pool/import": {
            "post": {**operation("add static proxies from CSV (country,url[,id]), all rows checked first",
                                 errors=("400", "409", "413")),
                     "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
        },
        "/pool/size": {
            "get": operation("slots needed = rate x (trace + cooldown) x headroom", errors=("400",), params=(
                query("peak_clicks_per_s", {"type": "number", "minimum": 0, "maximum": 1e6}, True),
                query("trace_s", {"type": "number", "minimum": 0, "maximum": 3600}, True),
                query("cooldown_s", {"type": "number", "minimum": 0, "maximum": 86400}),
                query("headroom", {"type": "number", "minimum": 1, "maximum": 100}))),
        },
        "/maintenance": {"post": operation("one maintenance tick now", errors=())},
        "/openapi.json": {"get": operation("this document", errors=())},
    }


PATHS = _paths()
BOTTLE_PARAM = re.compile(r"<(\w+)(?::[^>]*)?>")


def documented_path(rule: str) -> str:
    """The document's path of a Bottle route rule (`/pool/slots/<slot_id>/<action:re:...>` is documented
    once per action; its query parameters are the same)."""
    return BOTTLE_PARAM.sub(r"{\1}", rule).replace("{action}", "enable")


def query_names(method: str, rule: str) -> frozenset[str]:
    """The query parameters the document gives the route `rule` (Bottle syntax) for `method`."""
    spec = PATHS.get(documented_path(rule), {}).get(method.lower(), {})
    return frozenset(p["name"] for p in spec.get("parameters", []) if p["in"] == "query")


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Click-tracing gateway admin API", "version": __version__,
                 "description": "Every route needs `Authorization: Bearer <[admin] token>`."},
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
