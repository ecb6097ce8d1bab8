"""Click parameters: filling an offer's URL template from the inbound query, collecting what a traced chain
handed out, and merging both into the URL the user is sent to.

Parameters are (name, value) pairs in order, repeated names kept, as in a query string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

from gateway import text
from gateway.errors import ValidationError
from gateway.tracing import urls
from store.offers import DEFAULT_PASS_THROUGH

Pairs = list[tuple[str, str]]
MACRO = re.compile(r"\{([A-Za-z0-9_]{1,64})\}")
NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,100}$")
POLICY_MODES = ("all", "allow", "deny")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
URL_VALUE = re.compile(r"^\s*((https?:)?//|/)", re.IGNORECASE)
PASS_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{0,100}\*?$")


@dataclass(frozen=True)
class PassThrough:
    """The inbound parameters an offer passes on to its tracking (and fallback) URL: exact names, or prefixes
    ending in `*` (`utm_*`; `*` alone passes everything). Only these, and the template's own macros, travel:
    a parameter a hop honours as a destination (`to=`, `url=`) cannot be slipped in by a click."""

    names: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> PassThrough:
        entries = list(entries)
        return cls(frozenset(e for e in entries if not e.endswith("*")),
                   tuple(e[:-1] for e in entries if e.endswith("*")))

    def __contains__(self, name: str) -> bool:
        return name in self.names or name.startswith(self.prefixes)


DEFAULT_PASSES = PassThrough.of(DEFAULT_PASS_THROUGH)


@functools.lru_cache(maxsize=4096)
def _passes(entries: tuple[str, ...]) -> PassThrough:
    return PassThrough.of(entries)


def passes(entries: Sequence[str]) -> PassThrough:
    """An offer's pass-through list as a PassThrough, built once per distinct list."""
    return _passes(tuple(entries))


def check_pass_through(value: object, field_name: str = "pass_through") -> list[str]:
    """A pass-through list: up to 100 parameter names, each optionally ending in `*` (a prefix)."""
    if not isinstance(value, list) or len(value) > 100 or not all(
            isinstance(v, str) and v and PASS_NAME.match(v) for v in value):
        raise ValidationError(field_name, "must be a list of up to 100 parameter names, each may end in * "
                                          '(e.g. ["gclid", "utm_*"])')
    return list(dict.fromkeys(value))


def fill(template: str, inbound: Sequence[tuple[str, str]], passes: PassThrough = DEFAULT_PASSES) -> str:
    """`template` with every `{name}` replaced by the inbound value of `name`, URL-encoded (empty when the
    click did not carry it), and the inbound parameters `passes` lets through appended to the query, except
    those the template's query already names: a click can neither override the offer's own parameters nor add
    one that a hop would follow (`to=`), so it never picks where the chain goes."""
    first: dict[str, str] = {}
    for name, value in inbound:
        first.setdefault(name, value)
    used = set(MACRO.findall(template)) | {unquote_plus(segment.split("=", 1)[0])
                                           for segment in urlsplit(template).query.split("&") if segment}
    url = MACRO.sub(lambda m: quote(first.get(m.group(1), ""), safe=""), template)
    return append(url, [(name, value) for name, value in inbound if name not in used and name in passes])


def append(url: str, pairs: Iterable[tuple[str, str]]) -> str:
    """`url` with `pairs` added to its query (before the fragment), the existing query left as it is."""
    extra = urlencode(list(pairs))
    if not extra:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def merge(final_url: str, chain: Sequence[tuple[str, str]], inbound: Sequence[tuple[str, str]]) -> str:
    """The final URL keeping its own query as the chain built it, plus chain parameters it lacks, plus the
    inbound parameters, which win on a clash (any pair of the same name is dropped). Fragment kept."""
    parts = urlsplit(final_url)
    inbound_names = {name for name, _ in inbound}
    kept = [segment for segment in parts.query.split("&")
            if segment and unquote_plus(segment.split("=", 1)[0]) not in inbound_names]
    present = {unquote_plus(segment.split("=", 1)[0]) for segment in kept}
    added: Pairs = []
    for name, value in chain:
        if name not in present and name not in inbound_names:
            present.add(name)
            added.append((name, value))
    query = "&".join([*kept, *filter(None, [urlencode(added), urlencode(list(inbound))])])
    return urlunsplit(parts._replace(query=query))


def landing(final_url: str, chain: Sequence[tuple[str, str]], policy: object,
            inbound: Sequence[tuple[str, str]]) -> str:
    """Where a traced click lands: an app link as the chain gave it; a web page with the chain's parameters (per
    the offer's `policy`) and the inbound ones merged in."""
    if urls.scheme_of(final_url) not in urls.WEB_SCHEMES:
        return final_url
    return merge(final_url, ParamPolicy.parse(policy).apply(chain), inbound)


def chain_params(hop_urls: Sequence[str]) -> Pairs:
    """What a chain handed out: the query parameters of every hop after the first (the first is our own
    tracking URL), one value per name, the latest hop's value winning. A parameter whose value is itself a
    URL or a path (`to=`, `url=`, `lpurl=`, ...) carries the redirect, not a value handed out: left out."""
    latest: dict[str, str] = {}
    for url in hop_urls[1:]:
        if urlsplit(url).scheme in ("http", "https"):
            for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
                if not URL_VALUE.match(value):
                    latest.pop(name, None)
                    latest[name] = value
    return list(latest.items())


class BadQuery(ValidationError):
    """A query string that cannot be read; `field` is the parameter to blame, or `query`."""

    def __init__(self, message: str, field: str = "query") -> None:
        super().__init__(field, message)


class QueryTooLong(BadQuery):
    """A query string longer than the edge reads."""


def parse_query(raw: str, max_bytes: int) -> list[tuple[str, str]]:
    """The query string as (name, value) pairs; BadQuery for over-long, badly escaped or non-UTF-8 input, or
    for a NUL, which no store can hold.
    `raw` is the WSGI QUERY_STRING (the request's bytes as Latin-1)."""
    if len(raw) > max_bytes:
        raise QueryTooLong(f"query string over {max_bytes} bytes")
    if BAD_ESCAPE.search(raw):
        raise BadQuery("invalid percent-encoding in the query string")
    try:
        pairs = parse_qsl(raw.encode("latin-1").decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        raise BadQuery("the query string is not valid UTF-8") from None
    for name, value in pairs:
        found = text.problem(name) or text.problem(value)
        if found:
            raise BadQuery(f"the query string carries {found} (in {name[:40]!r})", name[:100])
    return pairs


@dataclass(frozen=True)
class ParamPolicy:
    """Which of the chain's parameters a click keeps (`all`, an `allow` list or a `deny` list) and under
    which names (`rename`: chain name -> name on the landing URL)."""

    mode: str = "all"
    params: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)

    def apply(self, pairs: Iterable[tuple[str, str]]) -> Pairs:
        chosen = set(self.params)
        kept = [(n, v) for n, v in pairs
                if self.mode == "all" or (n in chosen) == (self.mode == "allow")]
        return [(self.rename.get(n, n), v) for n, v in kept]

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "params": list(self.params), "rename": dict(self.rename)}

    @classmethod
    def parse(cls, data: object, field_name: str = "param_policy") -> ParamPolicy:
        if not isinstance(data, dict):
            raise ValidationError(field_name, 'must be an object like {"mode": "allow", "params": ["clickid"]}')
        unknown = set(data) - {"mode", "params", "rename"}
        if unknown:
            raise ValidationError(f"{field_name}.{sorted(unknown)[0]}", "unknown key (mode, params, rename)")
        mode = data.get("mode", "all")
        if mode not in POLICY_MODES:
            raise ValidationError(f"{field_name}.mode", f"must be one of {', '.join(POLICY_MODES)}")
        params = data.get("params", [])
        if not isinstance(params, list) or len(params) > 100 or not all(_is_name(p) for p in params):
            raise ValidationError(f"{field_name}.params", "must be a list of up to 100 parameter names")
        rename = data.get("rename", {})
        if not isinstance(rename, dict) or len(rename) > 100 or not all(
                _is_name(k) and _is_name(v) for k, v in rename.items()):
            raise ValidationError(f"{field_name}.rename", "must map parameter names to parameter names")
        if mode != "all" and not params:
            raise ValidationError(f"{field_name}.params", f"a {mode} list needs at least one name")
        return cls(mode, tuple(params), dict(rename))


def _is_name(value: object) -> bool:
    return isinstance(value, str) and bool(NAME.match(value))
