"""The benchmark runner behind `gateway bench`: each figure measures the gateway's path side by side with the
bare thing it is built on, in alternating rounds of one run, on loopback, and reports their ratio. Never
judged by a timer in a unit test.

A `Lab` holds what a run needs: embedded stores of its own (`<data_dir>/bench`, wiped at the start, so
benchmarks never touch real data), the local doubles and gateways as separate processes (so each one's CPU
is its own), and it stops them all at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from statistics import median

import gevent
import psutil
import requests

from gateway import egress, offers, pairs
from gateway.config import ProviderSettings, Secret, Settings
from gateway.runtime import Runtime
from gateway.tracing import TraceOptions, trace
from loadtest.chains import chain
from loadtest.processes import ServiceProcess
from store.embedded import EmbeddedStores
from store.pool import EgressPool, PoolPolicy

ROUNDS = 6
BOT = {"User-Agent": "bench-bot/1.0"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
PROXY_PASSWORD = "proxy-secret"
TRACKIER_KEY = "fake-trackier-key"


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


class Lab:
    def __init__(self, settings: Settings) -> None:
        self.data_dir = Path(settings.server.data_dir) / "bench"
        self.base = settings
        self.processes: list[ServiceProcess] = []

    def __enter__(self) -> Lab:
        shutil.rmtree(self.data_dir, ignore_errors=True)  # every run starts from nothing
        self.data_dir.mkdir(parents=True)
        self.embedded = EmbeddedStores(self.data_dir).acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.processes):
            try:
                proc.terminate(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if "rt" in self.__dict__:
            self.rt.close()
        self.embedded.release()

    # The doubles start when a figure first needs them.
    @cached_property
    def proxy(self) -> ServiceProcess:
        return self.double("proxy", "--kind", "socks5")

    @cached_property
    def chains(self) -> ServiceProcess:
        return self.double("chains")

    @cached_property
    def slow_chains(self) -> ServiceProcess:
        return self.double("chains", "--latency-ms", "500")

    @cached_property
    def trackier(self) -> ServiceProcess:
        return self.double("trackier", "--api-key", TRACKIER_KEY)

    @cached_property
    def rt(self) -> Runtime:
        return Runtime.open(self.settings)

    @cached_property
    def settings(self) -> Settings:
        host, port = self.proxy.url.split("//", 1)[1].split(":")
        provider = ProviderSettings(host=host, port=int(port), scheme="socks5h", username="bench",
                                    username_template="{username}-{country}-{session}", password=Secret(PROXY_PASSWORD))
        return Settings(providers={"bench": provider}).replace(
            server__data_dir=self.data_dir, server__drain_s=2.0, server__log_level="warning",
            redis__url=self.embedded.redis_url, postgres__url=self.embedded.postgres_url,
            tracing__allow_private=True, pool__cooldown_s=0.0, clicks__lease_wait_ms=5000,
            trackier__base_url=self.trackier.url, trackier__api_key=Secret(TRACKIER_KEY),
            trackier__advertiser_id="1", trackier__publisher_id="1", trackier__click_domain="track.example",
            trackier__public_base_url="http://127.0.0.1", trackier__create_pacing_ms=0)

    def double(self, *args: str) -> ServiceProcess:
        proc = ServiceProcess.python("-m", "loadtest", *args)
        self.processes.append(proc)
        proc.wait_listening(60)
        return proc

    def gateway(self, workers: int) -> ServiceProcess:
        s = self.settings
        config = self.data_dir / "bench.ini"
        config.write_text(
            f"[server]\ndata_dir = {self.data_dir}\ndrain_s = 2\nlog_level = info\n"
            "[tracing]\nallow_private = true\n[pool]\ncooldown_s = 0\n[clicks]\nlease_wait_ms = 5000\n"
            f"[trackier]\nbase_url = {s.trackier.base_url}\nadvertiser_id = 1\npublisher_id = 1\n"
            "click_domain = track.example\npublic_base_url = http://127.0.0.1\n"
            f"[provider:bench]\nhost = {s.providers['bench'].host}\nport = {s.providers['bench'].port}\n"
            "scheme = socks5h\nusername = bench\nusername_template = {username}-{country}-{session}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_CONFIG=str(config), GATEWAY_REDIS_URL=s.redis.url, GATEWAY_DATABASE_URL=s.postgres.url,
                   GATEWAY_PROVIDER_BENCH_PASSWORD=PROXY_PASSWORD, GATEWAY_TRACKIER_API_KEY=TRACKIER_KEY,
                   GATEWAY_ADMIN_TOKEN=uuid.uuid4().hex)
        proc = ServiceProcess([sys.executable, "-m", "gateway", "serve", "--workers", str(workers), "--port", "0"],
                              env)
        self.processes.append(proc)
        proc.wait_listening(60)
        return proc

    @staticmethod
    def hammer(url: str, *args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "loadtest", "hammer", url, *args], capture_output=True,
                              text=True, timeout=300, check=True)
        return json.loads(done.stdout)

    def offer(self, slug: str, **fields: object) -> None:
        offers.create(self.rt, {"slug": slug, "name": slug, "country": "us", **fields})


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
    rt = lab.rt
    prefix = f"{rt.settings.redis.prefix}bench:{uuid.uuid4().hex[:8]}:"
    bench_pool = EgressPool(rt.redis, prefix, PoolPolicy(lease_ms=60_000, cooldown_ms=0))
    bench_pool.ensure((f"bench-{i}", "us", True, "bench") for i in range(greenlets))

    def lease_and_release() -> None:
        bench_pool.release(bench_pool.lease(["us"]), "ok", 1.0)

    def two_pings() -> None:
        rt.redis.ping()
        rt.redis.ping()

    try:
        throughput(lease_and_release, greenlets, 0.3)
        pairs_, pings = side_by_side(lambda: throughput(lease_and_release, greenlets, seconds / (2 * ROUNDS)),
                                     lambda: throughput(two_pings, greenlets, seconds / (2 * ROUNDS)), ROUNDS)
    finally:
        keys = list(rt.redis.scan_iter(match=prefix + "*", count=1000))
        if keys:
            rt.redis.delete(*keys)
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
    base = lab.chains.url
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
    egress.provision(lab.rt, "bench", {"us": clicks})
    base = lab.slow_chains.url
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
    egress.provision(lab.rt, "bench", {"us": max(1000, concurrency * 2)})
    base = lab.chains.url
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
    egress.provision(lab.rt, "bench", {"us": 50})
    base = lab.chains.url
    lab.offer("hooks", tracking_url=f"{base}/demo/start?gclid={{click_id}}", final_url=f"{base}/land")
    pairs.create(lab.rt, "hooks", 10)
    tokens = [p.webhook_token for p in lab.rt.pairs.for_offer(lab.rt.offers.get("hooks").id)]
    gateway = lab.gateway(workers=1)
    url = f"{gateway.url}/webhooks/trackier?token={{v}}&click_id=bench-{{n}}"
    lab.hammer(url, "--rate", "50", "--seconds", "1", "--values", ",".join(tokens))
    result = lab.hammer(url, "--rate", str(rate), "--seconds", str(seconds), "--values", ",".join(tokens))
    assert set(result["statuses"]) == {"200"}, result
    return {"webhook_ack_p99_ms": result["p99_ms"], "webhook_ack_p50_ms": result["p50_ms"],
            "webhook_rate": round(result["per_second"])}


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
    "trace": "tracer {tracer_cpu_ms_per_hop} CPU ms/hop vs requests.get {requests_cpu_ms_per_hop} CPU ms/hop on "
             "the same 3xx chain: trace_cpu_ratio {trace_cpu_ratio} (goal <= 1.0)",
}
FIGURES: dict[str, Callable[..., dict]] = {
    "fast_path": fast_path_figures, "overlap": overlap_figures, "traced": traced_figure, "pool": pool_figure,
    "webhooks": webhook_figure, "trace": trace_figure,
}
DEFAULT = ("fast_path", "overlap", "traced", "pool", "webhooks")


def run(settings: Settings, say: Callable[[str], None], names: tuple[str, ...] = DEFAULT,
        options: dict[str, dict] | None = None) -> dict:
    """The named figures (default: every figure of `gateway bench --json`), one line each as it is measured;
    returns them all. `options` holds keyword arguments per figure name."""
    results: dict = {}
    with Lab(settings) as lab:
        for name in names:
            figure = FIGURES[name](lab, **(options or {}).get(name, {}))
            results.update(figure)
            say(f"{name}: " + LINES[name].format(**figure))
    return results
