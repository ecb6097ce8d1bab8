"""Numbered SQL migrations (`store/migrations/NNNN_name.sql`), each applied in its own transaction.

Applied versions are recorded in `schema_migrations` with a checksum, so an edited migration that already
ran is reported instead of silently diverging. A session advisory lock lets several processes starting at
once (`serve --workers N`, several hosts) migrate safely: one applies, the others then find nothing to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from store.database import translated_errors
from store.errors import StoreError
from store.queries import QUERIES as Q

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_ID = 7_391_028_374_112  # pg_advisory_lock key owned by the migrator
FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(StoreError):
    """The migrations on disk and the ones recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations on disk, in version order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version in {directory}")
    return found


def migrate(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every missing migration in order; returns the ones applied (empty when up to date)."""
    conn.autocommit = True
    conn.execute(Q["migrations_lock"], {"lock": LOCK_ID})
    try:
        conn.execute(Q["migrations_table"])
        done: dict[int, str] = dict(conn.execute(Q["migrations_applied"]).fetchall())
        pending = []
        for migration in available(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.path.name} changed after it was applied; add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(Q["migration_record"], {"version": migration.version, "name": migration.name,
                                                      "checksum": migration.checksum})
            pending.append(migration)
        return pending
    finally:
        conn.execute(Q["migrations_unlock"], {"lock": LOCK_ID})


def migrate_database(url: str) -> list[Migration]:
    """Apply every missing migration to the database at `url` (over a connection of its own): how every
    process migrates at start-up, a supervisor before it forks as well as a single process."""
    with translated_errors(), psycopg.connect(url, connect_timeout=10) as conn:
        return migrate(conn)
