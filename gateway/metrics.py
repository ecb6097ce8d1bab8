"""Prometheus metrics of the gateway, on a registry of its own (several apps may share a test process).

Under `serve --workers N` each worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (set by the
supervisor before the fork) and `/metrics`, whichever worker answers it, adds them up across workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

from gateway import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess_dir() -> str | None:
    """The shared metrics directory of a pre-forked worker (switching this process to file-backed values)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # idem
    return directory


class Metrics:
    """Every metric the gateway exports; domain modules update these through the runtime."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.shared_dir = _multiprocess_dir()
        if not self.shared_dir:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        Gauge("gateway_build_info", "Gateway build", ["version"], registry=self.registry,
              multiprocess_mode="max").labels(__version__).set(1)
        self.http_requests = Counter(
            "gateway_http_requests", "HTTP responses by status class", ["status"], registry=self.registry
        )
        self.http_in_flight = Gauge("gateway_http_in_flight", "Requests being answered", registry=self.registry,
                                    multiprocess_mode="livesum")
        self.store_up = Gauge("gateway_store_up", "1 when the store answered the last readiness check",
                              ["store"], registry=self.registry, multiprocess_mode="livemin")
        self.pool_slots = Gauge("gateway_pool_slots", "Egress slots by country and state (last maintenance tick)",
                                ["country", "state"], registry=self.registry, multiprocess_mode="livemostrecent")
        self.pool_utilization = Gauge("gateway_pool_utilization", "Share of enabled slots not leasable now",
                                      ["country"], registry=self.registry, multiprocess_mode="livemostrecent")
        self.leases = Counter("gateway_pool_leases", "Egress leases granted", ["country"], registry=self.registry)
        self.lease_wait = Histogram("gateway_pool_lease_wait_seconds", "Time spent waiting for a free slot",
                                    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                    registry=self.registry)
        self.no_egress = Counter("gateway_pool_no_egress", "Leases given up: no slot came free in time",
                                 ["country"], registry=self.registry)
        self.quarantines = Counter("gateway_pool_quarantines", "Slots sent to quarantine", ["country"],
                                   registry=self.registry)
        self.late_releases = Counter("gateway_pool_late_releases",
                                     "Releases ignored because their lease had been reaped", registry=self.registry)
        self.clicks = Counter("gateway_clicks", "Clicks by outcome", ["outcome"], registry=self.registry)
        self.browser_traces = Counter("gateway_browser_traces",
                                      "Traces that wanted a browser, by how they went: browser (a worker followed "
                                      "it), no_browser (none free: HTTP alone), or the browser trace's error",
                                      ["result"], registry=self.registry)
        self.trace_seconds = Histogram("gateway_trace_seconds", "Whole-chain trace time",
                                       buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60), registry=self.registry)
        self.click_seconds = Histogram("gateway_click_seconds", "Time to answer a click",
                                       buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15),
                                       registry=self.registry)
        self.writer_queue = Gauge("gateway_record_queue", "Trace records waiting to be written",
                                  registry=self.registry, multiprocess_mode="livesum")
        self.writer_dropped = Counter("gateway_records_dropped", "Trace records dropped: the queue was full",
                                      registry=self.registry)
        self.writer_rejected = Counter("gateway_records_rejected", "Trace records PostgreSQL refused, set aside alone",
                                       registry=self.registry)
        self.writer_written = Counter("gateway_records_written", "Trace records written to PostgreSQL",
                                      registry=self.registry)
        self.writer_errors = Counter("gateway_record_write_errors", "Failed record writes, by store",
                                     ["store"], registry=self.registry)
        self.postbacks = Counter("gateway_postbacks", "Trackier postbacks by route and answer", ["route", "status"],
                                 registry=self.registry)
        self.pair_updates = Counter("gateway_pair_updates", "Postback processing results", ["status"],
                                    registry=self.registry)
        self.ahead_handed = Counter("gateway_ahead_handed", "Traces made ahead handed out, by offer and use",
                                    ["offer", "use"], registry=self.registry)
        self.ahead_misses = Counter("gateway_ahead_misses", "Clicks of ahead offers that found their buckets empty",
                                    ["offer"], registry=self.registry)
        self.ahead_made = Counter("gateway_ahead_made", "Successful traces put into buckets (ahead or late inline)",
                                  ["offer"], registry=self.registry)
        self.ahead_expired = Counter("gateway_ahead_expired", "Traces made ahead that aged out or were trimmed unused",
                                     ["offer"], registry=self.registry)
        self.ahead_late_private = Counter(
            "gateway_ahead_late_private", "Late inline traces kept out of the buckets: made with a click's values",
            ["offer"], registry=self.registry)
        self.ahead_unanswered = Counter("gateway_ahead_taken_unanswered",
                                        "Traces handed out whose use was never answered (a process died)", ["offer"],
                                        registry=self.registry)
        self.ahead_filler_errors = Counter("gateway_ahead_filler_errors",
                                           "Filler ticks and traces that failed, by kind", ["kind"],
                                           registry=self.registry)
        self.ahead_answers_pending = Gauge("gateway_ahead_answers_pending",
                                           "Answered uses not yet told to Redis (kept while it is away)",
                                           registry=self.registry, multiprocess_mode="livesum")
        self.feed_requests = Counter("gateway_feed_requests", "Suffix feed answers by status", ["status"],
                                     registry=self.registry)
        self.ahead_traces = Counter("gateway_ahead_traces", "Traces the filler ran, by result", ["offer", "result"],
                                    registry=self.registry)
        self.ahead_depth = Gauge("gateway_ahead_bucket_depth", "Entries in a bucket (when last looked at)",
                                 ["offer", "country"], registry=self.registry, multiprocess_mode="livemostrecent")
        self.ahead_age = Gauge("gateway_ahead_bucket_age_seconds",
                               "Age of a bucket's oldest entry (when last looked at)", ["offer", "country"],
                               registry=self.registry, multiprocess_mode="livemostrecent")
        self.maintenance_ticks = Counter("gateway_maintenance_ticks", "Maintenance ticks run by this process",
                                         ["result"], registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric (of every worker, when pre-forked) and its content type."""
        if not self.shared_dir:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.shared_dir)  # type: ignore[no-untyped-call]  # idem
        return generate_latest(merged), CONTENT_TYPE_LATEST
