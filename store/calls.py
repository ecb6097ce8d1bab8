"""The Trackier API call log in PostgreSQL: method, path, status, time, attempt and error of every call."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.queries import QUERIES as Q


class TrackierCalls:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def record(self, call: dict[str, Any]) -> None:
        with translated_errors(), self.db.connection() as conn:
            conn.execute(Q["trackier_call_insert"], call)

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(Q["trackier_calls_recent"], {"limit": limit}).fetchall()
