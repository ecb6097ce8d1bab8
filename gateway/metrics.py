"""Prometheus metrics of one gateway process, on a registry of its own (several apps may share a test process)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from gateway import __version__

disable_created_metrics()


class Metrics:
    """Every metric the gateway exports; domain modules update these through the runtime."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        Info("gateway", "Gateway build", registry=self.registry).info({"version": __version__})
        self.http_requests = Counter(
            "gateway_http_requests", "HTTP responses by status class", ["status"], registry=self.registry
        )
        self.http_in_flight = Gauge("gateway_http_in_flight", "Requests being answered", registry=self.registry)
        self.store_up = Gauge("gateway_store_up", "1 when the store answered the last readiness check",
                              ["store"], registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
