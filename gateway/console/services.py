"""What the console's pages are given: the services they call, built once by the process (`process/app.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import gevent.pool

from gateway.ahead.buckets import AheadBuckets
from gateway.clicks.catalog import Catalog
from gateway.clicks.reports import ClickReports
from gateway.config import Settings
from gateway.console.gate import Gate
from gateway.console.overview import Overview
from gateway.egress.census import Census
from gateway.egress.slots import Slots
from gateway.postbacks.pair_setup import CampaignPairs
from gateway.routes.clients import Clients
from gateway.tracing.runner import TraceRunner
from store.console import ConsoleJobs
from store.ratelimit import RateLimiter


@dataclass(frozen=True)
class ConsoleServices:
    gate: Gate
    clients: Clients
    overview: Overview
    catalog: Catalog
    reports: ClickReports
    ahead: AheadBuckets
    pairs: CampaignPairs
    slots: Slots
    census: Census
    runner: TraceRunner
    jobs: ConsoleJobs
    limiter: RateLimiter
    background: gevent.pool.Group
    settings: Settings
