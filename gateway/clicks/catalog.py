"""The offer catalogue: what a click on `/c/<slug>` traces and where it falls back to, checked and changed.

Every field is checked here, naming the field in the error; a change is checked on the offer it produces, and
every process's cached copy is dropped at once (`OfferCache.changed`).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from gateway import text
from gateway.clicks.offer_cache import SLUG, OfferCache
from gateway.countries import normalize
from gateway.errors import ValidationError
from gateway.tracing import urls
from gateway.tracing.outcomes import Tracer
from gateway.tracing.params import MACRO, ParamPolicy, check_pass_through
from store.offers import DEFAULT_SUB_IDS, Offer, Offers

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_URL = 2048
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


def _policy(value: object, field: str) -> dict[str, Any]:
    return ParamPolicy.parse(value, field).as_dict()


def _sub_ids(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= set(SUB_ID_KEYS):
        raise ValidationError(field, "must map p1..p10 to parameter names")
    for key, name in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", name):
            raise ValidationError(f"{field}.{key}", "must be a parameter name")
    return dict(sorted(value.items(), key=lambda item: int(item[0][1:])))


def _choice(*choices: str) -> Callable[[object, str], str]:
    def check(value: object, field: str) -> str:
        if value not in choices:
            raise ValidationError(field, f"must be one of {', '.join(choices)}")
        return value

    return check


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
    "click_mode": _choice("inline", "ahead", "ahead_only"),
    "tracer": _choice(*Tracer),
    "ahead_depth": _int(1, 1000, nullable=True),
    "ahead_max_age_s": _int(5, 86_400, nullable=True),
}


def checked_fields(data: object) -> dict[str, Any]:
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
    macros = MACRO.findall(offer.tracking_url)
    if offer.click_mode != "inline" and macros:
        raise ValidationError("click_mode", f"{offer.click_mode} needs a tracking URL a trace can follow before the "
                                            f"click comes, but it fills {{{macros[0]}}} from each click: keep "
                                            "inline, or take the macro out of tracking_url")
    return offer


def build(data: object, default_mode: str = "inline") -> Offer:
    """A new offer from request data (required: slug, name, tracking_url, country). Without a `click_mode` it gets
    `default_mode` when its tracking URL allows it (no per-click macro), else inline."""
    values = checked_fields(data)
    for name in REQUIRED:
        if name not in values:
            raise ValidationError(name, "is required")
    if "click_mode" not in values and not MACRO.search(values["tracking_url"]):
        values["click_mode"] = default_mode
    return _whole(Offer(**{"sub_id_mapping": dict(DEFAULT_SUB_IDS), **values}))


class Catalog:
    """Offers created and changed through the API, the CLI and pair creation; clicks read them from the cache."""

    def __init__(self, offers: Offers, cache: OfferCache, default_mode: str = "inline") -> None:
        self.offers = offers
        self.cache = cache
        self.default_mode = default_mode

    def all(self) -> list[Offer]:
        return self.offers.all()

    def get(self, key: str) -> Offer:
        """By id or slug; NotFound otherwise."""
        return self.offers.get(key)

    def create(self, data: object) -> Offer:
        offer = self.offers.create(build(data, self.default_mode))
        self.cache.changed(offer.slug)
        return offer

    def update(self, key: str, data: object) -> Offer:
        """Change some fields of an offer; the whole resulting offer is checked before it is written."""
        values = checked_fields(data)
        before = self.offers.get(key)
        offer = self.offers.update(key, lambda current: _whole(dataclasses.replace(current, **values)))
        self.cache.changed(before.slug, offer.slug)
        return offer

    def changed(self, slug: str) -> None:
        """Something an offer's clicks read changed beside the offer (its pairs): every process reads it again."""
        self.cache.changed(slug)

    def set_enabled(self, key: str, enabled: bool) -> Offer:
        return self.update(key, {"enabled": enabled})

    def rotate_feed_token(self, key: str) -> Offer:
        """A new suffix feed token for the offer (192 random bits); the old one stops working at once, in every
        process."""
        offer = self.offers.set_feed_token(key, secrets.token_urlsafe(24))
        self.cache.changed(offer.slug)
        return offer
