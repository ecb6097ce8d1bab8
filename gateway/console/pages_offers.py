"""Offers and their campaign pairs: the list with today's clicks, create and edit forms (the catalogue's own checks,
each error beside its field), enable and disable, and an offer's page with its click URL, its traces made ahead
and the pairs grid: create N pairs (a background job whose progress the page shows), copy a pair's template and
webhook URL, switch a pair, send it a test postback, export the pairs as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bottle import Bottle, HTTPResponse, request

from gateway.ahead.buckets import AheadBuckets
from gateway.clicks.catalog import Catalog
from gateway.clicks.reports import ClickReports
from gateway.console import forms, web
from gateway.console.gate import ADMIN
from gateway.console.pair_jobs import PairJobs
from gateway.errors import ValidationError
from gateway.postbacks.pair_controls import PairControls
from gateway.postbacks.pair_views import PairViews
from gateway.routes.clients import Clients
from gateway.tracing.browser import BrowserTracer
from store.offers import Offer


def is_admin() -> bool:
    found = web.session()
    return found is not None and found.role == ADMIN


@dataclass(frozen=True)
class OfferPages:
    """What the offer pages call."""

    catalog: Catalog
    reports: ClickReports
    ahead: AheadBuckets
    views: PairViews
    controls: PairControls
    jobs: PairJobs
    clients: Clients
    browser: BrowserTracer


def register(app: Bottle, uses: OfferPages) -> None:
    catalog, reports, views, controls = uses.catalog, uses.reports, uses.views, uses.controls

    def click_base() -> str:
        return uses.clients.origin(request.environ)

    @app.get("/offers")
    def offers() -> HTTPResponse:
        return web.render("offers", title="Offers", offers=catalog.all(), today=reports.outcomes_today(),
                          base=click_base())

    @app.get("/offers/new")
    def new_offer() -> HTTPResponse:
        return offer_form(None, forms.shown(None))

    @app.post("/offers/new")
    def create_offer() -> HTTPResponse:
        posted = web.form()
        try:
            offer = catalog.create(forms.parsed(posted, creating=True))
        except ValidationError as exc:
            return offer_form(None, posted, exc)
        return web.go(f"/offers/{offer.slug}", f"Offer {offer.slug} created.")

    @app.get("/offers/<key>/edit")
    def edit_offer(key: str) -> HTTPResponse:
        offer = catalog.get(key)
        return offer_form(offer, forms.shown(offer))

    @app.post("/offers/<key>/edit")
    def update_offer(key: str) -> HTTPResponse:
        offer, posted = catalog.get(key), web.form()
        try:
            catalog.update(key, forms.parsed(posted, creating=False))
        except ValidationError as exc:
            return offer_form(offer, posted, exc)
        return web.go(f"/offers/{offer.slug}", "Saved.")

    def offer_form(offer: Offer | None, values: dict[str, Any], error: ValidationError | None = None) -> HTTPResponse:
        return web.render("offer_form", 400 if error else 200, title=f"Edit {offer.slug}" if offer else "New offer",
                          offer=offer, fields=forms.FIELDS, values=values, error=error)

    @app.post("/offers/<key>/<action:re:enable|disable>")
    def switch_offer(key: str, action: str) -> HTTPResponse:
        offer = catalog.set_enabled(key, action == "enable")
        return web.go(f"/offers/{offer.slug}", f"Offer {offer.slug} {action}d.")

    @app.get("/offers/<key>")
    def offer_page(key: str) -> HTTPResponse:
        return render_offer(key)

    def render_offer(key: str, test: dict[str, Any] | None = None, tested: int | None = None) -> HTTPResponse:
        offer = catalog.get(key)
        assert offer.id is not None, "a stored offer has its id"
        return web.render("offer", title=offer.name, offer=offer, base=click_base(),
                          stats=views.stats(offer.slug, reveal=is_admin()),
                          ahead=uses.ahead.status(offer), job=request.query.get("job", ""), test=test,
                          tested=tested, today=reports.outcomes_today(offer.id).get(offer.id, {}),
                          browser_on=uses.browser.available())

    @app.post("/offers/<key>/pairs")
    def create_pairs(key: str) -> HTTPResponse:
        offer = catalog.get(key)
        try:
            count = int(web.form().get("count", ""))
        except ValueError:
            raise ValidationError("count", "must be a whole number from 1 to 20") from None
        return web.go(f"/offers/{offer.slug}?job={uses.jobs.start(offer.slug, count)}")

    @app.post("/offers/<key>/pairs/<index:int>/<action:re:enable|disable>")
    def switch_pair(key: str, index: int, action: str) -> HTTPResponse:
        pair = controls.change(key, index, {"enabled": action == "enable"})
        return web.go(f"/offers/{key}#pair-{pair.pair_index}", f"Pair {pair.pair_index} {action}d.")

    @app.post("/offers/<key>/pairs/<index:int>/test")
    def test_pair(key: str, index: int) -> HTTPResponse:
        return render_offer(key, controls.test(key, index), index)

    @app.get("/offers/<key>/pairs.csv")
    def export(key: str) -> HTTPResponse:
        export = views.export_csv(key, reveal=is_admin())
        return HTTPResponse(export.text, headers={"Content-Type": "text/csv; charset=utf-8",
                                                  "Content-Disposition": f'attachment; filename="{export.filename}"'})
