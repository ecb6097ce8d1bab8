"""What an operator does to an existing pair: rename it, switch it on or off (pair 1 stays on: postbacks that name
only the offer go to it), and send it a synthetic postback through the real routing path to see what happens."""

from __future__ import annotations

from typing import Any

from gateway.clicks.catalog import Catalog
from gateway.errors import ValidationError
from gateway.postbacks.receiving import Receiver
from store.errors import Conflict
from store.offers import Offers
from store.pairs import Pair, Pairs


class PairControls:
    def __init__(self, offers: Offers, pairs: Pairs, catalog: Catalog, receiver: Receiver) -> None:
        self.offers = offers
        self.pairs = pairs
        self.catalog = catalog
        self.receiver = receiver

    def change(self, offer_key: str, index: int, data: object) -> Pair:
        """Rename, enable or disable a pair. Pair 1 cannot be disabled (route 1 postbacks go to it)."""
        if not isinstance(data, dict) or not data or not set(data) <= {"name", "enabled"}:
            raise ValidationError("body", 'must change "name" and/or "enabled"')
        name, enabled = data.get("name"), data.get("enabled")
        if name is not None and (not isinstance(name, str) or not 0 < len(name.strip()) <= 200):
            raise ValidationError("name", "must be 1-200 characters")
        if enabled is not None and not isinstance(enabled, bool):
            raise ValidationError("enabled", "must be true or false")
        if enabled is False and index == 1:
            raise Conflict("pair 1 cannot be disabled: postbacks that name only the offer are routed to it")
        offer = self.offers.get(offer_key)
        assert offer.id is not None, "a stored offer has its id"
        pair = self.pairs.change(offer.id, index, name.strip() if name else None, enabled)
        self.catalog.changed(offer.slug)
        return pair

    def test(self, offer_key: str, index: int) -> dict[str, Any]:
        """A synthetic postback for pair `index` through the real routing path, processed now: what happened."""
        offer = self.offers.get(offer_key)
        assert offer.id is not None, "a stored offer has its id"
        return self.receiver.synthetic(self.pairs.get(offer.id, index))
