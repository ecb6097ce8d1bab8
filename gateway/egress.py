"""Egress slots: provisioning provider sessions and static proxies, keeping Redis in step with the
inventory, and the proxy URL a trace goes through.

Provider slots share the provider's host and port; the session id in the username (or password) pins the
exit IP. Their credentials come from `[provider:NAME]` when a proxy URL is built, never from storage.
A static proxy's own password is kept only in PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import gevent.lock

from gateway.config import ProviderSettings
from gateway.countries import normalize
from gateway.errors import ValidationError
from gateway.runtime import Runtime
from store.errors import NotFound, StoreUnavailable
from store.inventory import Egress

SCHEMES = ("http", "socks5", "socks5h")
SLOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SESSION_CHARS = string.ascii_lowercase + string.digits
MAX_PER_COUNTRY = 10_000
DIRECTORY_TTL_S = 30.0


@dataclass
class ProvisionReport:
    provider: str
    added: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"provider": self.provider, "added": self.added, "existing": self.existing,
                "total_added": sum(self.added.values())}


@dataclass(frozen=True)
class StaticProxy:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def session_id() -> str:
    """Eight random lower-case letters and digits: accepted by every provider's session syntax."""
    return "".join(secrets.choice(SESSION_CHARS) for _ in range(8))


def parse_proxy_url(url: object, field_name: str = "url") -> StaticProxy:
    """`scheme://[user[:password]@]host:port` with scheme http, socks5 or socks5h."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(field_name, "must be a proxy URL like socks5://user:pass@host:port")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValidationError(field_name, f"is not a valid proxy URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise ValidationError(field_name, f"scheme must be one of {', '.join(SCHEMES)}")
    if not parts.hostname or port is None:
        raise ValidationError(field_name, "must name a host and a port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValidationError(field_name, "must not carry a path, query or fragment")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return StaticProxy(parts.scheme, parts.hostname, port, username, password)


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


def sync(rt: Runtime, slots: Iterable[Egress]) -> dict[str, int]:
    """Bring the live pool in step with these inventory rows."""
    return rt.pool.ensure((s.id, s.country, s.enabled, s.provider or "static") for s in slots)


def provision(rt: Runtime, provider_name: str, counts: Mapping[str, int]) -> ProvisionReport:
    """Make the provider have at least `counts[country]` session slots per country; adds only what is
    missing (ids `<provider>-<country>-<n>`), so running it again changes nothing."""
    provider = rt.settings.providers.get(provider_name)
    if provider is None:
        raise ValidationError("provider", f"unknown provider {provider_name!r}: add a [provider:{provider_name}] "
                                          "block to the configuration")
    wanted = _country_counts(counts)
    existing = rt.inventory.ids_like(f"{provider_name}-%")
    report = ProvisionReport(provider_name)
    new = []
    for country, count in wanted.items():
        ids = [f"{provider_name}-{country}-{n}" for n in range(1, count + 1)]
        missing = [slot_id for slot_id in ids if slot_id not in existing]
        report.existing[country] = count - len(missing)
        new += [Egress(slot_id, provider_name, country, provider.scheme, provider.host, provider.port,
                       session_id=session_id()) for slot_id in missing]
    added = set(rt.inventory.add(new))
    for slot in new:
        if slot.id in added:
            report.added[slot.country] = report.added.get(slot.country, 0) + 1
    sync(rt, [slot for slot in new if slot.id in added])
    return report


def _country_counts(counts: Mapping[str, int]) -> dict[str, int]:
    if not counts:
        raise ValidationError("countries", "name at least one country with a slot count, e.g. us=50")
    wanted: dict[str, int] = {}
    for code, count in counts.items():
        country = normalize(code, f"countries.{code}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_COUNTRY:
            raise ValidationError(f"countries.{code}", f"slot count must be an integer from 1 to {MAX_PER_COUNTRY}")
        wanted[country] = count
    return wanted


def add_static(rt: Runtime, url: object, country: object, slot_id: object = None) -> tuple[Egress, bool]:
    """Add one static proxy; returns (slot, created). The same proxy again returns the existing slot."""
    proxy = parse_proxy_url(url)
    cc = normalize(country)
    wanted = None if slot_id in (None, "") else _check_id(slot_id)
    found = rt.inventory.find_static(proxy.scheme, proxy.host, proxy.port, proxy.username, proxy.password)
    if found:
        return found, False
    slot = _static_slot(proxy, cc, wanted or _next_static_id(rt, cc, set()))
    if not rt.inventory.add([slot]):
        raise ValidationError("id", f"slot id {slot.id!r} is already taken")
    sync(rt, [slot])
    return slot, True


def _static_slot(proxy: StaticProxy, country: str, slot_id: str) -> Egress:
    return Egress(slot_id, None, country, proxy.scheme, proxy.host, proxy.port,
                  username=proxy.username, password=proxy.password)


def _check_id(slot_id: object, field_name: str = "id") -> str:
    if not isinstance(slot_id, str) or not SLOT_ID.match(slot_id):
        raise ValidationError(field_name, "must be 1-128 letters, digits, '.', '_' or '-', starting alphanumeric")
    return slot_id


def _next_static_id(rt: Runtime, country: str, taken: set[str]) -> str:
    existing = rt.inventory.ids_like(f"static-{country}-%") | taken
    n = 1
    while f"static-{country}-{n}" in existing:
        n += 1
    return f"static-{country}-{n}"


def import_csv(rt: Runtime, text: str) -> dict:
    """Import static proxies from CSV with columns `country,url[,id]`. Every row is checked first; any bad
    row refuses the whole file (naming each bad line), so a partial import never happens."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows, problems = [], []
    try:
        if not {"country", "url"} <= set(reader.fieldnames or []):
            raise ValidationError("csv", "the header must name the columns country and url (id is optional)")
        for row in reader:
            try:
                proxy = parse_proxy_url(row.get("url"), "url")
                rows.append((proxy, normalize(row.get("country")), _check_id(row["id"]) if row.get("id") else None))
            except ValidationError as exc:
                problems.append(f"line {reader.line_num}: {exc}")
    except csv.Error as exc:
        raise ValidationError("csv", f"line {reader.line_num}: not readable as CSV ({exc})") from None
    if problems:
        raise ValidationError("csv", "; ".join(problems[:20]))
    return _import_rows(rt, rows)


def _import_rows(rt: Runtime, rows: list[tuple[StaticProxy, str, str | None]]) -> dict:
    slots, skipped, seen, taken = [], 0, set(), set()
    for proxy, country, slot_id in rows:
        if proxy in seen or rt.inventory.find_static(*_identity(proxy)):
            skipped += 1
            continue
        seen.add(proxy)
        slot_id = slot_id or _next_static_id(rt, country, taken)
        taken.add(slot_id)
        slots.append(_static_slot(proxy, country, slot_id))
    added = set(rt.inventory.add(slots))
    sync(rt, [slot for slot in slots if slot.id in added])
    return {"added": len(added), "skipped_existing": skipped, "skipped_id_taken": len(slots) - len(added)}


def _identity(proxy: StaticProxy) -> tuple:
    return proxy.scheme, proxy.host, proxy.port, proxy.username, proxy.password


def remove(rt: Runtime, slot_id: str) -> Egress:
    slot = rt.inventory.remove(slot_id)
    rt.pool.drop(slot_id)
    return slot


def set_enabled(rt: Runtime, slot_id: str, enabled: bool) -> Egress:
    slot = rt.inventory.set_enabled(slot_id, enabled)
    sync(rt, [slot])
    return slot


def describe(rt: Runtime, slot_id: str) -> dict:
    """A slot's inventory row (password masked) with its live state, health and lease holder."""
    return {**rt.inventory.get(slot_id).public(), "live": rt.pool.slot(slot_id)}


def reset_health(rt: Runtime, slot_id: str | None = None) -> int:
    """Forget the failures of one slot (or of all) and take it out of quarantine; returns how many."""
    slots = [rt.inventory.get(slot_id)] if slot_id else rt.inventory.all()
    for slot in slots:
        rt.pool.reset_health(slot.id, slot.country)
    return len(slots)


def reconcile(rt: Runtime) -> dict[str, int]:
    """Make Redis agree with the whole inventory: re-add what Redis lost, drop what was removed."""
    slots = rt.inventory.all()
    result = sync(rt, slots)
    extra = rt.pool.known_ids() - {slot.id for slot in slots}
    for slot_id in extra:
        rt.pool.drop(slot_id)
    if extra:
        result["dropped"] = len(extra)
    rt.slots.replace(slots)
    return result


class SlotDirectory:
    """Inventory rows by id, cached in the process, so a lease finds its slot's address without a
    PostgreSQL round trip. Refreshed on a miss or when stale, by one greenlet at a time; while PostgreSQL
    is down the stale rows keep serving."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._slots: dict[str, Egress] = {}
        self._loaded = -DIRECTORY_TTL_S
        self._refreshing = gevent.lock.Semaphore()

    def replace(self, slots: Iterable[Egress]) -> None:
        self._slots = {slot.id: slot for slot in slots}
        self._loaded = time.monotonic()

    def _fresh(self) -> bool:
        return time.monotonic() - self._loaded < DIRECTORY_TTL_S

    def get(self, slot_id: str) -> Egress | None:
        known = slot_id in self._slots
        if known and (self._fresh() or self._refreshing.locked()):
            return self._slots[slot_id]
        with self._refreshing:
            if slot_id not in self._slots or not self._fresh():
                try:
                    self.replace(self.rt.inventory.all())
                except StoreUnavailable:
                    if not known:
                        raise
        return self._slots.get(slot_id)
