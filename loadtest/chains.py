"""A local affiliate-chain server: every kind of hop a real chain uses, on two loopback hosts (127.0.0.1 and
127.0.0.2, same port) so that cross-host behaviour such as cookie scope is real.

Chains are composed from steps: `/r/<kind>?to=<next URL>` answers with one hop of that kind towards `to`;
`chain(base, kinds, end)` builds the nested URL. Other endpoints model gates, loops and faults. Every hop can
be slowed by `?delay_ms=` or by the server-wide `latency_ms` (load tests).
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import gevent
from bottle import Bottle, HTTPResponse, request

from gateway.process import wsgiserver

HOSTS = ("127.0.0.1", "127.0.0.2")
REDIRECT_KINDS = ("301", "302", "303", "307", "308")


def _page(body: str, status: int = 200, content_type: str = "text/html; charset=utf-8", **headers: str) -> HTTPResponse:
    return HTTPResponse(body, status=status, headers={"Content-Type": content_type, **headers})


def _html(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head><title>hop</title>{head}</head><body>{body}</body></html>"


def _js(text: str) -> str:
    return json.dumps(text)


def _step(kind: str, to: str) -> HTTPResponse:
    """One hop of `kind` towards `to`."""
    attr = html.escape(to, quote=True)
    steps = {
        "refresh": lambda: _page(_html(body="refreshing"), Refresh=f"0; url={to}"),
        "meta": lambda: _page(_html(head=f'<meta http-equiv="refresh" content="0;url={attr}">')),
        "meta-body": lambda: _page(_html(body=f"<p>wait</p><META HTTP-EQUIV=Refresh CONTENT='1; URL={attr}'>")),
        "meta-bare": lambda: _page(_html(head=f'<meta http-equiv="refresh" content="0; {attr}">')),
        "js": lambda: _page(_html(body=f"<script>window.location.href = {_js(to)};</script>")),
        "js-replace": lambda: _page(_html(body=f"<script>location.replace({_js(to)})</script>")),
        "js-assign": lambda: _page(_html(body=f"<script>document.location.assign({_js(to)})</script>")),
        "js-top": lambda: _page(_html(body=f"<script>top.location = {_js(to)}</script>")),
        "js-timeout": lambda: _page(_html(body="<script>setTimeout(function () { self.location.href = "
                                               f"{_js(to)}; }}, 50);</script>")),
        "js-var": lambda: _page(_html(body=f"<script>var next = {_js(to)};\nwindow.location = next;</script>")),
        "js-concat": lambda: _page(_html(body=f"<script>var a = {_js(to[:len(to) // 2])};\n"
                                              f"location.href = a + {_js(to[len(to) // 2:])};</script>")),
        "3xx-meta": lambda: _page(_html(head='<meta http-equiv="refresh" content="0;url=/decoy">'), 302,
                                  Location=to),
        "app": lambda: _page("", 302, Location="market://details?id=com.example.app&referrer=" + quote(to, safe="")),
        "intent": lambda: _page("", 302, Location="intent://open#Intent;scheme=example;package=com.example;end"),
    }
    if kind in REDIRECT_KINDS:
        return _page("", int(kind), Location=to)
    if kind not in steps:
        return _page(f"unknown step kind {kind!r}", 404, "text/plain")
    return steps[kind]()


def build_app(latency_ms: float = 0.0) -> Bottle:
    app = Bottle()

    @app.hook("before_request")
    def slow_down() -> None:
        delay = float(request.query.get("delay_ms") or latency_ms or 0)
        if delay:
            gevent.sleep(delay / 1000)

    @app.get("/r/<kind>")
    def step(kind: str) -> HTTPResponse:
        return _step(kind, request.query.get("to", "/land"))

    @app.get("/land")
    def land() -> HTTPResponse:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in request.query.allitems())
        return _page(_html(body=f"<h1>Landing page</h1><p>Parameters received:</p><table>{rows}</table>"))

    @app.get("/demo/start")
    def demo_start() -> HTTPResponse:
        """The demo offer's chain: 302, then a meta refresh, then a JS hop, to a landing page carrying the
        inbound parameters and a fresh clickid."""
        params = [*request.query.allitems(), ("clickid", secrets.token_hex(6)), ("sub1", "demo")]
        land = f"{_origin()}/land?{urlencode(params)}"
        js = f"/r/js?{urlencode({'to': land})}"
        meta = f"/r/meta?{urlencode({'to': js})}"
        return _page("", 302, Location=meta)

    @app.get("/loop")
    def loop() -> HTTPResponse:
        return _page("", 302, Location="/loop")

    @app.get("/gate")
    def gate() -> HTTPResponse:
        """A cookie gate: the first visit sets a cookie and comes back to itself; the second lets through."""
        if request.get_cookie("gate") == "passed":
            return _page("", 302, Location=request.query.get("to", "/land"))
        return _page("", 302, Location=request.url, **{"Set-Cookie": "gate=passed; Path=/"})

    @app.get("/set-cookie")
    def set_cookie() -> HTTPResponse:
        name = request.query.get("name", "seen")
        return _page("", 302, Location=request.query.get("to", "/land"), **{"Set-Cookie": f"{name}=1; Path=/"})

    @app.get("/check-cookie")
    def check_cookie() -> HTTPResponse:
        """Redirects to `to` with `had=<names of the cookies this host received>`."""
        names = ",".join(sorted(request.cookies.keys())) or "none"
        return _page("", 302, Location=_with_param(request.query.get("to", "/land"), "had", names))

    @app.get("/check-referer")
    def check_referer() -> HTTPResponse:
        """Redirects to `to` with `ref=<the Referer this hop received>`."""
        return _page("", 302, Location=_with_param(request.query.get("to", "/land"), "ref",
                                                    request.get_header("Referer") or "none"))

    @app.get("/check-ua")
    def check_ua() -> HTTPResponse:
        """Redirects to `to` with `device=mobile|desktop` as a device-targeting affiliate hop would."""
        device = "mobile" if "Mobile" in (request.get_header("User-Agent") or "") else "desktop"
        return _page("", 302, Location=_with_param(request.query.get("to", "/land"), "device", device))

    @app.route("/nohead", method=["GET", "HEAD"])
    def nohead() -> HTTPResponse:
        if request.method == "HEAD":
            return _page("HEAD not allowed", 405, "text/plain", Allow="GET")
        return _page("", 302, Location=request.query.get("to", "/land"))

    @app.get("/encoded")
    def encoded() -> HTTPResponse:
        """A Location with a space and raw UTF-8 bytes, as sloppy servers send it (gevent.pywsgi writes
        header strings as UTF-8)."""
        return _page("", 302, Location="/land?q=a b&city=Zürich&emoji=✓")

    @app.get("/relative/<style>")
    def relative(style: str) -> HTTPResponse:
        host = HOSTS[1] if urlsplit(request.url).hostname == HOSTS[0] else HOSTS[0]
        port = urlsplit(request.url).port
        targets = {"path": "../land?via=path", "dot": "./sub/../../land?via=dot", "root": "/land?via=root",
                   "proto": f"//{host}:{port}/land?via=proto", "query": "?via=query"}
        return _page("", 302, Location=targets[style])

    @app.get("/fragment")
    def fragment() -> HTTPResponse:
        return _page("", 302, Location="/land?via=fragment#offer")

    @app.get("/status/<code:int>")
    def status(code: int) -> HTTPResponse:
        return _page(f"status {code}", code, "text/plain")

    @app.get("/text-js")
    def text_js() -> HTTPResponse:
        return _page("<script>location.href='/land?via=text'</script>", 200, "text/plain")

    @app.get("/json-js")
    def json_js() -> HTTPResponse:
        return _page(json.dumps({"html": "<script>location.href='/land?via=json'</script>"}), 200,
                     "application/json")

    @app.get("/commented")
    def commented() -> HTTPResponse:
        body = ("<script>// location.href = '/land?via=line-comment';\n"
                "/* window.location = '/land?via=block-comment'; */\n"
                "var note = \"location = '/land?via=string'\";</script>"
                "<!-- <meta http-equiv='refresh' content='0;url=/land?via=html-comment'> -->"
                "<noscript><meta http-equiv='refresh' content='0;url=/land?via=noscript'></noscript>"
                "<p>Nothing here moves.</p>")
        return _page(_html(body=body))

    @app.get("/big")
    def big() -> HTTPResponse:
        """A large page whose redirect sits beyond `max_body_kb`: a bounded reader never sees it."""
        return _page(_html(body="<p>" + "x" * 400_000 + "</p><script>location='/land?via=big'</script>"))

    @app.get("/hang")
    def hang() -> HTTPResponse:
        gevent.sleep(float(request.query.get("s", 60)))
        return _page("late", 200, "text/plain")

    return app


def _origin() -> str:
    parts = urlsplit(request.url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode({name: value})}" if parts.query else urlencode({name: value})
    return urlunsplit(parts._replace(query=query))


def chain(base: str, kinds: Sequence[str], end: str) -> str:
    """The URL whose hops are `kinds` in order and which finally reaches `end`."""
    url = end
    for kind in reversed(kinds):
        url = f"{base}/r/{kind}?{urlencode({'to': url})}"
    return url


class ChainServer:
    """The chain app on 127.0.0.1:PORT and 127.0.0.2:PORT, in this process (gevent) until `stop()`."""

    def __init__(self, latency_ms: float = 0.0, hosts: Sequence[str] = HOSTS) -> None:
        self.app = build_app(latency_ms)
        self.hosts = hosts
        self.servers: list[wsgiserver.WSGIServer] = []
        self.port = 0

    def start(self) -> ChainServer:
        """Bind the same free port on every host (retrying when another process holds it on one of them)."""
        for _ in range(20):
            self.servers = []
            try:
                for host in self.hosts:
                    server = wsgiserver.start(self.app, host, self.port)
                    self.servers.append(server)
                    self.port = server.server_port
                return self
            except OSError:
                self.stop()
                self.port = 0
        raise RuntimeError("could not bind the chain server on every loopback host")

    def url(self, host_index: int = 0) -> str:
        return f"http://{self.hosts[host_index]}:{self.port}"

    def stop(self) -> None:
        for server in self.servers:
            server.stop(timeout=1)
