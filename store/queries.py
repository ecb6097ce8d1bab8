"""Every SQL statement of the store, loaded once from `queries.sql` (`-- name: NAME` headers)."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def load(path: Path) -> dict[str, str]:
    parts = HEADER.split(path.read_text(encoding="utf-8"))
    queries = {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}
    if len(queries) != len(parts[1::2]):
        raise ValueError(f"{path}: a query name is used twice")
    return queries


QUERIES = load(Path(__file__).with_name("queries.sql"))
