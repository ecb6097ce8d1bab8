"""Headless Chromium, driven by Playwright over the DevTools protocol, following one chain per job: the browser
half of `browser.py`, run by a browser worker (a process of its own: Playwright brings its own event loop, which
must never run inside the gevent gateway).

Each trace gets a fresh browser context (no cookies, cache or storage shared), a bridge (`bridge.py`) to its slot,
and the cookies it was handed. Images, media, fonts and stylesheets are never fetched (`[browser] block`). Every
top-level navigation is a hop, its kind from why Chromium navigated (a redirect: `http`; `meta_refresh`,
`refresh_header`, `form`, `js`), with its status, milliseconds and bytes (the protocol's encoded lengths, the
page's scripts and fetches included). The trace ends once the page's URL has been still for `settle_ms` after its
load event, or at the budget; a trace that outlives its budget by KILL_GRACE_S (a wedged renderer) has its
browser killed. The browser starts afresh after `max_traces` traces, and after anything goes wrong with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from gateway.tracing import urls
from gateway.tracing.bridge import Bridge
from gateway.tracing.browser import BROWSER, BrowserJob
from gateway.tracing.ssrf import parse_networks
from gateway.tracing.tracer import Hop, TraceResult

log = logging.getLogger(__name__)
# Off: whatever reaches out on its own (updates, sync, metrics); no sandbox: workers run as root in containers.
# WebRTC may send only what goes through the proxy (no UDP around it: neither the host's own address nor a private
# target); no DNS prefetch by the host's resolver; no QUIC (UDP too).
ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp", "--dns-prefetch-disable",
        "--proxy-bypass-list=<-loopback>")  # loopback goes through the bridge too: the guard sees every request
REASONS = {"formSubmissionGet": "form", "formSubmissionPost": "form", "httpHeaderRefresh": "refresh_header",
           "metaTagRefresh": "meta_refresh", "scriptInitiated": "js", "reload": "js", "anchorClick": "js"}
POLL_MS = 50
PENDING_NAME = "__gatewayPendingUntil"
# In every page before its own scripts: when (epoch ms) the last timer set while the page loaded (and for a second
# after) fires, or its meta refresh, counting delays up to 10 s. A trace does not settle before then: "redirecting
# in 3 seconds" is still a hop. Timers set later (polling loops) are not waited for.
PENDING = """(() => {
  const LIMIT_MS = 10000, native = window.setTimeout;
  let loadedAt = null, until = 0;
  addEventListener("load", () => { loadedAt = Date.now(); });
  const note = (ms) => {
    const delay = Number(ms) || 0, now = Date.now();
    if (delay <= LIMIT_MS && (loadedAt === null || now - loadedAt < 1000)) until = Math.max(until, now + delay);
  };
  const setTimeout = function (handler, ms, ...rest) { note(ms); return native.call(this, handler, ms, ...rest); };
  setTimeout.toString = () => native.toString();
  window.setTimeout = setTimeout;
  Object.defineProperty(window, "NAME", { enumerable: false, value: () => {
    const meta = document.querySelector('meta[http-equiv="refresh" i]');
    const delay = meta ? parseFloat(meta.content) : NaN;
    const refresh = delay >= 0 && delay * 1000 <= LIMIT_MS && loadedAt ? loadedAt + delay * 1000 : 0;
    return Math.max(until, refresh);
  } });
})();""".replace("NAME", PENDING_NAME)
KILL_GRACE_S = 10.0


@dataclass
class _Navigation:
    request: Request
    started: float
    reason: str | None = None
    bytes: int = 0
    loaded_at: float | None = None


@dataclass
class _Watch:
    """What one page did: its top-level navigations, why each happened, when it last moved, whether it loaded."""

    navigations: list[_Navigation] = field(default_factory=list)
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (url, reason) Chromium announced
    moved_at: float = field(default_factory=time.monotonic)
    loaded: bool = False


class Chromium:
    def __init__(self, executable: str, max_traces: int) -> None:
        self.executable = executable
        self.max_traces = max_traces
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.pid: int | None = None
        self.traces = 0

    def _ready(self) -> Browser:
        if self.browser is None or not self.browser.is_connected() or self.traces >= self.max_traces:
            self.close()
            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path=self.executable, headless=True,
                                                           args=list(ARGS), proxy={"server": "per-context"})
            processes = self.browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")["processInfo"]
            self.pid = next((int(p["id"]) for p in processes if p["type"] == "browser"), None)
            self.traces = 0
            log.info("Chromium %s started (pid %s, for %d traces)", self.browser.version, self.pid, self.max_traces)
        return self.browser

    def _kill(self, url: str, killed: threading.Event) -> None:
        """The watchdog's last resort for a trace that outlived its budget by KILL_GRACE_S: the trace's calls
        fail at once and the next trace gets a fresh browser."""
        killed.set()
        log.warning("browser trace of %s is past its budget: Chromium (pid %s) is killed", url, self.pid)
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        for closing in (self.browser, self.playwright):
            try:
                if closing is not None:
                    closing.close() if isinstance(closing, Browser) else closing.stop()
            except Exception as exc:  # a browser that crashed cannot close cleanly: it is gone either way
                log.info("closing the browser: %s", exc)
        self.browser = self.playwright = None

    def trace(self, job: BrowserJob, proxy: str | None) -> TraceResult:
        """Follow the job's chain through `proxy` (None: directly); a crash of the browser is a failed trace and
        a fresh browser for the next one."""
        started = time.perf_counter()
        killed = threading.Event()
        watchdog = threading.Timer(job.budget_s + KILL_GRACE_S, self._kill, (job.url, killed))
        watchdog.start()
        try:
            return self._trace(job, proxy, started)
        except PlaywrightError as exc:
            log.warning("browser trace of %s failed, the browser starts afresh: %s", job.url, exc)
            self.close()
            if killed.is_set():
                return _result(job, [], job.url, "timeout", f"killed {KILL_GRACE_S:g} s past its budget", started)
            return _result(job, [], job.url, "browser_failed", str(exc)[:300], started)
        finally:
            watchdog.cancel()
            self.traces += 1

    def _context(self, job: BrowserJob, bridge: Bridge) -> BrowserContext:
        """A fresh context for one trace. A browser found dead here (crashed, or killed between traces) is started
        again once: no request of the trace has left yet."""
        for attempt in (1, 2):
            try:
                return self._ready().new_context(proxy={"server": bridge.url}, user_agent=job.user_agent,
                                                 service_workers="block", ignore_https_errors=False,
                                                 extra_http_headers={"Accept-Language": "en-US,en;q=0.9"})
            except PlaywrightError as exc:
                if attempt == 2:
                    raise
                log.warning("Chromium was gone (%s): starting it again", str(exc).splitlines()[0])
                self.close()
        raise AssertionError("unreachable")

    def _trace(self, job: BrowserJob, proxy: str | None, started: float) -> TraceResult:
        deadline = time.monotonic() + job.budget_s
        with Bridge(proxy, parse_networks(job.allow_networks), job.allow_private, min(10.0, job.budget_s)) as bridge:
            context = self._context(job, bridge)
            try:
                context.add_init_script(PENDING)
                if job.cookies:
                    context.add_cookies(job.cookies)  # type: ignore[arg-type]  # the HTTP trace's jar, as given
                page, watch = self._watch(context, job)
                try:
                    page.goto(job.url, referer=job.referer or None, wait_until="commit",
                              timeout=max(1.0, deadline - time.monotonic()) * 1000)
                except PlaywrightError as exc:  # a navigation the page started itself interrupted this one
                    log.debug("first navigation of %s: %s", job.url, exc)
                settled = _settle(page, watch, job.settle_ms / 1000, deadline)
                return self._result(job, watch, page.url, settled, bridge, started)
            finally:
                context.close()

    def _watch(self, context: BrowserContext, job: BrowserJob) -> tuple[Page, _Watch]:
        watch = _Watch()
        blocked = frozenset(job.blocked)
        page = context.new_page()

        def route(intercepted: Route) -> None:
            if intercepted.request.resource_type in blocked:
                intercepted.abort("blockedbyclient")
            else:
                intercepted.fallback()

        def request(sent: Request) -> None:
            if sent.is_navigation_request() and sent.frame == page.main_frame:
                reason = next((why for url, why in reversed(watch.reasons) if url == sent.url), None)
                watch.navigations.append(_Navigation(sent, time.monotonic(), reason))
                watch.moved_at, watch.loaded = time.monotonic(), False

        def finished(done: Request) -> None:
            """A navigation's own bytes, and each script's or fetch's with the page that asked for it."""
            owner = next((n for n in watch.navigations if n.request is done), None)
            owner = owner or (watch.navigations[-1] if watch.navigations else None)
            if owner is not None:
                owner.bytes += _bytes(done)

        def loaded(*_: object) -> None:
            watch.loaded, watch.moved_at = True, time.monotonic()
            if watch.navigations:
                watch.navigations[-1].loaded_at = watch.moved_at

        context.route("**/*", route)
        page.on("request", request)
        page.on("requestfinished", finished)
        page.on("load", loaded)
        cdp = context.new_cdp_session(page)
        cdp.on("Page.frameRequestedNavigation",
               lambda event: watch.reasons.append((event.get("url", ""), REASONS.get(event.get("reason"), "js"))))
        cdp.send("Page.enable")
        return page, watch

    def _result(self, job: BrowserJob, watch: _Watch, final_url: str, settled: bool, bridge: Bridge,
                started: float) -> TraceResult:
        hops = _hops(watch.navigations)
        last = watch.navigations[-1].request if watch.navigations else None
        response = last.response() if last is not None else None
        status = response.status if response is not None else None
        if bridge.traffic.upstream_failures:
            return _result(job, hops, final_url, "egress_failed", bridge.traffic.upstream_failures[0], started)
        if bridge.traffic.refused:  # a page that reaches for a private address is no landing page, whatever it shows
            return _result(job, hops, final_url, "blocked_address", bridge.traffic.refused[0], started)
        if not settled:
            return _result(job, hops, final_url, "timeout", f"the page had not settled after {job.budget_s:g} s",
                           started)
        if status is None or status >= 400:
            return _result(job, hops, final_url, "http_error", f"{final_url} answered {status}", started)
        return _result(job, hops, final_url, None, None, started)


def _bytes(done: Request) -> int:
    """What the response of `done` moved, as the protocol counted it (0 when the page closed under it)."""
    try:
        sizes = done.sizes()
    except PlaywrightError:
        return 0
    return int(sizes["responseHeadersSize"] + sizes["responseBodySize"])


def _settle(page: Page, watch: _Watch, settle_s: float, deadline: float) -> bool:
    """Wait until the page loaded, its URL stayed for `settle_s`, and no refresh or timer it set up while loading
    is still to fire; False when the budget ran out first."""
    while time.monotonic() < deadline:
        if watch.loaded and time.monotonic() - watch.moved_at >= settle_s:
            pending_s = _pending_s(page)
            if pending_s <= 0:
                return True
        else:
            pending_s = 0.0
        try:
            page.wait_for_timeout(max(POLL_MS, min(pending_s * 1000, (deadline - time.monotonic()) * 1000)))
        except PlaywrightError:
            return False
    return False


def _pending_s(page: Page) -> float:
    """Seconds until the last refresh or timer the page set up while loading would fire (PENDING in the page)."""
    try:
        until_ms = float(page.evaluate(PENDING_NAME + "()"))
    except PlaywrightError:  # the page is navigating: not settled, look again
        return POLL_MS / 1000
    return until_ms / 1000 - time.time()


def _hops(navigations: list[_Navigation]) -> list[Hop]:
    """One hop per top-level navigation, its kind saying how the next one came about."""
    hops = []
    for n, navigation in enumerate(navigations):
        following = navigations[n + 1] if n + 1 < len(navigations) else None
        response = navigation.request.response()
        if following is None:
            kind = "final" if navigation.request.failure is None else "error"
        elif following.request.redirected_from is navigation.request:
            kind = "http"
        else:
            kind = following.reason or "js"
        ended = following.started if following else navigation.loaded_at or time.monotonic()
        ms = ended - navigation.started
        hops.append(Hop(navigation.request.url, response.status if response else None, kind,
                        following.request.url if following else None, round(ms * 1000, 1), navigation.bytes))
    return hops


def _result(job: BrowserJob, hops: list[Hop], final_url: str, error: str | None, detail: str | None,
            started: float) -> TraceResult:
    web = urls.scheme_of(final_url) in urls.WEB_SCHEMES
    return TraceResult(ok=error is None, error=error, final_url=final_url, hops=hops,
                       params=urls.query_params(final_url) if web else [],
                       total_ms=round((time.perf_counter() - started) * 1000, 1), slot_id=job.slot_id,
                       detail=detail, tracer=BROWSER)
