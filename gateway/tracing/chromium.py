"""Headless Chromium, driven by Playwright over the DevTools protocol, following one chain per job: the browser
half of `browser.py`, run by a browser worker (a process of its own: Playwright brings its own event loop, which
must never run inside the gevent gateway).

Each trace gets a fresh browser context (no cookies, cache or storage shared; a phone's screen and touch for a
mobile profile), a bridge (`bridge.py`) to its slot, the cookies it was handed, and, when `auto` hands over a page
the HTTP trace already fetched, that page as fetched (it is not requested twice). Images, media, fonts and
stylesheets are never fetched (`[browser] block`). Every top-level navigation is a hop, its kind from why
Chromium navigated (a redirect: `http`; `meta_refresh`, `refresh_header`, `form`, `js`), with its status,
milliseconds and bytes (the protocol's encoded lengths, the page's scripts and fetches included); a navigation to
an app link ends the chain as over HTTP (`app_link`, or `blocked_scheme`). The trace ends once the page has
loaded, its URL has been still for `settle_ms`, no script or fetch it started is still on its way (for up to
BUSY_WAIT_S) and no refresh or load-time timer is still to fire; or at the budget, or past `max_hops`. A trace
that outlives its budget by KILL_GRACE_S (a wedged renderer) has its browser killed. The browser starts afresh
after `max_traces` traces, and after anything goes wrong with it.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from gateway.tracing import urls
from gateway.tracing.bridge import Bridge
from gateway.tracing.browser import BrowserJob
from gateway.tracing.outcomes import TracedBy
from gateway.tracing.ssrf import parse_networks
from gateway.tracing.tracer import Hop, TraceResult

log = logging.getLogger(__name__)
# Off: whatever reaches out on its own (updates, sync, metrics), the automation flag pages can read; no sandbox:
# workers run as root in containers. WebRTC may send only what goes through the proxy (no UDP around it: neither
# the host's own address nor a private target); no DNS prefetch by the host's resolver; no QUIC (UDP too).
ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp", "--dns-prefetch-disable",
        "--disable-blink-features=AutomationControlled")
REASONS = {"formSubmissionGet": "form", "formSubmissionPost": "form", "httpHeaderRefresh": "refresh_header",
           "metaTagRefresh": "meta_refresh", "scriptInitiated": "js", "reload": "js", "anchorClick": "js"}
BUSY_TYPES = frozenset({"script", "fetch", "xhr"})
POLL_MS = 50
BUSY_WAIT_S = 5.0  # a script or fetch of the page still on its way keeps the trace open this long at most
LOAD_WAIT_S = 5.0  # a page whose load event does not come (a hanging resource) counts as loaded this long after
KILL_GRACE_S = 10.0
PHONE = {"viewport": {"width": 412, "height": 915}, "device_scale_factor": 2.625, "is_mobile": True,
         "has_touch": True}
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
# Chromium's net errors, as the HTTP tracer names them (anything else: bad_response)
FAILURES = (("ERR_CERT_", "tls_error"), ("ERR_SSL_", "tls_error"), ("TIMED_OUT", "timeout"),
            ("ERR_NAME_NOT_RESOLVED", "connect_failed"), ("ERR_CONNECTION_", "connect_failed"),
            ("ERR_TUNNEL_CONNECTION_FAILED", "connect_failed"), ("ERR_ADDRESS_UNREACHABLE", "connect_failed"),
            ("ERR_EMPTY_RESPONSE", "connect_failed"))


@dataclass
class _Navigation:
    request: Request
    started: float
    reason: str | None = None
    bytes: int = 0
    loaded_at: float | None = None


@dataclass
class _Watch:
    """What one page did: its top-level navigations and why each happened, when it last moved and loaded, the
    scripts and fetches still on their way, an app link it went for."""

    navigations: list[_Navigation] = field(default_factory=list)
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (url, reason) Chromium announced
    moved_at: float = field(default_factory=time.monotonic)
    loaded: bool = False
    ready_at: float | None = None  # DOMContentLoaded of the current page
    busy: dict[Request, float] = field(default_factory=dict)
    app_link: tuple[str, str, int | None] | None = None  # the link, the page that went for it, a redirect's status

    def settled(self, settle_s: float) -> bool:
        now = time.monotonic()
        loaded = self.loaded or (self.ready_at is not None and now - self.ready_at >= LOAD_WAIT_S)
        busy = any(now - since < BUSY_WAIT_S for since in self.busy.values())
        return loaded and not busy and now - self.moved_at >= settle_s


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
        """Follow the job's chain through `proxy` (None: directly), ending before the gateway stops waiting for
        it; a crash of the browser is a failed trace and a fresh browser for the next one."""
        started = time.perf_counter()
        budget_s = min(job.budget_s, job.ends_in_s - 0.5)
        killed = threading.Event()
        watchdog = threading.Timer(budget_s + KILL_GRACE_S, self._kill, (job.url, killed))
        watchdog.start()
        try:
            return self._trace(job, proxy, budget_s, started)
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
                                                 extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
                                                 **(PHONE if job.mobile else {}))  # type: ignore[arg-type]
            except PlaywrightError as exc:
                if attempt == 2:
                    raise
                log.warning("Chromium was gone (%s): starting it again", str(exc).splitlines()[0])
                self.close()
        raise AssertionError("unreachable")

    def _trace(self, job: BrowserJob, proxy: str | None, budget_s: float, started: float) -> TraceResult:
        deadline = time.monotonic() + budget_s
        with Bridge(proxy, parse_networks(job.allow_networks), job.allow_private, min(10.0, budget_s),
                    deadline_s=job.ends_in_s) as bridge:
            context = self._context(job, bridge)
            try:
                context.add_init_script(PENDING)
                if job.cookies:
                    context.add_cookies(job.cookies)  # type: ignore[arg-type]  # the HTTP trace's jar, as given
                page, watch = self._watch(context, job)
                try:
                    page.goto(job.url, referer=job.referer or None, wait_until="commit",
                              timeout=max(0.5, deadline - time.monotonic()) * 1000)
                except PlaywrightError as exc:  # a navigation the page started itself interrupted this one
                    log.debug("first navigation of %s: %s", job.url, exc)
                ending = _settle(page, watch, job, deadline)
                return _outcome(job, watch, page.url, ending, bridge, started)
            finally:
                context.close()

    def _watch(self, context: BrowserContext, job: BrowserJob) -> tuple[Page, _Watch]:
        watch = _Watch()
        blocked = frozenset(job.blocked)
        handed = [job.page]  # the page the HTTP trace fetched, for the first navigation only
        page = context.new_page()

        def route(intercepted: Route) -> None:
            sent = intercepted.request
            if sent.resource_type in blocked:
                intercepted.abort("blockedbyclient")
            elif handed[0] is not None and sent.is_navigation_request() and sent.url == job.url:
                fetched, handed[0] = handed[0], None
                intercepted.fulfill(status=fetched["status"], headers=fetched["headers"],
                                    body=base64.b64decode(fetched["body"]))
            else:
                intercepted.fallback()

        def request(sent: Request) -> None:
            if urls.scheme_of(sent.url) not in urls.WEB_SCHEMES:
                return  # an app link is not a request: `requested`/`redirected` note it
            if sent.is_navigation_request() and sent.frame == page.main_frame:
                reason = next((why for url, why in reversed(watch.reasons) if url == sent.url), None)
                watch.navigations.append(_Navigation(sent, time.monotonic(), reason))
                watch.moved_at, watch.loaded, watch.ready_at = time.monotonic(), False, None
            elif sent.resource_type in BUSY_TYPES:
                watch.busy[sent] = time.monotonic()

        def ended(done: Request) -> None:
            """A navigation's own bytes, and each script's or fetch's with the page that asked for it."""
            watch.busy.pop(done, None)
            owner = next((n for n in watch.navigations if n.request is done), None)
            owner = owner or (watch.navigations[-1] if watch.navigations else None)
            if owner is not None:
                owner.bytes += _bytes(done)

        def gone(failed: Request) -> None:
            watch.busy.pop(failed, None)

        def loaded(*_: object) -> None:
            watch.loaded, watch.moved_at = True, time.monotonic()
            if watch.navigations:
                watch.navigations[-1].loaded_at = watch.moved_at

        def requested(event: dict[str, str]) -> None:
            """Chromium is about to navigate the page (a script, a refresh, a form): why, and whether to an app."""
            url = event.get("url", "")
            if _is_app_link(url) and watch.app_link is None:
                watch.app_link = (url, page.url, None)
            watch.reasons.append((url, REASONS.get(event.get("reason", ""), "js")))

        def redirected(event: dict[str, Any]) -> None:
            """A redirect of the page to an app link, which Chromium does not follow (nor report otherwise)."""
            url, previous = event.get("request", {}).get("url", ""), event.get("redirectResponse") or {}
            if previous and event.get("frameId") == main_frame and _is_app_link(url) and watch.app_link is None:
                headers = {name.lower(): value for name, value in (previous.get("headers") or {}).items()}
                location = headers.get("location")  # with its fragment (an intent's), which the request lacks
                link = urls.resolve(previous.get("url", url), location) if location else url
                watch.app_link = (link, previous.get("url", url), previous.get("status"))

        context.route("**/*", route)
        page.on("request", request)
        page.on("requestfinished", ended)
        page.on("requestfailed", gone)
        page.on("domcontentloaded", lambda *_: setattr(watch, "ready_at", time.monotonic()))
        page.on("load", loaded)
        cdp = context.new_cdp_session(page)
        main_frame = cdp.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        cdp.on("Page.frameRequestedNavigation", requested)
        cdp.on("Network.requestWillBeSent", redirected)
        cdp.send("Page.enable")
        cdp.send("Network.enable")
        return page, watch


def _settle(page: Page, watch: _Watch, job: BrowserJob, deadline: float) -> str:
    """Wait for the page to settle (`settled`), an app link (`app_link`), more than `max_hops` navigations
    (`too_many_hops`), or the budget's end (`budget`)."""
    while time.monotonic() < deadline:
        if watch.app_link:
            return "app_link"
        if len(watch.navigations) > job.max_hops:
            return "too_many_hops"
        pending_s = 0.0
        if watch.settled(job.settle_ms / 1000):
            pending_s = _pending_s(page)
            if pending_s <= 0:
                return "settled"
        try:
            page.wait_for_timeout(max(POLL_MS, min(pending_s * 1000, (deadline - time.monotonic()) * 1000)))
        except PlaywrightError:
            return "budget"
    return "budget"


def _pending_s(page: Page) -> float:
    """Seconds until the last refresh or timer the page set up while loading would fire (PENDING in the page)."""
    try:
        until_ms = float(page.evaluate(PENDING_NAME + "()"))
    except PlaywrightError:  # the page is navigating: not settled, look again
        return POLL_MS / 1000
    return until_ms / 1000 - time.time()


def _is_app_link(url: str) -> bool:
    return urls.scheme_of(url) not in urls.WEB_SCHEMES | urls.INERT_SCHEMES


def _response(request: Request) -> Response | None:
    try:
        return request.response()
    except PlaywrightError:
        return None


def _bytes(done: Request) -> int:
    """What the response of `done` moved, as the protocol counted it (0 when the page closed under it)."""
    try:
        sizes = done.sizes()
    except PlaywrightError:
        return 0
    return int(sizes["responseHeadersSize"] + sizes["responseBodySize"])


def _outcome(job: BrowserJob, watch: _Watch, page_url: str, ending: str, bridge: Bridge,
             started: float) -> TraceResult:
    """The result: the chain's end and, when it did not end well, why (in the HTTP tracer's words)."""
    hops = _hops(watch.navigations)
    if ending == "app_link" and watch.app_link:
        link, source, redirect = watch.app_link
        if hops:  # the page that went for it: by a redirect, or by what it ran
            reason = next((why for url, why in watch.reasons if url == link), "js")
            hops[-1] = replace(hops[-1], kind="http" if redirect else reason, next=link,
                               status=redirect or hops[-1].status)
        refusal = urls.app_link_refusal(link, source, frozenset(job.app_schemes))
        if refusal:
            return _result(job, hops, link, "blocked_scheme", refusal, started)
        return _result(job, [*hops, Hop(link, None, "app_link", None, 0.0, 0)], link, None, None, started)
    if ending == "too_many_hops":
        return _result(job, hops, page_url, "too_many_hops", f"more than {job.max_hops} navigations", started)
    last = watch.navigations[-1].request if watch.navigations else None
    final_url = _final_url(page_url, last)
    response = _response(last) if last is not None else None
    status = response.status if response is not None else None
    if last is not None and (last.failure is not None or status is None or status >= 400):
        blamed = bridge.traffic.why(last.url)  # the bridge's refusal, or the slot's proxy's own failure
        if blamed:
            return _result(job, hops, final_url, *blamed, started)
        if last.failure is not None:
            return _result(job, hops, final_url, _failure_code(last.failure), f"{last.url}: {last.failure}",
                           started)
    if ending == "budget" and not watch.settled(job.settle_ms / 1000):
        return _result(job, hops, final_url, "timeout", f"the page had not settled after {job.budget_s:g} s",
                       started)
    if status is None or status >= 400:
        return _result(job, hops, final_url, "http_error", f"{final_url} answered {status}", started)
    refused = "; ".join(f"{target}: {why}" for target, why in bridge.traffic.refused.items())
    return _result(job, hops, final_url, None, f"the guard refused requests of the page: {refused}" if refused
                   else None, started)


def _final_url(page_url: str, last: Request | None) -> str:
    """Where the chain ended: the last top-level navigation (with the fragment the page shows, if it is the same
    document), not a URL the page wrote into the address bar itself (history.pushState)."""
    if last is None:
        return page_url
    return page_url if urls.without_fragment(page_url) == urls.without_fragment(last.url) else last.url


def _failure_code(failure: str) -> str:
    return next((code for marker, code in FAILURES if marker in failure), "bad_response")


def _hops(navigations: list[_Navigation]) -> list[Hop]:
    """One hop per top-level navigation, its kind saying how the next one came about."""
    hops = []
    for n, navigation in enumerate(navigations):
        following = navigations[n + 1] if n + 1 < len(navigations) else None
        response = _response(navigation.request)
        if following is None:
            kind = "final" if navigation.request.failure is None else "error"
        elif following.request.redirected_from is navigation.request:
            kind = "http"
        else:
            kind = following.reason or "js"
        ended = following.started if following else navigation.loaded_at or time.monotonic()
        hops.append(Hop(navigation.request.url, response.status if response is not None else None, kind,
                        following.request.url if following else None, round((ended - navigation.started) * 1000, 1),
                        navigation.bytes))
    return hops


def _result(job: BrowserJob, hops: list[Hop], final_url: str, error: str | None, detail: str | None,
            started: float) -> TraceResult:
    web = urls.scheme_of(final_url) in urls.WEB_SCHEMES
    return TraceResult(ok=error is None, error=error, final_url=final_url, hops=hops,
                       params=urls.query_params(final_url) if web else [],
                       total_ms=round((time.perf_counter() - started) * 1000, 1), slot_id=job.slot_id,
                       detail=detail, tracer=TracedBy.BROWSER)
