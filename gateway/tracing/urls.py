"""URLs as browsers treat them: resolving a Location, percent-encoding what may not travel raw, and reading
query parameters with repeated keys kept."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, unquote, urljoin, urlsplit, urlunsplit

WEB_SCHEMES = frozenset({"http", "https"})
# Schemes a navigation to which changes nothing (scripts, inline data) or that browsers refuse to redirect to;
# any other scheme (market:, intent:, itms-apps:, ...) hands the click to an app.
INERT_SCHEMES = frozenset({"javascript", "data", "about", "blob", "vbscript", "file", "filesystem"})
# Characters percent-encoded per URL component besides controls, space and non-ASCII (WHATWG URL standard).
PATH_UNSAFE = frozenset('"#<>?`{}')
QUERY_UNSAFE = frozenset("\"#<>'")
FRAGMENT_UNSAFE = frozenset('"<>`')
STRIPPED = str.maketrans("", "", "\t\n\r")
C0_AND_SPACE = "".join(map(chr, range(0x21)))
# Code points a browser refuses in a host name (WHATWG URL standard, "forbidden host code point").
FORBIDDEN_HOST = frozenset(" #%/:<>?@[\\]^|")
INTENT_FALLBACK = re.compile(r"[#;]S\.browser_fallback_url=([^;]*)", re.IGNORECASE)


class BadUrl(ValueError):
    """Not a URL a browser could request."""


def header_text(value: str) -> str:
    """A header value as the server meant it: http.client decodes header bytes as Latin-1, servers send
    UTF-8 in Locations."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _encode(text: str, unsafe: frozenset[str], encoding: str = "utf-8") -> str:
    """Percent-encode controls, space, non-ASCII and `unsafe`, non-ASCII by `encoding`, as the URL standard does:
    what the page's encoding cannot hold becomes `%26%23N%3B` (`&#N;`), and a byte of a multi-byte sequence that
    is a printable ASCII character stays as it is."""
    out = []
    for char in text:
        if char <= " " or char >= "\x7f" or char in unsafe:
            encoded = char.encode(encoding, errors="xmlcharrefreplace")  # b"&#1234;" when the encoding lacks it
            out.append("".join(chr(b) if 0x21 <= b <= 0x7E and chr(b) not in unsafe and chr(b) not in "&#;"
                               else f"%{b:02X}" for b in encoded))
        else:
            out.append(char)
    return "".join(out)


def _host(hostname: str) -> str:
    try:
        return hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError as exc:
        raise BadUrl(f"invalid host name {hostname!r}") from exc


def prepared(url: str) -> str:
    """`url` as a browser's parser sees it before splitting it: leading and trailing controls and spaces gone,
    tabs and newlines dropped, and in an http(s) URL every `\\` before the query read as `/`. Python's own
    splitting takes `http://a:1\\@b/` for host b; a browser goes to host a with the path `/@b/`."""
    url = url.strip(C0_AND_SPACE).translate(STRIPPED)
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in WEB_SCHEMES:
        url = f"{scheme}:{_slashes(rest)}"
    return url


def _slashes(text: str) -> str:
    """`\\` read as `/` up to the query or fragment (special-scheme URLs and references to them)."""
    cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
    return text[:cut].replace("\\", "/") + text[cut:]


def split_web(url: str) -> SplitResult:
    """The parts of an absolute http(s) URL with a host a browser would accept; BadUrl otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise BadUrl(str(exc)) from None
    if parts.scheme.lower() not in WEB_SCHEMES:
        raise BadUrl("not an http(s) URL")
    host = parts.hostname or ""
    if not host:
        raise BadUrl("no host")
    if ":" not in host and FORBIDDEN_HOST & set(host):
        raise BadUrl(f"the host {host!r} has characters no browser accepts")
    _host(host)
    return parts


def normalize(url: str, query_encoding: str = "utf-8") -> str:
    """Percent-encode spaces, non-ASCII and other characters browsers escape; IDNA-encode the host; keep
    existing %XX escapes as they are. The query's non-ASCII is encoded in `query_encoding`: a URL found in a
    windows-1251 or Shift_JIS page carries its query in that page's encoding (the path is always UTF-8, and so is
    a UTF-16 page's query)."""
    url = prepared(url)
    if scheme_of(url) not in WEB_SCHEMES:
        return url
    parts = split_web(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    host = parts.hostname or ""
    if not host.isascii():
        netloc = netloc.replace(host, _host(host)) if host in netloc else _host(host)
    path = _encode(parts.path, PATH_UNSAFE) or "/"
    if query_encoding.replace("_", "-").lower().startswith("utf-16"):
        query_encoding = "utf-8"  # the URL standard's one exception: a UTF-16 page's queries are in UTF-8
    return urlunsplit((scheme, netloc.lower() if "@" not in netloc else netloc, path,
                       _encode(parts.query, QUERY_UNSAFE, query_encoding), _encode(parts.fragment, FRAGMENT_UNSAFE)))


def resolve(base: str, reference: str, query_encoding: str = "utf-8") -> str:
    """`reference` (absolute, protocol-relative, path-relative, ...) resolved against `base`, normalized (its
    query's non-ASCII in `query_encoding`, the encoding of the page it was found in). Non-web schemes
    (market://, intent://, ...) come back as given."""
    reference = reference.strip(C0_AND_SPACE).translate(STRIPPED)
    scheme = scheme_of(reference) if ":" in reference else ""
    if scheme and scheme not in WEB_SCHEMES:
        return reference
    if scheme_of(base) in WEB_SCHEMES:
        reference = _slashes(reference)
    return normalize(urljoin(base, reference), query_encoding)


def app_link_refusal(url: str, source: str, allowed: frozenset[str]) -> str | None:
    """Why a chain may not end on the app link `url` (reached from the page `source`), or None: its scheme
    must be allowed, and an `intent:` link may carry a browser fallback only to `source`'s own host (Chrome
    opens `S.browser_fallback_url` when the app is missing: anywhere else, that is an open redirect)."""
    scheme = scheme_of(url)
    if scheme not in allowed:
        return f"{scheme or 'a scheme-less'}: links are not among the allowed app-link schemes"
    if scheme == "intent":
        found = INTENT_FALLBACK.search(url)
        if found:
            try:
                host = urlsplit(unquote(found.group(1))).hostname
            except ValueError:
                host = None
            if host != urlsplit(source).hostname:
                return f"the intent's browser fallback leads to another host ({host or 'unreadable'})"
    return None


def scheme_of(url: str) -> str:
    """The lower-case scheme of `url` ('' when it has none or cannot be split)."""
    scheme, colon, _ = url.partition(":")
    if not colon or not scheme[:1].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        return ""
    return scheme.lower()


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
