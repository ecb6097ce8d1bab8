"""The suffix feed: a fresh trace as a Google Ads final URL suffix, for scripts that set it on campaigns.

`GET /feed/{offer}/suffix[?country=CC]` takes one trace from the offer's bucket (the same buckets clicks take
from; each trace goes to one use) and answers the query of the URL a click would land on, after the offer's
parameter policy: `clickid=...&sub1=...`. It is authorised by the offer's own feed token, not the admin token: it
is called from Google Ads scripts, which must hold it. It is an endpoint on the internet: no token, a wrong token
and an unknown offer are refused alike (no offer can be found out by its slug), and refusals are limited per client
address; each token has its own rate limit; `HEAD` only says whether a suffix is there, taking nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.ahead.buckets import AHEAD_MODES, AheadBuckets, Handed
from gateway.config import AheadSettings
from gateway.countries import normalize
from gateway.errors import GatewayError, RateLimited, Unauthorized
from gateway.tracing import params
from store.offers import Offer
from store.ratelimit import RateLimiter

NO_TOKEN = b"\0" * 32  # compared against when there is no offer, so an unknown offer costs what a known one does


class FeedRefused(Unauthorized):
    """No feed token, a wrong one, or no such offer: told apart to nobody."""


class FeedClosed(GatewayError):
    """The token is right, but the offer is disabled or does not trace ahead."""


class FeedLimited(RateLimited):
    """The token asked more often than `[ahead] feed_per_minute` this minute (or the client address was refused
    more often than `feed_refusals_per_minute`)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many feed requests this minute; retry in {retry_after_s} s", retry_after_s)


@dataclass(frozen=True)
class Suffix:
    suffix: str
    final_url: str
    traced_at: str
    age_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"suffix": self.suffix, "final_url": self.final_url, "traced_at": self.traced_at, "age_s": self.age_s}


@dataclass(frozen=True)
class FeedRequest:
    """What the feed is asked: the offer (slug or id), the token, the country (optional), and from which client
    address (routes/clients.py)."""

    offer: str
    token: str | None
    country: str | None = None
    client: str = "-"


class SuffixFeed:
    def __init__(self, find: Callable[[str], Offer | None], buckets: AheadBuckets, limiter: RateLimiter,
                 settings: AheadSettings) -> None:
        self.find = find  # an offer by slug or id, None when there is none (the click path's cache)
        self.buckets = buckets
        self.limiter = limiter
        self.per_minute, self.refusals_per_minute = settings.feed_per_minute, settings.feed_refusals_per_minute

    def suffix(self, request: FeedRequest) -> Suffix | None:
        """A fresh suffix for the offer, taken for this answer (None when its bucket is empty)."""
        offer = self._opened(request)
        handed = self.buckets.take(offer, use="feed", countries=_countries(offer, request.country))
        if handed is None:
            return None
        self.buckets.answered(offer, handed)
        return _suffix(offer, handed)

    def ready(self, request: FeedRequest) -> bool:
        """Whether a suffix is there now, taking nothing (HEAD)."""
        offer = self._opened(request)
        return any(self.buckets.look(offer, cc).entries for cc in _countries(offer, request.country))

    def _opened(self, request: FeedRequest) -> Offer:
        """The offer whose feed the request's token opens, the request counted against the token's limit:
        FeedRefused (FeedLimited past `feed_refusals_per_minute` refusals of the client address), FeedClosed,
        FeedLimited."""
        offer, token = self.find(request.offer), request.token
        expected = offer.feed_token.encode() if offer and offer.feed_token else NO_TOKEN
        matches = hmac.compare_digest((token or "").encode(), expected)  # compared even for no offer: same time
        if offer is None or not offer.feed_token or not token or not matches:
            refused = self.limiter.hit("feed-refused", request.client)
            if refused.count > self.refusals_per_minute:
                raise FeedLimited(refused.retry_after_s)
            raise FeedRefused("a valid feed token for this offer is required (Authorization: Bearer TOKEN; "
                              "gateway offers rotate-feed-token OFFER makes one)")
        if not offer.enabled or offer.click_mode not in AHEAD_MODES:
            raise FeedClosed(f"offer {offer.slug} " + ("is disabled" if not offer.enabled else
                                                        f"does not trace ahead (click_mode {offer.click_mode})"))
        hit = self.limiter.hit("feed", hashlib.sha256(token.encode()).hexdigest()[:16])
        if hit.count > self.per_minute:
            raise FeedLimited(hit.retry_after_s)
        return offer


def _countries(offer: Offer, country: str | None) -> list[str]:
    """The buckets a feed request takes from: `?country=` alone, else the offer's country and fallbacks (a
    ValidationError for a bad country)."""
    return [normalize(country, "country")] if country else [offer.country, *offer.fallback_countries]


def _suffix(offer: Offer, handed: Handed) -> Suffix:
    trace = handed.trace
    landing = params.landing(trace.final_url, trace.chain, offer.param_policy, [])
    traced_at = datetime.fromtimestamp(handed.traced_at_ms / 1000, UTC).isoformat(timespec="seconds")
    return Suffix(urlsplit(landing).query, trace.final_url, traced_at, round(handed.age_ms / 1000, 1))
