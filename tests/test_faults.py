"""Faults survived by a real `gateway serve` process: a store stopped and started again under it, the
process killed while traces hold slots, upstreams that hang, reset or babble, proxies that refuse.

A test that stops a store owns that store (its own embedded redis-server or PostgreSQL cluster); the other
store is the suite's, under the test's own key prefix or database.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.pool
import pytest
import requests

from gateway.config import Settings
from loadtest.chains import chain
from store.embedded import EmbeddedPostgres
from tests.helpers import GatewayProcess, Process, cli_env, eventually, provider_for
from tests.test_trackier import trackier_settings

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
WAIT_MS = 1500




@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "own", durable=False)
    server.start()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture
def serve(settings: Settings, proxies, tmp_path: Path):
    """`serve(slots=N, **changes)`: provision N slots behind the local SOCKS5 proxy, then start `gateway serve`
    as a child process on the test's stores (with `changes`); returns (process, url, settings)."""
    started: list[GatewayProcess] = []

    def start(slots: int = 3, prepare=None, **changes) -> tuple[GatewayProcess, str, Settings]:
        changes = {"tracing__allow_private": True, "pool__cooldown_s": 0.0, "maintenance__interval_s": 1.0,
                   "server__drain_s": 3.0, "providers": {"luna": provider_for(proxies["socks5"])}, **changes}
        served = settings.replace(**changes)
        with Process.open(served) as rt:
            rt.slots.provision("luna", {"us": slots})
            if prepare:
                prepare(rt)
        started.append(GatewayProcess(env=cli_env(served, tmp_path / f"gw{len(started)}")))
        return started[-1], started[-1].wait_listening(30), served

    yield start
    for proc in started:
        proc.kill()


def shop(chains, **fields) -> dict:
    return {"slug": "shop", "name": "Shop", "country": "us", "wait_ms": WAIT_MS,
            "tracking_url": chain(chains.url(), ["302"], f"{chains.url()}/land?clickid=c1"), **fields}


def click(url: str, gclid: str = "g", slug: str = "shop") -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(f"{url}/c/{slug}?gclid={gclid}", headers=BROWSER, allow_redirects=False, timeout=30)
    return response, time.monotonic() - started


def traced(response: requests.Response, chains) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith(f"{chains.url()}/land")


def fell_back(response: requests.Response, chains) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith(f"{chains.url()}/r/302")


def readyz(url: str) -> tuple[int, dict]:
    response = requests.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def test_redis_down_clicks_fall_back_in_time_and_redis_back_empty_is_rebuilt(serve, own_redis, chains, fake):
    """Redis stops under traffic: every click still gets its fallback redirect within the wait budget (no 5xx),
    /readyz names Redis, postbacks are still acknowledged; Redis comes back empty: one maintenance tick
    rebuilds the pool from the inventory, clicks are traced again and the postback is processed, without a
    restart."""
    def prepare(rt: Process) -> None:
        rt.catalog.create(shop(chains, final_url="https://shop.example/"))
        rt.pair_creation.create("shop", 1)

    proc, url, served = serve(redis__url=own_redis.url, webhooks__stale_after_s=1.0, prepare=prepare,
                              **trackier_settings(fake))
    assert traced(click(url)[0], chains)
    with Process.open(served) as rt:
        token = rt.pairs.for_offer(rt.offers.get("shop").id)[0].webhook_token

    own_redis.stop()
    answers = gevent.pool.Pool(10).map(lambda n: click(url, f"down-{n}"), range(20))
    assert all(fell_back(response, chains) for response, _ in answers), [r.status_code for r, _ in answers]
    assert max(elapsed for _, elapsed in answers) < WAIT_MS / 1000 + 2
    status, body = readyz(url)
    assert status == 503 and not body["stores"]["redis"]["ok"] and body["stores"]["postgres"]["ok"]
    assert requests.get(f"{url}/webhooks/trackier?token={token}&click_id=k1", timeout=10).status_code == 200

    mark = len(proc.log)
    own_redis.start()
    proc.wait_for(re.compile(r"reconciled the live pool with the inventory"), 10, after_line=mark)
    assert traced(click(url, "back")[0], chains)
    assert readyz(url)[0] == 200
    with Process.open(served) as rt:
        eventually(lambda: rt.events.by_status() == {"updated": 1}, 15, "the postback to be processed")
    assert "Traceback" not in proc.output()


def test_a_frozen_redis_costs_a_click_its_wait_not_more(serve, own_redis, chains, fake):
    """Redis hangs (SIGSTOP: it takes connections and answers nothing), the outage that hurts most: every click
    still gets its fallback within the wait budget and the Redis timeout, /readyz names Redis, a postback is still
    acknowledged (it is recorded in PostgreSQL); once Redis answers again, clicks are traced and the postback is
    processed, with no restart."""
    def prepare(rt: Process) -> None:
        rt.catalog.create(shop(chains, final_url="https://shop.example/"))
        rt.pair_creation.create("shop", 1)

    proc, url, served = serve(redis__url=own_redis.url, redis__timeout_s=0.5, redis__connect_timeout_s=0.5,
                              webhooks__stale_after_s=1.0, prepare=prepare, **trackier_settings(fake))
    assert traced(click(url)[0], chains)
    with Process.open(served) as rt:
        token = rt.pairs.for_offer(rt.offers.get("shop").id)[0].webhook_token
    os.kill(own_redis.pid(), signal.SIGSTOP)
    try:
        answers = gevent.pool.Pool(10).map(lambda n: click(url, f"frozen-{n}"), range(10))
        assert all(fell_back(response, chains) for response, _ in answers), [r.status_code for r, _ in answers]
        assert max(elapsed for _, elapsed in answers) < WAIT_MS / 1000 + 3
        status, body = readyz(url)
        assert status == 503 and not body["stores"]["redis"]["ok"] and body["stores"]["postgres"]["ok"]
        assert requests.get(f"{url}/webhooks/trackier?token={token}&click_id=k1", timeout=10).status_code == 200
    finally:
        os.kill(own_redis.pid(), signal.SIGCONT)
    eventually(lambda: traced(click(url, "thawed")[0], chains), 15, "a click traced again")
    with Process.open(served) as rt:
        eventually(lambda: rt.events.by_status() == {"updated": 1}, 20, "the postback to be processed")
    assert readyz(url)[0] == 200 and "Traceback" not in proc.output()


def test_postgres_down_cached_offers_redirect_postbacks_503_records_queue(serve, own_postgres, chains, fake):
    """PostgreSQL stops: clicks of an offer already looked up still redirect (traced, from a stale cached copy);
    postbacks are answered 503 so that Trackier retries; trace records wait in the queue and reach
    PostgreSQL once it is back."""
    def prepare(rt: Process) -> None:
        rt.catalog.create(shop(chains, final_url="https://shop.example/"))
        rt.pair_creation.create("shop", 1)

    proc, url, served = serve(postgres__url=own_postgres.url(), postgres__pool_timeout_s=2.0,
                              clicks__offer_cache_s=0.05, prepare=prepare, **trackier_settings(fake))
    with Process.open(served) as rt:
        token = rt.pairs.for_offer(rt.offers.get("shop").id)[0].webhook_token
    postback = f"{url}/webhooks/trackier?token={token}&click_id=k1"
    assert traced(click(url)[0], chains)
    assert requests.get(postback, timeout=10).status_code == 200

    own_postgres.stop()
    answers = [click(url, f"down-{n}") for n in range(5)]
    assert all(traced(response, chains) for response, _ in answers), [r.status_code for r, _ in answers]
    assert max(elapsed for _, elapsed in answers) < 2.0
    for click_id in ("k2", "k2-again"):  # the first waits out the pool timeout, later ones do not
        refused = requests.get(postback.replace("k1", click_id), timeout=10)
        assert refused.status_code == 503 and refused.headers.get("Retry-After")
        assert refused.elapsed.total_seconds() < (4.0 if click_id == "k2" else 1.5)
    status, body = readyz(url)
    assert status == 503 and not body["stores"]["postgres"]["ok"] and body["stores"]["redis"]["ok"]

    mark = len(proc.log)
    own_postgres.start()
    proc.wait_for(re.compile(r"wrote \d+ queued trace record"), 30, after_line=mark)
    assert requests.get(postback.replace("k1", "k3"), timeout=10).status_code == 200
    with Process.open(served) as rt:
        assert rt.traces.by_outcome() == {"final": 6, "traced": 1}  # 6 clicks, 1 postback
        assert sum(rt.events.by_status().values()) == 2


def test_sigkill_with_100_traces_holding_slots(serve, chains, fake, tmp_path):
    """The gateway dies (SIGKILL) while 100 traces hold slots and 3 acknowledged postbacks wait for one: after a
    restart every slot is back within one maintenance tick of its lease deadline, none stuck, and the
    postbacks are processed."""
    def prepare(rt: Process) -> None:
        rt.catalog.create(shop(chains, slug="hold", wait_ms=1000, tracking_url=f"{chains.url()}/hang?s=60"))
        rt.catalog.create(shop(chains, final_url="https://shop.example/"))
        rt.pair_creation.create("shop", 3)

    lease_s = 3.0
    proc, url, served = serve(slots=100, prepare=prepare, pool__lease_s=lease_s, webhooks__stale_after_s=1.0,
                              webhooks__processing_timeout_s=1.0, **trackier_settings(fake))
    answers = gevent.pool.Pool(100).map(
        lambda n: requests.get(f"{url}/c/hold?gclid=k{n}", headers=BROWSER, allow_redirects=False, timeout=30),
        range(100))
    assert all(a.status_code == 302 for a in answers)
    with Process.open(served) as rt:
        assert rt.pool.census()["us"]["leased"] == 100
        tokens = [p.webhook_token for p in rt.pairs.for_offer(rt.offers.get("shop").id)]
        acked = [requests.get(f"{url}/webhooks/trackier?token={t}&click_id=pb{n}", timeout=10)
                 for n, t in enumerate(tokens)]
        assert [a.status_code for a in acked] == [200] * 3
        killed = time.monotonic()
        proc.proc.kill()
        proc.proc.wait(10)
        assert rt.events.by_status().keys() <= {"pending", "processing"}

        serve_again = GatewayProcess(env=cli_env(served, tmp_path / "again"))
        try:
            url = serve_again.wait_listening(30)
            eventually(lambda: rt.pool.census()["us"]["leased"] == 0, killed + lease_s + 3 - time.monotonic(),
                       "the dead process's leases to be reaped")
            assert rt.pool.census()["us"]["quarantined"] == 0
            eventually(lambda: rt.events.by_status() == {"updated": 3}, 30, "the postbacks to be processed")
            assert len(fake.overrides) == 3
            assert traced(click(url)[0], chains)
        finally:
            serve_again.kill()


FAULTS = ("hang", "close", "reset", "garbage", "trickle", "headers")


@pytest.fixture
def broken():
    from loadtest.upstreams import BrokenUpstream

    server = BrokenUpstream().start()
    yield server
    server.stop()


def test_upstreams_that_hang_reset_or_babble_end_in_budget_and_free_their_slot(serve, broken):
    """Every broken upstream (no answer, a close, a reset, garbage, a body trickling forever, half a status
    line) ends its trace inside the trace budget; the click falls back within its wait; the slot is
    released, and not blamed (the chain failed, not the egress)."""
    total_s = 3.0

    def prepare(rt: Process) -> None:
        for fault in FAULTS:
            rt.catalog.create({"slug": fault, "name": fault, "country": "us", "wait_ms": WAIT_MS,
                               "tracking_url": broken.url(fault)})

    _, url, served = serve(slots=len(FAULTS), prepare=prepare, tracing__connect_timeout_s=1.0,
                           tracing__read_timeout_s=1.0, tracing__total_timeout_s=total_s)

    answers = dict(zip(FAULTS, gevent.pool.Pool(len(FAULTS)).map(lambda fault: click(url, slug=fault), FAULTS),
                       strict=True))
    for fault, (response, elapsed) in answers.items():
        assert response.status_code == 302 and response.headers["Location"] == broken.url(fault) + "?gclid=g", fault
        assert elapsed < WAIT_MS / 1000 + 1.5, (fault, elapsed)
    with Process.open(served) as rt:
        eventually(lambda: len(rt.traces.recent()) == len(FAULTS), total_s + 5, "every trace's record")
        for record in rt.traces.recent():
            assert record["outcome"] in ("fallback_error", "fallback_timeout"), record
            assert record["trace_ms"] <= total_s * 1000 + 500, record
        census = rt.pool.census()["us"]
        assert (census["leased"], census["quarantined"], census["ready"]) == (0, 0, len(FAULTS))


@pytest.mark.parametrize(("kind", "fault"), [("http", "reject"), ("http", "bad_auth"), ("socks5", "reject")])
def test_a_failing_proxy_is_quarantined_traffic_moves_and_it_comes_back(serve, proxies, chains, kind, fault):
    """A provider whose proxy fails (a 502 whose Proxy-Status blames the proxy / a SOCKS general failure) or
    refuses the credentials (407): its slots are quarantined
    after `fail_threshold` failures each and clicks move to the healthy provider; once the proxy recovers,
    maintenance lets its slots back half-open and a good trace makes them ready again."""
    def prepare(rt: Process) -> None:
        rt.slots.provision("flaky", {"us": 2})
        rt.catalog.create(shop(chains))

    flaky, healthy = proxies[kind], proxies["socks5" if kind == "http" else "http"]
    _, url, served = serve(slots=2, prepare=prepare, pool__fail_threshold=2, pool__quarantine_s=2.0,
                           providers={"luna": provider_for(healthy), "flaky": provider_for(flaky)})
    flaky.mode = fault
    with Process.open(served) as rt:
        answers = [click(url, f"k{n}")[0] for n in range(12)]
        assert rt.pool.census()["us"]["quarantined"] == 2
        assert all(traced(a, chains) for a in answers[-4:])
        assert all(traced(a, chains) or fell_back(a, chains) for a in answers)

        flaky.mode = "ok"
        eventually(lambda: rt.pool.census()["us"]["quarantined"] == 0, 10, "the quarantine to end")
        answers = [click(url, f"back{n}")[0] for n in range(8)]
        assert all(traced(a, chains) for a in answers)
        assert rt.pool.census()["us"] == {**rt.pool.census()["us"], "ready": 4, "quarantined": 0}
        assert flaky.stats.by_user, "the recovered proxy carried traces again"
