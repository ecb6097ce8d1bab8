"""Residential-proxy providers: the proxy URL a slot is traced through, credentials filled in from
`[provider:NAME]` when the URL is built (a provider's password is never stored), and session ids.

Provider slots share the provider's host and port; the session id in the username (or password) pins the
exit IP. A static proxy's URL comes from its own inventory row.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gateway.config import PROVIDER_PRESETS, ProviderSettings
from gateway.errors import ValidationError
from store.errors import NotFound
from store.inventory import Slot

SESSION_CHARS = string.ascii_lowercase + string.digits


def session_id() -> str:
    """Eight random lower-case letters and digits: accepted by every provider's session syntax."""
    return "".join(secrets.choice(SESSION_CHARS) for _ in range(8))


def usable(name: str, providers: Mapping[str, ProviderSettings]) -> ProviderSettings:
    """The provider's settings if slots can be traced through it; ValidationError saying what to set otherwise."""
    env = f"GATEWAY_PROVIDER_{name.upper()}"
    provider = providers.get(name)
    if provider is None and name in PROVIDER_PRESETS:
        raise ValidationError("provider", f"{name} is a built-in preset without credentials: set {env}_USERNAME "
                                          f"and {env}_PASSWORD")
    if provider is None:
        known = ", ".join(sorted(set(providers) | set(PROVIDER_PRESETS)))
        raise ValidationError("provider", f"unknown provider {name!r} (known: {known}): add a [provider:{name}] "
                                          "block to the configuration")
    missing = provider.missing()
    if missing:
        raise ValidationError("provider", f"{name} lacks its {' and '.join(missing)}: set "
                                          + " and ".join(f"{env}_{m.upper()}" for m in missing))
    return provider


def listing(providers: Mapping[str, ProviderSettings]) -> list[dict[str, Any]]:
    """Every preset and configured provider: where it is, whether it is configured, what it still lacks."""
    rows = []
    for name in sorted(set(PROVIDER_PRESETS) | set(providers)):
        provider = providers.get(name) or ProviderSettings(**PROVIDER_PRESETS[name])
        lacks = provider.missing() if name in providers else ["username", "password"]
        rows.append({"provider": name, "preset": name in PROVIDER_PRESETS, "configured": name in providers,
                     "endpoint": f"{provider.scheme}://{provider.host}:{provider.port}",
                     "username_template": provider.username_template, "lacks": lacks, "ready": not lacks})
    return rows


def proxy_url(slot: Slot, providers: Mapping[str, ProviderSettings]) -> str:
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
