"""JSON encoding of the values records carry (datetimes, UUIDs), for the API and the command line alike."""

from __future__ import annotations

import datetime
import uuid
from typing import Any


def json_default(value: Any) -> Any:
    """`json.dumps(..., default=json_default)`: datetimes as ISO 8601, UUIDs as strings."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
