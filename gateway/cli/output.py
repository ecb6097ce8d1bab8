"""Printing helpers shared by the commands: JSON, aligned tables, key=value arguments."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.encoding import json_default


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=json_default))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0%}" if 0 <= value <= 1 else f"{value:g}"
    return "-" if value is None else str(value)
