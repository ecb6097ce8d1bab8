"""Trace records in PostgreSQL, written in batches with COPY."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.errors import NotFound
from store.queries import QUERIES as Q

COLUMNS = ("id", "created_at", "source", "offer_id", "webhook_event_id", "slot_id", "outcome", "error",
           "inbound", "params", "hops", "final_url", "redirect_url", "lease_wait_ms", "trace_ms", "total_ms",
           "ahead_trace_id", "ahead_age_ms", "tracer")
JSON_COLUMNS = frozenset({"inbound", "params", "hops"})


class Traces:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert the rows in one COPY, in one transaction: all of them or none."""
        with translated_errors(), self.db.connection() as conn, conn.cursor() as cur, \
                cur.copy(Q["traces_copy"].rstrip(";")) as copy:
            for row in rows:
                copy.write_row([Jsonb(row[c]) if c in JSON_COLUMNS else row[c] for c in COLUMNS])

    def recent(self, offer_id: uuid.UUID | None = None, limit: int = 50, outcome: str | None = None,
               slot_id: str | None = None) -> list[dict[str, Any]]:
        """The newest records, of one offer, outcome and slot or of all."""
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(Q["traces_recent"], {"offer_id": offer_id, "limit": limit, "outcome": outcome,
                                                    "slot_id": slot_id}).fetchall()

    def get(self, trace_id: uuid.UUID) -> dict[str, Any]:
        """One record; NotFound when there is none."""
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(Q["trace_get"], {"id": trace_id}).fetchone()
        if row is None:
            raise NotFound(f"no trace {trace_id}")
        return row

    def outcomes_since(self, since: datetime, offer_id: uuid.UUID | None = None) -> dict[uuid.UUID, dict[str, int]]:
        """Per offer (or of one), its clicks' outcomes since `since`."""
        with translated_errors(), self.db.connection() as conn:
            rows = conn.execute(Q["traces_outcomes_since"], {"since": since, "offer_id": offer_id}).fetchall()
        counts: dict[uuid.UUID, dict[str, int]] = {}
        for offer_id, outcome, count in rows:
            counts.setdefault(offer_id, {})[outcome] = count
        return counts

    def ahead_uses(self, offer_id: uuid.UUID, clean_url: str) -> dict[str, int]:
        """The offer's clicks answered from traces made ahead: how many, how many traces they used (one each, unless
        one was handed twice), the oldest one's age, how many name a trace that was never recorded, and how many
        used a trace whose first hop was not `clean_url` (something of another click went into it)."""
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(Q["traces_ahead_uses"], {"offer_id": offer_id, "clean_url": clean_url}).fetchone()
        assert row is not None, "an aggregate without GROUP BY returns one row"
        return row

    def by_outcome(self, offer_id: uuid.UUID | None = None) -> dict[str, int]:
        with translated_errors(), self.db.connection() as conn:
            return dict(conn.execute(Q["traces_by_outcome"], {"offer_id": offer_id}).fetchall())
