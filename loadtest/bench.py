"""The benchmark runner behind `gateway bench`: each figure measures the gateway's path side by side with the
bare thing it is built on, in alternating rounds of one run, on loopback, and reports their ratio. Never
judged by a timer in a unit test.

Every figure runs in one `Lab` named `bench` (see loadtest/lab.py): stores of its own, so benchmarks never
touch real data, and each double and gateway in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from statistics import median

import gevent
import psutil
import requests

from gateway.config import Settings
from gateway.tracing.browser import BrowserTracer
from gateway.tracing.tracer import SlotRoute, TraceOptions, TraceResult, trace
from loadtest.chains import chain
from loadtest.lab import PROVIDER, PROXY_PASSWORD, Lab
from loadtest.processes import ServiceProcess
from store import redis_client
from store.keys import Keyspace
from store.pool import EgressPool, PoolPolicy

ROUNDS = 6
BOT = {"User-Agent": "bench-bot/1.0"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}


def throughput(operation: Callable[[], object], greenlets: int, seconds: float) -> float:
    """Operations per second of `greenlets` greenlets each running `operation` in a loop for `seconds`."""
    done = [0]
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < deadline:
            operation()
            done[0] += 1

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(loop) for _ in range(greenlets)], raise_error=True)
    return done[0] / (time.perf_counter() - started)


def side_by_side(subject: Callable[[], float], baseline: Callable[[], float], rounds: int) -> tuple[list, list]:
    """Alternate measurements of `subject` and `baseline`, so that whatever else the machine does hits both
    alike; compare them round by round."""
    subjects, baselines = [], []
    for _ in range(rounds):
        baselines.append(baseline())
        subjects.append(subject())
    return subjects, baselines


def ratio(subjects: list[float], baselines: list[float]) -> float:
    return round(median(a / b for a, b in zip(subjects, baselines, strict=True)), 3)


def rss_mb(pid: int) -> float:
    try:
        parent = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


@contextmanager
def peak_rss(pid: int) -> Iterator[list[float]]:
    """Sample the RSS of a process and its children every 50 ms; the peak ends up in the yielded list."""
    peak = [rss_mb(pid)]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb(pid))
            gevent.sleep(0.05)

    sampler = gevent.spawn(sample)
    try:
        yield peak
    finally:
        sampler.kill()


# -- figures --------------------------------------------------------------------------------------------------

def pool_figure(lab: Lab, greenlets: int = 200, seconds: float = 3.0) -> dict:
    """Lease+release pairs/s against pairs of Redis PINGs/s, from one process, same client, same greenlets.

    A pair is two round trips by design (the trace runs between lease and release), so the baseline is
    two PINGs; a ratio near 1 means each pool call costs one round trip and little else.
    """
    client = lab.services.stores.redis
    keys = Keyspace(lab.services.stores.keys.key("bench", uuid.uuid4().hex[:8], ""))
    bench_pool = EgressPool(client, keys, PoolPolicy(lease_ms=60_000, cooldown_ms=0))
    bench_pool.ensure((f"bench-{i}", "us", True, "bench") for i in range(greenlets))

    def lease_and_release() -> None:
        bench_pool.release(bench_pool.lease(["us"]), "ok", 1.0)

    def two_pings() -> None:
        client.ping()
        client.ping()

    try:
        throughput(lease_and_release, greenlets, 0.3)
        pairs_, pings = side_by_side(lambda: throughput(lease_and_release, greenlets, seconds / (2 * ROUNDS)),
                                     lambda: throughput(two_pings, greenlets, seconds / (2 * ROUNDS)), ROUNDS)
    finally:
        redis_client.delete_prefix(client, keys.prefix)
    return {"lease_release_pairs_per_s": round(median(pairs_)), "ping_pairs_per_s": round(median(pings)),
            "ping_round_trips_per_s": round(median(pings) * 2), "lease_ratio": ratio(pairs_, pings)}


def cpu_per_call(operation: Callable[[], object], calls: int) -> float:
    """CPU seconds of this process per call of `operation`, run `calls` times one after another."""
    started = time.process_time()
    for _ in range(calls):
        operation()
    return (time.process_time() - started) / calls


def trace_figure(lab: Lab, hops: int = 5, traces: int = 40, rounds: int = ROUNDS) -> dict:
    """CPU ms per hop of the tracer against a bare `requests.get` following the same 3xx chain.

    The chain server runs in its own process, so only the client's CPU is counted; the tracer runs with the
    SSRF guard off (the chain is on loopback), as the bare client has none.
    """
    base = lab.chain_server().url
    start = chain(base, ["302"] * hops, f"{base}/land?clickid=bench")
    options = TraceOptions(allow_private=True)
    assert trace(start, None, options).ok
    tracer_cpu, bare_cpu = side_by_side(lambda: cpu_per_call(lambda: trace(start, None, options), traces),
                                        lambda: cpu_per_call(lambda: requests.get(start, timeout=10), traces),
                                        rounds)
    per_hop = hops + 1
    return {"tracer_cpu_ms_per_hop": round(median(tracer_cpu) / per_hop * 1000, 3),
            "requests_cpu_ms_per_hop": round(median(bare_cpu) / per_hop * 1000, 3),
            "trace_cpu_ratio": ratio(tracer_cpu, bare_cpu)}


def fast_path_figures(lab: Lab, seconds: float = 3.0, rounds: int = 3) -> dict:
    """The click fallback path (a bot: no trace, a record written) of one gateway process against the bare
    redirect app, then two workers against one, all driven by the same load generator."""
    lab.offer("fast", tracking_url="https://aff.example/c?g={gclid}", fallback_url="https://landing.example/fast")
    bare = lab.double("bare")
    one = lab.gateway(workers=1)
    load = ("--concurrency", "50", "--seconds", str(seconds), "--header", f"User-Agent: {BOT['User-Agent']}")

    def rate(base: str) -> float:
        result = lab.hammer(f"{base}/c/fast?gclid=g{{n}}", *load)
        assert set(result["statuses"]) == {"302"}, result
        return result["per_second"]

    rate(one.url)
    gateway_rates, bare_rates = side_by_side(lambda: rate(one.url), lambda: rate(bare.url), rounds)
    two = lab.gateway(workers=2)
    rate(two.url)
    two_rates, one_rates = side_by_side(lambda: rate(two.url), lambda: rate(one.url), rounds)
    return {"fast_path_ratio": ratio(gateway_rates, bare_rates), "workers_scaling": ratio(two_rates, one_rates),
            "fast_path_per_s": round(median(gateway_rates)), "bare_redirect_per_s": round(median(bare_rates)),
            "two_workers_per_s": round(median(two_rates))}


def overlap_figures(lab: Lab, clicks: int = 1000) -> dict:
    """`clicks` clicks at the same moment on a 2-hop chain at 500 ms per hop, with as many slots, on a gateway
    of 2 workers: p99 latency over the ideal chain time, and the gateway's peak RSS."""
    lab.services.slots.provision(PROVIDER, {"us": clicks})
    base = lab.chain_server(500).url
    lab.offer("overlap", tracking_url=chain(base, ["302"], f"{base}/land?clickid=o"), wait_ms=30_000)
    gateway = lab.gateway(workers=2)
    url = f"{gateway.url}/c/overlap?gclid=g{{n}}"
    lab.hammer(url, "--burst", "20", "--header", f"User-Agent: {BROWSER['User-Agent']}")
    with peak_rss(gateway.proc.pid) as peak:
        result = lab.hammer(url, "--burst", str(clicks), "--header", f"User-Agent: {BROWSER['User-Agent']}")
    ideal_s = 2 * 0.5
    return {"overlap_clicks": result["statuses"].get("302", 0), "overlap_p99_ratio": round(
        result["p99_ms"] / 1000 / ideal_s, 3), "overlap_p99_ms": result["p99_ms"], "overlap_rss_mb": round(peak[0], 1)}


def traced_figure(lab: Lab, concurrency: int = 100, seconds: float = 6.0, rounds: int = 2) -> dict:
    """Sustained traced clicks/s of one gateway process against a bare gevent fan-out of `requests.get` on
    the same chain through the same proxy."""
    lab.services.slots.provision(PROVIDER, {"us": max(1000, concurrency * 2)})
    base = lab.chain_server().url
    start = chain(base, ["302"], f"{base}/land?clickid=t")
    lab.offer("traced", tracking_url=start, wait_ms=30_000)
    gateway = lab.gateway(workers=1)
    proxy = lab.proxy.url.replace("socks5://", f"socks5h://bench-fanout:{PROXY_PASSWORD}@")

    def clicks() -> float:
        result = lab.hammer(f"{gateway.url}/c/traced?gclid=g{{n}}", "--concurrency", str(concurrency), "--seconds",
                            str(seconds), "--header", f"User-Agent: {BROWSER['User-Agent']}")
        return result["per_second"]

    def fanout() -> float:
        done = subprocess.run([sys.executable, "-m", "loadtest", "fanout", start, "--concurrency", str(concurrency),
                               "--seconds", str(seconds), "--proxy", proxy], capture_output=True, text=True,
                              timeout=300, check=True)
        return json.loads(done.stdout)["per_second"]

    gateway_rates, fanout_rates = side_by_side(clicks, fanout, rounds)
    return {"traced_clicks_per_s_ratio": ratio(gateway_rates, fanout_rates),
            "traced_clicks_per_s": round(median(gateway_rates)), "fanout_chains_per_s": round(median(fanout_rates))}


def webhook_figure(lab: Lab, rate: int = 500, seconds: float = 8.0) -> dict:
    """The p99 time to acknowledge Trackier postbacks arriving at `rate` per second, spread over 10 pairs."""
    lab.services.slots.provision(PROVIDER, {"us": 50})
    base = lab.chain_server().url
    lab.offer("hooks", tracking_url=f"{base}/demo/start?gclid={{click_id}}", final_url=f"{base}/land")
    lab.services.pair_creation.create("hooks", 10)
    tokens = [p.webhook_token for p in lab.services.stores.pairs.for_offer(lab.services.stores.offers.get("hooks").id)]
    gateway = lab.gateway(workers=1)
    url = f"{gateway.url}/webhooks/trackier?token={{v}}&click_id=bench-{{n}}"
    lab.hammer(url, "--rate", "50", "--seconds", "1", "--values=" + ",".join(tokens))
    result = lab.hammer(url, "--rate", str(rate), "--seconds", str(seconds), "--values=" + ",".join(tokens))
    assert set(result["statuses"]) == {"200"}, result
    return {"webhook_ack_p99_ms": result["p99_ms"], "webhook_ack_p50_ms": result["p50_ms"],
            "webhook_rate": round(result["per_second"])}


def ahead_figures(lab: Lab, rate: int = 500, rounds: int = 5, load_s: float = 15.0, slots: int = 20,
                  hop_ms: float = 100.0, cooldown_s: float = 0.5) -> dict:
    """Clicks answered from buckets: their rate and p99 next to the bare redirect app, then the hit rate and the
    waste of the filler at 50 % and 90 % of the pool's measured trace capacity."""
    figures = _from_buckets(lab, rate, rounds)
    capacity, gateway = _trace_capacity(lab, slots, hop_ms, cooldown_s)
    figures["ahead_capacity_per_s"] = round(capacity, 1)
    for share in (50, 90):
        figures.update(_filler_under_load(lab, gateway.url, capacity * share / 100, load_s, share))
    return figures


def _from_buckets(lab: Lab, rate: int, rounds: int, clicks: int = 1000) -> dict:
    """`clicks` clicks answered from a bucket filled beforehand with as many copies of a real trace (each copy a
    trace of its own), against as many requests to the bare redirect app: closed loop (50 connections), then open
    loop at `rate` per second for the p99. Nothing refills the bucket while a round runs (the filler may lease
    nothing), so only answering is measured."""
    base = lab.chain_server().url
    lab.offer("ahead-fast", tracking_url=chain(base, ["302"], f"{base}/land?clickid=a"), click_mode="ahead",
              ahead_depth=clicks, ahead_max_age_s=3600)
    offer = lab.services.stores.offers.get("ahead-fast")
    result = trace(offer.tracking_url, None, TraceOptions(allow_private=True))
    assert result.ok, result
    bare = lab.double("bare")
    gateway = lab.gateway(workers=1, ahead__reserve_ready=10_000)
    header = ("--header", f"User-Agent: {BROWSER['User-Agent']}")

    def hammer(base_url: str, *load: str) -> dict:
        if base_url == gateway.url:
            for _ in range(clicks):
                lab.services.ahead.put(offer, offer.country, uuid.uuid4(), result)
        done = lab.hammer(f"{base_url}/c/ahead-fast?gclid=g{{n}}", *load, *header)
        assert set(done["statuses"]) == {"302"}, done
        return done

    closed = ("--concurrency", "50", "--seconds", "60", "--requests", str(clicks))
    opened = ("--rate", str(rate), "--seconds", str(clicks / rate))
    hammer(gateway.url, *closed)
    ahead_rates, bare_rates = side_by_side(lambda: hammer(gateway.url, *closed)["per_second"],
                                           lambda: hammer(bare.url, *closed)["per_second"], rounds)
    ahead_p99, bare_p99 = side_by_side(lambda: hammer(gateway.url, *opened)["p99_ms"],
                                       lambda: hammer(bare.url, *opened)["p99_ms"], rounds)
    counts = lab.services.ahead.status(offer)["counts"]
    assert counts["misses"] == 0, f"a click found the bucket empty: {counts}"
    return {"ahead_click_ratio": ratio(ahead_rates, bare_rates), "ahead_clicks_per_s": round(median(ahead_rates)),
            "bare_redirect_per_s": round(median(bare_rates)), "ahead_click_p99_vs_bare": ratio(ahead_p99, bare_p99),
            "ahead_click_p99_ms": median(ahead_p99), "bare_redirect_p99_ms": median(bare_p99), "ahead_rate": rate}


def _trace_capacity(lab: Lab, slots: int, hop_ms: float, cooldown_s: float) -> tuple[float, ServiceProcess]:
    """Traced clicks per second that `slots` slots sustain on a 2-hop chain at `hop_ms` per hop with `cooldown_s`
    of rest after each trace: inline clicks from twice as many connections as slots, for 4 s; and the gateway."""
    lab.services.slots.provision(PROVIDER, {"de": slots})
    base = lab.chain_server(hop_ms).url
    tracking = chain(base, ["302"], f"{base}/land?clickid=c")
    lab.offer("ahead-capacity", tracking_url=tracking, country="de", wait_ms=30_000)
    lab.offer("ahead-load", tracking_url=tracking, country="de", wait_ms=30_000, click_mode="ahead",
              ahead_depth=max(5, slots), ahead_max_age_s=60)
    gateway = lab.gateway(workers=1, pool__cooldown_s=cooldown_s)
    done = lab.hammer(f"{gateway.url}/c/ahead-capacity?gclid=g{{n}}", "--concurrency", str(2 * slots),
                      "--seconds", "4", "--header", f"User-Agent: {BROWSER['User-Agent']}")
    return done["statuses"].get("302", 0) / done["seconds"], gateway


def _filler_under_load(lab: Lab, gateway_url: str, rate: float, seconds: float, share: int) -> dict:
    """Clicks on an `ahead` offer at `rate` per second for `seconds` (after as long a warm-up at the first
    share): the share answered from the bucket, and the share of traces made ahead that expired unused."""
    offer = lab.services.stores.offers.get("ahead-load")
    url = f"{gateway_url}/c/ahead-load?gclid=g{{n}}"
    load = ("--rate", f"{rate:.2f}", "--seconds", str(seconds), "--header", f"User-Agent: {BROWSER['User-Agent']}")
    if share == 50:
        lab.hammer(url, *load)
    before = lab.services.ahead.status(offer)["counts"]
    lab.hammer(url, *load)
    after = lab.services.ahead.status(offer)["counts"]
    delta = {name: after[name] - before[name] for name in after}
    return {f"ahead_hit_rate_{share}": round(delta["clicks"] / max(1, delta["clicks"] + delta["misses"]), 3),
            f"ahead_waste_{share}": round(delta["expired"] / max(1, delta["made"]), 3),
            f"ahead_clicks_{share}": delta["clicks"] + delta["misses"]}


def browser_figures(lab: Lab, traces: int = 10, rounds: int = 2) -> dict:
    """One chain (302, meta refresh, JavaScript, then a landing page of common weight) traced over HTTP and in a
    browser worker's Chromium, with `[browser] block`'s default and with nothing blocked, through the lab's SOCKS5
    proxy in alternating rounds: bytes per trace as the proxy counted them (what a provider bills) and
    milliseconds per trace; then browser traces per minute of one worker, back to back."""
    base = lab.chain_server().url
    start = chain(base, ["302", "meta", "js"], f"{base}/lander?clickid=bench")
    lab.browser_worker()
    host, port = lab.proxy.url.split("//", 1)[1].split(":")
    jobs, browser = lab.services.stores.browser_jobs, lab.settings.browser
    options = TraceOptions(allow_private=True)
    blocked, unblocked = BrowserTracer(jobs, browser), BrowserTracer(jobs, replace(browser, block=""))
    follow: dict[str, Callable[[SlotRoute | None], TraceResult]] = {
        "http": lambda route: trace(start, route, options),
        "browser": lambda route: blocked.trace(start, route, options),
        "unblocked": lambda route: unblocked.trace(start, route, options)}
    ms: dict[str, list[float]] = {mode: [] for mode in follow}
    for _ in range(rounds):
        for mode, run in follow.items():
            route = SlotRoute(mode, f"socks5h://{mode}:{PROXY_PASSWORD}@{host}:{port}", pooled=False)
            for _ in range(traces):
                result = run(route)
                assert result.ok and result.final_url.startswith(f"{base}/lander"), (mode, result.error, result.detail)
                ms[mode].append(result.total_ms)
    started = time.perf_counter()
    for _ in range(traces):
        follow["browser"](None)
    per_minute = traces / (time.perf_counter() - started) * 60
    usage = lab.proxy_usage()["by_user"]
    kb = {mode: (usage[mode]["bytes_up"] + usage[mode]["bytes_down"]) / (rounds * traces) / 1024 for mode in follow}
    return {"http_kb_per_trace": round(kb["http"], 1), "browser_kb_per_trace": round(kb["browser"], 1),
            "unblocked_kb_per_trace": round(kb["unblocked"], 1),
            "browser_bytes_ratio": round(kb["browser"] / kb["http"], 2),
            "unblocked_bytes_ratio": round(kb["unblocked"] / kb["http"], 2),
            "http_ms_per_trace": round(median(ms["http"]), 1), "browser_ms_per_trace": round(median(ms["browser"]), 1),
            "browser_ms_ratio": round(median(ms["browser"]) / median(ms["http"]), 1),
            "browser_traces_per_minute_per_worker": round(per_minute, 1), "browser_settle_ms": browser.settle_ms}


LINES = {
    "fast_path": "fast_path_ratio {fast_path_ratio} ({fast_path_per_s} vs {bare_redirect_per_s} req/s of a bare "
                 "Bottle+gevent redirect; goal >= 0.6); workers_scaling {workers_scaling} (2 workers "
                 "{two_workers_per_s} req/s)",
    "overlap": "overlap_clicks {overlap_clicks}, p99 {overlap_p99_ms} ms: overlap_p99_ratio {overlap_p99_ratio} "
               "(goal <= 1.5); overlap_rss_mb {overlap_rss_mb} (goal <= 300)",
    "traced": "traced_clicks_per_s_ratio {traced_clicks_per_s_ratio} ({traced_clicks_per_s} clicks/s vs "
              "{fanout_chains_per_s} chains/s of a bare requests.get fan-out; goal >= 0.8)",
    "pool": "lease_ratio {lease_ratio} ({lease_release_pairs_per_s} lease+release pairs/s vs {ping_pairs_per_s} "
            "PING pairs/s; goal >= 0.8)",
    "webhooks": "webhook_ack_p99_ms {webhook_ack_p99_ms} at {webhook_rate} postbacks/s, p50 {webhook_ack_p50_ms} "
                "ms (goal <= 20)",
    "ahead": "ahead_click_ratio {ahead_click_ratio} ({ahead_clicks_per_s} clicks/s from buckets vs "
             "{bare_redirect_per_s} req/s of the bare redirect; goal >= 0.6); ahead_click_p99_vs_bare "
             "{ahead_click_p99_vs_bare} at {ahead_rate}/s (p99 {ahead_click_p99_ms} vs {bare_redirect_p99_ms} ms; goal "
             "<= 1.5); at 50 % of {ahead_capacity_per_s} traces/s: ahead_hit_rate {ahead_hit_rate_50} (goal >= 0.99), "
             "ahead_waste {ahead_waste_50}; at 90 %: ahead_hit_rate {ahead_hit_rate_90} (goal >= 0.9), ahead_waste "
             "{ahead_waste_90} (goal <= 0.05)",
    "trace": "tracer {tracer_cpu_ms_per_hop} CPU ms/hop vs requests.get {requests_cpu_ms_per_hop} CPU ms/hop on "
             "the same 3xx chain: trace_cpu_ratio {trace_cpu_ratio} (goal <= 1.0)",
    "browser": "the same chain through the proxy: http {http_kb_per_trace} KB, {http_ms_per_trace} ms; browser "
               "{browser_kb_per_trace} KB, {browser_ms_per_trace} ms: browser_bytes_ratio {browser_bytes_ratio} "
               "(goal <= 3), browser_ms_ratio {browser_ms_ratio} (settle {browser_settle_ms} ms included); nothing "
               "blocked {unblocked_kb_per_trace} KB (x{unblocked_bytes_ratio}); "
               "{browser_traces_per_minute_per_worker} browser traces/min/worker",
}
FIGURES: dict[str, Callable[..., dict]] = {
    "fast_path": fast_path_figures, "overlap": overlap_figures, "traced": traced_figure, "pool": pool_figure,
    "webhooks": webhook_figure, "trace": trace_figure, "ahead": ahead_figures, "browser": browser_figures,
}
DEFAULT = ("fast_path", "overlap", "traced", "pool", "webhooks")


def run(settings: Settings, say: Callable[[str], None], names: tuple[str, ...] = DEFAULT,
        options: dict[str, dict] | None = None) -> dict:
    """The named figures (default: every figure of `gateway bench --json`), one line each as it is measured;
    returns them all. `options` holds keyword arguments per figure name."""
    results: dict = {}
    with Lab(settings, "bench") as lab:
        for name in names:
            figure = FIGURES[name](lab, **(options or {}).get(name, {}))
            results.update(figure)
            say(f"{name}: " + LINES[name].format(**figure))
    return results
