"""Trackier S2S postbacks: parse, route to one pair, record, acknowledge, hand over to the pair updater.

Routing: (1) `token` is an offer id: that offer's pair 1; (2) `token` is a pair's webhook token: that pair;
(3) `campaign_id` is a pair's URL1 or URL2 campaign id: that pair (`[webhooks] campaign_route`); else the
event is recorded as unresolved and answered 404. A disabled offer or pair is recorded and answered 200 with
status `disabled`. The event row is written before the answer, so an acknowledged postback is never lost;
when PostgreSQL cannot take it the answer is 503 and Trackier retries.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gateway.errors import ValidationError
from gateway.runtime import Runtime
from store.errors import NotFound, StoreUnavailable
from store.offers import Offer
from store.pairs import Pair

MAX_FIELD = 2048
TRUE = frozenset({"1", "true", "yes", "on"})


class BadPostback(ValidationError):
    """A postback that cannot be read; `status` is 400 or 413."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(field, message)
        self.status = status


@dataclass(frozen=True)
class Postback:
    token: str
    params: dict[str, str]  # everything received but the token, the body's values over the query's

    @property
    def campaign_id(self) -> str | None:
        return self.params.get("campaign_id") or None

    @property
    def click_id(self) -> str | None:
        return self.params.get("click_id") or None

    @property
    def force_update(self) -> bool:
        return self.params.get("force_update", "").strip().lower() in TRUE


@dataclass(frozen=True)
class Route:
    name: str  # offer | token | campaign
    offer: Offer
    pair: Pair


def parse(query: list[tuple[str, str]], body: bytes, content_type: str) -> Postback:
    """A postback from the query and a form or JSON body (the body wins); BadPostback when unreadable."""
    values = {}
    for name, value in query:
        values.setdefault(name, value)
    values.update(_body(body, content_type))
    for name, value in values.items():
        if len(name) > 100 or len(value) > MAX_FIELD:
            raise BadPostback(name[:100], f"longer than {MAX_FIELD} characters")
    token = values.pop("token", "").strip()
    if not token:
        raise BadPostback("token", "is required")
    return Postback(token, values)


def _body(body: bytes, content_type: str) -> dict[str, str]:
    if not body.strip():
        return {}
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPostback("body", "is not UTF-8") from None
    if media == "application/json" or (not media and text.lstrip().startswith("{")):
        try:
            data = json.loads(text)
        except ValueError:
            raise BadPostback("body", "is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | int | float | bool) for v in data.values()):
            raise BadPostback("body", "must be a JSON object of plain values")
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise BadPostback("body", "is not a valid form body") from None


def resolve(rt: Runtime, postback: Postback) -> Route | None:
    """Which pair a postback is for (routes 1, 2, 3 in that order), or None."""
    token = postback.token
    offer_id = _uuid(token)
    if offer_id is not None:
        offer = rt.offers.find(str(offer_id))
        if offer is not None and hmac.compare_digest(str(offer.id).encode(), token.lower().encode()):
            try:
                return Route("offer", offer, rt.pairs.get(offer.id, 1))
            except NotFound:
                pass
    pair = rt.pairs.by_token(token)
    if pair is not None and hmac.compare_digest(pair.webhook_token.encode(), token.encode()):
        return Route("token", rt.offers.get(str(pair.offer_id)), pair)
    if rt.settings.webhooks.campaign_route and postback.campaign_id:
        pair = rt.pairs.by_campaign(postback.campaign_id)
        if pair is not None:
            return Route("campaign", rt.offers.get(str(pair.offer_id)), pair)
    return None


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if len(text) == 36 else None
    except ValueError:
        return None


class RouteCache:
    """Postback routes by token (and campaign id), and by pair id, kept in the process for `ttl_s` and dropped
    in every process as soon as an offer or a pair changes. Unknown tokens are remembered too, so a flood of
    them does not reach PostgreSQL."""

    MAX = 10_000

    def __init__(self, rt: Runtime, ttl_s: float) -> None:
        self.rt = rt
        self.ttl_s = ttl_s
        self._by_key: dict[tuple, tuple[float, Route | None]] = {}
        self._by_pair: dict[int, tuple[float, Route]] = {}
        rt.offer_cache.listeners.append(self.clear)

    def route(self, postback: Postback) -> Route | None:
        key = (postback.token, postback.campaign_id)
        entry = self._by_key.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        found = resolve(self.rt, postback)
        self._remember(key, found)
        return found

    def for_pair(self, pair_id: int) -> Route | None:
        """The pair and its offer by pair id (for the updater); None when the pair is gone."""
        entry = self._by_pair.get(pair_id)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        pair = self.rt.pairs.by_id(pair_id)
        offer = self.rt.offers.find(str(pair.offer_id)) if pair else None
        found = Route("id", offer, pair) if pair and offer else None
        if found:
            self._remember(None, found)
        return found

    def _remember(self, key: tuple | None, found: Route | None) -> None:
        if len(self._by_key) + len(self._by_pair) >= self.MAX:
            self.clear()
        expires = time.monotonic() + self.ttl_s
        if key is not None:
            self._by_key[key] = (expires, found)
        if found:
            self._by_pair[found.pair.id] = (expires, found)

    def clear(self, *_: object) -> None:
        self._by_key.clear()
        self._by_pair.clear()


def receive(rt: Runtime, postback: Postback, client_addr: str | None, enqueue: bool = True) -> tuple[int, dict]:
    """Route, record and acknowledge a postback: (HTTP status, JSON body). An accepted postback goes to the
    updater's queue unless `enqueue` is False (the caller then processes it itself)."""
    client_addr = _ip(client_addr)
    route = rt.routes.route(postback)
    if route is None and _unknown_limited(rt, client_addr):
        rt.metrics.postbacks.labels("limited", "rate_limited").inc()
        return 429, {"error": {"code": "rate_limited", "message": "too many postbacks with unknown tokens"}}
    event = {"click_id": postback.click_id, "campaign_id": postback.campaign_id, "params": postback.params,
             "client_addr": client_addr, "force_update": postback.force_update,
             "route": route.name if route else "unresolved", "offer_id": route.offer.id if route else None,
             "pair_id": route.pair.id if route else None}
    if route is None:
        event_id = rt.event_log.submit({**event, "status": "unresolved"})
        _count_unknown(rt, client_addr)
        rt.metrics.postbacks.labels("unresolved", "unresolved").inc()
        return 404, {"error": {"code": "unresolved", "message": "no offer or pair matches this postback"},
                     "event_id": event_id}
    usable = route.offer.enabled and route.pair.enabled and route.pair.complete
    event = {**event, "status": "pending" if usable else "disabled"}
    event_id = rt.event_log.submit(event)
    rt.metrics.postbacks.labels(route.name, "accepted" if usable else "disabled").inc()
    if not usable:
        return 200, {"status": "disabled", "event_id": event_id, "pair": route.pair.pair_index}
    if enqueue:
        rt.updater.submit(event_id, {**event, "id": event_id})
    return 200, {"status": "accepted", "event_id": event_id, "pair": route.pair.pair_index}


def _ip(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def _unknown_limited(rt: Runtime, client_addr: str | None) -> bool:
    try:
        return rt.limiter.exceeded("unknown-token", client_addr or "-", rt.settings.webhooks.unknown_per_minute)
    except StoreUnavailable:
        return False


def _count_unknown(rt: Runtime, client_addr: str | None) -> None:
    with contextlib.suppress(StoreUnavailable):  # without Redis nothing is limited, nothing else changes
        rt.limiter.hit("unknown-token", client_addr or "-")


def test_postback(rt: Runtime, offer_key: str, index: int) -> tuple[int, dict]:
    """A synthetic postback for one pair through the real routing path, processed at once: what happened."""
    pair = rt.pairs.get(rt.offers.get(offer_key).id, index)
    postback = Postback(pair.webhook_token, {"campaign_id": pair.url1_campaign_id or "",
                                             "click_id": f"test-{uuid.uuid4().hex[:12]}", "force_update": "true"})
    status, answer = receive(rt, postback, None, enqueue=False)
    if status == 200 and answer["status"] == "accepted":
        answer["status"] = rt.updater.process(answer["event_id"])
        event = rt.events.get(answer["event_id"])
        answer.update(error=event["error"], sub_id_values=event["sub_id_values"])
    return status, answer
