"""The egress inventory as operators change it: provider session slots, static proxies, removal, enabling,
health resets, and reconciling the live pool in Redis with the inventory in PostgreSQL (the source of truth)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.config import ProviderSettings
from gateway.countries import normalize
from gateway.egress.directory import SlotDirectory
from gateway.egress.providers import session_id, usable
from gateway.errors import ValidationError
from store.inventory import Inventory, Slot
from store.pool import EgressPool

SCHEMES = ("http", "socks5", "socks5h")
SLOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_PER_COUNTRY = 10_000


@dataclass
class ProvisionReport:
    provider: str
    added: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "added": self.added, "existing": self.existing,
                "total_added": sum(self.added.values())}


@dataclass(frozen=True)
class StaticProxy:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


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


class Slots:
    """Provision, add, import, remove, enable and reset slots: the inventory first, then the live pool."""

    def __init__(self, inventory: Inventory, pool: EgressPool, directory: SlotDirectory,
                 providers: Mapping[str, ProviderSettings]) -> None:
        self.inventory = inventory
        self.pool = pool
        self.directory = directory
        self.providers = providers

    def sync(self, slots: Iterable[Slot]) -> dict[str, int]:
        """Bring the live pool in step with these inventory rows."""
        return self.pool.ensure((s.id, s.country, s.enabled, s.provider or "static") for s in slots)

    def provision(self, provider_name: str, counts: Mapping[str, int]) -> ProvisionReport:
        """Make the provider have at least `counts[country]` session slots per country; adds only what is
        missing (ids `<provider>-<country>-<n>`), so running it again changes nothing."""
        provider = usable(provider_name, self.providers)
        wanted = _country_counts(counts)
        existing = self.inventory.ids_like(f"{provider_name}-%")
        report = ProvisionReport(provider_name)
        new = []
        for country, count in wanted.items():
            missing = [i for i in (f"{provider_name}-{country}-{n}" for n in range(1, count + 1)) if i not in existing]
            report.existing[country] = count - len(missing)
            new += [Slot(slot_id, provider_name, country, provider.scheme, provider.host, provider.port,
                           session_id=session_id()) for slot_id in missing]
        added = set(self.inventory.add(new))
        for slot in new:
            if slot.id in added:
                report.added[slot.country] = report.added.get(slot.country, 0) + 1
        self.sync([slot for slot in new if slot.id in added])
        return report

    def add_static(self, url: object, country: object, slot_id: object = None) -> tuple[Slot, bool]:
        """Add one static proxy; returns (slot, created). The same proxy again returns the existing slot."""
        proxy = parse_proxy_url(url)
        cc = normalize(country)
        wanted = None if slot_id in (None, "") else _check_id(slot_id)
        found = self.inventory.find_static(*_identity(proxy))
        if found:
            return found, False
        slot = _static_slot(proxy, cc, wanted or self._next_static_id(cc, set()))
        if not self.inventory.add([slot]):
            raise ValidationError("id", f"slot id {slot.id!r} is already taken")
        self.sync([slot])
        return slot, True

    def import_csv(self, text: str) -> dict[str, Any]:
        """Import static proxies from CSV with columns `country,url[,id]`. Every row is checked first; any bad
        row refuses the whole file (naming each bad line), so a partial import never happens."""
        return self._import_rows(_csv_rows(text))

    def _import_rows(self, rows: list[tuple[StaticProxy, str, str | None]]) -> dict[str, Any]:
        slots: list[Slot] = []
        skipped, seen, taken = 0, set[StaticProxy](), set[str]()
        for proxy, country, slot_id in rows:
            if proxy in seen or self.inventory.find_static(*_identity(proxy)):
                skipped += 1
                continue
            seen.add(proxy)
            slot_id = slot_id or self._next_static_id(country, taken)
            taken.add(slot_id)
            slots.append(_static_slot(proxy, country, slot_id))
        added = set(self.inventory.add(slots))
        self.sync([slot for slot in slots if slot.id in added])
        return {"added": len(added), "skipped_existing": skipped, "skipped_id_taken": len(slots) - len(added)}

    def _next_static_id(self, country: str, taken: set[str]) -> str:
        existing = self.inventory.ids_like(f"static-{country}-%") | taken
        n = 1
        while f"static-{country}-{n}" in existing:
            n += 1
        return f"static-{country}-{n}"

    def remove(self, slot_id: str) -> Slot:
        slot = self.inventory.remove(slot_id)
        self.pool.drop(slot_id)
        return slot

    def set_enabled(self, slot_id: str, enabled: bool) -> Slot:
        slot = self.inventory.set_enabled(slot_id, enabled)
        self.sync([slot])
        return slot

    def describe(self, slot_id: str) -> dict[str, Any]:
        """A slot's inventory row (password masked) with its live state, health and lease holder."""
        return {**self.inventory.get(slot_id).public(), "live": self.pool.slot(slot_id)}

    def listing(self, country: str | None, limit: int) -> list[dict[str, Any]]:
        """Inventory rows (passwords masked) with their live state, of one country or all."""
        rows = [s for s in self.inventory.all() if country in (None, s.country)][:limit]
        return [{**s.public(), "live": self.pool.slot(s.id)} for s in rows]

    def reset_health(self, slot_id: str | None = None) -> int:
        """Forget the failures of one slot (or of all) and take it out of quarantine; returns how many."""
        slots = [self.inventory.get(slot_id)] if slot_id else self.inventory.all()
        for slot in slots:
            self.pool.reset_health(slot.id, slot.country)
        return len(slots)

    def reconcile(self) -> dict[str, int]:
        """Make Redis agree with the whole inventory: re-add what Redis lost, drop what was removed."""
        slots = self.inventory.all()
        result = self.sync(slots)
        extra = self.pool.known_ids() - {slot.id for slot in slots}
        for slot_id in extra:
            self.pool.drop(slot_id)
        if extra:
            result["dropped"] = len(extra)
        self.directory.replace(slots)
        return result


def key_counts(items: Sequence[str], option: str) -> dict[str, int]:
    """`["us=50", "gb=20"]` (as an operator types them) as `{"us": 50, "gb": 20}`; ValidationError naming `option`
    otherwise."""
    counts = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ValidationError(option, f"{item!r} must look like CC=COUNT, e.g. us=50")
        counts[key] = int(value)
    return counts


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


def _static_slot(proxy: StaticProxy, country: str, slot_id: str) -> Slot:
    return Slot(slot_id, None, country, proxy.scheme, proxy.host, proxy.port,
                  username=proxy.username, password=proxy.password)


def _check_id(slot_id: object, field_name: str = "id") -> str:
    if not isinstance(slot_id, str) or not SLOT_ID.match(slot_id):
        raise ValidationError(field_name, "must be 1-128 letters, digits, '.', '_' or '-', starting alphanumeric")
    return slot_id


def _csv_rows(text: str) -> list[tuple[StaticProxy, str, str | None]]:
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
    return rows


def _identity(proxy: StaticProxy) -> tuple[str, str, int, str | None, str | None]:
    return proxy.scheme, proxy.host, proxy.port, proxy.username, proxy.password
