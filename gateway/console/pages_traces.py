"""Traces: the newest records with filters (offer, outcome, slot), refreshed live from `/traces/rows`; one record
with its hops; the trace tool (`trace_tool.py`)."""

from __future__ import annotations

from bottle import Bottle, HTTPResponse, request

from gateway.clicks.catalog import Catalog
from gateway.clicks.reports import ClickReports
from gateway.console import web
from gateway.console.trace_tool import TraceTool
from gateway.errors import ValidationError
from gateway.routes.clients import Clients
from gateway.tracing.outcomes import Outcome

OUTCOMES = tuple(Outcome)
ROWS = 100


def register(app: Bottle, reports: ClickReports, catalog: Catalog, tool: TraceTool, clients: Clients) -> None:
    def filters() -> dict[str, str]:
        return {name: request.query.get(name, "") for name in ("offer", "outcome", "slot")}

    def rows() -> list[dict[str, object]]:
        chosen = filters()
        outcome = chosen["outcome"] if chosen["outcome"] in OUTCOMES else None
        return reports.recent_traces(chosen["offer"] or None, ROWS, outcome, chosen["slot"])

    @app.get("/traces")
    def traces() -> HTTPResponse:
        return web.render("traces", title="Traces", traces=rows(), filters=filters(), outcomes=OUTCOMES,
                          offers=[o.slug for o in catalog.all()], query=request.query_string)

    @app.get("/traces/rows")
    def trace_rows() -> HTTPResponse:
        return web.render("trace_rows", traces=rows())

    @app.get("/traces/<trace_id>")
    def trace(trace_id: str) -> HTTPResponse:
        return web.render("trace", title="Trace", trace=reports.trace(trace_id))

    @app.get("/trace-tool")
    def tool_page() -> HTTPResponse:
        return web.render("trace_tool", title="Trace a URL", values={"route": "direct", "ua": "desktop"},
                          result=None, error=None)

    @app.post("/trace-tool")
    def run_tool() -> HTTPResponse:
        posted = web.form()
        try:
            result = tool.trace(posted, clients.address(request.environ))
        except ValidationError as exc:
            return web.render("trace_tool", 400, title="Trace a URL", values=posted, result=None, error=exc)
        return web.render("trace_tool", title="Trace a URL", values=posted, result=result, error=None)
