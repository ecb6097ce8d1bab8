"""Trackier postbacks end to end: routing, recording before the answer, throttle, single flight, duplicates,
URL2 updates, and recovery of acknowledged postbacks after a restart."""

from __future__ import annotations

from urllib.parse import urlencode

import gevent
import pytest
import requests

from gateway.config import Secret
from gateway.postbacks.updating import EventStatus
from tests.conftest import ADMIN_TOKEN
from tests.helpers import Process
from tests.test_trackier import trackier_settings

ROUTE_SECRET = "campaign-route-secret-3f9"


@pytest.fixture
def hooked(make_gateway, fake, chains):
    """A gateway with offer `shop` (its chain hands out gclid = the postback's click_id, and a clickid) and
    `count` pairs in the fake Trackier; the updater's workers run."""
    def make(count: int = 3, **changes):
        gw = make_gateway(slots=20, **trackier_settings(fake), **changes)
        gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                              "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}"})
        gw.rt.pair_creation.create("shop", count)
        gw.rt.updater.start()
        return gw

    return make


def post(gw, params: dict | None = None, *, method: str = "GET", json_body: dict | None = None,
         form: dict | None = None, raw: bytes | None = None, headers: dict | None = None) -> requests.Response:
    url = f"{gw.url}/webhooks/trackier?{urlencode(params or {})}"
    if json_body is not None:
        return requests.post(url, json=json_body, timeout=10, headers=headers)
    if form is not None:
        return requests.post(url, data=form, timeout=10, headers=headers)
    return requests.request(method, url, data=raw, timeout=10, headers=headers)


def the_pairs(gw):
    return gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id)


def settle(gw) -> None:
    assert gw.rt.updater.wait_idle(30)


def test_a_postback_on_a_pair_token_updates_only_that_pairs_url2(hooked, fake):
    """Route 2: the token names a pair; its URL2 gets the chain's values as p1/p5; no other campaign does."""
    gw = hooked()
    one, two, _ = the_pairs(gw)
    answer = post(gw, {"token": two.webhook_token, "campaign_id": two.url1_campaign_id, "click_id": "CK-1"})
    assert answer.status_code == 200 and answer.json()["status"] == "accepted" and answer.json()["pair"] == 2
    settle(gw)
    event = gw.rt.events.get(answer.json()["event_id"])
    assert (event["status"], event["route"], event["error"]) == ("updated", "token", None)
    assert event["sub_id_values"]["p1"] == "CK-1" and len(event["sub_id_values"]["p5"]) == 12
    assert fake.overrides == {int(two.url2_campaign_id): [event["sub_id_values"]]}
    updated = gw.rt.pairs.by_id(two.id)
    assert (updated.webhook_count, updated.update_count, updated.sub_id_values) == (1, 1, event["sub_id_values"])
    assert updated.last_update_at is not None and updated.last_update_ms > 0
    assert gw.rt.pairs.by_id(one.id).webhook_count == 0


def test_route_1_the_offer_id_reaches_pair_1(hooked):
    """Route 1: a token that is the offer's id goes to pair 1."""
    gw = hooked()
    offer_id = str(gw.rt.offers.get("shop").id)
    answer = post(gw, {"token": offer_id, "click_id": "c1"}).json()
    assert answer["pair"] == 1
    settle(gw)
    assert gw.rt.events.get(answer["event_id"])["route"] == "offer"


def test_route_3_the_campaign_secret_and_a_campaign_id_reach_its_pair(hooked):
    """Route 3: the token is [webhooks] campaign_route_secret; the URL1 or URL2 campaign id chooses the pair."""
    gw = hooked(webhooks__campaign_route_secret=Secret(ROUTE_SECRET))
    _, two, three = the_pairs(gw)
    for campaign in (two.url1_campaign_id, three.url2_campaign_id):
        assert post(gw, {"token": ROUTE_SECRET, "campaign_id": campaign}).status_code == 200
    settle(gw)
    assert [(p.pair_index, p.webhook_count) for p in the_pairs(gw)] == [(1, 0), (2, 1), (3, 1)]


def test_route_3_finds_a_pair_by_its_hashed_or_numeric_campaign_id(hooked, fake):
    """Trackier's S2S push fills {campaign_id} with the campaign's hashed id and {camp_id} with the numeric one:
    a postback carrying only either reaches its pair, and that pair's URL2 is updated."""
    gw = hooked(webhooks__campaign_route_secret=Secret(ROUTE_SECRET))
    _, two, three = the_pairs(gw)
    by_hash = post(gw, {"token": ROUTE_SECRET, "campaign_id": two.url1_campaign_hash, "click_id": "h1"}).json()
    by_number = post(gw, {"token": ROUTE_SECRET, "camp_id": three.url1_campaign_id, "click_id": "h2"}).json()
    assert (by_hash["pair"], by_number["pair"]) == (2, 3)
    settle(gw)
    assert gw.rt.events.get(by_hash["event_id"])["status"] == "updated"
    assert set(fake.overrides) == {int(two.url2_campaign_id), int(three.url2_campaign_id)}


def test_every_update_sends_every_mapped_sub_id(hooked, fake):
    """The override pushed to URL2 names every key of the offer's sub-id mapping, empty where the chain handed
    nothing out, so no stale value survives whichever way Trackier applies it."""
    gw = hooked(count=1)
    post(gw, {"token": the_pairs(gw)[0].webhook_token, "click_id": "all-keys"})
    settle(gw)
    (update,) = [c for c in fake.calls if c.method == "POST" and c.path.count("/") == 3]
    sent = update.body["subIdOverride"]
    assert set(sent) == {f"p{n}" for n in range(1, 11)} and sent["p1"] == "all-keys" and sent["p2"] == ""


@pytest.mark.parametrize("secret", [None, ROUTE_SECRET])
def test_a_campaign_id_never_authorises_a_postback(hooked, fake, secret):
    """Any other token with a real campaign id is unresolved (route 3 is off without its secret): nothing is
    traced or pushed, and each such postback counts against its address's limit."""
    changes = {"webhooks__campaign_route_secret": Secret(secret)} if secret else {}
    gw = hooked(webhooks__unknown_per_minute=2, **changes)
    one = the_pairs(gw)[0]
    codes = [post(gw, {"token": token, "campaign_id": one.url1_campaign_id, "click_id": "x", "force_update": "true",
                       "gclid": "EVIL"}).status_code for token in ("anything", ROUTE_SECRET[:-1] + "?", "x")]
    assert codes == [404, 404, 429]
    settle(gw)
    assert gw.rt.events.by_status() == {"unresolved": 2} and fake.overrides == {}
    assert the_pairs(gw)[0].webhook_count == 0


def test_an_unknown_token_updates_nothing_and_is_recorded(hooked, fake):
    """An invalid token (and no known campaign) answers 404, records the event as unresolved, updates nothing."""
    gw = hooked()
    answer = post(gw, {"token": "nope-" + "x" * 30, "campaign_id": "999999", "click_id": "c"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "unresolved"
    event = gw.rt.events.get(answer.json()["event_id"])
    assert (event["status"], event["route"], event["pair_id"]) == ("unresolved", "unresolved", None)
    assert fake.overrides == {} and sum(p.webhook_count for p in the_pairs(gw)) == 0


def test_body_wins_over_query_in_json_and_form_bodies(hooked):
    """Parameters come from the query, a form body or a JSON body; the body's values win."""
    gw = hooked()
    one, two, three = the_pairs(gw)
    as_json = post(gw, {"token": one.webhook_token, "click_id": "query"},
                   json_body={"token": two.webhook_token, "click_id": "json"}).json()
    as_form = post(gw, {"token": one.webhook_token}, form={"token": three.webhook_token, "click_id": "form"}).json()
    assert (as_json["pair"], as_form["pair"]) == (2, 3)
    assert gw.rt.events.get(as_json["event_id"])["click_id"] == "json"
    assert gw.rt.events.get(as_form["event_id"])["click_id"] == "form"
    settle(gw)


@pytest.mark.parametrize(("request_kwargs", "status", "field"), [
    ({"params": {"click_id": "x"}}, 400, "token"),
    ({"params": {"token": "t"}, "method": "POST", "raw": b"{not json", "headers": {"Content-Type": "application/json"}},
     400, "body"),
    ({"params": {"token": "t"}, "method": "POST", "raw": b"a=%zz&&=", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}, 400, "body"),
    ({"params": {"token": "t"}, "method": "POST", "raw": b'["list"]', "headers": {"Content-Type": "application/json"}},
     400, "body"),
    ({"params": {"token": "t"}, "method": "POST", "raw": b"x=" + b"a" * 70_000}, 413, None),
])
def test_unreadable_postbacks_are_refused_without_writes(hooked, request_kwargs, status, field):
    """A missing token, malformed JSON or form, or a body over 64 KB is refused; no event is written."""
    gw = hooked(count=1)
    response = post(gw, **request_kwargs)
    assert response.status_code == status
    if field:
        assert response.json()["error"]["field"] == field
    assert gw.rt.events.by_status() == {}


def test_disabled_pairs_and_offers_are_recorded_not_processed(hooked, fake):
    """A postback for a disabled pair (or offer) is recorded, answered `disabled`, and not processed."""
    gw = hooked()
    gw.rt.pair_controls.change("shop", 2, {"enabled": False})
    two = the_pairs(gw)[1]
    answer = post(gw, {"token": two.webhook_token, "click_id": "c"})
    assert answer.status_code == 200 and answer.json()["status"] == "disabled"
    gw.rt.catalog.set_enabled("shop", False)
    assert post(gw, {"token": the_pairs(gw)[0].webhook_token}).json()["status"] == "disabled"
    settle(gw)
    assert gw.rt.events.by_status() == {"disabled": 2} and fake.overrides == {}


def test_throttle_and_force_update(hooked):
    """Within update_interval_s a second postback is throttled; force_update=true goes through anyway."""
    gw = hooked(count=1)
    token = the_pairs(gw)[0].webhook_token
    statuses = []
    for params in ({"click_id": "a"}, {"click_id": "b"}, {"click_id": "c", "force_update": "true"}):
        event_id = post(gw, {"token": token, **params}).json()["event_id"]
        settle(gw)
        statuses.append(gw.rt.events.get(event_id)["status"])
    assert statuses == ["updated", "throttled", "updated"]
    assert the_pairs(gw)[0].update_count == 2


def test_a_repeated_click_id_is_counted_not_processed_twice(hooked):
    """The same (pair, click_id) within the window is a duplicate: counted on the pair, not processed again."""
    gw = hooked(count=1)
    token = the_pairs(gw)[0].webhook_token
    first = post(gw, {"token": token, "click_id": "same", "force_update": "1"}).json()["event_id"]
    settle(gw)
    second = post(gw, {"token": token, "click_id": "same", "force_update": "1"}).json()["event_id"]
    settle(gw)
    assert [gw.rt.events.get(e)["status"] for e in (first, second)] == ["updated", "duplicate"]
    pair = the_pairs(gw)[0]
    assert (pair.webhook_count, pair.update_count) == (2, 1)


def test_200_simultaneous_postbacks_over_10_pairs(hooked, fake):
    """200 postbacks at once over 10 pairs: exact webhook counts, every event finished, each URL2 gets only its
    own pair's updates, and a pair updates at most twice (single flight: one more after the running one)."""
    gw = hooked(count=10)
    rows = the_pairs(gw)
    start = gevent.event.Event()

    def send(n: int) -> int:
        pair = rows[n % 10]
        start.wait()
        return post(gw, {"token": pair.webhook_token, "click_id": f"k{pair.pair_index}-{n}"}).status_code

    jobs = [gevent.spawn(send, n) for n in range(200)]
    start.set()
    gevent.joinall(jobs, raise_error=True)
    assert [job.value for job in jobs] == [200] * 200
    settle(gw)
    statuses = gw.rt.events.by_status()
    assert sum(statuses.values()) == 200 and set(statuses) <= {"updated", "coalesced", "throttled"}
    url2_of = {int(p.url2_campaign_id): p.pair_index for p in rows}
    assert set(fake.overrides) == set(url2_of)
    for campaign, pushed in fake.overrides.items():
        assert 1 <= len(pushed) <= 2
        assert all(values["p1"].startswith(f"k{url2_of[campaign]}-") for values in pushed)
    after = the_pairs(gw)
    assert [p.webhook_count for p in after] == [20] * 10
    assert all(1 <= p.update_count <= 2 for p in after)
    assert sum(p.update_count for p in after) == sum(len(pushed) for pushed in fake.overrides.values())


def test_unknown_token_floods_are_rate_limited(hooked):
    """Past [webhooks] unknown_per_minute unknown tokens from one address, postbacks are answered 429."""
    gw = hooked(count=1, webhooks__unknown_per_minute=3)
    codes = [post(gw, {"token": f"guess-{n}"}).status_code for n in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    assert gw.rt.events.by_status() == {"unresolved": 3}


def test_an_acknowledged_postback_is_processed_after_a_restart(hooked, fake):
    """A postback acknowledged by a process that died before processing it is picked up by maintenance."""
    gw = hooked(count=1, webhooks__stale_after_s=0.001)
    gw.rt.updater.stop()
    gw.rt.updater.queue = type(gw.rt.updater.queue)(1)  # the dying process's queue: lost with it
    token = the_pairs(gw)[0].webhook_token
    answer = post(gw, {"token": token, "click_id": "before-the-crash"})
    assert answer.status_code == 200
    assert gw.rt.events.get(answer.json()["event_id"])["status"] == "pending"
    restarted = Process.open(gw.rt.settings)
    try:
        restarted.updater.start()
        assert restarted.maintenance.tick().postbacks_retried == 1
        assert restarted.updater.wait_idle(30)
        assert restarted.events.get(answer.json()["event_id"])["status"] == "updated"
        assert len(fake.overrides) == 1
    finally:
        restarted.updater.stop()
        restarted.close()


def test_the_test_endpoint_runs_the_real_path(hooked):
    """The pair test endpoint routes a synthetic postback through the real path and says what happened; the
    stats then count it with the ordinary postbacks."""
    gw = hooked(count=2)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    tested = api.post(f"{gw.url}/api/offers/shop/pairs/2/test", timeout=30).json()
    assert (tested["status"], tested["pair"]) == ("updated", 2)
    assert tested["sub_id_values"]["p5"]
    token = the_pairs(gw)[0].webhook_token
    for n in range(20):
        assert post(gw, {"token": token, "click_id": f"t{n}"}).json()["status"] == "accepted"
    settle(gw)
    stats = api.get(f"{gw.url}/api/offers/shop/stats", timeout=10).json()
    assert stats["webhooks"] == 21 and stats["updates"] >= 2
    assert sum(stats["events"].values()) == 21 and stats["events"]["updated"] >= 2
    assert set(stats["events"]) <= {str(s) for s in EventStatus}
