"""Settings: `gateway.ini` plus `GATEWAY_<SECTION>_<KEY>` overrides, parsed once into frozen dataclasses.

Each section is a dataclass whose fields carry their type and an optional check; the defaults here are the
documented defaults that `gateway.ini` repeats (a test keeps the two equal). Every error names where the bad
value came from (file or environment variable), the section and the key.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "GATEWAY_"
DEFAULT_CONFIG = Path("gateway.ini")


class ConfigError(Exception):
    """A configuration value is missing, unknown or invalid. The CLI exits with status 2."""


class Secret:
    """A credential that renders as asterisks in logs, reprs and error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


NO_SECRET = Secret()
Check = Callable[[typing.Any], str | None]


def setting(default: typing.Any, check: Check | None = None) -> typing.Any:
    """A settings field with a default and a check returning an error message or None."""
    return field(default=default, metadata={"check": check})


def at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be at least {low}"


def between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def url_with(*schemes: str, empty_ok: bool = True) -> Check:
    def check(value: str) -> str | None:
        if not value:
            return None if empty_ok else "is required"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            return f"is not a valid URL ({exc})"
        if parts.scheme not in schemes:
            return f"must be a URL with scheme {' or '.join(s + '://' for s in schemes)}"
        if parts.scheme != "unix" and not parts.hostname and "host=" not in parts.query:
            return "must name a host"
        return None

    return check


def template(session: bool) -> Check:
    """A provider credential template: only the known placeholders, {session} where the session goes."""
    def check(value: str) -> str | None:
        try:
            value.format(username="u", password="p", country="us", COUNTRY="US", session="s")
        except (KeyError, IndexError, ValueError) as exc:
            return f"may only use {{username}}, {{password}}, {{country}}, {{COUNTRY}}, {{session}} ({exc})"
        if session and "{session}" not in value:
            return "must contain {session}"
        return None

    return check


def networks(value: str) -> str | None:
    """A comma-separated list of CIDR networks (may be empty)."""
    import ipaddress

    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not a network like 10.1.2.0/24"
    return None


def scheme_list(value: str) -> str | None:
    """A comma-separated list of URL schemes that hand a click to an app (never http, https or javascript)."""
    for item in filter(None, (part.strip().lower() for part in value.split(","))):
        if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", item):
            return f"{item!r} is not a URL scheme"
        if item in ("http", "https", "javascript", "data", "file", "vbscript", "view-source"):
            return f"{item!r} is not an app-link scheme"
    return None


BLOCKABLE = ("image", "media", "font", "stylesheet", "texttrack", "manifest", "ping", "other")


def resource_types(value: str) -> str | None:
    """Chromium resource types a browser trace may skip: never a document, script, fetch or XHR (they move it)."""
    for item in filter(None, (part.strip().lower() for part in value.split(","))):
        if item not in BLOCKABLE:
            return f"names {item!r}, which a trace cannot do without (only {', '.join(BLOCKABLE)} can be blocked)"
    return None


PORT = between(1, 65535)
POSITIVE: Check = lambda v: None if v > 0 else "must be greater than 0"  # noqa: E731
NON_NEGATIVE = at_least(0)
HTTP_URL = url_with("http", "https")
REQUIRED: Check = lambda v: None if v else "is required"  # noqa: E731


@dataclass(frozen=True)
class ServerSettings:
    host: str = setting("127.0.0.1", REQUIRED)
    port: int = setting(8080, PORT)
    data_dir: Path = Path("var")
    drain_s: float = setting(10.0, NON_NEGATIVE)
    header_timeout_s: float = setting(10.0, POSITIVE)
    idle_timeout_s: float = setting(60.0, POSITIVE)
    workers: int = setting(1, between(1, 64))
    access_log: bool = False
    log_level: str = setting("info", one_of("debug", "info", "warning", "error"))
    trusted_proxies: str = setting("", networks)


@dataclass(frozen=True)
class RedisSettings:
    url: str = setting("", url_with("redis", "rediss", "unix"))
    prefix: str = setting("gw:", lambda v: None if re.fullmatch(r"[A-Za-z0-9:_.-]{1,64}", v)
                          else "must be 1-64 letters, digits or : _ . -")
    max_connections: int = setting(256, between(1, 100_000))
    timeout_s: float = setting(2.0, POSITIVE)
    connect_timeout_s: float = setting(1.0, POSITIVE)
    pool_timeout_s: float = setting(5.0, POSITIVE)


@dataclass(frozen=True)
class PostgresSettings:
    url: str = setting("", url_with("postgresql", "postgres"))
    min_connections: int = setting(1, between(0, 1000))
    max_connections: int = setting(10, between(1, 1000))
    connect_timeout_s: float = setting(3.0, POSITIVE)
    pool_timeout_s: float = setting(5.0, POSITIVE)


@dataclass(frozen=True)
class PoolSettings:
    lease_s: float = setting(90.0, POSITIVE)
    cooldown_s: float = setting(60.0, between(0, 3600))
    fail_threshold: int = setting(3, between(1, 1000))
    quarantine_s: float = setting(60.0, POSITIVE)
    quarantine_max_s: float = setting(3600.0, POSITIVE)
    alert_utilization: float = setting(0.8, between(0, 1))


@dataclass(frozen=True)
class TracingSettings:
    max_hops: int = setting(20, between(1, 100))
    connect_timeout_s: float = setting(5.0, POSITIVE)
    read_timeout_s: float = setting(10.0, POSITIVE)
    total_timeout_s: float = setting(30.0, POSITIVE)
    max_body_kb: int = setting(256, between(1, 65536))
    user_agent: str = "desktop"
    referer: str = setting("", HTTP_URL)
    allow_private: bool = False
    allow_networks: str = setting("", networks)
    app_link_schemes: str = setting("market, itms-apps, intent", scheme_list)

    @cached_property
    def app_schemes(self) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in self.app_link_schemes.split(",") if part.strip())


@dataclass(frozen=True)
class BrowserSettings:
    """Headless Chromium for chains that compute their next URL at run time (tracing/browser*.py)."""

    workers: int = setting(1, between(0, 64))
    executable: str = ""
    max_traces: int = setting(100, between(1, 100_000))
    trace_timeout_s: float = setting(20.0, between(1, 300))
    settle_ms: int = setting(1000, between(0, 30_000))
    queue_wait_s: float = setting(5.0, between(0.1, 300))
    block: str = setting("image, media, font, stylesheet", resource_types)

    @cached_property
    def blocked_types(self) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in self.block.split(",") if part.strip())


@dataclass(frozen=True)
class ClickSettings:
    offer_cache_s: float = setting(5.0, between(0, 300))
    lease_wait_ms: int = setting(1000, between(0, 60_000))
    bot_user_agents: str = ("bot,crawler,spider,slurp,preview,prefetch,headless,facebookexternalhit,"
                            "mediapartners-google,adsbot-google,google-adwords,bingpreview,curl,wget,"
                            "python-requests,go-http-client")
    max_query_bytes: int = setting(8192, between(256, 65_536))
    client_traces_per_minute: int = setting(30, between(0, 1_000_000))
    writer_queue: int = setting(10_000, between(1, 1_000_000))
    writer_batch: int = setting(500, between(1, 10_000))
    writer_interval_ms: int = setting(500, between(1, 60_000))
    counter_ttl_s: int = setting(86_400, between(60, 30 * 86_400))
    stream_maxlen: int = setting(10_000, between(10, 1_000_000))

    @cached_property
    def bot_words(self) -> tuple[str, ...]:
        return tuple(word.strip().lower() for word in self.bot_user_agents.split(",") if word.strip())


@dataclass(frozen=True)
class WebhookSettings:
    max_body_kb: int = setting(64, between(1, 10_240))
    workers: int = setting(20, between(1, 1000))
    queue: int = setting(10_000, between(1, 1_000_000))
    lease_wait_ms: int = setting(10_000, between(0, 120_000))
    duplicate_window_s: int = setting(3600, between(1, 7 * 86_400))
    update_lock_s: float = setting(180.0, POSITIVE)
    unknown_per_minute: int = setting(30, between(1, 1_000_000))
    campaign_route_secret: Secret = NO_SECRET
    stale_after_s: float = setting(60.0, POSITIVE)
    processing_timeout_s: float = setting(300.0, POSITIVE)
    max_attempts: int = setting(5, between(1, 100))


@dataclass(frozen=True)
class TrackierSettings:
    base_url: str = setting("https://api.trackier.com", url_with("http", "https", empty_ok=False))
    api_key: Secret = NO_SECRET
    advertiser_id: str = ""
    publisher_id: str = ""
    click_domain: str = ""
    public_base_url: str = setting("", HTTP_URL)
    create_pacing_ms: int = setting(500, NON_NEGATIVE)
    timeout_s: float = setting(10.0, POSITIVE)
    max_retries: int = setting(4, between(0, 20))


@dataclass(frozen=True)
class AheadSettings:
    click_mode: str = setting("inline", one_of("inline", "ahead", "ahead_only"))
    depth: int = setting(5, between(1, 1000))
    max_age_s: int = setting(300, between(5, 86_400))
    idle_s: int = setting(600, between(10, 7 * 86_400))
    demand_window_s: int = setting(300, between(60, 3600))
    tick_s: float = setting(1.0, between(0.05, 60))
    reserve_ready: int = setting(1, between(0, 10_000))
    answer_within_s: float = setting(30.0, between(1, 3600))
    feed_per_minute: int = setting(300, between(1, 1_000_000))
    feed_refusals_per_minute: int = setting(30, between(1, 1_000_000))


@dataclass(frozen=True)
class AdminSettings:
    token: Secret = NO_SECRET
    viewer_token: Secret = NO_SECRET
    session_ttl_s: int = setting(28_800, between(300, 30 * 86_400))
    sign_ins_per_minute: int = setting(10, between(1, 10_000))


@dataclass(frozen=True)
class MetricsSettings:
    token: Secret = NO_SECRET  # empty: /metrics is open to whoever reaches it


@dataclass(frozen=True)
class MaintenanceSettings:
    interval_s: float = setting(5.0, POSITIVE)
    snapshot_interval_s: float = setting(60.0, POSITIVE)


@dataclass(frozen=True)
class ProviderSettings:
    """One residential-proxy provider: every session shares host and port; the username pins the session."""

    host: str = setting("", REQUIRED)
    port: int = setting(0, PORT)
    scheme: str = setting("http", one_of("http", "socks5", "socks5h"))
    username: str = ""
    username_template: str = setting("{username}-country-{country}-session-{session}", template(session=True))
    password_template: str = setting("{password}", template(session=False))
    password: Secret = NO_SECRET

    def missing(self) -> list[str]:
        """The credentials its templates need but nobody set (`username`, `password`)."""
        templates = self.username_template + self.password_template
        return [name for name, value in (("username", self.username), ("password", self.password))
                if f"{{{name}}}" in templates and not value]


# Providers known out of the box: set only `username` (GATEWAY_PROVIDER_<NAME>_USERNAME) and the password
# (GATEWAY_PROVIDER_<NAME>_PASSWORD); any key can still be overridden. Sources are noted in gateway.ini.
PROVIDER_PRESETS: dict[str, dict[str, typing.Any]] = {
    "luna": {"host": "pr.lunaproxy.com", "port": 12233, "scheme": "http",
             "username_template": "user-{username}-region-{country}-sessid-{session}-sesstime-90"},
    "brightdata": {"host": "brd.superproxy.io", "port": 33335, "scheme": "http",
                   "username_template": "{username}-country-{country}-session-{session}"},
    "oxylabs": {"host": "pr.oxylabs.io", "port": 7777, "scheme": "http",
                "username_template": "customer-{username}-cc-{COUNTRY}-sessid-{session}-sesstime-10"},
    "smartproxy": {"host": "gate.decodo.com", "port": 7000, "scheme": "http",
                   "username_template": "user-{username}-country-{country}-session-{session}-sessionduration-30"},
    "iproyal": {"host": "geo.iproyal.com", "port": 12321, "scheme": "http", "username_template": "{username}",
                "password_template": "{password}_country-{country}_session-{session}_lifetime-30m"},
}


SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "redis": RedisSettings,
    "postgres": PostgresSettings,
    "pool": PoolSettings,
    "tracing": TracingSettings,
    "browser": BrowserSettings,
    "clicks": ClickSettings,
    "trackier": TrackierSettings,
    "webhooks": WebhookSettings,
    "ahead": AheadSettings,
    "admin": AdminSettings,
    "maintenance": MaintenanceSettings,
    "metrics": MetricsSettings,
}
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
SHORT_ENV = {"GATEWAY_DATABASE_URL": ("postgres", "url")}


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    redis: RedisSettings = RedisSettings()
    postgres: PostgresSettings = PostgresSettings()
    pool: PoolSettings = PoolSettings()
    tracing: TracingSettings = TracingSettings()
    browser: BrowserSettings = BrowserSettings()
    clicks: ClickSettings = ClickSettings()
    trackier: TrackierSettings = TrackierSettings()
    webhooks: WebhookSettings = WebhookSettings()
    ahead: AheadSettings = AheadSettings()
    admin: AdminSettings = AdminSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    metrics: MetricsSettings = MetricsSettings()
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    source: str = "built-in defaults"

    def replace(self, **sections: typing.Any) -> Settings:
        """A copy with whole sections or `section__key=value` fields replaced (for tests and the CLI)."""
        changes: dict[str, typing.Any] = {}
        for name, value in sections.items():
            section, _, key = name.partition("__")
            if key:
                current = changes.get(section, getattr(self, section))
                value = dataclasses.replace(current, **{key: value})
            changes[section] = value
        return dataclasses.replace(self, **changes)


@dataclass
class _Raw:
    """Raw string values by (section, key), remembering where each came from."""

    values: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def put(self, section: str, key: str, value: str, origin: str) -> None:
        self.values[(section, key)] = (value, origin)

    def section(self, name: str) -> dict[str, tuple[str, str]]:
        return {k: v for (s, k), v in self.values.items() if s == name}


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `path` (default `$GATEWAY_CONFIG` or `./gateway.ini` when present) and the env."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get("GATEWAY_CONFIG")
    config_path = Path(explicit) if explicit else DEFAULT_CONFIG
    raw = _Raw()
    if explicit or config_path.exists():
        _read_file(config_path, raw)
    _read_environ(environ, raw)
    source = str(config_path) if config_path.exists() else "built-in defaults"
    base = config_path.absolute().parent if config_path.exists() else Path.cwd()
    sections = {name: _build(cls, name, raw.section(name), base) for name, cls in SECTIONS.items()}
    providers = {
        name: _build(ProviderSettings, f"provider:{name}", raw.section(f"provider:{name}"), base,
                     PROVIDER_PRESETS.get(name, {}))
        for name in sorted({s.split(":", 1)[1] for s, _ in raw.values if s.startswith("provider:")})
    }
    return Settings(**sections, providers=providers, source=source)


def child_env(settings: Settings, path: Path) -> dict[str, str]:
    """The environment of a child process that is to run on exactly `settings`: `path` written with `as_ini`
    (mode 0600), `GATEWAY_CONFIG` naming it, the credentials as variables, and none of this process's own
    `GATEWAY_*` variables (they would override the file)."""
    text, secrets = as_ini(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(secrets, GATEWAY_CONFIG=str(path))
    return env


def as_ini(settings: Settings) -> tuple[str, dict[str, str]]:
    """`settings` as a file `load` reads back to the same settings, and the `GATEWAY_*` variables that carry
    its credentials (they never go into the file): how a parent hands its settings to a child process."""
    sections = {name: getattr(settings, name) for name in SECTIONS}
    sections.update({f"provider:{name}": provider for name, provider in settings.providers.items()})
    lines, secrets = [], {}
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            if isinstance(value, Secret):
                if value:
                    secrets[f"{ENV_PREFIX}{section.replace(':', '_')}_{f.name}".upper()] = value.reveal()
            else:
                lines.append(f"{f.name} = {str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n", secrets

def _read_file(path: Path, raw: _Raw) -> None:
    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from None
    for section in parser.sections():
        _check_section(section, str(path))
        for key, value in parser.items(section):
            raw.put(section, key, value, str(path))


def _check_section(section: str, origin: str) -> None:
    if section in SECTIONS:
        return
    if section.startswith("provider:") and PROVIDER_NAME.match(section.split(":", 1)[1]):
        return
    raise ConfigError(
        f"{origin}: unknown section [{section}] (known: {', '.join(SECTIONS)}, provider:NAME "
        "with NAME in lower-case letters, digits and _)"
    )


def _read_environ(environ: Mapping[str, str], raw: _Raw) -> None:
    providers = {s.split(":", 1)[1] for s, _ in raw.values if s.startswith("provider:")} | set(PROVIDER_PRESETS)
    for var in sorted(environ):
        if var.startswith(ENV_PREFIX) and var != "GATEWAY_CONFIG":
            section, key = _env_target(var, providers)
            earlier = raw.values.get((section, key))
            if earlier and earlier[1].startswith(ENV_PREFIX) and earlier[0] != environ[var]:
                raise ConfigError(f"{var} and {earlier[1]} both set [{section}] {key}, to different values")
            raw.put(section, key, environ[var], var)


def _env_target(var: str, providers: set[str]) -> tuple[str, str]:
    if var in SHORT_ENV:
        return SHORT_ENV[var]
    rest = var[len(ENV_PREFIX):].lower()
    for name in SECTIONS:
        if rest.startswith(name + "_"):
            return name, rest[len(name) + 1:]
    if rest.startswith("provider_"):
        for name in sorted(providers, key=len, reverse=True):
            if rest.startswith(f"provider_{name}_"):
                return f"provider:{name}", rest[len(f"provider_{name}_"):]
        raise ConfigError(f"{var}: no [provider:NAME] section (nor a preset: {', '.join(PROVIDER_PRESETS)}) "
                          "matches this variable")
    raise ConfigError(f"{var}: unknown setting (GATEWAY_<SECTION>_<KEY> with SECTION one of {', '.join(SECTIONS)})")


def _build(cls: type, section: str, values: dict[str, tuple[str, str]], base: Path,
           defaults: Mapping[str, typing.Any] | None = None) -> typing.Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    section_origin = next((origin for _, origin in values.values() if not origin.startswith(ENV_PREFIX)), "")
    kwargs = dict(defaults or {})
    for key, (text, origin) in values.items():
        if key not in fields:
            raise ConfigError(f"{_where(origin, section, key)}: unknown key (known: {', '.join(fields)})")
        kwargs[key] = _convert(hints[key], text.strip(), _where(origin, section, key), base)
    result = cls(**kwargs)
    for name, f in fields.items():
        check = f.metadata.get("check")
        problem = check(getattr(result, name)) if check else None
        if problem:
            origin = values[name][1] if name in values else section_origin
            raise ConfigError(f"{_where(origin, section, name)}: {_show(getattr(result, name))} {problem}")
    return result


def _where(origin: str, section: str, key: str) -> str:
    if origin.startswith(ENV_PREFIX):
        return f"{origin} (for [{section}] {key})"
    return f"{origin}: [{section}] {key}" if origin else f"[{section}] {key}"


def _convert(kind: typing.Any, text: str, where: str, base: Path) -> typing.Any:
    try:
        if kind is bool:
            return _boolean(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is Path:
            path = Path(text).expanduser()
            return path if path.is_absolute() else base / path
        if kind is Secret:
            return Secret(text)
        return text
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise ConfigError(f"{where}: {_show(text)} is not {expected}") from None


def _boolean(text: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if text.lower() not in states:
        raise ValueError(text)
    return states[text.lower()]


def _show(value: typing.Any) -> str:
    return repr(value) if not isinstance(value, Secret) else "the value"
