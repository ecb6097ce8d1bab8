"""`/api/offers`, `/api/offers/{id or slug}/clicks` and `/api/traces`."""

from __future__ import annotations

from bottle import Bottle, request

from gateway import offers
from gateway.routes.jsonapi import json_body, query_number, respond
from gateway.runtime import Runtime


def register(app: Bottle, rt: Runtime) -> None:
    @app.get("/offers")
    def list_offers() -> dict:
        return {"offers": [offer.as_dict() for offer in rt.offers.all()]}

    @app.post("/offers")
    def create_offer():
        return respond(offers.create(rt, json_body()).as_dict(), 201)

    @app.get("/offers/<key>")
    def show_offer(key: str) -> dict:
        return rt.offers.get(key).as_dict()

    @app.route("/offers/<key>", "PATCH")
    def update_offer(key: str) -> dict:
        return offers.update(rt, key, json_body()).as_dict()

    @app.delete("/offers/<key>")
    def disable_offer(key: str) -> dict:
        """Offers are never deleted (their records and pairs keep pointing at them): DELETE disables."""
        return offers.set_enabled(rt, key, False).as_dict()

    @app.get("/offers/<key>/clicks")
    def offer_clicks(key: str) -> dict:
        offer = rt.offers.get(key)
        minutes = query_number("minutes", 60, 1, 1440, int)
        return {"offer": offer.slug, "minutes": rt.click_stats.minutes(str(offer.id), minutes)}

    @app.get("/traces")
    def traces() -> dict:
        key = request.query.get("offer")
        offer_id = rt.offers.get(key).id if key else None
        return {"traces": rt.traces.recent(offer_id, query_number("limit", 50, 1, 500, int))}
