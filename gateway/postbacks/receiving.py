"""Trackier S2S postbacks: parse, route to one pair, record, acknowledge, hand over to the pair updater.

Every route needs a secret in `token`: (1) an offer's id (random, shown only to admins): that offer's pair 1;
(2) a pair's webhook token: that pair; (3) `[webhooks] campaign_route_secret` (route 3 is off while it is
unset), then `campaign_id` (a pair's URL1 or URL2 campaign id) chooses the pair, it never authorises. Anything
else is recorded as unresolved; each unknown secret counts against its address's limit
(`[webhooks] unknown_per_minute`), past which postbacks are refused unrecorded. A disabled offer or pair is
recorded, not processed. The event row is written before the postback is acknowledged, so an acknowledged
postback is never lost.

Which postback parameters reach the re-trace: only those the offer's tracking URL names as macros (`{click_id}`)
or its `pass_through` list lets through; everything else is recorded with the event and goes no further.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

from gateway import text
from gateway.errors import ValidationError
from gateway.metrics import Metrics
from gateway.postbacks.routing import PostbackRouter
from gateway.postbacks.updating import EventStatus, PairUpdater
from store.batching import GroupCommit
from store.errors import BadValue, StoreUnavailable
from store.pairs import Pair, WebhookEvents
from store.ratelimit import Hit, RateLimiter

MAX_FIELD = 2048
TRUE = frozenset({"1", "true", "yes", "on"})


class BadPostback(ValidationError):
    """A postback that cannot be read."""


class PostbackTooLarge(BadPostback):
    """A postback body longer than `[webhooks] max_body_kb`."""


@dataclass(frozen=True)
class Postback:
    token: str
    params: dict[str, str]  # everything received but the token, the body's values over the query's

    @property
    def campaign_id(self) -> str | None:
        return self.params.get("campaign_id") or None

    @property
    def camp_id(self) -> str | None:
        """Trackier's numeric campaign id (`{camp_id}`); `campaign_id` carries the hashed one (`{campaign_id}`)."""
        return self.params.get("camp_id") or None

    @property
    def click_id(self) -> str | None:
        return self.params.get("click_id") or None

    @property
    def force_update(self) -> bool:
        return self.params.get("force_update", "").strip().lower() in TRUE


class Received(StrEnum):
    """What became of a postback at the edge."""

    ACCEPTED = "accepted"  # recorded, to be processed
    DISABLED = "disabled"  # recorded; its pair or offer is off
    UNRESOLVED = "unresolved"  # recorded; no pair has its secret
    RATE_LIMITED = "rate_limited"  # too many unknown secrets from its address: not recorded
    REFUSED = "refused"  # a store could not hold it: not recorded


@dataclass(frozen=True)
class Receipt:
    """What became of a postback (Received), its event, its pair."""

    outcome: Received
    event_id: int | None = None
    pair: int | None = None
    retry_after_s: int | None = None
    message: str | None = None


def parse(query: list[tuple[str, str]], body: bytes, content_type: str) -> Postback:
    """A postback from the query and a form or JSON body (the body wins); BadPostback when unreadable."""
    values: dict[str, str] = {}
    for name, value in query:
        values.setdefault(name, value)
    values.update(_body(body, content_type))
    for name, value in values.items():
        if len(name) > 100 or len(value) > MAX_FIELD:
            raise BadPostback(name[:100], f"longer than {MAX_FIELD} characters")
        found = text.problem(name) or text.problem(value)
        if found:
            raise BadPostback(name[:100], f"carries {found}")
    token = values.pop("token", "").strip()
    if not token:
        raise BadPostback("token", "is required")
    return Postback(token, values)


def _body(body: bytes, content_type: str) -> dict[str, str]:
    if not body.strip():
        return {}
    media = content_type.split(";")[0].strip().lower()
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPostback("body", "is not UTF-8") from None
    if media == "application/json" or (not media and decoded.lstrip().startswith("{")):
        try:
            data = text.checked_json(body)
        except ValidationError as exc:
            raise BadPostback(exc.field, exc.message) from None
        if not isinstance(data, dict) or not all(isinstance(v, str | int | float | bool) for v in data.values()):
            raise BadPostback("body", "must be a JSON object of plain values")
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}
    try:
        return dict(parse_qsl(decoded, keep_blank_values=True, strict_parsing=True, errors="strict"))
    except ValueError:
        raise BadPostback("body", "is not a valid form body") from None


class Receiver:
    def __init__(self, router: PostbackRouter, event_log: GroupCommit[dict[str, Any], int], events: WebhookEvents,
                 limiter: RateLimiter, updater: PairUpdater, metrics: Metrics, unknown_per_minute: int) -> None:
        self.router = router
        self.event_log = event_log
        self.events = events
        self.limiter = limiter
        self.updater = updater
        self.metrics = metrics
        self.unknown_per_minute = unknown_per_minute

    def receive(self, postback: Postback, client_addr: str | None, enqueue: bool = True) -> Receipt:
        """Route, record and acknowledge a postback. An accepted one goes to the updater's queue unless `enqueue`
        is False (the caller then processes it itself). StoreUnavailable when it cannot be recorded."""
        client_addr = _ip(client_addr)
        route = self.router.route(postback.token, postback.campaign_id, postback.camp_id)
        if route is None:
            hit = self._unknown(client_addr)
            if hit and hit.count > self.unknown_per_minute:
                self.metrics.postbacks.labels("limited", "rate_limited").inc()
                return Receipt(Received.RATE_LIMITED, retry_after_s=hit.retry_after_s,
                               message="too many postbacks with unknown secrets from this address")
        event = {"click_id": postback.click_id, "campaign_id": postback.campaign_id, "params": postback.params,
                 "client_addr": client_addr, "force_update": postback.force_update,
                 "route": route.name if route else "unresolved", "offer_id": route.offer.id if route else None,
                 "pair_id": route.pair.id if route else None}
        usable = route is not None and route.offer.enabled and route.pair.enabled and route.pair.complete
        outcome = Received.ACCEPTED if usable else Received.DISABLED if route else Received.UNRESOLVED
        status = EventStatus.PENDING if usable else EventStatus.DISABLED if route else EventStatus.UNRESOLVED
        try:
            event_id = self.event_log.submit({**event, "status": status})
        except BadValue as exc:
            return Receipt(Received.REFUSED, message=f"the postback cannot be stored: {exc}")
        self.metrics.postbacks.labels(route.name if route else "unresolved", outcome).inc()
        if route is None:
            return Receipt(Received.UNRESOLVED, event_id, message="no offer or pair matches this postback's secret")
        if usable and enqueue:
            self.updater.submit(event_id, {**event, "id": event_id})
        return Receipt(outcome, event_id, route.pair.pair_index)

    def _unknown(self, client_addr: str | None) -> Hit | None:
        """Count an unknown secret against its address; None without Redis (then nothing is limited)."""
        try:
            return self.limiter.hit("unknown-token", client_addr or "-")
        except StoreUnavailable:
            return None

    def synthetic(self, pair: Pair) -> dict[str, Any]:
        """A synthetic postback for one pair through the real routing path, processed at once: what happened."""
        postback = Postback(pair.webhook_token, {"campaign_id": pair.url1_campaign_id or "",
                                                 "click_id": f"test-{uuid.uuid4().hex[:12]}", "force_update": "true"})
        receipt = self.receive(postback, None, enqueue=False)
        answer: dict[str, Any] = {"status": receipt.outcome, "event_id": receipt.event_id, "pair": receipt.pair}
        if receipt.outcome == Received.ACCEPTED:
            assert receipt.event_id is not None, "an accepted postback has been recorded"
            answer["status"] = self.updater.process(receipt.event_id) or "taken by another worker"
            event = self.events.get(receipt.event_id)
            answer.update(error=event["error"], sub_id_values=event["sub_id_values"])
        return answer


def _ip(address: str | None) -> str | None:
    """The client's address as the edge gave it (an IPv4 address or an IPv6 /64), None when it is none."""
    for parse in (ipaddress.ip_address, ipaddress.ip_network):
        try:
            return str(parse(address)) if address else None
        except ValueError:
            continue
    return None
