"""What an offer's campaign pairs look like to the API, the CLI and the console: each pair with its webhook URL
(the token masked unless revealed: whoever holds it can make the gateway trace and update Trackier), the offer's
totals, and the pairs as a formula-safe CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from store.offers import Offers
from store.pairs import Pair, Pairs, WebhookEvents

MASK = "(hidden)"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("pair", "name", "enabled", "url1_campaign_id", "url2_campaign_id", "webhook_url", "template",
               "webhook_count", "update_count", "last_webhook_at")


@dataclass(frozen=True)
class CsvExport:
    filename: str
    text: str


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class PairViews:
    def __init__(self, offers: Offers, pairs: Pairs, events: WebhookEvents, public_base_url: str) -> None:
        self.offers = offers
        self.pairs = pairs
        self.events = events
        self.base = public_base_url.rstrip("/")

    def webhook_url(self, pair: Pair, reveal: bool = True) -> str:
        """The S2S push URL to set on the pair's URL1 campaign in Trackier's panel; its token masked unless
        `reveal`."""
        token = pair.webhook_token if reveal else MASK
        return f"{self.base}/webhooks/trackier?token={token}&campaign_id={{campaign_id}}&click_id={{click_id}}"

    def view(self, pair: Pair, reveal: bool = True) -> dict[str, Any]:
        """A pair as the API, the CLI and the console show it: the token appears inside its webhook URL, masked
        unless `reveal` (viewers never see it); `webhook_url_masked` always masks it."""
        return {"pair": pair.pair_index, "name": pair.name, "enabled": pair.enabled, "complete": pair.complete,
                "url1_campaign_id": pair.url1_campaign_id, "url2_campaign_id": pair.url2_campaign_id,
                "url1_campaign_hash": pair.url1_campaign_hash, "url2_campaign_hash": pair.url2_campaign_hash,
                "webhook_url": self.webhook_url(pair, reveal), "webhook_url_masked": self.webhook_url(pair, False),
                "template": pair.template, "webhook_count": pair.webhook_count, "update_count": pair.update_count,
                "sub_id_values": pair.sub_id_values, "last_webhook_at": pair.last_webhook_at,
                "last_update_at": pair.last_update_at, "last_update_ms": pair.last_update_ms}

    def listing(self, offer_key: str) -> dict[str, Any]:
        offer = self.offers.get(offer_key)
        assert offer.id is not None, "a stored offer has its id"
        return {"offer": offer.slug, "pairs": [self.view(p) for p in self.pairs.for_offer(offer.id)]}

    def stats(self, offer_key: str, reveal: bool = True) -> dict[str, Any]:
        offer = self.offers.get(offer_key)
        assert offer.id is not None, "a stored offer has its id"
        rows = self.pairs.for_offer(offer.id)
        last = [p.last_webhook_at for p in rows if p.last_webhook_at]
        return {"offer": offer.slug, "pairs_total": len(rows), "pairs_enabled": sum(p.enabled for p in rows),
                "webhooks": sum(p.webhook_count for p in rows), "updates": sum(p.update_count for p in rows),
                "last_webhook_at": max(last) if last else None, "events": self.events.by_status(offer.id),
                "pairs": [self.view(p, reveal) for p in rows]}

    def export_csv(self, offer_key: str, reveal: bool = True) -> CsvExport:
        """The offer's pairs as CSV (formula-safe; tokens masked unless `reveal`), with the file name to save it
        under."""
        offer = self.offers.get(offer_key)
        assert offer.id is not None, "a stored offer has its id"
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for pair in self.pairs.for_offer(offer.id):
            row = self.view(pair, reveal)
            writer.writerow([safe_cell(row[column]) for column in CSV_COLUMNS])
        return CsvExport(f"{offer.slug}-pairs.csv", out.getvalue())
