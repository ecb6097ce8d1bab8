"""The console's trace tool: follows a URL an operator types in, directly, through a slot of a country or through
a named slot, as a desktop or mobile browser, and shows every hop. Each client address may run
`[clicks] client_traces_per_minute` of them a minute, like clicks (0: no limit)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import TracingSettings
from gateway.countries import normalize
from gateway.errors import RateLimited, ValidationError
from gateway.tracing import tracer, urls
from gateway.tracing.outcomes import Tracer
from gateway.tracing.runner import TraceRunner
from store.errors import NotFound
from store.pool import NoEgress
from store.ratelimit import RateLimiter


class TraceTool:
    def __init__(self, runner: TraceRunner, tracing: TracingSettings, limiter: RateLimiter, per_minute: int) -> None:
        self.runner = runner
        self.tracing = tracing
        self.limiter = limiter
        self.per_minute = per_minute

    def trace(self, posted: Mapping[str, str], client: str) -> tracer.TraceResult:
        """Follow the form's `url` by its `route` (direct, country, slot) to `target`, as `ua`, by `mode` (http,
        auto, browser); ValidationError
        naming the field to fix, RateLimited past the client's budget."""
        url = posted.get("url", "").strip()
        try:
            urls.split_web(urls.prepared(url))
        except urls.BadUrl as exc:
            raise ValidationError("url", f"not an http(s) URL a browser could open: {exc}") from None
        route, target = posted.get("route", "direct"), posted.get("target", "").strip()
        if route != "direct" and not target:
            raise ValidationError("target", f"name the {route} to trace through")
        ua = posted.get("ua") if posted.get("ua") in ("desktop", "mobile") else "desktop"
        mode = posted.get("mode", Tracer.HTTP)
        if mode not in list(Tracer):
            raise ValidationError("mode", f"must be one of {', '.join(Tracer)}")
        country = normalize(target, "target") if route == "country" else None
        self._spend(client)
        options = tracer.TraceOptions.from_settings(self.tracing, user_agent=ua)
        try:
            return self.runner.probe(url, options, "console", target if route == "slot" else None, country, mode)
        except (NotFound, NoEgress) as exc:
            raise ValidationError("target", str(exc)) from None

    def _spend(self, client: str) -> None:
        if not self.per_minute:
            return
        hit = self.limiter.hit("trace-tool", client)
        if hit.count > self.per_minute:
            raise RateLimited(f"this address has run {self.per_minute} traces this minute ([clicks] "
                              f"client_traces_per_minute): try again in {hit.retry_after_s} s", hit.retry_after_s)
