"""What the overview page shows: clicks per minute by outcome, pool utilization per country from the snapshots,
postbacks and pair updates per hour, and every warning the gateway knows, each with where to look."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.egress.census import Census
from gateway.tracing.records import RecordWriter
from store.clickstats import ClickStats
from store.offers import Offer
from store.pairs import WebhookEvents
from store.snapshots import Snapshots


@dataclass(frozen=True)
class Alert:
    text: str
    link: str


@dataclass(frozen=True)
class OverviewStores:
    click_stats: ClickStats
    snapshots: Snapshots
    events: WebhookEvents


class Overview:
    def __init__(self, stores: OverviewStores, census: Census, records: RecordWriter,
                 check_stores: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self.click_stats, self.snapshots, self.events = stores.click_stats, stores.snapshots, stores.events
        self.census = census
        self.records = records
        self.check_stores = check_stores

    def clicks_per_minute(self, offers: list[Offer], minutes: int = 60) -> list[dict[str, Any]]:
        """These offers' clicks together, per minute and outcome, oldest first."""
        return self.click_stats.summed([str(offer.id) for offer in offers], minutes)

    def utilization(self, hours: int = 24) -> dict[str, list[tuple[datetime, float]]]:
        """Per country, (snapshot time, utilization) over the last `hours`."""
        series: dict[str, list[tuple[datetime, float]]] = {}
        for row in self.snapshots.since(datetime.now(UTC) - timedelta(hours=hours)):
            series.setdefault(row["country"], []).append((row["taken_at"], float(row["utilization"])))
        return series

    def postbacks_per_hour(self, hours: int = 24) -> list[dict[str, Any]]:
        """Per hour of the last `hours`: postbacks received and pair updates they led to (empty hours included)."""
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(hours=hours - 1)
        found = {row["hour"]: row for row in self.events.per_hour(start)}
        return [{"hour": hour, "postbacks": found.get(hour, {}).get("postbacks", 0),
                 "updates": found.get(hour, {}).get("updates", 0)}
                for hour in (start + timedelta(hours=n) for n in range(hours))]

    def warnings(self) -> list[Alert]:
        found = [Alert(f"{name}: {state.get('error', 'not answering')}", "/readyz")
                 for name, state in self.check_stores().items() if not state["ok"]]
        if found:
            return found
        pool = self.census.status(check_inventory=False)
        found += [Alert(text, "/pool") for text in pool.warnings]
        if self.records.dropped:
            found.append(Alert(f"{self.records.dropped} trace record(s) dropped by this process: PostgreSQL "
                                 "was too slow or down and the writer's queue was full", "/traces"))
        if self.records.rejected:
            found.append(Alert(f"{self.records.rejected} trace record(s) refused by PostgreSQL and set aside "
                                 "(see the gateway log)", "/traces"))
        return found
