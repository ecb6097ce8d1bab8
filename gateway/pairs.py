"""Campaign pairs: one offer has 1 to 20. A pair is an inbound Trackier campaign (URL1, whose S2S push calls
this gateway's webhook), an outbound one (URL2, whose destination carries `{p1}`..`{p10}`), a Google Ads
tracking template and a webhook token.

Creation is resumable: each pair is stored as soon as its URL2 campaign exists and completed when its URL1
campaign does. A failure at pair k keeps pairs 1..k-1 (and k's URL2), reports k, and the next run completes
the incomplete pair before adding new ones.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import gevent

from gateway import offers, params, pool, tracing
from gateway.errors import ValidationError
from gateway.runtime import Runtime
from gateway.trackier import TrackierError
from store.errors import Conflict
from store.offers import Offer
from store.pairs import Pair

MAX_PAIRS = 20
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def webhook_url(rt: Runtime, pair: Pair) -> str:
    """The S2S push URL to set on the pair's URL1 campaign in Trackier's panel."""
    base = rt.settings.trackier.public_base_url.rstrip("/")
    return f"{base}/webhooks/trackier?token={pair.webhook_token}&campaign_id={{campaign_id}}&click_id={{click_id}}"


def click_link(rt: Runtime, campaign_id: str) -> str:
    t = rt.settings.trackier
    return f"https://{t.click_domain}/click?campaign_id={campaign_id}&pub_id={t.publisher_id}"


def url2_destination(final_url: str, sub_id_mapping: dict) -> str:
    """The offer's landing page without its query, then `name={pN}` for each entry of the sub-id mapping."""
    parts = urlsplit(final_url)
    query = "&".join(f"{name}={{{key}}}" for key, name in sub_id_mapping.items())
    return urlunsplit(parts._replace(query=query, fragment=""))


def google_ads_template(rt: Runtime, url1: str, url2: str, destination: str) -> str:
    """URL1's click link carrying URL2's click link (URL-encoded), which carries the destination and {lpurl}."""
    inner = (f"{click_link(rt, url2)}&force_transparent=true&url={quote(destination, safe='')}"
             "&lpurl={lpurl}")
    return f"{click_link(rt, url1)}&force_transparent=true&url={quote(inner, safe='{}')}"


def campaign_payload(rt: Runtime, offer: Offer, index: int, role: str, url: str) -> dict:
    t = rt.settings.trackier
    return {"title": f"{offer.name} #{index} {role}", "url": url, "status": "active",
            "advertiserId": int(t.advertiser_id), "currency": "USD", "device": "all",
            "convTracking": "postback" if role == "URL1" else "iframe_https", "convTrackingDomain": t.click_domain,
            "redirectType": "200_hrf", "description": f"gateway offer {offer.slug}, pair {index}",
            "payouts": [{"currency": "USD", "revenue": 0, "payout": 0, "geo": ["ALL"]}]}


def require_settings(rt: Runtime) -> None:
    t = rt.settings.trackier
    for key, value in (("api_key", t.api_key), ("advertiser_id", t.advertiser_id), ("publisher_id", t.publisher_id),
                       ("click_domain", t.click_domain), ("public_base_url", t.public_base_url)):
        if not value:
            raise ValidationError(f"[trackier] {key}", "must be set to create campaign pairs")
    if not str(t.advertiser_id).isdigit():
        raise ValidationError("[trackier] advertiser_id", "must be Trackier's numeric advertiser id")


def final_url(rt: Runtime, offer: Offer) -> str:
    """The offer's landing page: its `final_url`, else where its tracking URL's chain ends now (kept)."""
    if offer.final_url:
        return offer.final_url
    leased = pool.lease_slot(rt, [offer.country, *offer.fallback_countries], 10_000, f"{rt.identity}:pairs")
    options = tracing.TraceOptions.from_settings(rt.settings.tracing, user_agent=offer.ua_profile)
    result = pool.trace_through(rt, leased, params.fill(offer.tracking_url, []), options)
    if not result.ok or urlsplit(result.final_url).scheme not in ("http", "https"):
        raise ValidationError("final_url", f"is empty and the tracking URL's chain did not end on a web page "
                                           f"({result.error or result.final_url}): set it on the offer")
    offers.update(rt, str(offer.id), {"final_url": result.final_url})
    return result.final_url


def create(rt: Runtime, offer_key: str, count: object) -> CreationReport:
    """Add `count` pairs to the offer (completing an incomplete one first); at most 20 in all."""
    offer = rt.offers.get(offer_key)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError("count", "must be a positive integer")
    existing = rt.pairs.for_offer(offer.id)
    incomplete = [pair for pair in existing if not pair.complete]
    new = max(0, count - len(incomplete))
    if len(existing) + new > MAX_PAIRS:
        raise ValidationError("count", f"the offer has {len(existing)} pair(s); {count} more would exceed {MAX_PAIRS}")
    require_settings(rt)
    destination = url2_destination(final_url(rt, offer), offer.sub_id_mapping)
    report = CreationReport(offer.slug)
    plan = [(pair.pair_index, pair) for pair in incomplete[:count]]
    first_new = max((pair.pair_index for pair in existing), default=0) + 1
    plan += [(index, None) for index in range(first_new, first_new + new)]
    for n, (index, partial) in enumerate(plan):
        try:
            _create_one(rt, offer, index, partial, destination, pace=n > 0)
        except TrackierError as exc:
            raise PairCreationFailed(f"pair {index} failed: {exc}; pairs {report.created or 'none'} were created "
                                     f"in this run. Run again to continue.", index, report.created) from exc
        report.created.append(index)
        rt.offer_cache.changed(offer.slug)
    report.pairs_total = len(rt.pairs.for_offer(offer.id))
    return report


def _create_one(rt: Runtime, offer: Offer, index: int, partial: Pair | None, destination: str, pace: bool) -> Pair:
    pacing = rt.settings.trackier.create_pacing_ms / 1000
    if partial is None:
        if pace:
            gevent.sleep(pacing)
        url2 = rt.trackier.create_campaign(campaign_payload(rt, offer, index, "URL2", destination), offer_id=offer.id)
        partial = rt.pairs.add_partial(offer.id, index, f"Pair {index}", url2, secrets.token_urlsafe(24))
    gevent.sleep(pacing)
    link2 = f"{click_link(rt, partial.url2_campaign_id)}&force_transparent=true&url={quote(destination, safe='')}"
    url1 = rt.trackier.create_campaign(campaign_payload(rt, offer, index, "URL1", link2), offer_id=offer.id,
                                       pair_id=partial.id)
    return rt.pairs.complete(partial.id, url1, google_ads_template(rt, url1, partial.url2_campaign_id, destination))


def view(rt: Runtime, pair: Pair) -> dict:
    """A pair as the API and CLI show it (the token appears inside its webhook URL)."""
    return {"pair": pair.pair_index, "name": pair.name, "enabled": pair.enabled, "complete": pair.complete,
            "url1_campaign_id": pair.url1_campaign_id, "url2_campaign_id": pair.url2_campaign_id,
            "webhook_url": webhook_url(rt, pair), "template": pair.template, "webhook_count": pair.webhook_count,
            "update_count": pair.update_count, "sub_id_values": pair.sub_id_values,
            "last_webhook_at": pair.last_webhook_at, "last_update_at": pair.last_update_at,
            "last_update_ms": pair.last_update_ms}


def change(rt: Runtime, offer_key: str, index: int, data: object) -> Pair:
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
    offer = rt.offers.get(offer_key)
    pair = rt.pairs.change(offer.id, index, name.strip() if name else None, enabled)
    rt.offer_cache.changed(offer.slug)
    return pair


def stats(rt: Runtime, offer_key: str) -> dict:
    offer = rt.offers.get(offer_key)
    rows = rt.pairs.for_offer(offer.id)
    last = [p.last_webhook_at for p in rows if p.last_webhook_at]
    return {"offer": offer.slug, "pairs_total": len(rows), "pairs_enabled": sum(p.enabled for p in rows),
            "webhooks": sum(p.webhook_count for p in rows), "updates": sum(p.update_count for p in rows),
            "last_webhook_at": max(last) if last else None, "events": rt.events.by_status(offer.id),
            "pairs": [view(rt, p) for p in rows]}


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


CSV_COLUMNS = ("pair", "name", "enabled", "url1_campaign_id", "url2_campaign_id", "webhook_url", "template",
               "webhook_count", "update_count", "last_webhook_at")


def export_csv(rt: Runtime, offer_key: str) -> str:
    offer = rt.offers.get(offer_key)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for pair in rt.pairs.for_offer(offer.id):
        row = view(rt, pair)
        writer.writerow([safe_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()
