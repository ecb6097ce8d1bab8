"""Campaign pairs in PostgreSQL. A pair is stored as soon as its outbound (URL2) campaign exists and completed
when its inbound (URL1) campaign does, so a failure in between loses nothing."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.errors import NotFound
from store.queries import QUERIES as Q


@dataclass(frozen=True)
class Pair:
    id: int
    offer_id: uuid.UUID
    pair_index: int
    name: str
    url1_campaign_id: str | None
    url2_campaign_id: str
    webhook_token: str
    token_hash: bytes
    template: str | None
    enabled: bool
    webhook_count: int
    update_count: int
    sub_id_values: dict[str, Any]
    last_webhook_at: datetime | None
    last_update_at: datetime | None
    last_update_ms: int | None
    created_at: datetime
    url1_campaign_hash: str | None = None
    url2_campaign_hash: str | None = None

    @property
    def complete(self) -> bool:
        return self.url1_campaign_id is not None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class Pairs:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def for_offer(self, offer_id: uuid.UUID) -> list[Pair]:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Pair)) as cur:
            return cur.execute(Q["pairs_for_offer"], {"offer_id": offer_id}).fetchall()

    def get(self, offer_id: uuid.UUID, pair_index: int) -> Pair:
        pair = self._one("pair_get", {"offer_id": offer_id, "pair_index": pair_index})
        if pair is None:
            raise NotFound(f"the offer has no pair {pair_index}")
        return pair

    def by_id(self, pair_id: int) -> Pair | None:
        return self._one("pair_by_id", {"id": pair_id})

    def by_token(self, token: str) -> Pair | None:
        """The pair whose token hashes like `token` (the caller still compares the tokens in constant time)."""
        return self._one("pair_by_token_hash", {"token_hash": token_hash(token)})

    def by_campaign(self, campaign_id: str) -> Pair | None:
        """The pair one of whose campaigns has this numeric or hashed id (URL1 first)."""
        return self._one("pair_by_campaign", {"campaign_id": campaign_id})

    def add_partial(self, offer_id: uuid.UUID, pair_index: int, name: str, url2_campaign_id: str,
                    url2_campaign_hash: str | None, token: str) -> Pair:
        return self._written("pair_insert_partial", {"offer_id": offer_id, "pair_index": pair_index, "name": name,
                                                     "url2_campaign_id": url2_campaign_id,
                                                     "url2_campaign_hash": url2_campaign_hash, "webhook_token": token,
                                                     "token_hash": token_hash(token)})

    def complete(self, pair_id: int, url1_campaign_id: str, url1_campaign_hash: str | None, template: str) -> Pair:
        return self._written("pair_complete", {"id": pair_id, "url1_campaign_id": url1_campaign_id,
                                               "url1_campaign_hash": url1_campaign_hash, "template": template})

    def change(self, offer_id: uuid.UUID, pair_index: int, name: str | None, enabled: bool | None) -> Pair:
        pair = self._one("pair_change", {"offer_id": offer_id, "pair_index": pair_index, "name": name,
                                         "enabled": enabled})
        if pair is None:
            raise NotFound(f"the offer has no pair {pair_index}")
        return pair

    def record_update(self, pair_id: int, sub_id_values: dict[str, Any], ms: int) -> None:
        """One more successful URL2 update: count, values, time and duration, in one statement."""
        with translated_errors(), self.db.connection() as conn:
            conn.execute(Q["pair_record_update"], {"id": pair_id, "sub_id_values": Jsonb(sub_id_values), "ms": ms})

    def _one(self, query: str, params: dict[str, Any]) -> Pair | None:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Pair)) as cur:
            return cur.execute(Q[query], params).fetchone()

    def _written(self, query: str, params: dict[str, Any]) -> Pair:
        """The row a write's RETURNING * gave back; NotFound when the row went away meanwhile."""
        pair = self._one(query, params)
        if pair is None:
            raise NotFound(f"the pair is gone ({query} changed no row)")
        return pair


class WebhookEvents:
    """Postbacks in PostgreSQL: written before they are acknowledged, then claimed and finished by a worker."""

    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    COLUMNS = ("route", "offer_id", "pair_id", "click_id", "campaign_id", "params", "client_addr", "force_update",
               "status")

    def receive(self, events: list[dict[str, Any]]) -> list[int]:
        """Record postbacks and count each on its pair, in one statement: all of it or none. Their ids, in order."""
        columns = {name: [Jsonb(e[name]) if name == "params" else e[name] for e in events] for name in self.COLUMNS}
        with translated_errors(), self.db.connection() as conn:
            return [row[0] for row in conn.execute(Q["events_receive"], columns).fetchall()]

    def claim(self, event_id: int, processing_s: float) -> dict[str, Any] | None:
        """Take an event for processing (a pending one, or one whose claim is older than `processing_s`) and
        return it; None when another worker has it or it is done."""
        with translated_errors(), self.db.connection() as conn, \
                conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(Q["event_claim"], {"id": event_id, "processing_s": processing_s}).fetchone()

    def finish(self, event_id: int, status: str, *, trace_ms: int | None = None, update_ms: int | None = None,
               sub_id_values: dict[str, Any] | None = None, error: str | None = None) -> None:
        params = {"id": event_id, "status": status, "trace_ms": trace_ms, "update_ms": update_ms, "error": error,
                  "sub_id_values": Jsonb(sub_id_values) if sub_id_values is not None else None}
        with translated_errors(), self.db.connection() as conn:
            conn.execute(Q["event_finish"], params)

    def finish_quick(self, outcomes: list[tuple[int, str]]) -> list[None]:
        """Finish events decided without an update (duplicate, throttled, coalesced), in one statement."""
        params = {"ids": [event_id for event_id, _ in outcomes], "statuses": [status for _, status in outcomes]}
        with translated_errors(), self.db.connection() as conn:
            conn.execute(Q["events_finish_quick"], params)
        return [None] * len(outcomes)

    def get(self, event_id: int) -> dict[str, Any]:
        with translated_errors(), self.db.connection() as conn, \
                conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            row = cur.execute(Q["event_get"], {"id": event_id}).fetchone()
        if row is None:
            raise NotFound(f"no webhook event {event_id}")
        return row

    def stale(self, pending_s: float, processing_s: float, max_attempts: int, limit: int = 500) -> list[int]:
        """Events acknowledged but left unprocessed (a process died, a queue was full); the hopeless given up."""
        with translated_errors(), self.db.connection() as conn:
            conn.execute(Q["events_give_up"], {"max_attempts": max_attempts, "pending_s": pending_s})
            rows = conn.execute(Q["events_stale"], {"pending_s": pending_s, "processing_s": processing_s,
                                                    "limit": limit}).fetchall()
        return [row[0] for row in rows]

    def per_hour(self, since: datetime) -> list[dict[str, Any]]:
        """Postbacks received per hour since `since`, and how many of them updated their pair."""
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(Q["events_per_hour"], {"since": since}).fetchall()

    def by_status(self, offer_id: uuid.UUID | None = None) -> dict[str, int]:
        with translated_errors(), self.db.connection() as conn:
            return dict(conn.execute(Q["events_by_status"], {"offer_id": offer_id}).fetchall())
