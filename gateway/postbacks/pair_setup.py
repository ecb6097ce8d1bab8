"""Creating campaign pairs: one offer has 1 to 20. A pair is an inbound Trackier campaign (URL1, whose S2S push
calls this gateway's webhook), an outbound one (URL2, whose destination carries `{p1}`..`{p10}`), a Google Ads
tracking template and a webhook token. What pairs look like is `pair_views`; renaming, switching and testing one
is `pair_controls`.

Creation of an offer's pairs runs once at a time, cluster-wide: it holds `pairs:OFFER_ID` in Redis, renewed in the
background while it runs (however long one Trackier call takes, 429 waits included) and checked before each
Trackier call, so it stops if it lost the hold (the fencing check); a second creation meanwhile is refused
(Conflict, 409) instead of creating the same campaigns twice.

Creation is resumable: each pair is stored as soon as its URL2 campaign exists and completed when its URL1
campaign does. A failure at pair k keeps pairs 1..k-1 (and k's URL2), reports k, and the next run completes
the incomplete pair before adding new ones. Every campaign has a unique title (offer slug, pair, role and a short
id of the offer), so that a creation whose answer was lost is found and adopted instead of made twice.

URL1's destination is the offer's landing page (Trackier refuses its own tracking links as destinations) and it
is created with deep links allowed, so that the template's `url=` sends the click on to URL2's click link; URL2's
destination is the landing page carrying `{p1}`..`{p10}`, which pair updates fill.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import gevent

from gateway.clicks.catalog import Catalog
from gateway.config import TrackierSettings
from gateway.errors import GatewayError, ValidationError
from gateway.postbacks.trackier_api import Campaign, TrackierClient, TrackierError
from gateway.tracing import params
from gateway.tracing.records import TraceRecord
from gateway.tracing.runner import TraceRunner
from store.errors import Conflict, StoreError
from store.locks import Holds
from store.offers import Offer, Offers
from store.pairs import Pair, Pairs

log = logging.getLogger(__name__)
MAX_PAIRS = 20
HOLD_MS = 60_000
Progress = Callable[[int, int, "int | None"], None]


class NoSlotToTrace(GatewayError):
    """No egress slot came free to trace an offer's chain (to find the landing page pairs point at)."""


class PairCreationFailed(TrackierError):
    """Trackier failed while creating pair `failed_at`; the pairs before it (and its URL2) are kept."""

    def __init__(self, message: str, failed_at: int, created: list[int]) -> None:
        super().__init__(message)
        self.failed_at = failed_at
        self.created = created


@dataclass
class CreationReport:
    offer: str
    created: list[int] = field(default_factory=list)
    pairs_total: int = 0


def url2_destination(final_url: str, sub_id_mapping: dict[str, Any]) -> str:
    """The offer's landing page without its query, then `name={pN}` for each entry of the sub-id mapping."""
    parts = urlsplit(final_url)
    query = "&".join(f"{name}={{{key}}}" for key, name in sub_id_mapping.items())
    return urlunsplit(parts._replace(query=query, fragment=""))


@dataclass(frozen=True)
class PairStores:
    offers: Offers
    pairs: Pairs
    holds: Holds


@dataclass
class Claim:
    """The right to create an offer's pairs now: renewed every HOLD_MS / 4 by a keeper greenlet while creation
    runs, checked (and renewed) before every Trackier call; lost only when Redis could not be told for HOLD_MS."""

    holds: Holds
    name: str
    holder: str
    keeper: gevent.Greenlet | None = None
    lost: bool = False

    def keep(self) -> Claim:
        self.keeper = gevent.spawn(self._keep)
        self.keeper.link_exception(lambda g: log.error("pair creation hold keeper crashed: %r", g.exception))
        return self

    def _keep(self) -> None:
        while not self.lost:
            gevent.sleep(HOLD_MS / 4000)
            try:
                self.lost = not self.holds.hold(self.name, self.holder, HOLD_MS)
            except StoreError as exc:  # tried again in a quarter of the hold's time; renew() tells the creation
                log.warning("pair creation hold %s not renewed now: %s", self.name, exc)

    def renew(self) -> None:
        if self.lost or not self.holds.hold(self.name, self.holder, HOLD_MS):
            self.lost = True
            raise Conflict("pair creation lost its hold (Redis did not hear from it in time, and another creation "
                           "may have taken over): stopped; create again to resume")

    def release(self) -> None:
        if self.keeper is not None:
            self.keeper.kill()
        self.holds.let_go(self.name, self.holder)


class PairCreation:
    def __init__(self, stores: PairStores, catalog: Catalog, trackier: TrackierClient, runner: TraceRunner,
                 settings: TrackierSettings, lease_wait_ms: int) -> None:
        self.lease_wait_ms = lease_wait_ms
        self.offers, self.pairs, self.holds = stores.offers, stores.pairs, stores.holds
        self.catalog = catalog
        self.trackier = trackier
        self.runner = runner
        self.settings = settings

    # -- links ---------------------------------------------------------------------------------------------------

    def click_link(self, campaign_id: str) -> str:
        return f"https://{self.settings.click_domain}/click?campaign_id={campaign_id}&pub_id={self.settings.publisher_id}"

    def google_ads_template(self, url1: str, url2: str, destination: str) -> str:
        """URL1's click link carrying URL2's click link (URL-encoded), which carries the destination and {lpurl}."""
        inner = (f"{self.click_link(url2)}&force_transparent=true&url={quote(destination, safe='')}"
                 "&lpurl={lpurl}")
        return f"{self.click_link(url1)}&force_transparent=true&url={quote(inner, safe='{}')}"

    @staticmethod
    def campaign_title(offer: Offer, index: int, role: str) -> str:
        """Unique per offer, pair and role, and the same on every run: how a lost creation is found again."""
        assert offer.id is not None, "a stored offer has its id"
        return f"{offer.slug} #{index} {role} {offer.id.hex[:8]}"

    def campaign_payload(self, offer: Offer, index: int, role: str, url: str) -> dict[str, Any]:
        t = self.settings
        payload = {"title": self.campaign_title(offer, index, role), "url": url, "status": "active",
                   "advertiserId": int(t.advertiser_id), "currency": "USD", "device": "all",
                   "convTracking": "postback" if role == "URL1" else "iframe_https",
                   "convTrackingDomain": t.click_domain, "redirectType": "200_hrf",
                   "description": f"gateway offer {offer.slug} ({offer.name}), pair {index}",
                   "payouts": [{"currency": "USD", "revenue": 0, "payout": 0, "geo": ["ALL"]}]}
        if role == "URL1":
            payload["allowDeepLink"] = True  # the template's url= must be honoured (field name not public)
        return payload

    def require_settings(self) -> None:
        t = self.settings
        for key, value in (("api_key", t.api_key), ("advertiser_id", t.advertiser_id),
                           ("publisher_id", t.publisher_id), ("click_domain", t.click_domain),
                           ("public_base_url", t.public_base_url)):
            if not value:
                raise ValidationError(f"[trackier] {key}", "must be set to create campaign pairs")
        if not str(t.advertiser_id).isdigit():
            raise ValidationError("[trackier] advertiser_id", "must be Trackier's numeric advertiser id")

    # -- creation ------------------------------------------------------------------------------------------------

    def final_url(self, offer: Offer) -> str:
        """The offer's landing page: its `final_url`, else where its tracking URL's chain ends now (kept)."""
        if offer.final_url:
            return offer.final_url
        result = self.runner.run(offer, params.fill(offer.tracking_url, []), wait_ms=self.lease_wait_ms,
                                 purpose="pairs", record=TraceRecord(outcome="", offer_id=offer.id,
                                                                     offer_slug=offer.slug, source="pairs"))
        if result.error in ("no_egress", "store_unavailable"):
            raise NoSlotToTrace(f"no egress slot in {', '.join([offer.country, *offer.fallback_countries])} was "
                                "free to trace the offer's chain (to find the landing page its pairs point at): "
                                "try again, add slots, or set final_url on the offer")
        landing = result.final_url
        if not result.ok or landing is None or urlsplit(landing).scheme not in ("http", "https"):
            raise ValidationError("final_url", f"is empty and the tracking URL's chain did not end on a web page "
                                               f"({result.error or landing}): set it on the offer")
        self.catalog.update(str(offer.id), {"final_url": landing})
        return landing

    def claim(self, offer_key: str) -> Claim:
        """The right to create the offer's pairs; Conflict while another creation runs. `create` releases it."""
        offer = self.offers.get(offer_key)
        claim = Claim(self.holds, f"pairs:{offer.id}", secrets.token_hex(8))
        if not self.holds.hold(claim.name, claim.holder, HOLD_MS):
            raise Conflict(f"pairs of offer {offer.slug} are being created right now: wait for that to finish "
                           "(the offer's page shows it), then create more")
        return claim.keep()

    def create(self, offer_key: str, count: object, progress: Progress | None = None,
               claim: Claim | None = None) -> CreationReport:
        """Add `count` pairs to the offer (completing an incomplete one first); at most 20 in all. `progress` is
        told (pairs done, pairs planned, the pair being created next or None at the end) as creation goes on: it is
        paced, so creating 20 pairs takes a while. Under `claim` (taken here when not given; released at the end);
        Conflict while another creation of the offer's pairs runs."""
        claim = claim or self.claim(offer_key)
        try:
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValidationError("count", "must be a positive integer")
            return self._create(self.offers.get(offer_key), count, progress, claim)
        finally:
            claim.release()

    def _create(self, offer: Offer, count: int, progress: Progress | None, claim: Claim) -> CreationReport:
        assert offer.id is not None, "a stored offer has its id"
        existing = self.pairs.for_offer(offer.id)
        incomplete = [pair for pair in existing if not pair.complete]
        new = max(0, count - len(incomplete))
        if len(existing) + new > MAX_PAIRS:
            raise ValidationError("count", f"the offer has {len(existing)} pair(s); {count} more would exceed "
                                           f"{MAX_PAIRS}")
        self.require_settings()
        landing = self.final_url(offer)
        first_new = max((pair.pair_index for pair in existing), default=0) + 1
        plan: list[tuple[int, Pair | None]] = [(pair.pair_index, pair) for pair in incomplete[:count]]
        plan += [(index, None) for index in range(first_new, first_new + new)]
        return self._create_planned(offer, plan, landing, progress or (lambda done, total, index: None), claim)

    def _create_planned(self, offer: Offer, plan: list[tuple[int, Pair | None]], landing: str,
                        progress: Progress, claim: Claim) -> CreationReport:
        assert offer.id is not None, "a stored offer has its id"
        report = CreationReport(offer.slug)
        for n, (index, partial) in enumerate(plan):
            progress(n, len(plan), index)
            try:
                self._create_one(offer, index, partial, landing, pace=n > 0, renew=claim.renew)
            except TrackierError as exc:
                raise PairCreationFailed(f"pair {index} failed: {exc}; pairs {report.created or 'none'} were "
                                         f"created in this run. Run again to continue.", index, report.created) from exc
            report.created.append(index)
            self.catalog.changed(offer.slug)
        progress(len(plan), len(plan), None)
        report.pairs_total = len(self.pairs.for_offer(offer.id))
        return report

    def _create_one(self, offer: Offer, index: int, partial: Pair | None, landing: str, pace: bool,
                    renew: Callable[[], None]) -> Pair:
        assert offer.id is not None, "a stored offer has its id"
        pacing = self.settings.create_pacing_ms / 1000
        destination = url2_destination(landing, offer.sub_id_mapping)
        if partial is None:
            if pace:
                gevent.sleep(pacing)
            renew()
            url2 = self.trackier.create_campaign(self.campaign_payload(offer, index, "URL2", destination),
                                                 offer_id=offer.id)
            partial = self.pairs.add_partial(offer.id, index, f"Pair {index}", url2.id, url2.hash_id,
                                             secrets.token_urlsafe(24))
        gevent.sleep(pacing)
        renew()
        url1: Campaign = self.trackier.create_campaign(self.campaign_payload(offer, index, "URL1", landing),
                                                       offer_id=offer.id, pair_id=partial.id)
        return self.pairs.complete(partial.id, url1.id, url1.hash_id,
                                   self.google_ads_template(url1.id, partial.url2_campaign_id, destination))
