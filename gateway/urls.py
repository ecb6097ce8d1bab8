"""URLs as browsers treat them: resolving a Location, percent-encoding what may not travel raw, and reading
query parameters with repeated keys kept."""

from __future__ import annotations

from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

WEB_SCHEMES = frozenset({"http", "https"})
# Schemes a navigation to which changes nothing (scripts, inline data) or that browsers refuse to redirect to;
# any other scheme (market:, intent:, itms-apps:, ...) hands the click to an app.
INERT_SCHEMES = frozenset({"javascript", "data", "about", "blob", "vbscript", "file", "filesystem"})
# Characters percent-encoded per URL component besides controls, space and non-ASCII (WHATWG URL standard).
PATH_UNSAFE = frozenset('"#<>?`{}')
QUERY_UNSAFE = frozenset("\"#<>'")
FRAGMENT_UNSAFE = frozenset('"<>`')
STRIPPED = str.maketrans("", "", "\t\n\r")


class BadUrl(ValueError):
    """Not a URL a browser could request."""


def header_text(value: str) -> str:
    """A header value as the server meant it: http.client decodes header bytes as Latin-1, servers send
    UTF-8 in Locations."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _encode(text: str, unsafe: frozenset[str]) -> str:
    out = []
    for char in text:
        if char <= " " or char >= "\x7f" or char in unsafe:
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    return "".join(out)


def _host(hostname: str) -> str:
    try:
        return hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError as exc:
        raise BadUrl(f"invalid host name {hostname!r}") from exc


def normalize(url: str) -> str:
    """Percent-encode spaces, non-ASCII and other characters browsers escape; IDNA-encode the host; keep
    existing %XX escapes as they are."""
    parts = urlsplit(url.strip().translate(STRIPPED))
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        return url.strip()
    if not parts.hostname:
        raise BadUrl(f"no host in {url!r}")
    netloc = parts.netloc
    host = parts.hostname
    if not host.isascii():
        netloc = netloc.replace(host, _host(host)) if host in netloc else _host(host)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise BadUrl(str(exc)) from exc
    path = _encode(parts.path, PATH_UNSAFE) or "/"
    return urlunsplit((scheme, netloc.lower() if "@" not in netloc else netloc, path,
                       _encode(parts.query, QUERY_UNSAFE), _encode(parts.fragment, FRAGMENT_UNSAFE)))


def resolve(base: str, reference: str) -> str:
    """`reference` (absolute, protocol-relative, path-relative, ...) resolved against `base`, normalized.
    Non-web schemes (market://, intent://, ...) come back as given."""
    reference = reference.strip().translate(STRIPPED)
    scheme = urlsplit(reference).scheme.lower() if ":" in reference else ""
    if scheme and scheme not in WEB_SCHEMES:
        return reference
    if urlsplit(base).scheme in WEB_SCHEMES:
        reference = reference.replace("\\", "/")
    return normalize(urljoin(base, reference))


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def with_fragment(url: str, fragment: str) -> str:
    """`url` carrying `fragment` unless it has its own (a redirect inherits the fragment, RFC 9110 10.2.2)."""
    parts = urlsplit(url)
    if parts.fragment or not fragment:
        return url
    return urlunsplit(parts._replace(fragment=fragment))


def fragment_of(url: str) -> str:
    return urlsplit(url).fragment


def query_params(url: str) -> list[tuple[str, str]]:
    """The query of `url` as (name, value) pairs in order, repeated and blank values kept."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))
