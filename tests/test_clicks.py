"""The click path end to end: real Redis and PostgreSQL, the local chain server, a real SOCKS5 proxy."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import gevent
import pytest
import requests

from loadtest.chains import chain
from tests.conftest import ADMIN_TOKEN
from tests.helpers import Gateway, Process


def offer(gw: Gateway, slug: str = "shoes", **fields) -> None:
    gw.rt.catalog.create({"slug": slug, "name": slug.title(), "country": "us", **fields})


def query(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


def test_a_click_lands_on_the_traced_page_with_chain_and_inbound_parameters(gateway, chains):
    """The redirect carries the final URL's own query, what the chain handed out on the way, and the inbound
    parameters, which win on a clash; redirect carriers (to=) are not handed out."""
    final = f"{chains.url(1)}/land?clickid=C7&x=chain#lp"
    second = f"{chains.url()}/r/meta?{urlencode({'sub_aff': '77', 'to': final})}"
    offer(gateway, tracking_url=f"{chains.url()}/r/302?{urlencode({'to': second})}&aff=1")
    response = gateway.click("shoes", {"gclid": "G-1", "x": "inbound"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{chains.url(1)}/land?clickid=C7&sub_aff=77&gclid=G-1&x=inbound#lp"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    (record,) = gateway.records(1)
    assert (record["outcome"], record["slot_id"][:8], record["final_url"]) == ("final", "luna-us-", final)
    assert record["inbound"] == [["gclid", "G-1"], ["x", "inbound"]]
    assert str(record["id"]) == response.headers["X-Click-Id"]


def test_the_policy_filters_and_renames_what_the_chain_hands_out(gateway, chains):
    """An allow list keeps only the named chain parameters, under their new names."""
    final = f"{chains.url()}/land?lp=1"
    second = f"{chains.url()}/r/js?{urlencode({'transaction_id': 'T9', 'aff_sub': 's', 'to': final})}"
    offer(gateway, tracking_url=f"{chains.url()}/r/302?{urlencode({'to': second})}",
          param_policy={"mode": "allow", "params": ["transaction_id"], "rename": {"transaction_id": "tid"}})
    location = gateway.click("shoes", {"gclid": "G"}).headers["Location"]
    assert query(location) == [("lp", "1"), ("tid", "T9"), ("gclid", "G")]


def test_macros_are_filled_url_encoded_and_other_inbound_parameters_appended(gateway, chains):
    """`{gclid}` takes the inbound value URL-encoded; inbound parameters without a macro are appended; a
    macro the click lacks becomes empty."""
    offer(gateway, tracking_url=f"{chains.url()}/land?g={{gclid}}&s={{sub}}&fixed=1")
    gateway.click("shoes", "gclid=a%20b%26c%3Dd&utm_source=ads%2Bx")
    (record,) = gateway.records(1)
    first = record["hops"][0]["url"]
    assert first == f"{chains.url()}/land?g=a%20b%26c%3Dd&s=&fixed=1&utm_source=ads%2Bx"


def test_a_slow_chain_falls_back_in_time_and_is_recorded_when_it_ends(gateway, chains):
    """Past wait_ms the user gets the fallback with the inbound parameters; the trace goes on, is recorded
    as fallback_timeout with its final URL, and releases its slot."""
    offer(gateway, tracking_url=chain(chains.url(), ["302"], f"{chains.url()}/land?delay_ms=2500"),
          fallback_url="https://fallback.example/offer?src=gw", wait_ms=200)
    started = time.monotonic()
    response = gateway.click("shoes", {"gclid": "G2"})
    assert time.monotonic() - started < 1.5, "answered before the chain ended (a generous bound on a busy machine)"
    assert response.headers["Location"] == "https://fallback.example/offer?src=gw&gclid=G2"
    (record,) = gateway.records(1)
    assert record["outcome"] == "fallback_timeout"
    assert record["final_url"] == f"{chains.url()}/land?delay_ms=2500"
    assert record["trace_ms"] >= 2400 and record["total_ms"] < 1500
    assert gateway.rt.pool.census()["us"]["leased"] == 0


def test_no_free_slot_falls_back(make_gateway, chains):
    """With every slot leased the click falls back at once (fallback_no_egress)."""
    gw = make_gateway(slots=1, clicks__lease_wait_ms=0)
    offer(gw, tracking_url=f"{chains.url()}/land")
    held = gw.rt.pool.lease(["us"])
    response = gw.click("shoes", {"gclid": "G3"})
    assert response.headers["Location"] == f"{chains.url()}/land?gclid=G3"
    assert gw.records(1)[0]["outcome"] == "fallback_no_egress"
    gw.rt.pool.release(held, "ok")


def test_a_chain_error_falls_back(gateway, chains):
    """A chain ending in an error page falls back (fallback_error) and the error is recorded."""
    offer(gateway, tracking_url=chain(chains.url(), ["302"], f"{chains.url()}/status/503"))
    response = gateway.click("shoes")
    assert response.headers["Location"].startswith(f"{chains.url()}/r/302?")
    (record,) = gateway.records(1)
    assert (record["outcome"], record["error"]) == ("fallback_error", "http_error")


@pytest.mark.parametrize(("method", "headers", "status", "outcome"), [
    ("HEAD", {}, 302, "fallback_bot"),
    ("GET", {"User-Agent": "Mozilla/5.0 (compatible; AdsBot-Google; +http://www.google.com/adsbot.html)"}, 302,
     "fallback_bot"),
    ("GET", {"User-Agent": ""}, 302, "fallback_bot"),
    ("GET", {"Sec-Purpose": "prefetch"}, 302, "fallback_bot"),
    ("POST", {}, 204, "beacon"),
])
def test_heads_bots_prefetches_and_beacons_spend_no_slot(gateway, chains, method, headers, status, outcome):
    """HEAD, bot and prefetch requests get the fallback without a trace; a POST beacon gets 204; no lease."""
    offer(gateway, tracking_url=f"{chains.url()}/land")
    response = gateway.click("shoes", {"gclid": "G"}, method, **headers)
    assert response.status_code == status
    assert response.headers.get("Location") == (f"{chains.url()}/land?gclid=G" if status == 302 else None)
    assert gateway.records(1)[0]["outcome"] == outcome
    assert gateway.rt.pool.take_window().get("leases:us") is None


def test_unknown_and_disabled_offers_are_404_without_a_redirect(gateway, chains):
    """An unknown or disabled offer answers 404 and never redirects."""
    offer(gateway, tracking_url=f"{chains.url()}/land")
    gateway.rt.catalog.set_enabled("shoes", False)
    for slug in ("shoes", "nope", "NOT-A-SLUG"):
        response = gateway.click(slug)
        assert response.status_code == 404 and "Location" not in response.headers
    track_hit = requests.get(f"{gateway.url}/track-hit?gclid=x", allow_redirects=False, timeout=10)
    assert track_hit.status_code == 404


def test_track_hit_is_the_same_click(gateway, chains):
    """`/track-hit?offer=SLUG&...` behaves like `/c/SLUG?...` and does not forward `offer`."""
    offer(gateway, tracking_url=f"{chains.url()}/land?lp=1")
    response = requests.get(f"{gateway.url}/track-hit?offer=shoes&gclid=T", allow_redirects=False, timeout=10,
                            headers={"User-Agent": "Mozilla/5.0 Chrome/131"})
    assert response.headers["Location"] == f"{chains.url()}/land?lp=1&gclid=T"


def test_an_offer_change_is_seen_by_the_next_click_in_every_process(make_gateway, chains):
    """A change made through one process reaches another process's cache at once (pub/sub), not after TTL."""
    first = make_gateway(clicks__offer_cache_s=300)
    second = Process.open(first.rt.settings)
    try:
        offer(first, tracking_url=f"{chains.url()}/land?v=1")
        assert first.click("shoes").headers["Location"] == f"{chains.url()}/land?v=1"
        dropped = gevent.event.Event()
        subscription = first.rt.offer_cache.subscription
        original = subscription.on_message
        subscription.on_message = lambda slug: (original(slug), dropped.set())
        second.catalog.update("shoes", {"tracking_url": f"{chains.url()}/land?v=2"})
        assert dropped.wait(5)
        assert first.click("shoes").headers["Location"] == f"{chains.url()}/land?v=2"
    finally:
        second.close()


def test_500_simultaneous_clicks_over_50_slots(make_gateway, chains, proxies):
    """500 clicks at once on 50 slots and a 300 ms chain: every click is redirected, no slot carries two
    traces at once (the proxy's own log), and Redis counters and PostgreSQL records both add up to 500."""
    gw = make_gateway(slots=50)
    offer(gw, tracking_url=chain(chains.url(), ["302"], f"{chains.url()}/land?delay_ms=300"), wait_ms=5000)
    start = gevent.event.Event()

    def one(n: int) -> int:
        start.wait()
        return gw.click("shoes", {"gclid": f"G{n}"}).status_code

    jobs = [gevent.spawn(one, n) for n in range(500)]
    start.set()
    gevent.joinall(jobs, raise_error=True)
    assert [job.value for job in jobs] == [302] * 500
    records = gw.records(500)
    outcomes = [r["outcome"] for r in records]
    assert len(records) == 500 and outcomes.count("final") >= 50
    assert set(outcomes) <= {"final", "fallback_no_egress"}
    assert proxies["socks5"].stats.max_concurrency() == 1
    offer_id = str(gw.rt.offers.get("shoes").id)
    counted = sum(sum(m["counts"].values()) for m in gw.rt.click_stats.minutes(offer_id, 5))
    assert counted == 500
    assert gw.rt.traces.by_outcome() == {o: outcomes.count(o) for o in set(outcomes)}


def test_bad_queries_are_refused_without_a_redirect(gateway, chains):
    """Over-long, badly escaped, non-UTF-8 or NUL-carrying queries are 414/400 pages, never a redirect."""
    offer(gateway, tracking_url=f"{chains.url()}/land")
    assert gateway.raw("/c/shoes?x=" + "a" * 9000).status == 414
    for bad in ("x=%zz", "x=%f", "x=%ff%fe", "%c3%28=1", "gclid=%00", "a%00=1"):
        response = gateway.raw(f"/c/shoes?{bad}")
        assert (response.status, response.getheader("Location")) == (400, None), bad
    response = gateway.click("shoes", {"evil": "a\r\nSet-Cookie: x=1"})
    assert response.status_code == 302 and "Set-Cookie" not in response.headers
    assert "\r" not in response.headers["Location"] and "%0D%0A" in response.headers["Location"]


def test_offers_api_and_click_counts(gateway, chains):
    """Offers are created, read, changed and disabled over the API; clicks per minute and traces follow."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    base = f"{gateway.url}/api"
    body = {"slug": "bags", "name": "Bags", "tracking_url": f"{chains.url()}/land?o={{gclid}}", "country": "uk",
            "fallback_countries": ["us"]}
    created = api.post(f"{base}/offers", json=body, timeout=10)
    assert created.status_code == 201, created.text
    data = created.json()
    assert (data["country"], data["fallback_countries"], data["wait_ms"]) == ("gb", ["us"], 8000)
    assert api.post(f"{base}/offers", json=body, timeout=10).status_code == 409
    assert api.get(f"{base}/offers/{data['id']}", timeout=10).json()["slug"] == "bags"
    changed = api.patch(f"{base}/offers/bags", json={"wait_ms": 3000, "cooldown_s": 10}, timeout=10).json()
    assert (changed["wait_ms"], changed["cooldown_s"]) == (3000, 10)
    gateway.click("bags", {"gclid": "g"})
    gateway.records(1)
    minutes = api.get(f"{base}/offers/bags/clicks?minutes=2", timeout=10).json()["minutes"]
    assert sum(m["counts"].get("final", 0) for m in minutes) == 1
    traces = api.get(f"{base}/traces?offer=bags&limit=5", timeout=10).json()["traces"]
    assert [t["offer"] for t in traces] == ["bags"]
    assert api.delete(f"{base}/offers/bags", timeout=10).json()["enabled"] is False
    assert gateway.click("bags").status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"slug": "Bad Slug"}, "slug"),
    ({"tracking_url": "ftp://x/y"}, "tracking_url"),
    ({"tracking_url": "not a url"}, "tracking_url"),
    ({"country": "zz"}, "country"),
    ({"wait_ms": -1}, "wait_ms"),
    ({"wait_ms": "8000"}, "wait_ms"),
    ({"fallback_countries": ["us"]}, "fallback_countries"),
    ({"fallback_countries": ["de", "xx"]}, "fallback_countries[1]"),
    ({"param_policy": {"mode": "keep"}}, "param_policy.mode"),
    ({"param_policy": {"mode": "allow"}}, "param_policy.params"),
    ({"sub_id_mapping": {"p11": "x"}}, "sub_id_mapping"),
    ({"enabled": "yes"}, "enabled"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_offers_are_refused_naming_the_field(gateway, change, field):
    """A bad field is a 400 naming it, on create and on change; nothing is written."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    valid = {"slug": "ok", "name": "Ok", "tracking_url": "https://t.example/c", "country": "us"}
    created = api.post(f"{gateway.url}/api/offers", json={**valid, **change}, timeout=10)
    assert created.status_code == 400 and created.json()["error"]["field"] == field
    assert api.get(f"{gateway.url}/api/offers", timeout=10).json()["offers"] == []
    before = api.post(f"{gateway.url}/api/offers", json=valid, timeout=10).json()
    patched = api.patch(f"{gateway.url}/api/offers/ok", json=change, timeout=10)
    assert patched.status_code == 400 and patched.json()["error"]["field"] == field
    assert api.get(f"{gateway.url}/api/offers/ok", timeout=10).json() == before


def test_metrics_count_clicks_by_outcome(gateway, chains):
    """Clicks by outcome, trace time and the writer's queue show in /metrics."""
    offer(gateway, tracking_url=f"{chains.url()}/land")
    gateway.click("shoes")
    gateway.click("shoes", method="HEAD")
    gateway.records(2)
    text = requests.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'gateway_clicks_total{outcome="final"} 1.0' in text
    assert 'gateway_clicks_total{outcome="fallback_bot"} 1.0' in text
    assert "gateway_trace_seconds_count 1.0" in text
    assert "gateway_record_queue 0.0" in text


def test_encoded_inbound_values_survive_to_the_landing_page(gateway, chains):
    """Inbound values with reserved characters reach the landing URL encoded and decode back intact."""
    offer(gateway, tracking_url=f"{chains.url()}/land")
    value = "a&b=c d/é?#"
    location = gateway.click("shoes", {"kw": value}).headers["Location"]
    assert dict(query(location))["kw"] == value
    encoded = location.split("kw=", 1)[1].split("&", 1)[0]
    assert unquote_plus(encoded) == value and not set(encoded) & set("&=/?# é"), encoded


def test_a_full_record_queue_drops_and_counts_instead_of_blocking(make_runtime):
    """When the writer's queue is full a record is dropped and counted; the click is never held up."""
    from gateway.tracing.records import TraceRecord

    rt = make_runtime(clicks__writer_queue=2)
    results = [rt.records.submit(TraceRecord(outcome="beacon", offer_id=None, offer_slug="x")) for _ in range(3)]
    assert results == [True, True, False]
    assert rt.records.dropped == 1
    assert "gateway_records_dropped_total 1.0" in rt.metrics.render()[0].decode()
    assert rt.records.flush(10) and rt.traces.by_outcome() == {"beacon": 2}


HOSTILE = [
    {"url": "https://evil.example/"}, {"redirect": "//evil.example"}, {"next": "https://evil.example"},
    {"to": "https://evil.example"}, {"fallback_url": "https://evil.example"}, {"final_url": "https://evil.example"},
    {"offer": "https://evil.example"}, {"gclid": "x\r\nLocation: https://evil.example"},
    {"gclid": "@evil.example"}, {"gclid": "/../../evil.example"}, {"u": "javascript:alert(1)"},
]


@pytest.mark.parametrize("traced", [True, False])
def test_no_open_redirect(make_gateway, chains, traced):
    """Whatever the query says, a click goes to the offer's own fallback or where its traced chain ends:
    same scheme and host, with the hostile values encoded inside the query, never in charge of the target."""
    gw = make_gateway()
    agent = "Mozilla/5.0 Chrome/131.0" if traced else "curl/8.5"  # a bot is sent to the fallback untraced
    offer(gw, tracking_url=chain(chains.url(1), ["302"], f"{chains.url()}/land?c=1"), wait_ms=3000)
    expected = urlsplit(chains.url() if traced else chains.url(1))
    for hostile in HOSTILE:
        for path in ("/c/shoes", "/track-hit"):
            extra = {"offer": "shoes"} if path == "/track-hit" else {}
            response = requests.get(f"{gw.url}{path}?{urlencode({**hostile, **extra})}", allow_redirects=False,
                                    timeout=10, headers={"User-Agent": agent})
            location = urlsplit(response.headers["Location"])
            assert (response.status_code, location.scheme, location.netloc) == (
                302, expected.scheme, expected.netloc), (hostile, path, response.headers["Location"])
            assert "evil.example" not in location.netloc + location.path
    for path in ("/c//evil.example", "/c/%2F%2Fevil.example", "/c/shoes/..%2F..%2Fevil",
                 "/c/https:%2F%2Fevil.example"):
        response = requests.get(f"{gw.url}{path}", allow_redirects=False, timeout=10)
        assert "Location" not in response.headers, path
