"""A local affiliate-chain server: every kind of hop a real chain uses, on two loopback hosts (127.0.0.1 and
127.0.0.2, same port) so that cross-host behaviour such as cookie scope is real.

Chains are composed from steps: `/r/<kind>?to=<next URL>` answers with one hop of that kind towards `to`;
`chain(base, kinds, end)` builds the nested URL. Kinds in RUN_TIME_KINDS compute their next URL only when a
script runs (atob, a link looked up in the DOM, a form that submits itself, a cookie and a reload, fetch, a meta
refresh written by document.write, onload, eval): a browser follows them, a static reader cannot. Other endpoints
model gates, loops and faults. Every hop can be slowed by `?delay_ms=` or by the server-wide `latency_ms` (load
tests).
"""

from __future__ import annotations

import base64
import collections
import html
import json
import secrets
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import gevent
from bottle import Bottle, HTTPResponse, request

from gateway.process import wsgiserver

HOSTS = ("127.0.0.1", "127.0.0.2")
RUN_TIME_KINDS = ("atob", "dom-link", "form-get", "form-post", "cookie-reload", "fetch", "write-meta", "onload",
                  "eval")
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
        **_run_time_steps(to),
        "intent": lambda: _page("", 302, Location="intent://open#Intent;scheme=example;package=com.example;end"),
    }
    if kind in REDIRECT_KINDS:
        return _page("", int(kind), Location=to)
    if kind not in steps:
        return _page(f"unknown step kind {kind!r}", 404, "text/plain")
    return steps[kind]()


def _form(to: str, method: str) -> str:
    """A form that submits itself towards `to` (a GET form's fields replace the action's query, as browsers do)."""
    parts = urlsplit(to)
    action = urlunsplit(parts._replace(query="")) if method == "get" else to
    fields = "".join(f'<input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(v, quote=True)}">'
                     for k, v in parse_qsl(parts.query, keep_blank_values=True)) if method == "get" else \
        '<input type="hidden" name="posted" value="1">'
    return _html(body=f'<form id="f" method="{method}" action="{html.escape(action, quote=True)}">{fields}</form>'
                      "<script>document.getElementById('f').submit();</script>")


def _run_time_steps(to: str) -> dict[str, Callable[[], HTTPResponse]]:
    """Hops whose next URL exists only when a script runs (RUN_TIME_KINDS)."""
    encoded = base64.b64encode(to.encode()).decode()
    half = len(to) // 2
    return {
        "atob": lambda: _page(_html(body=f"<script>window.location.href = atob({_js(encoded)});</script>")),
        "dom-link": lambda: _page(_html(body=f'<a id="go" href="{html.escape(to, quote=True)}">continue</a>'
                                             "<script>location.href = document.getElementById('go').href;</script>")),
        "form-get": lambda: _page(_form(to, "get")),
        "form-post": lambda: _page(_form(to, "post")),
        "cookie-reload": lambda: _page(_html(body="<script>document.cookie = 'reloaded=1; path=/'; "
                                                  "location.reload();</script>")),
        "fetch": lambda: _page(_html(body=f"<script>fetch('/where?to=' + encodeURIComponent({_js(to)}))"
                                          ".then(function (r) { return r.text(); })"
                                          ".then(function (u) { window.location.assign(u); });</script>")),
        "write-meta": lambda: _page(_html(body="<script>document.write('<meta http-equiv=\"refresh\" "
                                               f"content=\"0;url=' + {_js(to[:half])} + {_js(to[half:])} + "
                                               "'\">');</script>")),
        "onload": lambda: _page(_html(body=f'<p id="n" data-next="{html.escape(to, quote=True)}">wait</p>'
                                           "<script>window.onload = function () { var n = document"
                                           ".getElementById('n'); window.location = n.dataset.next; };</script>")),
        "eval": lambda: _page(_html(body=f"<script>eval('win' + 'dow.loc' + 'ation.href = ' + "
                                         f"{_js(json.dumps(to))});</script>")),
    }


def build_app(latency_ms: float = 0.0, seen: collections.deque[str] | None = None) -> Bottle:
    """The chain app; `seen` (when given) gets `host:port/path` of every request, to tell what reached it."""
    app = Bottle()

    @app.hook("before_request")
    def slow_down() -> None:
        if seen is not None:
            seen.append(f"{request.get_header('Host', '')}{request.path}")
        delay = float(request.query.get("delay_ms") or latency_ms or 0)
        if delay:
            gevent.sleep(delay / 1000)

    @app.route("/r/<kind>", method=["GET", "POST"])
    def step(kind: str) -> HTTPResponse:
        to = request.query.get("to", "/land")
        if kind == "cookie-reload" and request.get_cookie("reloaded") == "1":
            return _page("", 302, Location=to)
        return _step(kind, to)

    @app.get("/where")
    def where() -> HTTPResponse:
        """The next URL as text, for a page that fetches it before navigating."""
        return _page(request.query.get("to", "/land"), 200, "text/plain")

    @app.route("/land", method=["GET", "POST"])
    def land() -> HTTPResponse:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in [*request.query.allitems(), *request.forms.allitems()])
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

    @app.get("/heavy")
    def heavy() -> HTTPResponse:
        """A page with an image, a stylesheet, a font, a video and a script that navigates to `to`, all from
        `assets` (an origin; this one by default): a browser trace that fetches only what can move it fetches the
        script alone."""
        to = quote(request.query.get("to", "/land"), safe="")
        at = html.escape(request.query.get("assets", ""), quote=True) + "/asset"  # another origin, if given
        head = (f'<link rel="stylesheet" href="{at}/style.css"><style>@font-face {{ font-family: f; '
                f"src: url({at}/font.woff2); }} body {{ font-family: f; }}</style>")
        body = (f'<img src="{at}/pixel.png"><video src="{at}/clip.mp4" autoplay muted></video><p>text</p>'
                f'<script src="{at}/next.js?to={to}"></script>')
        return _page(_html(head=head, body=body))

    @app.get("/asset/<name>")
    def asset(name: str) -> HTTPResponse:
        """`next.js` navigates to `to`; any other asset is `kb` KB (default 50) of its type's filler."""
        if name == "next.js":
            return _page(f"window.location.href = {_js(request.query.get('to', '/land'))};", 200,
                         "application/javascript")
        types = {"css": "text/css", "woff2": "font/woff2", "png": "image/png", "mp4": "video/mp4",
                 "js": "application/javascript"}
        kind = name.rsplit(".", 1)[-1]
        size = int(request.query.get("kb") or 50) * 1024
        body = f"/*{'x' * (size - 4)}*/" if kind in ("js", "css") else "x" * size
        return _page(body, 200, types.get(kind, "application/octet-stream"))

    @app.get("/lander")
    def lander() -> HTTPResponse:
        """A landing page of common weight: 20 KB of text, a 30 KB stylesheet and web font, four 40 KB images and
        two 15 KB scripts, with the query's parameters shown (what a browser trace pays at the end of a chain)."""
        head = ('<link rel="stylesheet" href="/asset/site.css?kb=30"><script src="/asset/app.js?kb=15"></script>'
                "<style>@font-face { font-family: f; src: url(/asset/f.woff2?kb=30); }</style>")
        images = "".join(f'<img src="/asset/photo{n}.png?kb=40">' for n in range(4))
        text = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 350 + "</p>"
        return _page(_html(head=head, body=f"<h1>Offer</h1>{images}{text}<script src=\"/asset/vendor.js?kb=15\">"
                                           "</script>"))

    @app.get("/webrtc")
    def webrtc() -> HTTPResponse:
        """A page that asks a STUN server on 127.0.0.1:`stun` (UDP) for its address, as IP-leak checks do."""
        stun = int(request.query.get("stun", 3478))
        return _page(_html(body="<script>const pc = new RTCPeerConnection({iceServers: [{urls: "
                                f"'stun:127.0.0.1:{stun}'}}]}}); pc.createDataChannel('x'); "
                                "pc.createOffer().then(function (o) { return pc.setLocalDescription(o); });</script>"))

    @app.get("/probe")
    def probe() -> HTTPResponse:
        """Navigates to `to` with what the browser told the page: navigator.webdriver, touch, screen width."""
        return _page(_html(body="<script>var q = 'webdriver=' + navigator.webdriver + '&touch=' + "
                                "('ontouchstart' in window) + '&width=' + screen.width; "
                                f"location.href = {_js(request.query.get('to', '/land'))} + '?' + q;</script>"))

    @app.get("/busy")
    def busy() -> HTTPResponse:
        """A page whose script never yields: only killing it ends the trace."""
        return _page(_html(body="<script>for (;;) {}</script>"))

    @app.get("/legacy/<charset>")
    def legacy(charset: str) -> HTTPResponse:
        """A meta refresh to a relative URL with Cyrillic in its query, on a page in `charset`: `windows-1251`
        declared by a meta tag only, `utf-16` by its byte-order mark only, `koi8-r` in the Content-Type header."""
        text = _html(head=f'<meta charset="{charset}">' if charset == "windows-1251" else "",
                     body='<meta http-equiv="refresh" content="0;url=/land?city=Москва&via=legacy">')
        header = f"text/html; charset={charset}" if charset == "koi8-r" else "text/html"
        body = ("\ufeff" + text).encode("utf-16-le") if charset == "utf-16" else text.encode(charset)
        return HTTPResponse(body, status=200, headers={"Content-Type": header})

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
        self.seen: collections.deque[str] = collections.deque(maxlen=10_000)  # host:port/path of every request
        self.app = build_app(latency_ms, self.seen)
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
