"""`/api/pool` and `/api/maintenance`: provision, inspect and repair the egress pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle, HTTPResponse, request

from gateway.countries import normalize
from gateway.egress.census import Census
from gateway.egress.sizing import required_slots
from gateway.egress.slots import Slots
from gateway.errors import ValidationError
from gateway.routes.jsonapi import json_body, query_number, raw_body, respond


def country_query() -> str | None:
    country = request.query.get("country")
    return None if country is None else normalize(country, "country")


def register(app: Bottle, slots: Slots, census: Census, maintain: Callable[[], dict[str, Any]],
             cooldown_s: float) -> None:
    @app.get("/pool")
    def pool_status() -> dict[str, Any]:
        return census.status(country_query()).as_dict()

    @app.get("/pool/slots")
    def list_slots() -> dict[str, Any]:
        return {"slots": slots.listing(country_query(), query_number("limit", 500, 1, 10_000, int))}

    @app.get("/pool/slots/<slot_id>")
    def show_slot(slot_id: str) -> dict[str, Any]:
        return slots.describe(slot_id)

    @app.post("/pool/provision")
    def provision() -> dict[str, Any]:
        body = json_body()
        countries = body.get("countries")
        if not isinstance(countries, dict):
            raise ValidationError("countries", 'must be an object like {"us": 50, "gb": 20}')
        return slots.provision(str(body.get("provider", "")), countries).as_dict()

    @app.post("/pool/slots")
    def add_slot() -> HTTPResponse:
        body = json_body()
        slot, created = slots.add_static(body.get("url"), body.get("country"), body.get("id"))
        return respond({**slot.public(), "created": created}, 201 if created else 200)

    @app.post("/pool/import")
    def import_csv() -> dict[str, Any]:
        try:
            text = raw_body().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("csv", "must be UTF-8 text") from None
        return slots.import_csv(text)

    @app.delete("/pool/slots/<slot_id>")
    def remove_slot(slot_id: str) -> dict[str, Any]:
        return {"removed": slots.remove(slot_id).id}

    @app.post("/pool/slots/<slot_id>/<action:re:enable|disable>")
    def toggle(slot_id: str, action: str) -> dict[str, Any]:
        slots.set_enabled(slot_id, action == "enable")
        return slots.describe(slot_id)

    @app.post("/pool/slots/<slot_id>/reset-health")
    def reset_one(slot_id: str) -> dict[str, Any]:
        slots.reset_health(slot_id)
        return slots.describe(slot_id)

    @app.post("/pool/reset-health")
    def reset_all() -> dict[str, Any]:
        return {"reset": slots.reset_health()}

    @app.get("/pool/size")
    def size() -> dict[str, Any]:
        needed, explanation = required_slots(
            query_number("peak_clicks_per_s", None, 0, 1e6), query_number("trace_s", None, 0, 3600),
            query_number("cooldown_s", cooldown_s, 0, 86400), query_number("headroom", 1.5, 1, 100))
        return {"slots": needed, "explanation": explanation}

    @app.post("/maintenance")
    def run_maintenance() -> dict[str, Any]:
        return maintain()
