"""Traces: the newest records with filters (offer, outcome, slot), refreshed live from `/traces/rows`; one record
with its hops; the trace tool, which follows a URL typed in (direct, through a country's slot or a named slot,
as a desktop or mobile browser) and shows every hop."""

from __future__ import annotations

from bottle import Bottle, HTTPResponse, request

from gateway.console import web
from gateway.console.pages_home import CLICK_OUTCOMES
from gateway.console.services import ConsoleServices
from gateway.countries import normalize
from gateway.errors import ValidationError
from gateway.tracing import tracer, urls
from store.errors import NotFound
from store.pool import NoEgress

OUTCOMES = (*CLICK_OUTCOMES, "traced", "failed")
ROWS = 100


def register(app: Bottle, services: ConsoleServices) -> None:
    def filters() -> dict[str, str]:
        return {name: request.query.get(name, "") for name in ("offer", "outcome", "slot")}

    def rows() -> list[dict]:
        chosen = filters()
        outcome = chosen["outcome"] if chosen["outcome"] in OUTCOMES else None
        return services.reports.recent_traces(chosen["offer"] or None, ROWS, outcome, chosen["slot"])

    @app.get("/traces")
    def traces() -> HTTPResponse:
        return web.render("traces", title="Traces", traces=rows(), filters=filters(), outcomes=OUTCOMES,
                          offers=[o.slug for o in services.catalog.all()], query=request.query_string)

    @app.get("/traces/rows")
    def trace_rows() -> HTTPResponse:
        return web.render("trace_rows", traces=rows())

    @app.get("/traces/<trace_id>")
    def trace(trace_id: str) -> HTTPResponse:
        record = services.reports.trace(trace_id)
        return web.render("trace", title="Trace", trace=record)

    @app.get("/trace-tool")
    def tool() -> HTTPResponse:
        return web.render("trace_tool", title="Trace a URL", values={"route": "direct", "ua": "desktop"},
                          result=None, error=None)

    @app.post("/trace-tool")
    def run_tool() -> HTTPResponse:
        posted = web.form()
        budget = services.settings.clicks.client_traces_per_minute
        if budget:
            hit = services.limiter.hit("trace-tool", services.clients.address(request.environ))
            if hit.count > budget:
                return web.problem_page(429, f"This address has run {budget} traces this minute ([clicks] "
                                             f"client_traces_per_minute): try again in {hit.retry_after_s} s.")
        try:
            result = probe(posted)
        except ValidationError as exc:
            return web.render("trace_tool", 400, title="Trace a URL", values=posted, result=None, error=exc)
        return web.render("trace_tool", title="Trace a URL", values=posted, result=result, error=None)

    def probe(posted: dict) -> tracer.TraceResult:
        url = posted.get("url", "").strip()
        try:
            urls.split_web(urls.prepared(url))
        except urls.BadUrl as exc:
            raise ValidationError("url", f"not an http(s) URL a browser could open: {exc}") from None
        route, target = posted.get("route", "direct"), posted.get("target", "").strip()
        if route != "direct" and not target:
            raise ValidationError("target", f"name the {route} to trace through")
        ua = posted.get("ua") if posted.get("ua") in ("desktop", "mobile") else "desktop"
        options = tracer.TraceOptions.from_settings(services.settings.tracing, user_agent=ua)
        country = normalize(target, "target") if route == "country" else None
        try:
            return services.runner.probe(url, options, "console", target if route == "slot" else None, country)
        except (NotFound, NoEgress) as exc:
            raise ValidationError("target", str(exc)) from None
