"""Offers: what a click on `/c/<slug>` traces and where it falls back to.

Every field is checked here, naming the field in the error; a change is checked on the offer it produces.
Clicks read offers from `OfferCache`: an in-process copy at most `[clicks] offer_cache_s` old, dropped at
once in every process when an offer changes (Redis pub/sub), and kept serving while PostgreSQL is down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Mapping

import gevent
import gevent.event

from gateway import text, urls
from gateway.countries import normalize
from gateway.errors import ValidationError
from gateway.params import MACRO, ParamPolicy, check_pass_through
from gateway.runtime import Runtime
from store.errors import StoreUnavailable
from store.offers import DEFAULT_SUB_IDS, Offer
from store.pubsub import Subscription
from store.redis_client import available

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_URL = 2048
MAX_CACHED = 10_000
STALE_WAIT_S = 0.25
SUB_ID_KEYS = tuple(f"p{n}" for n in range(1, 11))
REQUIRED = ("slug", "name", "tracking_url", "country")


def _text(value: object, field: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    if len(value) > max_len or CONTROL.search(value):
        raise ValidationError(field, f"must be at most {max_len} characters, without control characters")
    return text.check(value, field).strip()


def _url(value: object, field: str, macros: bool) -> str:
    """An absolute http(s) URL, kept as a browser parses it (`\\` before the query becomes `/`), so the
    tracer and a browser following the fallback reach the same host."""
    url = urls.prepared(_text(value, field, MAX_URL))
    try:
        if " " in url:
            raise urls.BadUrl("it contains a space")
        urls.split_web(MACRO.sub("x", url) if macros else url)
    except urls.BadUrl as exc:
        raise ValidationError(field, "must be an absolute http(s) URL" + (" (macros like {gclid} allowed)"
                                                                            if macros else "") + f": {exc}") from None
    return url


def _optional_url(macros: bool) -> Callable[[object, str], str | None]:
    return lambda value, field: None if value in (None, "") else _url(value, field, macros)


def _int(low: int, high: int, nullable: bool = False) -> Callable[[object, str], int | None]:
    def check(value: object, field: str) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(field, f"must be an integer from {low} to {high}")
        return value

    return check


def _slug(value: object, field: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise ValidationError(field, "must be 1-64 lower-case letters, digits, '-' or '_', starting alphanumeric")
    return value


def _countries(value: object, field: str) -> list[str]:
    if not isinstance(value, list) or len(value) > 10:
        raise ValidationError(field, "must be a list of up to 10 country codes")
    countries = [normalize(code, f"{field}[{i}]") for i, code in enumerate(value)]
    if len(set(countries)) != len(countries):
        raise ValidationError(field, "lists a country twice")
    return countries


def _ua(value: object, field: str) -> str:
    return _text(value, field, 400)


def _policy(value: object, field: str) -> dict:
    return ParamPolicy.parse(value, field).as_dict()


def _sub_ids(value: object, field: str) -> dict:
    if not isinstance(value, dict) or not set(value) <= set(SUB_ID_KEYS):
        raise ValidationError(field, "must map p1..p10 to parameter names")
    for key, name in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", name):
            raise ValidationError(f"{field}.{key}", "must be a parameter name")
    return dict(sorted(value.items(), key=lambda item: int(item[0][1:])))


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false")
    return value


FIELDS: dict[str, Callable[[object, str], object]] = {
    "slug": _slug,
    "name": lambda v, f: _text(v, f, 200),
    "tracking_url": lambda v, f: _url(v, f, macros=True),
    "fallback_url": _optional_url(macros=True),
    "final_url": _optional_url(macros=False),
    "country": lambda v, f: normalize(v, f),
    "fallback_countries": _countries,
    "wait_ms": _int(0, 120_000),
    "cooldown_s": _int(0, 3600, nullable=True),
    "ua_profile": _ua,
    "param_policy": _policy,
    "pass_through": check_pass_through,
    "sub_id_mapping": _sub_ids,
    "update_interval_s": _int(0, 86_400),
    "enabled": _bool,
}


def checked_fields(data: object) -> dict:
    """The given offer fields, each checked and normalized; unknown fields are refused."""
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object of offer fields")
    for name in data:
        if name not in FIELDS:
            raise ValidationError(str(name), f"unknown field (known: {', '.join(FIELDS)})")
    return {name: FIELDS[name](value, name) for name, value in data.items()}


def _whole(offer: Offer) -> Offer:
    if offer.country in offer.fallback_countries:
        raise ValidationError("fallback_countries", f"must not repeat the offer's country {offer.country!r}")
    return offer


def build(data: object) -> Offer:
    """A new offer from request data (required: slug, name, tracking_url, country)."""
    values = checked_fields(data)
    for name in REQUIRED:
        if name not in values:
            raise ValidationError(name, "is required")
    return _whole(Offer(**{"sub_id_mapping": dict(DEFAULT_SUB_IDS), **values}))


def create(rt: Runtime, data: object) -> Offer:
    offer = rt.offers.create(build(data))
    rt.offer_cache.changed(offer.slug)
    return offer


def update(rt: Runtime, key: str, data: object) -> Offer:
    """Change some fields of an offer; the whole resulting offer is checked before it is written."""
    values = checked_fields(data)
    before = rt.offers.get(key)
    offer = rt.offers.update(key, lambda current: _whole(dataclasses.replace(current, **values)))
    rt.offer_cache.changed(before.slug, offer.slug)
    return offer


def set_enabled(rt: Runtime, key: str, enabled: bool) -> Offer:
    return update(rt, key, {"enabled": enabled})


class OfferCache:
    """Offers by slug for the click path: at most `ttl_s` old, invalidated across processes on change."""

    def __init__(self, rt: Runtime, ttl_s: float) -> None:
        self.rt = rt
        self.ttl_s = ttl_s
        self.channel = f"{rt.settings.redis.prefix}offers:changed"
        self._entries: dict[str, tuple[float, Offer | None]] = {}
        self._loading: dict[str, gevent.event.AsyncResult] = {}
        self.listeners: list[Callable[[str], None]] = []  # told of every change, like the cache itself
        self.subscription = Subscription(rt.redis, self.channel, self._drop, lambda: self._drop("*"))

    def get(self, slug: str) -> Offer | None:
        """The offer (enabled or not), None if there is none. Past its time a cached copy is looked up again;
        when PostgreSQL is down or slow to answer (over `STALE_WAIT_S`) the stale copy serves meanwhile, so
        a click never waits on PostgreSQL for an offer it has seen."""
        entry = self._entries.get(slug)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        pending = self._loading.get(slug)
        if pending is None:
            pending = self._loading[slug] = gevent.event.AsyncResult()
            gevent.spawn(self._load, slug, pending)
        try:
            return pending.get(timeout=STALE_WAIT_S if entry else None)
        except (gevent.Timeout, StoreUnavailable):
            if entry:
                return entry[1]
            raise

    def _load(self, slug: str, pending: gevent.event.AsyncResult) -> None:
        try:
            offer = self.rt.offers.find(slug) if SLUG.match(slug) else None
        except Exception as exc:
            pending.set_exception(exc)
        else:
            self._remember(slug, offer)
            pending.set(offer)
        finally:
            self._loading.pop(slug, None)

    def _remember(self, slug: str, offer: Offer | None) -> None:
        if len(self._entries) >= MAX_CACHED:
            self._entries = {k: v for k, v in self._entries.items() if v[1] is not None}
            if len(self._entries) >= MAX_CACHED:
                self._entries.clear()
        self._entries[slug] = (time.monotonic() + self.ttl_s, offer)

    def changed(self, *slugs: str) -> None:
        """Forget these offers here, and tell every other process to forget them too."""
        for slug in slugs:
            self._drop(slug)
            with contextlib.suppress(StoreUnavailable):  # else the others drop it within offer_cache_s
                available(lambda s=slug: self.rt.redis.publish(self.channel, s))

    def _drop(self, slug: str) -> None:
        if slug == "*":
            self._entries.clear()
        else:
            self._entries.pop(slug, None)
        for listener in self.listeners:
            listener(slug)
