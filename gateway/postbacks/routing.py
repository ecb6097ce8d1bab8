"""Which pair a postback is for. Every route needs a secret in `token`: (1) an offer's id: that offer's pair 1;
(2) a pair's webhook token: that pair; (3) `[webhooks] campaign_route_secret`, then the campaign chooses the
pair: `campaign_id` (the hashed id Trackier's `{campaign_id}` fills in, or a numeric id) or `camp_id` (the numeric
`{camp_id}`) of a pair's URL1 or URL2. Routes are cached in the process and dropped in every process as soon as
an offer or a pair changes; unknown secrets are remembered too, so a flood of them does not reach PostgreSQL."""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import TypeAlias

from gateway.config import Secret
from store.errors import NotFound
from store.offers import Offer, Offers
from store.pairs import Pair, Pairs

MAX_CACHED = 10_000
RouteKey: TypeAlias = tuple[str, str | None, str | None]  # a postback's secret, campaign_id and camp_id


@dataclass(frozen=True)
class Route:
    name: str  # offer | token | campaign | id
    offer: Offer
    pair: Pair


class PostbackRouter:
    def __init__(self, offers: Offers, pairs: Pairs, campaign_secret: Secret, ttl_s: float) -> None:
        self.offers = offers
        self.pairs = pairs
        self.campaign_secret = campaign_secret
        self.ttl_s = ttl_s
        self._by_key: dict[RouteKey, tuple[float, Route | None]] = {}
        self._by_pair: dict[int, tuple[float, Route]] = {}

    def route(self, token: str, campaign_id: str | None, camp_id: str | None = None) -> Route | None:
        """The route of a postback with this secret (and campaign ids), or None."""
        key = (token, campaign_id, camp_id)
        entry = self._by_key.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        found = self.resolve(token, campaign_id, camp_id)
        self._remember(key, found)
        return found

    def resolve(self, token: str, campaign_id: str | None, camp_id: str | None = None) -> Route | None:
        """Routes 1, 2 and 3, in that order, uncached."""
        return (self._by_offer_id(token) or self._by_pair_token(token)
                or self._by_campaign(token, [c for c in (campaign_id, camp_id) if c]))

    def _by_offer_id(self, token: str) -> Route | None:
        offer_id = _uuid(token)
        offer = self.offers.find(str(offer_id)) if offer_id else None
        if offer is None or not hmac.compare_digest(str(offer.id).encode(), token.lower().encode()):
            return None
        assert offer.id is not None, "a stored offer has its id"
        try:
            return Route("offer", offer, self.pairs.get(offer.id, 1))
        except NotFound:
            return None

    def _by_pair_token(self, token: str) -> Route | None:
        pair = self.pairs.by_token(token)
        if pair is None or not hmac.compare_digest(pair.webhook_token.encode(), token.encode()):
            return None
        return Route("token", self.offers.get(str(pair.offer_id)), pair)

    def _by_campaign(self, token: str, campaign_ids: list[str]) -> Route | None:
        secret = self.campaign_secret
        if not (secret and campaign_ids and hmac.compare_digest(secret.reveal().encode(), token.encode())):
            return None
        pair = next(filter(None, map(self.pairs.by_campaign, campaign_ids)), None)
        return Route("campaign", self.offers.get(str(pair.offer_id)), pair) if pair else None

    def for_pair(self, pair_id: int) -> Route | None:
        """The pair and its offer by pair id (for the updater); None when the pair is gone."""
        entry = self._by_pair.get(pair_id)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        pair = self.pairs.by_id(pair_id)
        offer = self.offers.find(str(pair.offer_id)) if pair else None
        found = Route("id", offer, pair) if pair and offer else None
        if found:
            self._remember(None, found)
        return found

    def _remember(self, key: RouteKey | None, found: Route | None) -> None:
        if len(self._by_key) + len(self._by_pair) >= MAX_CACHED:
            self.clear()
        expires = time.monotonic() + self.ttl_s
        if key is not None:
            self._by_key[key] = (expires, found)
        if found:
            self._by_pair[found.pair.id] = (expires, found)

    def clear(self, *_: object) -> None:
        """Forget every route (an offer or a pair changed)."""
        self._by_key.clear()
        self._by_pair.clear()


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if len(text) == 36 else None
    except ValueError:
        return None
