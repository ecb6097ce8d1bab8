"""Pool snapshots in PostgreSQL: one row per country per snapshot, for trends and capacity planning."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.queries import QUERIES as Q


class Snapshots:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        with translated_errors(), self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(Q["snapshot_insert"], list(rows))

    def since(self, since: datetime) -> list[dict[str, Any]]:
        """(taken_at, country, utilization) of every snapshot since `since`, oldest first."""
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(Q["snapshots_since"], {"since": since}).fetchall()

    def latest(self) -> list[dict[str, Any]]:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(Q["snapshot_latest"]).fetchall()
