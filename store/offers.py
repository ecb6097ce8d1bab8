"""Offers in PostgreSQL. An offer is read whole and written whole: a change is checked on the offer it
produces, in the transaction that writes it."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.errors import Conflict, NotFound
from store.queries import QUERIES as Q

DEFAULT_SUB_IDS = {"p1": "gclid", "p2": "fbclid", "p3": "msclkid", "p4": "ttclid", "p5": "clickid",
                   "p6": "utm_source", "p7": "utm_medium", "p8": "utm_campaign", "p9": "custom1", "p10": "custom2"}
# The ad platforms' click ids and the UTM parameters (migration 0003 gives the column the same default).
DEFAULT_PASS_THROUGH = ("gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id",
                        "yclid", "utm_*")


@dataclass(frozen=True)
class Offer:
    slug: str
    name: str
    tracking_url: str
    country: str
    fallback_url: str | None = None
    final_url: str | None = None
    fallback_countries: list[str] = field(default_factory=list)
    wait_ms: int = 8000
    cooldown_s: int | None = None
    ua_profile: str = "desktop"
    param_policy: dict[str, Any] = field(default_factory=lambda: {"mode": "all"})
    pass_through: list[str] = field(default_factory=lambda: list(DEFAULT_PASS_THROUGH))
    sub_id_mapping: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SUB_IDS))
    update_interval_s: int = 300
    enabled: bool = True
    click_mode: str = "inline"
    ahead_depth: int | None = None
    ahead_max_age_s: int | None = None
    tracer: str = "http"
    id: uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    feed_token: str | None = field(default=None, repr=False)
    feed_token_hash: bytes | None = field(default=None, repr=False)

    def writable(self) -> dict[str, Any]:
        """The columns a write sets, JSON ones wrapped for psycopg (the feed token has a write of its own)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("created_at", "updated_at", "feed_token", "feed_token_hash")}
        data["param_policy"] = Jsonb(self.param_policy)
        data["sub_id_mapping"] = Jsonb(self.sub_id_mapping)
        return data

    def as_dict(self) -> dict[str, Any]:
        """The offer as the API shows it (the feed token only through its own route)."""
        data = asdict(self)
        del data["feed_token"], data["feed_token_hash"]
        return data


def parse_id(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


class Offers:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def create(self, offer: Offer) -> Offer:
        with translated_errors(), _unique_slug(offer.slug), self.db.connection() as conn:
            return self._written(conn, "offer_insert", offer.writable())

    def get(self, key: str) -> Offer:
        """By id or slug; NotFound otherwise."""
        offer = self.find(key)
        if offer is None:
            raise NotFound(f"no offer {key!r}")
        return offer

    def find(self, key: str) -> Offer | None:
        offer_id = parse_id(key)
        query, params = ("offer_by_id", {"id": offer_id}) if offer_id else ("offer_by_slug", {"slug": key})
        with translated_errors(), self.db.connection() as conn:
            return self._one(conn, query, params)

    def set_feed_token(self, key: str, token: str) -> Offer:
        """Give the offer a new feed token (the old one stops working at once)."""
        offer = self.get(key)
        with translated_errors(), self.db.connection() as conn:
            return self._written(conn, "offer_set_feed_token", {
                "id": offer.id, "token": token, "token_hash": hashlib.sha256(token.encode()).digest()})

    def all(self) -> list[Offer]:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Offer)) as cur:
            return cur.execute(Q["offer_list"]).fetchall()

    def update(self, key: str, change: Callable[[Offer], Offer]) -> Offer:
        """Apply `change` to the current offer under a row lock and write the result."""
        current = self.get(key)
        with translated_errors(), self.db.connection() as conn, conn.transaction():
            locked = self._one(conn, "offer_lock", {"id": current.id})
            if locked is None:
                raise NotFound(f"no offer {key!r}")
            changed = change(locked)
            with _unique_slug(changed.slug):
                return self._written(conn, "offer_update", changed.writable())

    @staticmethod
    def _one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> Offer | None:
        with conn.cursor(row_factory=class_row(Offer)) as cur:
            return cur.execute(Q[query], params).fetchone()

    @staticmethod
    def _written(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> Offer:
        """The row a write's RETURNING * gave back; NotFound when the row went away meanwhile."""
        offer = Offers._one(conn, query, params)
        if offer is None:
            raise NotFound(f"the offer is gone ({query} changed no row)")
        return offer


@contextlib.contextmanager
def _unique_slug(slug: str) -> Iterator[None]:
    """Turns the unique violation of `offers_slug_key` into Conflict."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "offers_slug_key":
            raise Conflict(f"an offer with slug {slug!r} already exists") from exc
        raise
