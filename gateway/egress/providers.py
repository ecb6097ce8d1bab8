"""Residential-proxy providers: the proxy URL a slot is traced through, credentials filled in from
`[provider:NAME]` when the URL is built (a provider's password is never stored), and session ids.

Provider slots share the provider's host and port; the session id in the username (or password) pins the
exit IP. A static proxy's URL comes from its own inventory row.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from urllib.parse import quote

from gateway.config import ProviderSettings
from store.errors import NotFound
from store.inventory import Egress

SESSION_CHARS = string.ascii_lowercase + string.digits


def session_id() -> str:
    """Eight random lower-case letters and digits: accepted by every provider's session syntax."""
    return "".join(secrets.choice(SESSION_CHARS) for _ in range(8))


def proxy_url(slot: Egress, providers: Mapping[str, ProviderSettings]) -> str:
    """The proxy URL of a slot, credentials included: pass it to requests, never log it."""
    if slot.provider is None:
        return _url(slot.scheme, slot.host, slot.port, slot.username, slot.password)
    provider = providers.get(slot.provider)
    if provider is None:
        raise NotFound(f"slot {slot.id} belongs to provider {slot.provider!r}, which is not configured")
    fill = {"username": provider.username, "country": slot.country, "COUNTRY": slot.country.upper(),
            "session": slot.session_id, "password": provider.password.reveal()}
    return _url(provider.scheme, provider.host, provider.port, provider.username_template.format(**fill),
                provider.password_template.format(**fill))


def _url(scheme: str, host: str, port: int, username: str | None, password: str | None) -> str:
    host = f"[{host}]" if ":" in host else host
    if not username:
        return f"{scheme}://{host}:{port}"
    auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return f"{scheme}://{auth}@{host}:{port}"
