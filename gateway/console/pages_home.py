"""The overview (`/`, its charts refreshed from `/overview/charts`) and the progress of background jobs
(`/jobs/{id}`, JSON for the page that started one)."""

from __future__ import annotations

import json
from typing import Any

from bottle import Bottle, HTTPResponse

from gateway.clicks.catalog import Catalog
from gateway.console import charts, web
from gateway.console.overview import Overview
from gateway.console.pair_jobs import PairJobs
from gateway.tracing.outcomes import CLICKS, Outcome
from store.errors import NotFound


def overview_charts(overview: Overview, catalog: Catalog) -> dict[str, Any]:
    offers = catalog.all()
    minutes = overview.clicks_per_minute(offers, 60)
    seen = [o for o in CLICKS if any(m["counts"].get(o) for m in minutes)] or [Outcome.FINAL]
    clicks = charts.stacked_bars([(m["minute"][11:16], m["counts"]) for m in minutes], seen,
                                 "Clicks per minute by outcome, last hour (UTC)")
    utilization = overview.utilization(24)
    stamps = [t.timestamp() for points in utilization.values() for t, _ in points]
    pool = charts.lines({cc: [(t.timestamp(), u) for t, u in points] for cc, points in utilization.items()},
                        (min(stamps, default=0), max(stamps, default=1)), ("24 h ago", "now"),
                        "Pool utilization per country, last 24 hours")
    hours = overview.postbacks_per_hour(24)
    postbacks = charts.stacked_bars(
        [(h["hour"].strftime("%H:00"), {"updated a pair": h["updates"], "other": h["postbacks"] - h["updates"]})
         for h in hours], ["updated a pair", "other"], "Postbacks per hour, last 24 hours (UTC)")
    return {"offers": len(offers), "clicks": clicks, "clicks_legend": charts.legend(seen),
            "clicks_total": sum(m["counts"].get(o, 0) for m in minutes for o in CLICKS), "pool": pool,
            "pool_empty": not utilization,
            "pool_legend": charts.legend(list(utilization)), "postbacks": postbacks,
            "postbacks_legend": charts.legend(["updated a pair", "other"]),
            "postbacks_total": sum(h["postbacks"] for h in hours), "updates_total": sum(h["updates"] for h in hours)}


def register(app: Bottle, overview: Overview, catalog: Catalog, pair_jobs: PairJobs) -> None:
    @app.get("/")
    def overview_page() -> HTTPResponse:
        return web.render("overview", title="Overview", warnings=overview.warnings(),
                          **overview_charts(overview, catalog))

    @app.get("/overview/charts")
    def charts_fragment() -> HTTPResponse:
        return web.render("overview_charts", **overview_charts(overview, catalog))

    @app.get("/jobs/<job_id>")
    def job(job_id: str) -> HTTPResponse:
        found = pair_jobs.progress(job_id)
        if found is None:
            raise NotFound(f"no job {job_id}")
        return HTTPResponse(json.dumps(found), headers={"Content-Type": "application/json"})
