"""Trace ahead: clicks answered from buckets of fresh traces, each trace to exactly one click; late inline traces
kept for the next click; the filler; the suffix feed and the Google Ads script that reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import gevent
import gevent.event
import pytest
import requests

from gateway.ahead.filler import Demand
from gateway.process import wsgiserver
from gateway.process.app import build_app
from loadtest.chains import chain
from tests.conftest import ADMIN_TOKEN
from tests.helpers import cli_env, run_gateway

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
    assert (record["outcome"], record["egress_id"]) == ("fallback_ahead_empty", None)
    assert gw.rt.pool.census()["us"]["leased"] == 0 and gw.rt.pool.slot("luna-us-1").get("uses", "0") == "0"
    fill(gw)
    assert gw.click("shop", {"gclid": "G2"}).headers["Location"].startswith(f"{chains.url()}/land?")
    assert records_of(gw)[0]["outcome"] == "final_ahead"


def test_a_late_inline_trace_is_used_by_the_next_click(make_gateway, chains):
    """A click of an ahead offer whose bucket was empty traces inline; its trace ends after the click fell back,
    goes into the bucket, and the next click takes it."""
    gw = make_gateway(slots=2)
    slow = chain(chains.url(), ["302"], f"{chains.url()}/land?clickid=late-1&delay_ms=600")
    ahead_offer(gw, chains, tracking_url=slow, wait_ms=100, fallback_url="https://fallback.example/")
    first = gw.click("shop", {"gclid": "G1"})
    assert first.headers["Location"] == "https://fallback.example/?gclid=G1"
    gw.rt.services.background.join(timeout=10)
    second = gw.click("shop", {"gclid": "G2"})
    assert second.headers["Location"] == f"{chains.url()}/land?clickid=late-1&delay_ms=600&gclid=G2"
    late, used = records_of(gw, "fallback_timeout")[0], records_of(gw, "final_ahead")[0]
    assert used["ahead_trace_id"] == late["id"]


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
    assert 1 / 120 < one.rt.filler.demand(offer).clicks_per_s <= 1 / 60  # its own trace is no click
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
    buckets = runtime.stores.buckets
    buckets.put("o", "us", json.dumps({"id": "1"}), max_age_ms=100, depth=5)
    gevent.sleep(0.15)  # the age under test is time itself
    taken = buckets.take("o", "us", max_age_ms=100)
    assert (taken.entry, taken.expired) == (None, 1)
    assert buckets.stats("o") == {"made": 1, "hits": 0, "feed": 0, "misses": 1, "expired": 1}
    for n in range(7):
        buckets.put("o", "us", json.dumps({"id": str(n)}), max_age_ms=60_000, depth=5)
    assert buckets.look("o", "us", 60_000).entries == 5 and buckets.stats("o")["expired"] == 3


def test_the_feed_hands_out_fresh_suffixes_to_its_token_only(make_gateway, chains):
    """`GET /feed/{offer}/suffix` with the offer's feed token: a fresh suffix (the query of the URL a click
    would land on), 204 once the bucket is empty, 401 without or with a wrong token, 404 for an unknown offer."""
    gw = make_gateway(slots=4)
    ahead_offer(gw, chains)
    token = requests.post(f"{gw.url}/api/offers/shop/feed-token", headers=AUTH, timeout=10).json()["feed_token"]
    fill(gw)
    url = f"{gw.url}/feed/shop/suffix"
    got = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    body = got.json()
    suffix = dict(parse_qsl(body["suffix"]))
    assert set(suffix) == {"aff", "clickid", "sub1"} and len(suffix["clickid"]) == 12
    assert body["final_url"].startswith(f"{chains.url()}/land?") and 0 <= body["age_s"] < 300 and body["traced_at"]
    assert requests.get(f"{url}?token={token}", timeout=10).status_code == 204
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    assert requests.get(f"{gw.url}/feed/nope/suffix", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 404
    ahead = requests.get(f"{gw.url}/api/offers/shop/ahead", headers=AUTH, timeout=10).json()
    assert ahead["counts"]["feed"] == 1 and ahead["buckets"][0]["entries"] == 0
    assert ahead["counts"]["misses"] == 2  # the warm-up click and the feed's 204


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the Ads script is not run")
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_ads_script_runs_against_a_google_ads_double(make_gateway, chains, tmp_path, dry_run):
    """`gateway ads-script` prints a script that node parses and that, run against a double of the Google Ads
    runtime and the live gateway, sets a fresh suffix on each labelled campaign (none in a dry run)."""
    gw = make_gateway(slots=6)
    ahead_offer(gw, chains)
    gw.rt.services.feed.rotate_token("shop")
    fill(gw, wanted=3)
    args = ["ads-script", "shop", "--label", "gw shop", "--base-url", gw.url] + (["--dry-run"] if dry_run else [])
    made = run_gateway(*args, env=cli_env(gw.rt.settings, tmp_path))
    assert made.returncode == 0, made.stderr
    script = tmp_path / "ads.js"
    script.write_text(made.stdout)
    assert subprocess.run(["node", "--check", str(script)], capture_output=True, timeout=30).returncode == 0
    campaigns = [{"name": "A", "labels": ["gw shop"]}, {"name": "B", "labels": ["other"]},
                 {"name": "C", "labels": ["gw shop"]}]
    ran = subprocess.run(["node", str(RUNTIME), str(script), json.dumps(campaigns)], capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    suffixes = result["suffixes"]
    if dry_run:
        assert suffixes == {"A": "", "B": "", "C": ""} and any("[dry run]" in line for line in result["log"])
    else:
        assert suffixes["B"] == "" and suffixes["A"] != suffixes["C"]
        assert all(dict(parse_qsl(suffixes[name]))["clickid"] for name in ("A", "C"))
        assert "pass 1: 2 campaign(s) labelled gw shop, 2 updated, 0 without a fresh trace" in result["log"]


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
    for line in ('gateway_ahead_handed_total{offer="shop",use="click"} 1.0',
                 'gateway_ahead_misses_total{offer="shop"} 1.0', 'gateway_ahead_made_total{offer="shop"} 1.0',
                 'gateway_ahead_bucket_depth{country="us",offer="shop"}'):
        assert line in metrics, line
    shown = run_gateway("offers", "show", "shop", env=cli_env(gw.rt.settings, tmp_path))
    assert "bucket us" in shown.stdout and "hits 1" in shown.stdout
