"""`/api/offers`, `/api/offers/{id or slug}/clicks|ahead|feed-token` and `/api/traces`."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, HTTPResponse, request

from gateway.ahead.buckets import AheadBuckets
from gateway.clicks.catalog import Catalog
from gateway.clicks.reports import ClickReports
from gateway.routes.jsonapi import json_body, query_number, respond


def register(app: Bottle, catalog: Catalog, reports: ClickReports, ahead: AheadBuckets) -> None:
    @app.get("/offers")
    def list_offers() -> dict[str, Any]:
        return {"offers": [offer.as_dict() for offer in catalog.all()]}

    @app.post("/offers")
    def create_offer() -> HTTPResponse:
        return respond(catalog.create(json_body()).as_dict(), 201)

    @app.get("/offers/<key>")
    def show_offer(key: str) -> dict[str, Any]:
        return catalog.get(key).as_dict()

    @app.route("/offers/<key>", "PATCH")
    def update_offer(key: str) -> dict[str, Any]:
        return catalog.update(key, json_body()).as_dict()

    @app.delete("/offers/<key>")
    def disable_offer(key: str) -> dict[str, Any]:
        """Offers are never deleted (their records and pairs keep pointing at them): DELETE disables."""
        return catalog.set_enabled(key, False).as_dict()

    @app.get("/offers/<key>/clicks")
    def offer_clicks(key: str) -> dict[str, Any]:
        return reports.per_minute(key, query_number("minutes", 60, 1, 1440, int))

    @app.get("/offers/<key>/ahead")
    def offer_ahead(key: str) -> dict[str, Any]:
        return ahead.status(catalog.get(key))

    @app.post("/offers/<key>/feed-token")
    def rotate_feed_token(key: str) -> dict[str, Any]:
        offer = catalog.rotate_feed_token(key)
        return {"offer": offer.slug, "feed_token": offer.feed_token, "feed_path": f"/feed/{offer.slug}/suffix"}

    @app.get("/traces")
    def traces() -> dict[str, Any]:
        return {"traces": reports.recent_traces(request.query.get("offer"), query_number("limit", 50, 1, 500, int))}
