"""Browser tracing: chains that compute their next URL at run time, followed by a browser worker's headless
Chromium through real local proxies with credentials, checked against where Chromium itself ends them."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import gevent
import pytest
import requests

from gateway.tracing.browser import continued
from gateway.tracing.tracer import Hop, SlotRoute, TraceOptions, TraceResult
from loadtest.chains import RUN_TIME_KINDS, chain
from loadtest.processes import ServiceProcess
from tests.conftest import ADMIN_TOKEN
from tests.console_client import ConsoleUser
from tests.helpers import REPO, GatewayProcess, cli_env, eventually, gateway_command, run_gateway

chromium = pytest.mark.needs("chromium", install="apt-get install chromium; .ci/run does")

HTTP_ONLY = (("302", "meta", "js"), ("refresh", "js-concat"), ("307", "meta-body", "js-timeout"))
# The hops a browser trace reports after the HTTP trace's 302 to each run-time page
BROWSER_HOPS = {
    "atob": ["js"], "dom-link": ["js"], "form-get": ["form"], "form-post": ["form"], "fetch": ["js"],
    "cookie-reload": ["js", "http"], "write-meta": ["meta_refresh"], "onload": ["js"], "eval": ["js"],
}
LEGACY = ("windows-1251", "koi8-r", "utf-16")


def land(chains, kind: str) -> str:
    return f"{chains.url(1)}/land?clickid=c-{kind}&kind={kind}"


def run_time_chain(chains, kind: str) -> str:
    return chain(chains.url(), ["302", kind], land(chains, kind))


def http_only_chain(chains, kinds: tuple[str, ...]) -> str:
    return chain(chains.url(), list(kinds), f"{chains.url(1)}/land?clickid=h-{'-'.join(kinds)}")


@pytest.fixture(scope="module")
def chromium_ends(chain_server) -> dict[str, str]:
    """Where Chromium itself ends every chain of the corpus (tests/chromium_truth.py: plain Playwright, no proxy,
    nothing blocked)."""
    urls = [*(run_time_chain(chain_server, kind) for kind in RUN_TIME_KINDS),
            *(http_only_chain(chain_server, kinds) for kinds in HTTP_ONLY),
            *(f"{chain_server.url()}/legacy/{charset}" for charset in LEGACY)]
    done = subprocess.run([sys.executable, str(REPO / "tests" / "chromium_truth.py"), *urls], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return dict(zip(urls, json.loads(done.stdout), strict=True))


class Workers:
    """`gateway browser-worker` processes on a test's settings, each ready (alive in Redis) once started."""

    def __init__(self, settings, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.started: list[ServiceProcess] = []

    def start(self, **changes: object) -> ServiceProcess:
        env = cli_env(self.settings.replace(**changes), self.tmp_path / f"worker{len(self.started)}")
        worker = ServiceProcess(gateway_command("browser-worker"), env, REPO)
        self.started.append(worker)
        worker.wait_for(re.compile(r"browser worker \S+ ready"), timeout=60)
        return worker

    def stop(self) -> None:
        for worker in self.started:
            worker.terminate()


@pytest.fixture
def settings(settings):
    """The suite's settings with a shorter settle time (the local chains move at once; pending refreshes and
    timers are waited for all the same)."""
    return settings.replace(browser__settle_ms=300)


@pytest.fixture
def workers(settings, tmp_path):
    started = Workers(settings, tmp_path)
    yield started
    started.stop()


def options(**changes: object) -> TraceOptions:
    return TraceOptions(allow_private=True, **changes)


def kinds(result) -> list[str]:
    return [hop.kind for hop in result.hops]


@chromium
@pytest.mark.parametrize("proxy_kind", ["http", "socks5"])
def test_auto_ends_every_run_time_chain_where_chromium_does(runtime, workers, chains, proxies, chromium_ends,
                                                            proxy_kind):
    """Each run-time navigation (atob, a DOM link, GET and POST forms, cookie + reload, fetch, document.write of
    a meta refresh, onload, eval) is followed to where Chromium ends it: HTTP up to the page, the browser from
    there (handed that page, not requesting it again: only the page's own reload does), every request through
    the proxy with its credentials."""
    workers.start()
    proxy = proxies[proxy_kind]
    for kind in RUN_TIME_KINDS:
        url = run_time_chain(chains, kind)
        route = SlotRoute(f"via-{kind}", proxy.url(f"user-{kind}"), pooled=False)
        chains.seen.clear()
        result = runtime.runner.follow(url, route, options(), "auto")
        gate_requests = [seen for seen in chains.seen if seen.endswith(f"/r/{kind}")]
        assert len(gate_requests) == (2 if kind == "cookie-reload" else 1), (kind, gate_requests)
        assert result.ok, (kind, result.error, result.detail)
        assert result.final_url == chromium_ends[url] == land(chains, kind), kind
        assert result.tracer == "http+browser"
        assert kinds(result) == ["http", *BROWSER_HOPS[kind], "final"], kind
        assert ("clickid", f"c-{kind}") in result.params
        assert result.hops[-1].bytes > 0 and result.hops[-1].status == 200
        assert proxy.stats.by_user[f"user-{kind}"].connections >= 2, kind  # the HTTP trace's and the browser's


@chromium
def test_http_only_chains_and_legacy_pages_never_start_a_browser(runtime, workers, chains, chromium_ends):
    """With a browser worker ready, `auto` follows chains the static reader understands to where Chromium ends
    them over HTTP alone: every page of the chain is requested once (a browser would request the last again)."""
    workers.start()
    urls = [*(http_only_chain(chains, kinds) for kinds in HTTP_ONLY),
            *(f"{chains.url()}/legacy/{charset}" for charset in LEGACY)]
    for url in urls:
        chains.seen.clear()
        result = runtime.runner.follow(url, None, options(), "auto")
        assert result.ok and not result.needs_script, url
        assert (result.final_url, result.tracer) == (chromium_ends[url], "http"), url
        assert len(chains.seen) == len(result.hops) and len(set(chains.seen)) == len(chains.seen), chains.seen


def test_without_a_worker_browser_offers_trace_over_http_and_say_so(runtime, chains):
    """No browser worker: `auto` and `browser` fall back to HTTP, and the result (and so the record) says so."""
    gate = run_time_chain(chains, "atob")
    result = runtime.runner.follow(gate, None, options(), "auto")
    assert result.tracer == "http-no-browser" and result.final_url != land(chains, "atob")
    assert runtime.runner.follow(gate, None, options(), "browser").tracer == "http-no-browser"
    assert 'gateway_browser_traces_total{result="no_browser"} 2.0' in runtime.metrics.render()[0].decode()


@chromium
def test_browser_mode_reads_every_hop(runtime, workers, chains):
    """In `browser` mode the whole chain runs in Chromium, each top-level navigation a hop of its kind, with
    its status, milliseconds and bytes."""
    workers.start()
    url = chain(chains.url(), ["302", "refresh", "meta", "form-post", "js"], f"{chains.url(1)}/land?x=1")
    result = runtime.runner.follow(url, None, options(), "browser")
    assert result.ok and result.tracer == "browser" and result.final_url == f"{chains.url(1)}/land?x=1"
    assert kinds(result) == ["http", "refresh_header", "meta_refresh", "form", "js", "final"]
    assert [hop.status for hop in result.hops] == [302, 200, 200, 200, 200, 200]
    assert all(hop.bytes > 0 and hop.ms >= 0 for hop in result.hops)
    assert [hop.next for hop in result.hops[:-1]] == [hop.url for hop in result.hops[1:]]


@chromium
def test_images_media_fonts_and_stylesheets_are_never_fetched(runtime, workers, chains):
    """Only what can move the trace is fetched: the script, not the 50 KB image, stylesheet, font or video; the
    script's bytes are counted with its page."""
    workers.start()
    chains.seen.clear()
    result = runtime.runner.follow(f"{chains.url()}/heavy?to=/land%3Fv%3Dheavy", None, options(), "browser")
    assert result.ok and result.final_url == f"{chains.url()}/land?v=heavy"
    fetched = {path.split("/", 1)[1] for path in chains.seen}
    assert "asset/next.js" in fetched
    assert not fetched & {"asset/style.css", "asset/pixel.png", "asset/font.woff2", "asset/clip.mp4"}
    assert 0 < sum(hop.bytes for hop in result.hops) < 10_000


@chromium
def test_the_guard_sees_every_request_the_page_makes(make_runtime, workers, chains):
    """Outside `[tracing] allow_networks`, a page's script and its navigation are refused by the worker's bridge
    before they leave: the chain server never sees them. A refused navigation ends the trace (blocked_address);
    a refused script does not make a landing page a failure, and the result says what was refused."""
    rt = make_runtime(tracing__allow_private=False, tracing__allow_networks="127.0.0.1/32")
    workers.start()
    guarded = TraceOptions.from_settings(rt.settings.tracing)
    other = chains.url(1)
    chains.seen.clear()
    navigation = rt.runner.follow(chain(chains.url(), ["atob"], f"{other}/land"), None, guarded, "browser")
    assert (navigation.ok, navigation.error) == (False, "blocked_address")
    assert "127.0.0.2" in navigation.detail
    chains.seen.clear()
    script = rt.runner.follow(f"{chains.url()}/heavy?assets={other}&to=/land", None, guarded, "browser")
    assert script.ok and script.final_url.startswith(f"{chains.url()}/heavy")
    assert "the guard refused" in script.detail and "127.0.0.2" in script.detail
    assert not [seen for seen in chains.seen if seen.startswith("127.0.0.2")]
    assert any(seen.startswith("127.0.0.1") for seen in chains.seen)


@chromium
@pytest.mark.parametrize("proxy_kind", ["http", "socks5"])
def test_a_proxy_that_refuses_is_the_egress_fault(runtime, workers, chains, proxies, proxy_kind):
    """Wrong credentials, a proxy that takes no connection, or one that says the failure is its own end a
    browser trace as egress_failed (the slot's fault, as over HTTP); a destination the proxy cannot reach is the
    chain's fault."""
    workers.start()
    proxy = proxies[proxy_kind]
    port = proxy.address[1]
    for url in (proxy.url("u", password="wrong"), proxy.url("u").replace(f":{port}", ":1")):
        result = runtime.runner.follow(f"{chains.url()}/land", SlotRoute("s", url, pooled=False), options(),
                                       "browser")
        assert (result.ok, result.error) == (False, "egress_failed"), result.detail
    route = SlotRoute("s", proxy.url("u"), pooled=False)
    dead = runtime.runner.follow("http://127.0.0.1:1/land", route, options(), "browser")
    assert not dead.ok and dead.egress_outcome == "upstream_error", (dead.error, dead.detail)
    proxy.mode = "reject"
    rejected = runtime.runner.follow(f"{chains.url()}/land", route, options(), "browser")
    assert (rejected.error, rejected.egress_outcome) == ("egress_failed", "fail"), rejected.detail


@chromium
def test_webrtc_sends_nothing_around_the_proxy(runtime, workers, chains):
    """A page's WebRTC may not send UDP past the bridge (to learn the host's own address, or to reach a private
    one): the STUN server on loopback hears nothing while the page runs."""
    workers.start()
    stun = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stun.bind(("127.0.0.1", 0))
    stun.setblocking(False)
    url = f"{chains.url()}/webrtc?stun={stun.getsockname()[1]}"
    result = runtime.runner.follow(url, None, options(), "browser")
    assert result.ok and result.final_url == url
    with pytest.raises(BlockingIOError):
        stun.recvfrom(2048)
    stun.close()


@chromium
def test_app_links_end_a_browser_trace_as_over_http(runtime, workers, chains):
    """A redirect or a script sending the page to an app link ends the chain there (an `app_link` hop) when its
    scheme is allowed, and as `blocked_scheme` when not, exactly as the HTTP tracer does."""
    workers.start()
    for end, allowed in (("market://details?id=com.example", True), ("search-ms:query=invoice", False),
                         ("intent://open#Intent;scheme=ex;package=com.example;end", True)):
        for how in ("302", "js"):
            url = chain(chains.url(), [how], end)
            result, http = (runtime.runner.follow(url, None, options(), mode) for mode in ("browser", "http"))
            assert (result.ok, result.error, result.final_url) == (http.ok, http.error, http.final_url), (end, how)
            if allowed:
                assert kinds(result) == ["http" if how == "302" else "js", "app_link"], (end, how)
            else:
                assert result.error == "blocked_scheme"


@chromium
def test_a_phone_profile_is_a_phone_and_no_page_sees_automation(runtime, workers, chains):
    """The mobile profile gets a phone's screen and touch besides its User-Agent (device-targeting hops look at
    all three), and no page reads navigator.webdriver as true."""
    workers.start()
    url = f"{chains.url()}/check-ua?" + urlencode({"to": f"{chains.url()}/probe?to=/land"})
    phone = runtime.runner.follow(url, None, options(user_agent="mobile"), "browser")
    assert phone.ok and dict(phone.params) == {"webdriver": "false", "touch": "true", "width": "412"}
    assert phone.hops[0].next.endswith("device=mobile")
    desktop = runtime.runner.follow(url, None, options(), "browser")
    assert dict(desktop.params)["touch"] == "false" and desktop.hops[0].next.endswith("device=desktop")


@chromium
def test_a_browser_trace_longer_than_the_redis_timeout_is_waited_for(make_runtime, workers, chains):
    """The gateway waits for a browser trace in short blocking calls, each within `[redis] timeout_s`: a trace
    of several timeouts' length is answered, not lost as a store failure."""
    rt = make_runtime(redis__timeout_s=0.5)
    workers.start()
    slow = chain(chains.url(), ["js"], f"{chains.url()}/land?delay_ms=1500&slow=1")
    result = rt.runner.follow(slow, None, options(), "browser")
    assert result.ok, (result.error, result.detail)
    assert ("slow", "1") in result.params and result.total_ms > 1500


@chromium
def test_with_every_worker_busy_a_trace_goes_over_http(runtime, workers, chains):
    """One worker, one trace in its hands and one waiting: the next trace that wants a browser does not queue
    behind them (it would hold its slot and a Redis connection for nothing) but is traced over HTTP."""
    workers.start()
    slow = chain(chains.url(), ["atob"], f"{chains.url()}/land?delay_ms=3000")
    jobs = runtime.browser_jobs
    first = gevent.spawn(runtime.runner.follow, slow, None, options(), "browser")
    eventually(lambda: jobs.waiting() == 0 and first.started, 10, "the worker to take the first trace")
    second = gevent.spawn(runtime.runner.follow, slow, None, options(), "browser")
    eventually(lambda: jobs.waiting() == 1, 10, "the second trace to wait")
    third = runtime.runner.follow(slow, None, options(), "browser")
    assert third.tracer == "http-no-browser"
    assert [g.get(timeout=30).tracer for g in (first, second)] == ["browser", "browser"]


@chromium
def test_a_worker_keeps_no_socket_or_thread_of_a_finished_trace(runtime, workers, chains):
    """Each trace's bridge is gone with it: after ten more traces the worker holds about as many files and
    threads as before them (a few come and go with its store pools)."""
    worker = workers.start()
    pid = worker.proc.pid
    url = chain(chains.url(), ["302", "atob"], f"{chains.url()}/land")

    def held() -> tuple[int, int]:
        return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))

    for _ in range(2):  # warm: Chromium started, the stores' pools filled
        assert runtime.runner.follow(url, None, options(), "browser").ok
    files, threads = held()
    for _ in range(10):
        assert runtime.runner.follow(url, None, options(), "browser").ok
    assert held()[0] <= files + 3 and held()[1] <= threads + 3  # a leak would be 10 of each (one per trace)


@chromium
def test_a_worker_survives_what_is_no_job_and_jobs_of_another_version(runtime, workers, chains):
    """A queued value that is no job is dropped with a log line; a job carrying fields this worker does not
    know (a newer gateway) is followed; a slot this worker cannot use is `browser_failed`, not the slot's fault."""
    worker = workers.start()
    jobs = runtime.browser_jobs
    jobs.client.rpush(jobs.queue, "not json", json.dumps({"id": "x"}))
    worker.wait_for(re.compile(r"not a job, dropped"), timeout=20)
    result = runtime.runner.follow(chain(chains.url(), ["atob"], f"{chains.url()}/land?v=1"), None, options(),
                                   "browser")
    assert result.ok and result.final_url == f"{chains.url()}/land?v=1"
    unknown = runtime.runner.follow(f"{chains.url()}/land", SlotRoute("no-such-slot", "socks5h://x:1"), options(),
                                    "browser")
    assert (unknown.error, unknown.egress_outcome) == ("browser_failed", "upstream_error")
    assert worker.proc.poll() is None


@chromium
def test_a_trace_past_its_budget_ends_and_the_worker_goes_on(runtime, workers, chains, settings):
    """A page whose script never yields ends at the budget as a timeout; the same worker traces the next chain."""
    workers.start()
    runner = runtime.runner
    busy = runner.follow(f"{chains.url()}/busy", None, options(total_timeout_s=2.0), "browser")
    assert (busy.ok, busy.error) == (False, "timeout")
    assert busy.total_ms < 10_000
    after = runner.follow(run_time_chain(chains, "eval"), None, options(), "auto")
    assert after.ok and after.final_url == land(chains, "eval")


@chromium
def test_the_browser_starts_afresh_after_max_traces_and_after_a_crash(runtime, workers, chains):
    """`[browser] max_traces` traces, then a fresh Chromium; a Chromium killed under the worker is replaced for
    the next trace; each trace gets a context of its own (the cookie one trace set is not sent by the next)."""
    worker = workers.start(browser__max_traces=2)
    started = re.compile(r"Chromium \S+ started \(pid (\d+)")
    def cookie_chain(name: str) -> str:
        return f"{chains.url()}/set-cookie?" + urlencode({"name": name, "to": "/check-cookie?to=/land"})

    for name in ("first", "second", "third"):
        result = runtime.runner.follow(cookie_chain(name), None, options(), "browser")
        assert result.final_url == f"{chains.url()}/land?had={name}"
    pids = [match.group(1) for line in worker.log if (match := started.search(line))]
    assert len(pids) == 2 and pids[0] != pids[1]
    os.kill(int(pids[1]), signal.SIGKILL)
    assert runtime.runner.follow(cookie_chain("fourth"), None, options(), "browser").ok
    assert len([line for line in worker.log if started.search(line)]) == 3


@chromium
def test_a_click_on_an_auto_offer_lands_with_its_parameters(make_gateway, workers, chains, proxies, settings):
    """The click leases a slot, HTTP finds a self-submitting POST form, the browser worker finishes the chain
    through the same slot (its credentials looked up by the worker), and the visitor lands on the final URL with
    the chain's and the inbound parameters; the record says which tracer followed it."""
    gateway = make_gateway(slots=1)
    workers.start(providers=gateway.rt.settings.providers)
    final = f"{chains.url(1)}/land?clickid=C42&sub=browser"
    tracking = chain(chains.url(), ["302", "form-post"], final)
    gateway.rt.catalog.create({"slug": "shoes", "name": "Shoes", "country": "us", "tracer": "auto",
                               "tracking_url": tracking, "wait_ms": 15_000})
    response = gateway.click("shoes", {"gclid": "G-7"})
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == f"{final}&gclid=G-7"
    (record,) = gateway.records(1)
    assert (record["outcome"], record["tracer"], record["final_url"]) == ("final", "http+browser", final)
    assert [hop["kind"] for hop in record["hops"]] == ["http", "form", "final"]
    slot = gateway.rt.inventory.get(record["slot_id"])
    user = f"user-acct-region-us-sessid-{slot.session_id}"
    assert proxies["socks5"].stats.by_user[user].connections >= 2


@chromium
def test_the_console_traces_in_a_browser_and_shows_the_tracer(make_gateway, workers, chains):
    """The console's trace tool follows a chain by the tracer chosen, and the offer page shows the offer's."""
    gateway = make_gateway(slots=1)
    workers.start(providers=gateway.rt.settings.providers)
    gateway.rt.catalog.create({"slug": "js", "name": "JS", "country": "us", "tracer": "auto",
                               "tracking_url": run_time_chain(chains, "onload")})
    admin = ConsoleUser(gateway.url)
    assert admin.sign_in(ADMIN_TOKEN).status_code == 303
    assert "<dt>Tracer</dt><dd>auto</dd>" in admin.get("/offers/js").text
    tool = admin.post("/trace-tool", {"url": run_time_chain(chains, "onload"), "route": "country", "target": "us",
                                      "mode": "auto"})
    assert tool.status_code == 200 and "Reached the end" in tool.text
    assert "<dt>Tracer</dt><dd>http+browser</dd>" in tool.text and html.escape(land(chains, "onload")) in tool.text


@chromium
def test_the_cli_traces_auto_with_a_worker_of_its_own(chains, proxies, settings, tmp_path):
    """`gateway trace --mode auto` starts a browser worker for itself when none runs, and follows the chain
    through the given proxy; `--mode http` stops on the gate page."""
    env = cli_env(settings, tmp_path)
    url = chain(chains.url(), ["302", "write-meta", "onload"], f"{chains.url(1)}/land?clickid=cli")
    args = ("trace", url, "--allow-private", "--json", "--proxy", proxies["http"].url("cli-user"))
    done = run_gateway(*args, "--mode", "auto", env=env, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["final_url"], result["tracer"]) == (f"{chains.url(1)}/land?clickid=cli", "http+browser")
    assert [hop["kind"] for hop in result["hops"]] == ["http", "meta_refresh", "js", "final"]
    assert proxies["http"].stats.by_user["cli-user"].connections >= 2
    plain = json.loads(run_gateway(*args, "--mode", "http", env=env).stdout)
    assert plain["tracer"] == "http" and plain["final_url"] != result["final_url"]


@chromium
def test_bench_browser_prints_bytes_and_speed_of_both_tracers(settings, tmp_path):
    """`gateway bench browser` traces one chain over HTTP and in the browser through the lab's proxy, in one run:
    with images, media, fonts and stylesheets blocked the browser moves at most 3x the HTTP trace's bytes (the
    proxy's own count: bytes do not depend on the machine's speed), with nothing blocked far more."""
    done = run_gateway("bench", "browser", "--json", "--traces", "2", env=cli_env(settings, tmp_path), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["http_kb_per_trace"] > 20 and figures["browser_traces_per_minute_per_worker"] > 0
    assert 1 < figures["browser_bytes_ratio"] <= 3 < figures["unblocked_bytes_ratio"]


@chromium
def test_serve_starts_its_workers_and_readyz_reports_them(settings, tmp_path):
    """`gateway serve` with `[browser] workers = 1` starts one, and `/readyz` says browser tracing is on."""
    with GatewayProcess(env=cli_env(settings.replace(browser__workers=1), tmp_path)) as server:
        server.wait_for(re.compile(r"browser worker \S+ ready"), timeout=60)
        ready = requests.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["browser"] == {"state": "on", "workers": 1, "waiting_jobs": 0}


def test_without_chromium_serve_still_runs_and_says_browser_tracing_is_off(settings, tmp_path):
    """No Chromium: the gateway serves all the same, says once that browser tracing is off, and /readyz too."""
    with GatewayProcess(env=cli_env(settings.replace(browser__executable="no-such-chromium"), tmp_path)) as server:
        line = server.wait_for(re.compile(r"browser tracing is off: .*"))
        assert "apt-get install chromium" in line.group()
        ready = requests.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["browser"]["state"] == "off"


def test_an_auto_trace_keeps_the_http_half_when_the_browser_half_never_ran():
    """`continued` replaces the HTTP trace's last hop only with the browser's first hop of the same page."""
    hop = Hop("http://a/gate", 200, "final", None, 5.0, 900)
    first = TraceResult(True, None, "http://a/gate", [Hop("http://a/", 302, "http", "http://a/gate", 3.0, 100), hop],
                        [], 8.0, "s1", needs_script=True)
    never = TraceResult.never_ran("browser_timeout", "no worker answered", time.perf_counter(), "http://a/gate")
    assert [h.url for h in continued(first, never).hops] == ["http://a/", "http://a/gate"]
    browser = TraceResult(True, None, "http://b/land", [Hop("http://a/gate", 200, "js", "http://b/land", 40.0, 0),
                                                        Hop("http://b/land", 200, "final", None, 9.0, 500)],
                          [], 60.0, "s1")
    both = continued(first, browser)
    assert [(h.url, h.kind, h.bytes) for h in both.hops] == [("http://a/", "http", 100), ("http://a/gate", "js", 900),
                                                            ("http://b/land", "final", 500)]
    assert both.tracer == "http+browser" and both.hops[1].ms == 45.0


def test_offers_carry_their_tracer_through_the_api(gateway):
    """`tracer` is an offer field like any other: stored, shown, changed, and refused when unknown."""
    headers = {"Authorization": "Bearer " + gateway.rt.settings.admin.token.reveal()}
    base = f"{gateway.url}/api/offers"
    made = requests.post(base, json={"slug": "b1", "name": "B", "country": "us", "tracer": "browser",
                                     "tracking_url": "https://example.com/t"}, headers=headers, timeout=10)
    assert made.status_code == 201 and made.json()["tracer"] == "browser"
    changed = requests.patch(f"{base}/b1", json={"tracer": "auto"}, headers=headers, timeout=10)
    assert changed.json()["tracer"] == "auto"
    wrong = requests.patch(f"{base}/b1", json={"tracer": "selenium"}, headers=headers, timeout=10)
    assert wrong.status_code == 400 and "tracer" in wrong.text
    assert requests.get(f"{base}/b1", headers=headers, timeout=10).json()["tracer"] == "auto"
