"""Trace ahead: clicks answered from buckets of fresh traces, each trace to exactly one click; late inline traces
kept for the next click; the filler; the suffix feed and the Google Ads script that reads it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import gevent
import gevent.event
import pytest
import redis
import requests

from gateway.ahead.filler import Demand
from gateway.process import wsgiserver
from gateway.process.app import build_app
from loadtest.chains import chain
from store.buckets import Bucket, Take
from tests.conftest import ADMIN_TOKEN
from tests.helpers import StallingRedis, cli_env, run_gateway

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RUNTIME = Path(__file__).with_name("ads_runtime.js")


def ahead_offer(gw, chains, slug: str = "shop", mode: str = "ahead", **fields) -> None:
    gw.rt.catalog.create({"slug": slug, "name": slug.title(), "country": "us", "click_mode": mode,
                          "tracking_url": f"{chains.url()}/demo/start?aff=7", **fields})


def fill(gw, wanted: int = 1, slug: str = "shop") -> int:
    """Let the filler see demand (one recorded click), want `wanted` traces (the demand rule has a test of its own)
    and run one tick to the end of its traces."""
    gw.rt.filler.wanted = lambda offer, demand: wanted
    if not gw.rt.records.queue and not gw.rt.click_stats.minutes(str(gw.rt.offers.get(slug).id), 1)[0]["counts"]:
        gw.click(slug, {"gclid": "warm-up"})
    assert gw.rt.records.flush(10)
    started = gw.rt.filler.tick()
    gw.rt.services.background.join(timeout=30)
    return started


def records_of(gw, outcome: str | None = None) -> list[dict]:
    assert gw.rt.records.flush(10)
    rows = gw.rt.traces.recent(limit=500)
    return [r for r in rows if outcome in (None, r["outcome"])]


def test_an_ahead_click_takes_a_fresh_trace_no_other_click_got(make_gateway, chains):
    """Each click of an ahead offer takes one trace made ahead: it starts no trace of its own (no lease, no hops
    of its own), lands where that trace ended with the chain's clickid and its own inbound parameters, and no two
    clicks get the same trace."""
    gw = make_gateway(slots=10, ahead__depth=4)
    ahead_offer(gw, chains)
    assert fill(gw, wanted=4) == 4
    made = {r["id"] for r in records_of(gw) if r["source"] == "ahead" and r["outcome"] == "traced"}
    assert len(made) == 4
    answers = [gw.click("shop", {"gclid": f"G{n}", "utm_source": "ads"}) for n in range(4)]
    taken = records_of(gw, "final_ahead")
    assert len(taken) == 4 and {r["ahead_trace_id"] for r in taken} == made
    for answer in answers:
        query = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
        assert answer.status_code == 302 and len(query["clickid"]) == 12 and query["utm_source"] == "ads"
    assert all(r["lease_wait_ms"] is None and r["trace_ms"] is None and r["hops"] == [] for r in taken)
    assert all(0 <= r["ahead_age_ms"] <= 300_000 for r in taken)
    assert len({dict(parse_qsl(urlsplit(a.headers["Location"]).query))["clickid"] for a in answers}) == 4
    fifth = gw.click("shop", {"gclid": "G5"})  # the bucket is empty: traced inline
    assert fifth.status_code == 302 and records_of(gw)[0]["outcome"] == "final"


def test_ahead_only_answers_from_the_bucket_or_falls_back_at_once(make_gateway, chains):
    """`ahead_only` never waits: an empty bucket sends the visitor to the fallback without leasing a slot."""
    gw = make_gateway(slots=2)
    ahead_offer(gw, chains, mode="ahead_only", fallback_url="https://fallback.example/")
    answer = gw.click("shop", {"gclid": "G"})
    assert answer.headers["Location"] == "https://fallback.example/?gclid=G"
    (record,) = records_of(gw)
    assert (record["outcome"], record["slot_id"]) == ("fallback_ahead_empty", None)
    assert gw.rt.pool.census()["us"]["leased"] == 0 and gw.rt.pool.slot("luna-us-1").get("uses", "0") == "0"
    fill(gw)
    assert gw.click("shop", {"gclid": "G2"}).headers["Location"].startswith(f"{chains.url()}/land?")
    assert records_of(gw)[0]["outcome"] == "final_ahead"


def test_a_late_inline_trace_is_used_by_the_next_click(make_gateway, chains):
    """A click of an ahead offer whose bucket was empty traces inline; its trace ends after the click fell back and,
    since nothing of the click went into it (no pass-through parameter), goes into the bucket: the next click takes
    it."""
    gw = make_gateway(slots=2)
    slow = chain(chains.url(), ["302"], f"{chains.url()}/land?clickid=late-1&delay_ms=600")
    ahead_offer(gw, chains, tracking_url=slow, wait_ms=100, fallback_url="https://fallback.example/")
    first = gw.click("shop", {"ref": "nav"})
    assert first.headers["Location"] == "https://fallback.example/"
    gw.rt.services.background.join(timeout=10)
    second = gw.click("shop", {"gclid": "G2"})
    assert second.headers["Location"] == f"{chains.url()}/land?clickid=late-1&delay_ms=600&gclid=G2"
    late, used = records_of(gw, "fallback_timeout")[0], records_of(gw, "final_ahead")[0]
    assert used["ahead_trace_id"] == late["id"]


def test_a_late_trace_made_with_a_clicks_values_never_reaches_another_visitor(make_gateway, chains):
    """A chain that copies the click's query into the landing page, traced late for a click carrying gclid and
    utm_* values: the trace is recorded, kept out of the bucket and counted `late_private`; the next visitor and the
    suffix feed never see the first visitor's values or its click id."""
    gw = make_gateway(slots=2)
    ahead_offer(gw, chains, tracking_url=f"{chains.url()}/demo/start?aff=7&delay_ms=150", wait_ms=50,
                fallback_url="https://fallback.example/")
    token = gw.rt.catalog.rotate_feed_token("shop").feed_token
    gw.click("shop", {"gclid": "VICTIM", "utm_term": "evil-term", "utm_content": "evil-content"})
    gw.rt.services.background.join(timeout=10)
    private = records_of(gw, "fallback_timeout")[0]
    assert private["final_url"] and "VICTIM" in private["final_url"], "the chain copied the click's values"
    assert gw.rt.ahead.status(gw.rt.offers.get("shop"))["counts"]["late_private"] == 1
    second = gw.click("shop", {"gclid": "G2"})
    feed = requests.get(f"{gw.url}/feed/shop/suffix", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert "VICTIM" not in second.headers["Location"] and "evil" not in second.headers["Location"]
    assert feed.status_code == 204
    assert not records_of(gw, "final_ahead")


def test_inline_offers_keep_nothing(make_gateway, chains):
    """An inline offer's late trace is recorded as before and kept nowhere."""
    gw = make_gateway(slots=2)
    slow = chain(chains.url(), ["302"], f"{chains.url()}/land?delay_ms=400")
    ahead_offer(gw, chains, mode="inline", tracking_url=slow, wait_ms=50)
    gw.click("shop", {"gclid": "G1"})
    gw.rt.services.background.join(timeout=10)
    assert gw.rt.ahead.status(gw.rt.offers.get("shop"))["counts"]["made"] == 0


@pytest.mark.parametrize("body", [{"click_mode": "ahead"}, {"click_mode": "ahead_only"}])
def test_per_click_macros_cannot_be_traced_ahead(gateway, chains, body):
    """A tracking URL filled from each click cannot be traced before the click: a 400 naming click_mode and the
    macro, on creation and on change."""
    offer = {"slug": "m", "name": "M", "country": "us", "tracking_url": f"{chains.url()}/land?g={{gclid}}"}
    created = requests.post(f"{gateway.url}/api/offers", json={**offer, **body}, headers=AUTH, timeout=10)
    assert created.status_code == 400 and created.json()["error"]["field"] == "click_mode"
    assert "{gclid}" in created.json()["error"]["message"]
    assert requests.post(f"{gateway.url}/api/offers", json=offer, headers=AUTH, timeout=10).status_code == 201
    changed = requests.patch(f"{gateway.url}/api/offers/m", json=body, headers=AUTH, timeout=10)
    assert changed.status_code == 400 and changed.json()["error"]["field"] == "click_mode"


def test_two_processes_never_hand_one_trace_to_two_clicks(make_gateway, chains):
    """Two gateway processes on the same stores, 40 clicks at once on a bucket of 10: ten clicks get a trace each,
    all different; the other thirty are traced inline."""
    one = make_gateway(slots=40, ahead__depth=10, webhooks__lease_wait_ms=100)
    ahead_offer(one, chains)
    fill(one, wanted=10)
    two = make_gateway(slots=1)
    start = gevent.event.Event()

    def click(gw, n: int) -> int:
        start.wait()
        return gw.click("shop", {"gclid": f"G{n}"}).status_code

    jobs = [gevent.spawn(click, (one, two)[n % 2], n) for n in range(40)]
    start.set()
    gevent.joinall(jobs, raise_error=True)
    assert {job.value for job in jobs} == {302}
    two.rt.records.flush(10)
    used = [r["ahead_trace_id"] for r in records_of(one, "final_ahead")]
    assert len(used) == 10 and len(set(used)) == 10


def test_the_filler_fills_one_bucket_per_cluster_and_follows_demand(make_gateway, chains):
    """Two processes' fillers: only the one holding the bucket traces. An offer without clicks for idle_s is not
    traced; the depth wanted follows the click rate and the age limit."""
    one = make_gateway(slots=10, ahead__max_age_s=30)
    two = make_gateway(slots=1)
    ahead_offer(one, chains)
    offer = one.rt.offers.get("shop")
    assert one.rt.filler.demand(offer).idle and one.rt.filler.tick() == 0
    one.click("shop", {"gclid": "G"})
    assert one.rt.records.flush(10)
    assert one.rt.filler.tick() == 1 and two.rt.filler.tick() == 0
    one.rt.services.background.join(timeout=30)
    assert one.rt.records.flush(10)
    assert 1 / 120 < one.rt.filler.demand(offer).uses_per_s <= 1 / 60  # its own trace is no click
    filler = one.rt.filler
    assert filler.wanted(offer, Demand(0.0, idle=True)) == 0
    assert filler.wanted(offer, Demand(0.001, idle=False)) == 1
    assert filler.wanted(offer, Demand(0.01, idle=False)) == 1
    assert filler.wanted(offer, Demand(0.1, idle=False)) == 3  # 0.1/s x 30 s x 0.8
    assert filler.wanted(offer, Demand(10.0, idle=False)) == 5  # at most the depth


def test_a_click_that_takes_a_trace_wakes_its_processs_filler(make_gateway, chains):
    """The filler looks again as soon as a click of its process took a trace, not at its next tick (60 s here)."""
    gw = make_gateway(slots=4, ahead__tick_s=60)
    ahead_offer(gw, chains)
    filler = gw.rt.filler
    fill(gw, wanted=2)
    ticked, tick = gevent.event.Event(), filler.tick
    filler.tick = lambda: (started := tick(), ticked.set(), started)[2]
    filler.start()
    try:
        assert ticked.wait(10)  # the tick at start: the bucket is full
        ticked.clear()
        assert gw.click("shop", {"gclid": "G"}).status_code == 302
        assert ticked.wait(10), "the take did not wake the filler"
    finally:
        filler.stop()
    gw.rt.services.background.join(timeout=30)
    assert gw.rt.ahead.status(gw.rt.offers.get("shop"))["buckets"][0]["entries"] == 2


def test_traces_past_their_age_are_never_handed_out(runtime):
    """A bucket drops entries older than the offer's age limit before handing one out, and counts them."""
    buckets, bucket = runtime.stores.buckets, Bucket("o", "v1", "us")
    buckets.put(bucket, json.dumps({"id": "1"}), max_age_ms=100, depth=5)
    gevent.sleep(0.15)  # the age under test is time itself
    taken = buckets.take(bucket, Take(max_age_ms=100, use="clicks", answer_within_ms=30_000))
    assert (taken.entry, taken.expired) == (None, 1)
    assert buckets.stats("o") == {"made": 1, "clicks": 0, "feed": 0, "misses": 1, "limited": 0, "expired": 1,
                                  "late_private": 0, "taken_unanswered": 0}
    for n in range(7):
        buckets.put(bucket, json.dumps({"id": str(n)}), max_age_ms=60_000, depth=5)
    assert buckets.look(bucket, 60_000).entries == 5 and buckets.stats("o")["expired"] == 3


def test_ahead_state_is_seen_in_metrics_and_offers_show(make_gateway, chains, tmp_path):
    """Hits, misses, traces made and buckets show in /metrics; `offers show` prints the buckets."""
    gw = make_gateway(slots=4)
    ahead_offer(gw, chains)
    fill(gw)
    gw.click("shop", {"gclid": "G"})
    server = wsgiserver.start(build_app(gw.rt.services))
    try:
        metrics = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).text
    finally:
        server.stop(timeout=1)
    for line in ('gateway_ahead_handed_total{offer="shop",use="clicks"} 1.0',
                 'gateway_ahead_misses_total{offer="shop"} 1.0', 'gateway_ahead_made_total{offer="shop"} 1.0',
                 'gateway_ahead_bucket_depth{country="us",offer="shop"}'):
        assert line in metrics, line
    shown = run_gateway("offers", "show", "shop", env=cli_env(gw.rt.settings, tmp_path))
    assert "bucket us" in shown.stdout and "clicks 1" in shown.stdout


def test_a_take_sent_again_after_a_timeout_gets_the_same_entries(make_runtime, store_urls):
    """Redis ran a take, but its reply came after the client's timeout and redis-py sent the take again: the second
    run answers what the first took (the take's id is remembered), so one take takes one entry, never two."""
    proxy = StallingRedis(store_urls.redis).start()
    try:
        rt = make_runtime(redis__url=proxy.url, redis__timeout_s=0.3)
        buckets, bucket = rt.stores.buckets, Bucket("o", "v1", "us")
        for n in range(4):
            buckets.put(bucket, json.dumps({"id": f"00000000-0000-0000-0000-00000000000{n}"}), 60_000, depth=5)
        proxy.stall(1.0)
        sent_before = proxy.commands["EVALSHA"]
        taken = buckets.take(bucket, Take(60_000, "clicks", 30_000))
        assert proxy.stalled.wait(5) and proxy.commands["EVALSHA"] - sent_before == 2, "the take was not sent twice"
    finally:
        proxy.stop()
    assert json.loads(taken.entry)["id"].endswith("0")
    assert buckets.stats("o")["clicks"] == 1
    assert [json.loads(e)["id"][-1] for e in rt.stores.redis.zrange(buckets.bucket_key(bucket), 0, -1)] == \
        ["1", "2", "3"]


def test_entries_whose_use_was_never_answered_are_counted_and_never_handed_again(make_gateway, chains):
    """A process that took a trace and died before answering: the entry is gone from the bucket (no other use gets
    it) and, once `[ahead] answer_within_s` has passed, counted `taken_unanswered`; answered uses are not."""
    gw = make_gateway(slots=4, ahead__answer_within_s=1)
    ahead_offer(gw, chains)
    fill(gw, wanted=3)
    offer = gw.rt.offers.get("shop")
    dead = gw.rt.ahead.take(offer)  # taken, and its process "dies": never answered
    gw.rt.ahead.answers.sent.clear()
    answered = [gw.click("shop", {"gclid": f"G{n}"}) for n in range(2)]
    assert gw.rt.ahead.answers.sent.wait(5), "the answered uses were not sent in the background"
    assert not gw.rt.ahead.answers.pending
    gevent.sleep(1.1)  # the time under test: past answer_within_s
    assert gw.rt.ahead.look(offer, "us").unanswered == 1
    counts = gw.rt.ahead.status(offer)["counts"]
    assert (counts["clicks"], counts["taken_unanswered"]) == (3, 1)
    used = {r["ahead_trace_id"] for r in records_of(gw, "final_ahead")}
    assert len(used) == 2 and str(dead.trace.trace_id) not in used and all(a.status_code == 302 for a in answered)


def test_a_change_of_what_shapes_a_trace_leaves_the_old_traces_behind(make_gateway, chains):
    """Traces made for the old tracking URL are never handed out after a change of it (nor of the country, the user
    agent or the parameter policy); a change of the name keeps them."""
    gw = make_gateway(slots=4)
    ahead_offer(gw, chains)
    fill(gw, wanted=3)
    requests.patch(f"{gw.url}/api/offers/shop", json={"name": "Renamed"}, headers=AUTH, timeout=10).raise_for_status()
    assert gw.click("shop", {"gclid": "G1"}).headers["Location"].startswith(f"{chains.url()}/land?aff=7&")
    new_chain = chain(chains.url(), ["302"], f"{chains.url()}/land?clickid=new-chain")
    changed = requests.patch(f"{gw.url}/api/offers/shop", json={"tracking_url": new_chain}, headers=AUTH, timeout=10)
    assert changed.status_code == 200
    assert gw.rt.ahead.status(gw.rt.offers.get("shop"))["buckets"][0]["entries"] == 0
    landed = gw.click("shop", {"gclid": "G2"}).headers["Location"]
    assert landed == f"{chains.url()}/land?clickid=new-chain&gclid=G2"
    assert records_of(gw)[0]["outcome"] == "final"


def test_a_feed_only_offer_is_filled_from_its_first_poll_and_idles_without(make_gateway, chains):
    """An ahead_only offer nobody clicks (parallel tracking: the feed is its only consumer): its first poll finds
    the bucket empty, counts as demand and wakes the filler; the next poll gets a suffix. Without a poll for
    `[ahead] idle_s` the offer is idle again."""
    gw = make_gateway(slots=4, ahead__tick_s=60)
    ahead_offer(gw, chains, mode="ahead_only")
    token = gw.rt.catalog.rotate_feed_token("shop").feed_token
    offer = gw.rt.offers.get("shop")
    put, filled = gw.rt.ahead.put, gevent.event.Event()
    gw.rt.ahead.put = lambda *args: (put(*args), filled.set())
    gw.rt.filler.start()
    try:
        first = requests.get(f"{gw.url}/feed/shop/suffix", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert first.status_code == 204
        assert filled.wait(10), "the feed's miss did not get the bucket filled"
        second = requests.get(f"{gw.url}/feed/shop/suffix", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        gw.rt.filler.stop()
    assert second.status_code == 200 and dict(parse_qsl(second.json()["suffix"]))["clickid"]
    assert not gw.rt.filler.demand(offer).idle and gw.rt.filler.demand(offer).uses_per_s > 0
    long_ago = time.time() - gw.rt.settings.ahead.idle_s - 120
    feed_key = gw.rt.stores.buckets.feed_key(str(offer.id))
    gw.rt.stores.redis.delete(feed_key)
    gw.rt.stores.redis.hset(feed_key, mapping={"last": round(long_ago * 1000), str(int(long_ago // 60)): 2})
    assert gw.rt.filler.demand(offer).idle and gw.rt.filler.tick() == 0


def test_the_filler_refills_after_redis_refused_writes(make_gateway, chains, own_redis):
    """Redis out of memory (`maxmemory` below what it holds): the filler's ticks fail with an error reply, are
    logged, counted and tried again with a backoff; the feed answers 503, not 500. Once Redis takes writes again the
    filler, still running, fills the bucket."""
    gw = make_gateway(slots=4, redis__url=own_redis.url, ahead__tick_s=0.05)
    ahead_offer(gw, chains)
    token = gw.rt.catalog.rotate_feed_token("shop").feed_token
    gw.rt.filler.wanted = lambda offer, demand: 2
    failed, put, filled = gevent.event.Event(), gw.rt.ahead.put, gevent.event.Event()
    refused = gw.rt.filler._failed
    gw.rt.filler._failed = lambda *args: (failed.set(), refused(*args))
    gw.rt.ahead.put = lambda *args: (put(*args), filled.set())
    admin = redis.Redis.from_url(own_redis.url)
    admin.config_set("maxmemory", 1)
    try:
        gw.rt.filler.start()
        assert failed.wait(10), "the filler did not meet the refusal"
        feed = requests.get(f"{gw.url}/feed/shop/suffix", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert feed.status_code == 503 and feed.headers["Retry-After"]
        assert not filled.is_set()
        admin.config_set("maxmemory", 0)
        assert filled.wait(20), "the filler did not fill the bucket once Redis took writes again"
        assert not gw.rt.filler.greenlet.dead
    finally:
        gw.rt.filler.stop()
        admin.config_set("maxmemory", 0)
        admin.close()
    assert gw.rt.metrics.registry.get_sample_value("gateway_ahead_filler_errors_total", {"kind": "store"}) >= 1


def test_a_filler_whose_loop_dies_starts_again(make_gateway, chains):
    """Whatever kills the filler's loop (here an exception no handler catches), it is logged, counted and started
    again: the filler never stays dead."""
    gw = make_gateway(slots=2, ahead__tick_s=60)

    class Crash(BaseException):
        pass

    ticks, again = [], gevent.event.Event()

    def tick() -> int:
        ticks.append(1)
        if len(ticks) == 1:
            raise Crash("a bug no handler catches")
        again.set()
        return 0

    gw.rt.filler.tick = tick
    gw.rt.filler.start()
    try:
        assert again.wait(10), "the filler did not start again"
    finally:
        gw.rt.filler.stop()
    assert gw.rt.metrics.registry.get_sample_value("gateway_ahead_filler_errors_total", {"kind": "crash"}) == 1
