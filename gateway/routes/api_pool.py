"""`/api/pool` and `/api/maintenance`: provision, inspect and repair the egress pool."""

from __future__ import annotations

from bottle import Bottle, request

from gateway import egress, maintenance, pool
from gateway.countries import normalize
from gateway.errors import ValidationError
from gateway.routes.jsonapi import json_body, query_number, raw_body, respond
from gateway.runtime import Runtime


def register(app: Bottle, rt: Runtime) -> None:
    def country_query() -> str | None:
        country = request.query.get("country")
        return None if country is None else normalize(country, "country")

    @app.get("/pool")
    def pool_status() -> dict:
        return pool.status(rt, country_query()).as_dict()

    @app.get("/pool/slots")
    def list_slots() -> dict:
        country = country_query()
        limit = query_number("limit", 500, 1, 10_000, int)
        slots = [s for s in rt.inventory.all() if country in (None, s.country)][:limit]
        return {"slots": [{**s.public(), "live": rt.pool.slot(s.id)} for s in slots]}

    @app.get("/pool/slots/<slot_id>")
    def show_slot(slot_id: str) -> dict:
        return egress.describe(rt, slot_id)

    @app.post("/pool/provision")
    def provision() -> dict:
        body = json_body()
        countries = body.get("countries")
        if not isinstance(countries, dict):
            raise ValidationError("countries", 'must be an object like {"us": 50, "gb": 20}')
        return egress.provision(rt, str(body.get("provider", "")), countries).as_dict()

    @app.post("/pool/slots")
    def add_slot():
        body = json_body()
        slot, created = egress.add_static(rt, body.get("url"), body.get("country"), body.get("id"))
        return respond({**slot.public(), "created": created}, 201 if created else 200)

    @app.post("/pool/import")
    def import_csv() -> dict:
        try:
            text = raw_body().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("csv", "must be UTF-8 text") from None
        return egress.import_csv(rt, text)

    @app.delete("/pool/slots/<slot_id>")
    def remove_slot(slot_id: str) -> dict:
        return {"removed": egress.remove(rt, slot_id).id}

    @app.post("/pool/slots/<slot_id>/<action:re:enable|disable>")
    def toggle(slot_id: str, action: str) -> dict:
        egress.set_enabled(rt, slot_id, action == "enable")
        return egress.describe(rt, slot_id)

    @app.post("/pool/slots/<slot_id>/reset-health")
    def reset_one(slot_id: str) -> dict:
        egress.reset_health(rt, slot_id)
        return egress.describe(rt, slot_id)

    @app.post("/pool/reset-health")
    def reset_all() -> dict:
        return {"reset": egress.reset_health(rt)}

    @app.get("/pool/size")
    def size() -> dict:
        slots, explanation = pool.required_slots(
            query_number("peak_clicks_per_s", None, 0, 1e6), query_number("trace_s", None, 0, 3600),
            query_number("cooldown_s", rt.settings.pool.cooldown_s, 0, 86400),
            query_number("headroom", 1.5, 1, 100))
        return {"slots": slots, "explanation": explanation}

    @app.post("/maintenance")
    def run_maintenance() -> dict:
        return maintenance.tick(rt).as_dict()
