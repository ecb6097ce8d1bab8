"""The admin API's bearer token: configured, or generated once and kept under the data dir."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from gateway.config import Settings

log = logging.getLogger(__name__)
TOKEN_FILE = "admin-token"


def admin_token(settings: Settings) -> str:
    """`[admin] token`, else the token stored in `<data_dir>/admin-token` (mode 0600), created on first use."""
    if settings.admin.token:
        return settings.admin.token.reveal()
    path = Path(settings.server.data_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    log.warning("no [admin] token configured: generated one in %s (mode 0600); send it as "
                "'Authorization: Bearer <token>'", path)
    return path.read_text().strip()


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header, as the server read it (any bytes)."""
    scheme, _, given = (header or "").partition(" ")
    expected = token.encode()
    candidate = given.strip().encode() if scheme.lower() == "bearer" else b""
    return hmac.compare_digest(candidate, expected) and bool(expected)
