"""`/api/offers/{id or slug}/pairs...` and `/api/offers/{id or slug}/stats`."""

from __future__ import annotations

from bottle import Bottle, HTTPResponse

from gateway.postbacks.pair_setup import CampaignPairs, PairCreationFailed
from gateway.routes.jsonapi import error, json_body, respond


def register(app: Bottle, pairs: CampaignPairs) -> None:
    @app.post("/offers/<key>/pairs")
    def create(key: str) -> HTTPResponse:
        try:
            report = pairs.create(key, json_body().get("count"))
        except PairCreationFailed as exc:
            return error(502, "trackier", str(exc), failed_at=exc.failed_at, created=exc.created)
        return respond({"offer": report.offer, "created": report.created, "pairs_total": report.pairs_total}, 201)

    @app.get("/offers/<key>/pairs")
    def list_pairs(key: str) -> dict:
        return pairs.listing(key)

    @app.route("/offers/<key>/pairs/<index:int>", "PATCH")
    def change(key: str, index: int) -> dict:
        return pairs.view(pairs.change(key, index, json_body()))

    @app.delete("/offers/<key>/pairs/<index:int>")
    def disable(key: str, index: int) -> dict:
        """Pairs are never deleted (their campaigns live on in Trackier): DELETE disables."""
        return pairs.view(pairs.change(key, index, {"enabled": False}))

    @app.post("/offers/<key>/pairs/<index:int>/test")
    def test(key: str, index: int) -> dict:
        """A synthetic postback through the real routing path, processed now; returns what happened."""
        return pairs.test(key, index)

    @app.get("/offers/<key>/stats")
    def stats(key: str) -> dict:
        return pairs.stats(key)

    @app.get("/offers/<key>/pairs.csv")
    def export(key: str) -> HTTPResponse:
        export = pairs.export_csv(key)
        return HTTPResponse(export.text, headers={"Content-Type": "text/csv; charset=utf-8",
                                                  "Content-Disposition": f'attachment; filename="{export.filename}"'})
