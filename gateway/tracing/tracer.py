"""The redirect-chain tracer: follows a click's chain hop by hop as a browser would and reports where it ends.

Per hop it sends a GET (many affiliate hops refuse HEAD) with a browser's headers, through the egress proxy if
one is given, and decides the next URL: a 3xx Location wins over anything in its body; otherwise the earliest
of the `Refresh` header, a meta refresh or a static JavaScript navigation (`navigation`); otherwise the page is
final. Each trace has its own cookie jar, scoped by host like a browser's, and its own connections, closed when
the trace ends. Budgets: per-hop connect/read timeouts, a whole-trace timeout, `max_hops`, `max_body_kb`.

A loop is a revisit of the same URL with the same cookies: a cookie gate that comes back to a URL after
setting a cookie is not a loop, the same request a second time is.
"""

from __future__ import annotations

import base64
import codecs
import http.client
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Self, cast
from urllib.parse import urlsplit

import gevent
import requests
import socks
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from gateway.config import TracingSettings
from gateway.errors import causes
from gateway.tracing import navigation, urls
from gateway.tracing.ssrf import BlockedAddress, GuardedAdapter, check_host, parse_networks
from store.pool import Release

USER_AGENTS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Safari/537.36",
    "mobile": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Mobile Safari/537.36",
}
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DRAINABLE_BYTES = 64 * 1024
HTML_TYPES = ("text/html", "application/xhtml+xml")
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Labels the WHATWG Encoding standard reads otherwise than Python's codecs would.
ENCODING_LABELS = {
    **dict.fromkeys(("iso-8859-1", "iso_8859-1", "latin1", "l1", "ascii", "us-ascii", "cp819"), "cp1252"),
    **dict.fromkeys(("iso-8859-9", "iso_8859-9", "latin5", "l5"), "cp1254"),
    **dict.fromkeys(("iso-8859-11", "tis-620", "windows-874", "dos-874"), "cp874"),
    **dict.fromkeys(("shift_jis", "x-sjis", "sjis", "ms_kanji", "windows-31j", "csshiftjis", "ms932"), "cp932"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "windows-949", "cseuckr", "korean"), "cp949"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "chinese", "csgb2312", "gb_2312-80"), "gb18030"),
    "utf-16": "utf-16-le", "unicode": "utf-16-le", "x-mac-cyrillic": "mac-cyrillic", "iso-8859-8-i": "iso-8859-8",
}
# Labels browsers do not decode by (the standard's "replacement" encoding, UTF-7, x-user-defined): as if undeclared
UNDECODED_LABELS = frozenset({"utf-7", "x-user-defined", "iso-2022-kr", "hz-gb-2312", "iso-2022-cn",
                              "iso-2022-cn-ext", "csiso2022kr", "replacement"})
# SOCKS5 replies meaning the proxy worked but the destination did not answer: the chain's fault.
UPSTREAM_SOCKS_REPLIES = ("0x03", "0x04", "0x05", "0x06")
UNFORWARDED = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive",
                         "set-cookie"})
PROXY_STATUS_ERROR = re.compile(r";\s*error\s*=\s*\"?([\w-]+)", re.IGNORECASE)
PROXY_SIDE_ERRORS = frozenset({"proxy_internal_error", "proxy_internal_response", "proxy_configuration_error",
                               "proxy_loop_detected", "connection_limit_reached", "http_request_denied"})


@dataclass(frozen=True)
class TraceOptions:
    user_agent: str = "desktop"
    referer: str | None = None
    max_hops: int = 20
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_body_bytes: int = 256 * 1024
    allow_private: bool = False
    allow_networks: str = ""
    app_schemes: frozenset[str] = frozenset({"market", "itms-apps", "intent"})

    @classmethod
    def from_settings(cls, tracing: TracingSettings, **overrides: object) -> TraceOptions:
        base = cls(user_agent=tracing.user_agent, max_hops=tracing.max_hops,
                   connect_timeout_s=tracing.connect_timeout_s, read_timeout_s=tracing.read_timeout_s,
                   total_timeout_s=tracing.total_timeout_s, max_body_bytes=tracing.max_body_kb * 1024,
                   allow_private=tracing.allow_private, allow_networks=tracing.allow_networks,
                   app_schemes=tracing.app_schemes)
        return cls(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})

    def with_user_agent(self, user_agent: str | None) -> TraceOptions:
        """These options with an offer's own User-Agent profile (when it has one)."""
        return self if not user_agent or user_agent == self.user_agent else replace(self, user_agent=user_agent)

    @property
    def user_agent_header(self) -> str:
        return USER_AGENTS.get(self.user_agent, self.user_agent)

    @property
    def mobile(self) -> bool:
        """A phone's profile (a browser trace then gets a phone's screen and touch)."""
        return self.user_agent == "mobile" or "Mobile" in self.user_agent_header


@dataclass(frozen=True)
class SlotRoute:
    """An egress to trace through: its slot id and proxy URL (credentials included, never printed); `pooled`
    when the slot is in the pool's inventory (a browser worker looks its credentials up itself), not when an
    operator named a proxy on the command line."""

    id: str
    url: str = field(repr=False)
    pooled: bool = True

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))


@dataclass
class Hop:
    url: str
    status: int | None
    kind: str  # http | refresh_header | meta_refresh | js | final | app_link | error
    next: str | None
    ms: float
    bytes: int


HOP_FIELDS = frozenset(f.name for f in fields(Hop))


@dataclass
class TraceResult:
    ok: bool
    error: str | None
    final_url: str | None
    hops: list[Hop]
    params: list[tuple[str, str]]
    total_ms: float
    slot_id: str | None
    detail: str | None = None
    tracer: str = "http"  # what followed it: http, browser, http+browser (auto), or http with a reason
    needs_script: bool = False  # it ended on a page a browser would still leave (navigation.needs_script)
    cookies: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the jar at the end, for a browser
    # the page that needs a script engine, as fetched (status, headers, body in base64): a browser continuing the
    # trace is handed it instead of requesting it again (a tracker may count each request as a click)
    page: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceResult:
        """A result as `as_dict` wrote it (a browser worker's answer)."""
        known = {f.name for f in fields(cls)}  # a worker of another version may send more
        return cls(**{**{k: v for k, v in data.items() if k in known},
                      "hops": [Hop(**{k: v for k, v in hop.items() if k in HOP_FIELDS}) for hop in data["hops"]],
                      "params": [(str(name), str(value)) for name, value in data["params"]]})

    @classmethod
    def never_ran(cls, error: str, detail: str, started: float, final_url: str | None = None,
                  slot_id: str | None = None, tracer: str = "http") -> TraceResult:
        """A trace that did not get under way (no slot, no store, no browser worker answering, ...)."""
        return cls(ok=False, error=error, final_url=final_url, hops=[], params=[],
                   total_ms=round((time.perf_counter() - started) * 1000, 1), slot_id=slot_id, detail=detail,
                   tracer=tracer)

    @property
    def egress_outcome(self) -> Release:
        """The pool's view: `ok`, `fail` (the egress's fault) or `upstream_error` (the chain's)."""
        return Release.OK if self.ok else Release.FAIL if self.error == "egress_failed" else Release.UPSTREAM_ERROR

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON takes it (without `page`, which only a browser continuing the trace needs)."""
        data = asdict(self)
        data["params"] = [list(pair) for pair in self.params]
        del data["page"]
        return data


class TraceFailed(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def trace(url: str, egress: SlotRoute | None = None, options: TraceOptions | None = None) -> TraceResult:
    """Follow the chain starting at `url` (through `egress` when given) and report where it ends."""
    return _Trace(egress, options or TraceOptions()).run(url)


def _browser_jar() -> RequestsCookieJar:
    """A cookie jar that, like a browser, sends a cookie set without Domain only back to the host that set it."""
    return RequestsCookieJar(policy=DefaultCookiePolicy(strict_ns_domain=DefaultCookiePolicy.DomainStrictNonDomain))


def referrer(source: str | None, target: str) -> str | None:
    """The Referer a browser sends under `strict-origin-when-cross-origin`: the full URL to the same origin,
    the origin elsewhere, nothing from https to http."""
    if not source:
        return None
    src, dst = urlsplit(source), urlsplit(target)
    if src.scheme == "https" and dst.scheme == "http":
        return None
    if (src.scheme, src.netloc) == (dst.scheme, dst.netloc):
        return urls.without_fragment(source)
    return f"{src.scheme}://{src.netloc}/"


class DroppedConnectionRetry(Retry):
    """Send a request once more when its connection broke before any answer, as browsers do: a proxy or server
    may close a kept-alive connection just as the next hop reuses it (urllib3 wraps that in a ProtocolError,
    or through an HTTP proxy in a ProxyError, which would blame a healthy slot). Timeouts, refusals and every
    other error end the request at once, as without retries."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"total": 1, **kwargs})

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Self:
        if self.total and response is None and _broke_before_answer(error):
            return self.new(total=self.total - 1)
        return cast(Self, NO_RETRY.increment(method, url, response, error, _pool, _stacktrace))  # raises: none left


NO_RETRY = Retry(0, read=False)
DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _broke_before_answer(error: Exception | None) -> bool:
    return error is not None and any(isinstance(e, DROPPED) for e in causes(error))


class _Trace:
    """One trace. Requests are prepared here and handed to a requests adapter directly: `Session.send` would
    prepare the next redirect for `Response.next` on every 3xx and `Session.prepare_request` copy the whole
    cookie jar per hop, work a tracer throws away (measured: a fifth of the time of a hop)."""

    def __init__(self, egress: SlotRoute | None, options: TraceOptions) -> None:
        self.egress = egress
        self.options = options
        self.hops: list[Hop] = []
        self.cookies = _browser_jar()
        self.headers = {"User-Agent": options.user_agent_header, "Accept": ACCEPT, "Accept-Language": "en-US,en;q=0.9",
                        "Accept-Encoding": "gzip, deflate", "Upgrade-Insecure-Requests": "1"}
        self.allowed = parse_networks(options.allow_networks)
        guarded = not options.allow_private and egress is None
        retry = DroppedConnectionRetry()
        self.adapter = GuardedAdapter(self.allowed, max_retries=retry) if guarded else HTTPAdapter(max_retries=retry)
        self.proxies = {"http": egress.url, "https": egress.url} if egress else {}
        self.timeout = (options.connect_timeout_s, options.read_timeout_s)
        self.script_page = False
        self.page: dict[str, Any] | None = None

    def run(self, url: str) -> TraceResult:
        started = time.perf_counter()
        self._current = url
        final, error, detail = None, None, None
        timeout = gevent.Timeout(self.options.total_timeout_s)
        timeout.start()
        try:
            final = self._follow(url)
        except TraceFailed as exc:
            error, detail = exc.code, exc.detail
        except gevent.Timeout as exc:
            if exc is not timeout:
                raise
            error, detail = "timeout", f"the trace took longer than {self.options.total_timeout_s:g} s"
            self._record_error(self._current)
        finally:
            timeout.close()
            self.adapter.close()
        last = final or (self.hops[-1].url if self.hops else url)
        return TraceResult(ok=error is None, error=error, final_url=last, hops=self.hops,
                           params=urls.query_params(last) if urls.scheme_of(last) in urls.WEB_SCHEMES else [],
                           total_ms=round((time.perf_counter() - started) * 1000, 1),
                           slot_id=self.egress.id if self.egress else None, detail=detail,
                           needs_script=error is None and self.script_page, cookies=self._cookies(),
                           page=self.page if error is None and self.script_page else None)

    def _cookies(self) -> list[dict[str, Any]]:
        """The jar as a browser context takes it (Playwright's add_cookies)."""
        return [{"name": c.name, "value": c.value or "", "domain": c.domain, "path": c.path or "/",
                 "secure": c.secure, **({"expires": c.expires} if c.expires else {})} for c in self.cookies]

    def _follow(self, url: str) -> str:
        try:
            url = urls.normalize(url)
        except urls.BadUrl as exc:
            raise TraceFailed("bad_url", str(exc)) from None
        if urls.scheme_of(url) not in urls.WEB_SCHEMES:
            raise TraceFailed("bad_url", f"{url!r} is not an http(s) URL")
        source = self.options.referer
        seen: set[tuple[str, tuple[tuple[str, str, str, str | None], ...]]] = set()  # (URL, its cookies)
        while True:
            self._current = url
            if urls.scheme_of(url) not in urls.WEB_SCHEMES:
                return self._app_link(url)
            if len(self.hops) >= self.options.max_hops:
                raise TraceFailed("too_many_hops", f"more than {self.options.max_hops} hops")
            state = (urls.without_fragment(url), tuple(sorted((c.domain, c.path, c.name, c.value)
                                                              for c in self.cookies)))
            if state in seen:
                self._record_error(url)
                raise TraceFailed("redirect_loop", f"{url} was requested again with the same cookies")
            seen.add(state)
            nxt, source = self._hop(url, source)
            if nxt is None:
                return url
            if _origin(nxt) != _origin(url):
                self._close_connections()
            url = nxt

    def _app_link(self, url: str) -> str:
        """End the chain on an app link, or refuse it (`blocked_scheme`) when its scheme is not allowed."""
        refusal = urls.app_link_refusal(url, self.hops[-1].url if self.hops else url, self.options.app_schemes)
        if refusal:
            self._record_error(url)
            raise TraceFailed("blocked_scheme", refusal)
        self.hops.append(Hop(url, None, "app_link", None, 0.0, 0))
        return url

    def _close_connections(self) -> None:
        """Keep a connection only for a next hop to the same origin: a trace never holds two at once."""
        self.adapter.close()

    def _get(self, url: str, referer: str | None) -> requests.Response:
        request = PreparedRequest()
        request.method, request.url, request.body = "GET", urls.without_fragment(url), None
        request.headers = CaseInsensitiveDict(self.headers)
        if referer:
            request.headers["Referer"] = referer
        request.prepare_cookies(self.cookies)
        response = self.adapter.send(request, stream=True, timeout=self.timeout, verify=True, proxies=self.proxies)
        extract_cookies_to_jar(self.cookies, request, response.raw)  # type: ignore[no-untyped-call]  # untyped stub
        return response

    def _hop(self, url: str, source: str | None) -> tuple[str | None, str | None]:
        """Request `url`; returns the next URL (None when this page is final) and the next referrer source."""
        started = time.perf_counter()
        host = urlsplit(url).hostname or ""
        if not self.options.allow_private:
            try:
                check_host(host, allowed=self.allowed)
            except BlockedAddress as exc:
                self._record_error(url)
                raise TraceFailed("blocked_address", str(exc)) from None
        try:
            response = self._get(url, referrer(source, url))
        except Exception as exc:  # every transport failure ends the chain with a classified error
            code, detail = classify(exc, self.egress)
            self._record_error(url, started)
            raise TraceFailed(code, detail) from None
        try:
            return self._decide(url, response, source, started)
        except requests.RequestException as exc:
            code, detail = classify(exc, self.egress)
            self._record_error(url, started)
            raise TraceFailed(code, detail) from None
        finally:
            response.close()

    def _decide(self, url: str, response: requests.Response, source: str | None,
                started: float) -> tuple[str | None, str | None]:
        status = response.status_code
        if self.egress and self.egress.is_http:
            blame = proxy_failure(status, response.headers.get("Proxy-Status", ""))
            if blame:
                self._add(url, status, "error", None, started, 0)
                raise TraceFailed("egress_failed", blame)
        location = response.headers.get("Location")
        if status in REDIRECTS and location:
            nxt = urls.with_fragment(self._resolve(url, urls.header_text(location)), urls.fragment_of(url))
            if urls.scheme_of(nxt) in urls.INERT_SCHEMES:
                self._add(url, status, "error", None, started, 0)
                raise TraceFailed("bad_url", f"{url} redirects to a {urls.scheme_of(nxt)}: URL, which browsers refuse")
            self._add(url, status, "http", nxt, started, self._drain(response))
            return nxt, source
        if status >= 300:
            self._add(url, status, "error", None, started, 0)
            raise TraceFailed("http_error", f"{url} answered {status}")
        body, size = self._body(response)
        nav, base, encoding, text = self._navigation(url, response, body)
        target = self._resolve(base, nav.target, encoding) if nav else None
        if (nav is None or target is None or urls.scheme_of(target) in urls.INERT_SCHEMES
                or urls.without_fragment(target) == urls.without_fragment(url)):
            self._add(url, status, "final", None, started, size)
            self.script_page = status == 200 and text is not None and navigation.needs_script(text)
            if self.script_page and body is not None and size < self.options.max_body_bytes:
                self.page = as_fetched(status, response.headers, body)
            return None, source
        self._add(url, status, nav.kind, target, started, size)
        return target, url

    def _navigation(self, url: str, response: requests.Response,
                    body: bytes | None) -> tuple[navigation.Navigation | None, str, str, str | None]:
        """The page's navigation (None: none found), its base URL, its encoding and its text (None: not HTML)."""
        header = navigation.from_refresh_header(response.headers.get("Refresh"))
        if body is None:
            return header, url, "utf-8", None
        text, encoding = decoded(body, response.headers.get("Content-Type", ""))
        if not navigation.might_navigate(text):
            return header, url, encoding, text
        document = navigation.scan_html(text)
        base = self._resolve(url, document.base_href, encoding) if document.base_href else url
        return document.first(header), base, encoding, text

    def _resolve(self, base: str, reference: str, encoding: str = "utf-8") -> str:
        try:
            return urls.resolve(base, reference, encoding)
        except (urls.BadUrl, ValueError) as exc:
            self._record_error(base)
            raise TraceFailed("bad_url", f"cannot follow {reference!r}: {exc}") from None

    def _body(self, response: requests.Response) -> tuple[bytes | None, int]:
        """The HTML body, read up to `max_body_bytes` (None for what is not HTML), and the bytes read."""
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media and media not in HTML_TYPES:
            return None, 0
        limit, chunks, size = self.options.max_body_bytes, [], 0
        for chunk in response.iter_content(chunk_size=16 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        body = b"".join(chunks)[:limit]
        if not media and not re.match(rb"\s*<(!doctype html|html|head|meta|script|body)", body[:512], re.I):
            return None, size
        return body, size

    def _drain(self, response: requests.Response) -> int:
        """Read a small redirect body so the connection can serve the next hop; a big one is not read."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= DRAINABLE_BYTES:
            return len(response.content)
        return 0

    def _add(self, url: str, status: int | None, kind: str, nxt: str | None, started: float, size: int) -> None:
        self.hops.append(Hop(url, status, kind, nxt, round((time.perf_counter() - started) * 1000, 1), size))

    def _record_error(self, url: str, started: float | None = None) -> None:
        if not self.hops or self.hops[-1].url != url or self.hops[-1].kind != "error":
            self._add(url, None, "error", None, started or time.perf_counter(), 0)


def as_fetched(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """A page as fetched, for a browser to be handed (decoded already: no transfer headers; the cookies go by
    the jar)."""
    kept = {name: value for name, value in headers.items() if name.lower() not in UNFORWARDED}
    return {"status": status, "headers": kept, "body": base64.b64encode(body).decode("ascii")}


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def decoded(body: bytes, content_type: str) -> tuple[str, str]:
    """The document's text and encoding, found as a browser finds it: a byte order mark, else the charset of the
    Content-Type, else of a <meta> in the first 2 KB, else UTF-8 when the bytes are UTF-8, else windows-1252.
    Labels are read as the WHATWG Encoding standard reads them (latin1 and ascii are windows-1252, ...)."""
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace"), encoding
    declared = HEADER_CHARSET.search(content_type)
    label = declared.group(1) if declared else None
    if not label:
        meta = CHARSET.search(body[:2048])
        label = meta.group(1).decode("ascii", "replace") if meta else None
    named = _encoding(label) if label else None
    if named is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            named = "cp1252"
    return body.decode(named, errors="replace"), named


def _encoding(label: str) -> str | None:
    """Python's codec for an encoding label, None when it names none."""
    label = label.strip().lower()
    if label in UNDECODED_LABELS:
        return None
    label = ENCODING_LABELS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def proxy_failure(status: int, proxy_status: str) -> str | None:
    """Why an answer through an HTTP proxy is the proxy's own failure, or None when it is the chain's: a 407,
    or an RFC 9209 `Proxy-Status` naming an error of the proxy itself (a destination it could not reach is
    the chain's outcome, as a SOCKS "connection refused" is)."""
    if status == 407:
        return "the proxy refused the credentials (407)"
    error = PROXY_STATUS_ERROR.search(proxy_status)
    if error and error.group(1).lower() in PROXY_SIDE_ERRORS:
        return f"the proxy failed ({status}, Proxy-Status error={error.group(1)})"
    return None


def destination_refused(exc: BaseException) -> bool:
    """A SOCKS reply saying the destination failed (unreachable, refused): the chain's fault, not the proxy's."""
    return isinstance(exc, socks.SOCKS5Error | socks.GeneralProxyError) and str(exc).startswith(UPSTREAM_SOCKS_REPLIES)


def classify(exc: BaseException, egress: SlotRoute | None) -> tuple[str, str]:
    """An error code for a failed request: the egress's fault (`egress_failed`) or the chain's."""
    chain = list(causes(exc))
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if any(isinstance(e, BlockedAddress) for e in chain):
        return "blocked_address", detail
    if egress is not None:
        if any(destination_refused(e) for e in chain):
            return "connect_failed", detail
        if any(isinstance(e, requests.exceptions.ProxyError | socks.ProxyError | requests.exceptions.SSLError)
               for e in chain) or isinstance(exc, requests.exceptions.ConnectTimeout):
            return "egress_failed", detail
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls_error", detail
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", detail
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema |
                  requests.exceptions.MissingSchema):
        return "bad_url", detail
    if isinstance(exc, requests.exceptions.ConnectionError) and not any(
            "RemoteDisconnected" in type(e).__name__ or "ProtocolError" in type(e).__name__ for e in chain):
        return "connect_failed", detail
    return "bad_response", detail
