"""What clicks did: per-minute outcome counts of an offer (Redis) and the newest trace records (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from store.clickstats import ClickStats
from store.errors import NotFound
from store.offers import Offers
from store.traces import Traces


class ClickReports:
    def __init__(self, offers: Offers, click_stats: ClickStats, traces: Traces) -> None:
        self.offers = offers
        self.click_stats = click_stats
        self.traces = traces

    def per_minute(self, offer_key: str, minutes: int) -> dict[str, Any]:
        """The offer's outcome counts for each of the last `minutes` minutes, oldest first."""
        offer = self.offers.get(offer_key)
        return {"offer": offer.slug, "minutes": self.click_stats.minutes(str(offer.id), minutes)}

    def stream(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """The newest `count` entries of the recent-trace stream (Redis), newest first."""
        return self.click_stats.recent(count)

    def follow(self, after: str, block_ms: int) -> list[tuple[str, dict[str, str]]]:
        """Stream entries after `after`, waiting up to `block_ms` for some."""
        return self.click_stats.follow(after, block_ms)

    def recent_traces(self, offer_key: str | None, limit: int, outcome: str | None = None,
                      slot_id: str | None = None) -> list[dict[str, Any]]:
        """The newest trace records, of one offer, outcome and slot or of all."""
        offer_id = self.offers.get(offer_key).id if offer_key else None
        return self.traces.recent(offer_id, limit, outcome or None, slot_id or None)

    def trace(self, trace_id: str) -> dict[str, Any]:
        """One trace record with its hops; NotFound."""
        try:
            return self.traces.get(uuid.UUID(trace_id))
        except ValueError:
            raise NotFound(f"no trace {trace_id}") from None

    def outcomes_today(self, offer_id: uuid.UUID | None = None) -> dict[uuid.UUID, dict[str, int]]:
        """Per offer (or of one), its clicks' outcomes since midnight UTC."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.traces.outcomes_since(midnight, offer_id)
