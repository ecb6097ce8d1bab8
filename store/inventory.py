"""The egress inventory in PostgreSQL: the source of truth the Redis pool is rebuilt from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from store.database import translated_errors
from store.errors import NotFound
from store.queries import QUERIES as Q


@dataclass(frozen=True)
class Slot:
    """One egress slot. `password` is set only for static proxies and never leaves the gateway."""

    id: str
    provider: str | None
    country: str
    scheme: str
    host: str
    port: int
    session_id: str | None = None
    username: str | None = None
    password: str | None = None
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """The slot without its password, for output."""
        view = asdict(self)
        view["password"] = "********" if self.password else None
        return view


class Inventory:
    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def all(self) -> list[Slot]:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Slot)) as cur:
            return cur.execute(Q["slots_all"]).fetchall()

    def get(self, slot_id: str) -> Slot:
        return self._one("slots_get", {"id": slot_id}, slot_id)

    def ids_like(self, pattern: str) -> set[str]:
        with translated_errors(), self.db.connection() as conn:
            return {row[0] for row in conn.execute(Q["slot_ids_like"], {"pattern": pattern})}

    def add(self, slots: Iterable[Slot]) -> list[str]:
        """Insert the slots in one transaction; ids that already exist are skipped. Returns the ids added."""
        added = []
        with translated_errors(), self.db.connection() as conn, conn.transaction():
            for slot in slots:
                row = conn.execute(Q["slots_insert"], asdict(slot)).fetchone()
                if row:
                    added.append(row[0])
        return added

    def find_static(self, scheme: str, host: str, port: int, username: str | None,
                    password: str | None) -> Slot | None:
        params = {"scheme": scheme, "host": host, "port": port, "username": username, "password": password}
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Slot)) as cur:
            return cur.execute(Q["slots_find_static"], params).fetchone()

    def remove(self, slot_id: str) -> Slot:
        return self._one("slots_delete", {"id": slot_id}, slot_id)

    def set_enabled(self, slot_id: str, enabled: bool) -> Slot:
        return self._one("slots_set_enabled", {"id": slot_id, "enabled": enabled}, slot_id)

    def _one(self, query: str, params: dict[str, Any], slot_id: str) -> Slot:
        with translated_errors(), self.db.connection() as conn, conn.cursor(row_factory=class_row(Slot)) as cur:
            row = cur.execute(Q[query], params).fetchone()
        if row is None:
            raise NotFound(f"no egress slot {slot_id!r}")
        return row
