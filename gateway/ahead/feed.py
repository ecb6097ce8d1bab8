"""The suffix feed: a fresh trace as a Google Ads final URL suffix, for scripts that set it on campaigns.

`GET /feed/{offer}/suffix[?country=CC]` takes one trace from the offer's bucket (the same buckets clicks take
from; each trace goes to one use) and answers the query of the URL a click would land on, after the offer's
parameter policy: `clickid=...&sub1=...`. It is authorised by the offer's own feed token, not the admin token: it
is called from Google Ads scripts, which must hold it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from gateway.ahead.buckets import AheadBuckets
from gateway.countries import normalize
from gateway.errors import GatewayError
from gateway.tracing import params
from store.offers import Offer, Offers


class FeedRefused(GatewayError):
    """No feed token, or not this offer's."""

    status = 401
    code = "unauthorized"


@dataclass(frozen=True)
class Suffix:
    suffix: str
    final_url: str
    traced_at: str
    age_s: float

    def as_dict(self) -> dict:
        return {"suffix": self.suffix, "final_url": self.final_url, "traced_at": self.traced_at, "age_s": self.age_s}


class SuffixFeed:
    def __init__(self, offers: Offers, buckets: AheadBuckets) -> None:
        self.offers = offers
        self.buckets = buckets

    def suffix(self, offer_key: str, token: str | None, country: str | None = None) -> Suffix | None:
        """A fresh suffix for the offer (None when its bucket is empty); NotFound, FeedRefused."""
        offer = self.offers.get(offer_key)
        expected = (offer.feed_token or "").encode()
        if not token or not expected or not hmac.compare_digest(token.encode(), expected):
            raise FeedRefused("a valid feed token is required (gateway offers rotate-feed-token OFFER)")
        if country:
            offer = replace(offer, country=normalize(country), fallback_countries=[])
        handed = self.buckets.take(offer, use="feed")
        if handed is None:
            return None
        trace = handed.trace
        landing = params.landing(trace.final_url, trace.chain, offer.param_policy, [])
        traced_at = datetime.fromtimestamp(handed.traced_at_ms / 1000, UTC).isoformat(timespec="seconds")
        return Suffix(urlsplit(landing).query, trace.final_url, traced_at, round(handed.age_ms / 1000, 1))

    def rotate_token(self, offer_key: str) -> Offer:
        """A new feed token for the offer (192 random bits); the old one stops working at once."""
        return self.offers.set_feed_token(offer_key, secrets.token_urlsafe(24))

