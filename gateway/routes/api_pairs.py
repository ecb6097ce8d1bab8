"""`/api/offers/{id or slug}/pairs...` and `/api/offers/{id or slug}/stats`."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, HTTPResponse

from gateway.postbacks.pair_controls import PairControls
from gateway.postbacks.pair_setup import PairCreation, PairCreationFailed
from gateway.postbacks.pair_views import PairViews
from gateway.routes.errors import problem_for
from gateway.routes.jsonapi import json_body, respond


def register(app: Bottle, creation: PairCreation, views: PairViews, controls: PairControls) -> None:
    @app.post("/offers/<key>/pairs")
    def create(key: str) -> HTTPResponse:
        try:
            report = creation.create(key, json_body().get("count"))
        except PairCreationFailed as exc:  # the error says where creation stopped and what it kept
            failed = problem_for(exc, f"pair creation of {key}")
            body = failed.body()
            body["error"].update(failed_at=exc.failed_at, created=exc.created)
            return respond(body, failed.status)
        return respond({"offer": report.offer, "created": report.created, "pairs_total": report.pairs_total}, 201)

    @app.get("/offers/<key>/pairs")
    def list_pairs(key: str) -> dict[str, Any]:
        return views.listing(key)

    @app.route("/offers/<key>/pairs/<index:int>", "PATCH")
    def change(key: str, index: int) -> dict[str, Any]:
        return views.view(controls.change(key, index, json_body()))

    @app.delete("/offers/<key>/pairs/<index:int>")
    def disable(key: str, index: int) -> dict[str, Any]:
        """Pairs are never deleted (their campaigns live on in Trackier): DELETE disables."""
        return views.view(controls.change(key, index, {"enabled": False}))

    @app.post("/offers/<key>/pairs/<index:int>/test")
    def test(key: str, index: int) -> dict[str, Any]:
        """A synthetic postback through the real routing path, processed now; returns what happened."""
        return controls.test(key, index)

    @app.get("/offers/<key>/stats")
    def stats(key: str) -> dict[str, Any]:
        return views.stats(key)

    @app.get("/offers/<key>/pairs.csv")
    def export(key: str) -> HTTPResponse:
        export = views.export_csv(key)
        return HTTPResponse(export.text, headers={"Content-Type": "text/csv; charset=utf-8",
                                                  "Content-Disposition": f'attachment; filename="{export.filename}"'})
