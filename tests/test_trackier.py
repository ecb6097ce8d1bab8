"""Trackier: the API client against the fake, campaign pairs (create, resume, limits), stats and CSV."""

from __future__ import annotations

import csv
import io
import itertools
import json
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from gateway.config import Secret, TrackierSettings
from gateway.errors import ValidationError
from gateway.postbacks import pair_setup as pairs
from gateway.postbacks import pair_views, updating
from gateway.postbacks.trackier_api import TrackierClient, TrackierError, api_root
from gateway.process import wsgiserver
from gateway.process.app import build_app
from loadtest.trackier import FakeTrackier
from tests.conftest import ADMIN_TOKEN
from tests.helpers import Process


def trackier_settings(fake: FakeTrackier, **changes) -> dict:
    return {"trackier__base_url": fake.url, "trackier__api_key": Secret(fake.api_key), "trackier__advertiser_id": "7",
            "trackier__publisher_id": "3", "trackier__click_domain": "track.example",
            "trackier__public_base_url": "https://gw.example", "trackier__create_pacing_ms": 0,
            "trackier__max_retries": 2, **changes}


@pytest.fixture
def tracked(make_gateway, fake, chains):
    """A gateway wired to the fake Trackier, with offer `shop` whose chain hands out gclid and clickid."""
    gw = make_gateway(slots=10, **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/lp?ref=a",
                          "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}"})
    return gw


def client(fake: FakeTrackier, calls: list | None = None, **changes) -> TrackierClient:
    settings = TrackierSettings(**{"base_url": fake.url, "api_key": Secret(fake.api_key), "max_retries": 3,
                                   **changes})
    return TrackierClient(settings, (calls if calls is not None else []).append, sleep=lambda s: None)


def test_base_url_with_or_without_v2_never_doubles_it(fake):
    """`https://api.trackier.com`, `.../v2` and `.../v2/` all call `/v2/...` exactly once."""
    assert api_root("https://api.trackier.com/v2/") == api_root("https://api.trackier.com") == "https://api.trackier.com"
    for base in (fake.url, fake.url + "/v2", fake.url + "/v2/"):
        assert client(fake, base_url=base).check() == 1
    assert [c.path for c in fake.calls] == ["/v2/advertisers"] * 3


CAMPAIGN = {"title": "T", "url": "https://lp.example/?a={p1}", "status": "active", "advertiserId": 7,
            "currency": "USD", "device": "all", "convTracking": "postback", "convTrackingDomain": "track.example",
            "payouts": [{"currency": "USD", "revenue": 0, "payout": 0, "geo": ["ALL"]}]}


def test_campaigns_are_created_read_and_overridden_in_v2_shapes(fake):
    """The ids come back from campaign.id and campaign.hashId; subIdOverride carries every mapped key, an empty
    value clearing its macro."""
    api = client(fake)
    campaign = api.create_campaign(CAMPAIGN)
    assert campaign.hash_id == fake.campaigns[int(campaign.id)]["hashId"] and len(campaign.hash_id) >= 24
    api.set_sub_ids(campaign.id, {"p1": "G", "p2": "", "p5": "C"})
    assert fake.calls[-1].body == {"subIdOverride": {"p1": "G", "p2": "", "p5": "C"}}
    assert api.get_campaign(campaign.id)["subIdOverride"] == {"p1": "G", "p5": "C"}


def test_429_and_5xx_are_retried_honouring_retry_after_and_every_attempt_is_logged(fake):
    """429 (with Retry-After) and 5xx are retried with backoff; each attempt is logged without the key."""
    calls, slept = [], []
    api = TrackierClient(TrackierSettings(base_url=fake.url, api_key=Secret(fake.api_key), max_retries=3),
                         calls.append, sleep=slept.append)
    fake.fail_next(429, retry_after="7")
    fake.fail_next(503)
    assert api.check() == 1
    assert [c["status"] for c in calls] == [429, 503, 200]
    assert [c["attempt"] for c in calls] == [1, 2, 3]
    assert slept[0] == 7.0 and 0.4 <= slept[1] <= 1.3
    assert fake.api_key not in json.dumps(calls, default=str)


def test_client_errors_are_not_retried_and_retries_give_up(fake):
    """A 400 fails at once with Trackier's own words; endless 500s fail after max_retries."""
    api = client(fake)
    with pytest.raises(TrackierError, match='"title" is required'):
        api.create_campaign({"url": "https://x.example/"})
    assert len(fake.calls) == 1
    fake.fail_next(500, count=10)
    with pytest.raises(TrackierError, match="500"):
        api.check()
    assert len(fake.calls) == 1 + 4


def test_a_wrong_key_is_refused(fake):
    """`trackier check` fails clearly with a wrong key: Trackier's 400 INVALID_API_KEY, said as such."""
    settings = TrackierSettings(base_url=fake.url, api_key=Secret("wrong"), max_retries=0)
    with pytest.raises(TrackierError, match=r"^Trackier refused the API key \(INVALID_API_KEY\)"):
        TrackierClient(settings).check()


@pytest.mark.parametrize("count", [1, 3, 20])
def test_pairs_are_created_with_campaigns_template_token_and_webhook(tracked, fake, count):
    """Each pair gets a URL2 campaign (final URL path + name={pN}), a URL1 campaign, an unguessable token, a
    webhook URL and a Google Ads template nesting URL2's click link (with {lpurl}) in URL1's."""
    report = tracked.rt.pair_creation.create("shop", count)
    assert report.created == list(range(1, count + 1)) and report.pairs_total == count
    rows = tracked.rt.pairs.for_offer(tracked.rt.offers.get("shop").id)
    assert len({p.webhook_token for p in rows}) == count and all(len(p.webhook_token) >= 32 for p in rows)
    first = rows[0]
    url2 = fake.campaigns[int(first.url2_campaign_id)]
    assert url2["url"] == ("https://shop.example/lp?gclid={p1}&fbclid={p2}&msclkid={p3}&ttclid={p4}&clickid={p5}"
                           "&utm_source={p6}&utm_medium={p7}&utm_campaign={p8}&custom1={p9}&custom2={p10}")
    assert url2["convTracking"] == "iframe_https"
    assert fake.calls_to("POST", "/v2/campaigns")[0].body["advertiserId"] == 7
    url1 = fake.campaigns[int(first.url1_campaign_id)]
    assert (url1["convTracking"], url1["url"], url1["allowDeepLink"]) == ("postback", "https://shop.example/lp?ref=a",
                                                                            True)
    assert not url2["allowDeepLink"] and (first.url1_campaign_hash, first.url2_campaign_hash) == (
        url1["hashId"], url2["hashId"])
    template = urlsplit(first.template)
    assert (template.netloc, parse_qs(template.query)["campaign_id"]) == ("track.example", [first.url1_campaign_id])
    inner = parse_qs(template.query)["url"][0]
    assert inner.startswith(f"https://track.example/click?campaign_id={first.url2_campaign_id}&pub_id=3")
    assert inner.endswith("&lpurl={lpurl}") and "{lpurl}" in first.template
    assert unquote(parse_qs(urlsplit(inner).query)["url"][0]) == url2["url"]
    view = tracked.rt.pair_views.view(first)
    assert view["webhook_url"] == (f"https://gw.example/webhooks/trackier?token={first.webhook_token}"
                                   "&campaign_id={campaign_id}&click_id={click_id}")
    assert len(fake.calls_to("POST", "/v2/campaigns")) == 2 * count


def test_campaign_creations_are_paced(make_gateway, fake):
    """Consecutive campaign creations are at least create_pacing_ms apart."""
    gw = make_gateway(**trackier_settings(fake, trackier__create_pacing_ms=150))
    gw.rt.catalog.create({"slug": "x", "name": "X", "country": "us", "tracking_url": "https://t.example/",
                          "final_url": "https://lp.example/"})
    gw.rt.pair_creation.create("x", 2)
    times = [call.at for call in fake.calls_to("POST", "/v2/campaigns")]
    assert len(times) == 4
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.14


def test_more_than_20_pairs_is_refused_and_creates_nothing(tracked, fake):
    """Asking for 21, or for more than the offer has room for, is a 400 and calls Trackier not once."""
    with pytest.raises(ValidationError, match="would exceed 20"):
        tracked.rt.pair_creation.create("shop", 21)
    tracked.rt.pair_creation.create("shop", 19)
    calls = len(fake.calls)
    with pytest.raises(ValidationError):
        tracked.rt.pair_creation.create("shop", 2)
    assert len(fake.calls) == calls
    assert tracked.rt.pair_creation.create("shop", 1).pairs_total == 20


@pytest.mark.parametrize(("after", "kept_partial"), [(4, False), (5, True)])
def test_a_failure_keeps_the_pairs_before_it_and_a_new_run_continues(tracked, fake, after, kept_partial):
    """Trackier failing at pair 3 (its URL2, or its URL1 once URL2 exists) keeps pairs 1-2 (and 3's URL2); the
    next run completes pair 3 first, creating no campaign twice."""
    fake.fail_next(500, count=10, path="/v2/campaigns", after=after)
    with pytest.raises(pairs.PairCreationFailed) as info:
        tracked.rt.pair_creation.create("shop", 5)
    assert (info.value.failed_at, info.value.created) == (3, [1, 2])
    offer_id = tracked.rt.offers.get("shop").id
    rows = tracked.rt.pairs.for_offer(offer_id)
    assert [(p.pair_index, p.complete) for p in rows] == [(1, True), (2, True)] + ([(3, False)] if kept_partial else [])
    fake.faults.clear()
    report = tracked.rt.pair_creation.create("shop", 3)
    assert report.created == [3, 4, 5] and report.pairs_total == 5
    assert all(p.complete for p in tracked.rt.pairs.for_offer(offer_id))
    assert len(fake.campaigns) == 10


def test_an_empty_final_url_is_found_by_tracing_the_offer(tracked, chains):
    """Without a final_url the pairs use where the tracking URL's chain ends, and the offer keeps it."""
    tracked.rt.catalog.create({"slug": "bare", "name": "Bare", "country": "us",
                               "tracking_url": f"{chains.url()}/r/302?to=%2Fland%3Fsku%3D9"})
    tracked.rt.pair_creation.create("bare", 1)
    assert tracked.rt.offers.get("bare").final_url == f"{chains.url()}/land?sku=9"


def test_missing_trackier_settings_are_named(make_gateway, fake):
    """Creating pairs without [trackier] settings names the missing key."""
    gw = make_gateway(**trackier_settings(fake, trackier__click_domain=""))
    gw.rt.catalog.create({"slug": "x", "name": "X", "country": "us", "tracking_url": "https://t.example/",
                          "final_url": "https://lp.example/"})
    with pytest.raises(ValidationError, match=r"\[trackier\] click_domain"):
        gw.rt.pair_creation.create("x", 1)


def test_csv_export_is_formula_safe(tracked):
    """The CSV has a row per pair; a cell starting with = + - @ is escaped."""
    tracked.rt.pair_creation.create("shop", 2)
    tracked.rt.pair_controls.change("shop", 2, {"name": "=HYPERLINK(\"http://evil\")"})
    rows = list(csv.reader(io.StringIO(tracked.rt.pair_views.export_csv("shop").text)))
    assert rows[0] == list(pair_views.CSV_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["1", "2"] and rows[2][1] == "'=HYPERLINK(\"http://evil\")"
    assert pair_views.safe_cell("-1+2") == "'-1+2" and pair_views.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert pair_views.safe_cell("plain") == "plain"


def test_pairs_over_the_api(tracked):
    """Create, list, rename, disable (pair 1 refused), stats and CSV over /api/offers/{offer}/pairs."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    base = f"{tracked.url}/api/offers/shop"
    assert api.post(f"{base}/pairs", json={"count": 21}, timeout=10).json()["error"]["field"] == "count"
    created = api.post(f"{base}/pairs", json={"count": 2}, timeout=30)
    assert created.status_code == 201 and created.json()["created"] == [1, 2]
    listed = api.get(f"{base}/pairs", timeout=10).json()["pairs"]
    assert [p["pair"] for p in listed] == [1, 2] and listed[0]["template"].startswith("https://track.example/")
    assert api.patch(f"{base}/pairs/2", json={"name": "Search"}, timeout=10).json()["name"] == "Search"
    assert api.delete(f"{base}/pairs/2", timeout=10).json()["enabled"] is False
    refused = api.delete(f"{base}/pairs/1", timeout=10)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    stats = api.get(f"{base}/stats", timeout=10).json()
    assert (stats["pairs_total"], stats["pairs_enabled"], stats["webhooks"]) == (2, 1, 0)
    exported = api.get(f"{base}/pairs.csv", timeout=10)
    assert exported.headers["Content-Type"].startswith("text/csv") and exported.text.count("\n") == 3


def test_pairs_from_the_command_line(tracked, fake, cli, settings):
    """`pairs create|list|disable|enable|stats|export` and `trackier check` against the same stores."""
    from tests.helpers import cli_env, run_gateway

    env = cli_env(tracked.rt.settings, tracked.rt.settings.server.data_dir)
    env["GATEWAY_TRACKIER_API_KEY"] = fake.api_key
    for key, value in trackier_settings(fake).items():
        if key != "trackier__api_key":
            env[f"GATEWAY_TRACKIER_{key.split('__')[1].upper()}"] = str(value)

    def run(*args: str, expect: int = 0):
        result = run_gateway(*args, env=env)
        assert result.returncode == expect, result.stdout + result.stderr
        return result.stdout

    assert "created pair(s) 1, 2 for shop" in run("pairs", "create", "shop", "--count", "2")
    assert [p["pair"] for p in json.loads(run("pairs", "list", "shop", "--json"))] == [1, 2]
    assert "pair 2 disabled" in run("pairs", "disable", "shop", "2")
    run("pairs", "disable", "shop", "1", expect=1)
    assert "pair 2 enabled" in run("pairs", "enable", "shop", "2")
    assert "2/2 pairs enabled" in run("pairs", "stats", "shop")
    assert run("pairs", "export", "shop").splitlines()[0] == ",".join(pair_views.CSV_COLUMNS)
    assert "sees 1 advertiser(s)" in run("trackier", "check")
    assert fake.api_key not in run("pairs", "list", "shop")


# -- Trackier as the real API answers -----------------------------------------------------------------------------

def test_the_fake_speaks_the_real_shapes(fake):
    """A bad key is 400 INVALID_API_KEY in errors[]; each missing required field is an entry of errors[]; a
    created campaign has hashId, device as a list and advertiserId as a 24-hex string; PATCH is 405; an unknown
    campaign answers the other error shape."""
    bad = requests.get(f"{fake.url}/v2/advertisers", headers={"X-Api-Key": "nope"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["errors"][0] | {"message": ""} == {"statusCode": 400, "code": "102",
                                                        "codeMsg": "INVALID_API_KEY", "message": ""}
    key = {"X-Api-Key": fake.api_key}
    missing = requests.post(f"{fake.url}/v2/campaigns", json={"title": "T", "url": "https://x.example/"},
                            headers=key, timeout=5).json()["errors"]
    assert {e["param"] for e in missing} >= {"convTracking", "convTrackingDomain", "payouts", "status", "device"}
    created = requests.post(f"{fake.url}/v2/campaigns", json=CAMPAIGN, headers=key, timeout=5).json()["campaign"]
    assert created["device"] == ["all"] and len(created["advertiserId"]) == 24 and created["hashId"]
    patched = requests.patch(f"{fake.url}/v2/campaigns/{created['id']}", json={}, headers=key, timeout=5)
    assert patched.status_code == 405 and patched.json()["errors"][0]["codeMsg"] == "METHOD_NOT_ALLOWED"
    gone = requests.get(f"{fake.url}/v2/campaigns/9", headers=key, timeout=5).json()
    assert gone == {"success": False, "error": {"code": 13, "message": "Campaign not found"}}


def test_refusals_are_said_in_trackiers_words_everywhere(fake):
    """Both error shapes become one readable sentence, in the exception and in the call log."""
    calls = []
    api = client(fake, calls)
    with pytest.raises(TrackierError) as missing:
        api.create_campaign({"title": "T", "url": "https://x.example/"})
    assert "refused (400)" in str(missing.value) and '"payouts" is required' in str(missing.value)
    assert "VALIDATION_ERROR" in str(missing.value) and "VALIDATION_ERROR" in calls[-1]["error"]
    with pytest.raises(TrackierError, match=r"Campaign not found \(code 13\)"):
        api.get_campaign("9")
    assert calls[-1]["error"] == "Campaign not found (code 13)"
    with pytest.raises(TrackierError, match="tracking link cannot be a campaign's destination"):
        api.create_campaign({**CAMPAIGN, "url": f"{fake.url}/click?campaign_id=1&pub_id=3"})


@pytest.mark.parametrize("mode", ["drop", "502", "hang"])
def test_a_creation_whose_answer_is_lost_is_adopted_never_made_twice(make_gateway, fake, mode):
    """Trackier creates the campaign and then drops the connection, answers 502 or outlives the client's timeout:
    the client finds the campaign by its unique title and adopts it. One campaign per pair and role."""
    gw = make_gateway(**trackier_settings(fake, trackier__timeout_s=1.0))
    gw.rt.catalog.create({"slug": "x", "name": "X", "country": "us", "tracking_url": "https://t.example/",
                          "final_url": "https://lp.example/"})
    for after in (0, 3):  # pair 1's URL2, pair 2's URL1
        fake.fail_after(mode, after=after, hang_s=2.5)
    assert gw.rt.pair_creation.create("x", 2).created == [1, 2]
    titles = [c["title"] for c in fake.campaigns.values()]
    assert len(titles) == 4 and len(set(titles)) == 4
    pairs_ = gw.rt.pairs.for_offer(gw.rt.offers.get("x").id)
    assert {int(p.url1_campaign_id) for p in pairs_} | {int(p.url2_campaign_id) for p in pairs_} == set(fake.campaigns)


def test_gateway_pairs_create_leaves_2n_campaigns_when_trackier_drops_connections(tracked, fake, cli):
    """`gateway pairs create` against a Trackier that drops the connection after creating a campaign (twice)
    leaves exactly 2N campaigns for N pairs."""
    env_cli = tracked_cli(tracked, fake)
    fake.fail_after("drop", count=2, after=1)
    result = env_cli("pairs", "create", "shop", "--count", "3")
    assert "created pair(s) 1, 2, 3" in result
    assert len(fake.campaigns) == 6 and len({c["title"] for c in fake.campaigns.values()}) == 6


def tracked_cli(tracked, fake):
    from tests.helpers import cli_env, run_gateway

    env = cli_env(tracked.rt.settings, tracked.rt.settings.server.data_dir)

    def run(*args: str, expect: int = 0) -> str:
        result = run_gateway(*args, env=env)
        assert result.returncode == expect, result.stdout + result.stderr
        return result.stdout + result.stderr

    return run


def test_a_bad_key_is_one_clear_line_everywhere(tracked, fake):
    """`trackier check` and `pairs create` with a wrong key, and a Trackier nobody answers at: one line, exit 1,
    no traceback; the API's 502 says the same."""
    from tests.helpers import cli_env, run_gateway

    env = cli_env(tracked.rt.settings.replace(trackier__api_key=Secret("wrong-key")),
                  tracked.rt.settings.server.data_dir)
    for args in (("trackier", "check"), ("pairs", "create", "shop", "--count", "1")):
        result = run_gateway(*args, env=env)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "Trackier refused the API key (INVALID_API_KEY)" in result.stderr
        assert result.stderr.count("\n") == 1
    env["GATEWAY_TRACKIER_BASE_URL"] = "http://127.0.0.1:9"
    unreachable = run_gateway("trackier", "check", env=env)
    assert unreachable.returncode == 1 and "could not be reached" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and unreachable.stderr.count("\n") == 1
    wrong = tracked.rt.settings.replace(trackier__api_key=Secret("wrong-key"), trackier__max_retries=0)
    with Process.open(wrong) as other:
        server = wsgiserver.start(build_app(other.services))
        try:
            answer = requests.post(f"http://127.0.0.1:{server.server_port}/api/offers/shop/pairs", json={"count": 1},
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        finally:
            server.stop(timeout=1)
    assert answer.status_code == 502 and "INVALID_API_KEY" in answer.json()["error"]["message"]


def test_the_template_reaches_the_landing_page_through_both_campaigns(make_gateway, fake):
    """Following the Google Ads template through Trackier: URL1 (deep links allowed) honours url= to URL2's click
    link, URL2 (no deep links) sends to its destination with the pair's current sub-id values."""
    gw = make_gateway(**trackier_settings(fake, trackier__click_domain=fake.click_host))
    gw.rt.catalog.create({"slug": "x", "name": "X", "country": "us", "tracking_url": "https://t.example/",
                          "final_url": "https://lp.example/land"})
    gw.rt.pair_creation.create("x", 1)
    pair = gw.rt.pairs.for_offer(gw.rt.offers.get("x").id)[0]
    gw.rt.trackier.set_sub_ids(pair.url2_campaign_id, {"p1": "G-77", "p5": "CK-9"})
    url = pair.template.replace("{lpurl}", "https%3A%2F%2Flp.example%2Fland").replace("https://", "http://")
    hops = []
    while url.startswith(fake.url):
        hops.append(url)
        url = requests.get(url, allow_redirects=False, timeout=5).headers["Location"].replace("https://", "http://")
    assert [parse_qs(urlsplit(h).query)["campaign_id"][0] for h in hops] == [pair.url1_campaign_id,
                                                                               pair.url2_campaign_id]
    assert url == "http://lp.example/land?gclid=G-77&fbclid=&msclkid=&ttclid=&clickid=CK-9&utm_source=&utm_medium=" \
                  "&utm_campaign=&custom1=&custom2="


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_an_update_clears_what_the_chain_no_longer_hands_out(fake, mode):
    """Every mapped key is sent each time: a value missing from the new trace is cleared whichever way Trackier
    applies an override."""
    fake.override_mode = mode
    api = client(fake)
    campaign = api.create_campaign(CAMPAIGN)
    mapping = {"p1": "gclid", "p5": "clickid"}
    for handed_out in ([("gclid", "G1"), ("clickid", "C1")], [("clickid", "C2")]):
        api.set_sub_ids(campaign.id, updating.sub_ids(mapping, handed_out))
    assert fake.campaigns[int(campaign.id)]["subIdOverride"] == {"p5": "C2"}
    assert fake.calls[-1].body == {"subIdOverride": {"p1": "", "p5": "C2"}}


def test_pair_creation_without_a_free_slot_is_a_clear_503(make_gateway, fake, chains):
    """An offer without final_url while no slot is free: 503 saying no slot was free to trace its chain (not a
    500), and the command line says the same in one line."""
    gw = make_gateway(slots=1, webhooks__lease_wait_ms=100, **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "bare", "name": "Bare", "country": "us", "tracking_url": f"{chains.url()}/land"})
    held = gw.rt.pool.lease(["us"])
    answer = requests.post(f"{gw.url}/api/offers/bare/pairs", json={"count": 1}, timeout=30,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "no_egress"
    assert "no egress slot in us was free to trace the offer's chain" in answer.json()["error"]["message"]
    from tests.helpers import cli_env, run_gateway

    result = run_gateway("pairs", "create", "bare", "--count", "1",
                         env=cli_env(gw.rt.settings, gw.rt.settings.server.data_dir))
    assert result.returncode == 1 and "was free to trace the offer's chain" in result.stderr
    assert "Traceback" not in result.stderr
    gw.rt.pool.release(held, "ok")
    assert fake.campaigns == {}


def test_provider_presets_need_only_a_username_and_a_password(settings, tmp_path):
    """`pool providers` lists the five presets and what each lacks; with only GATEWAY_PROVIDER_LUNA_USERNAME and
    _PASSWORD set, `pool provision --provider luna` works; a preset without credentials is refused by name."""
    from tests.helpers import cli_env, run_gateway

    env = cli_env(settings.replace(providers={}), tmp_path)
    listed = run_gateway("pool", "providers", "--json", env=env)
    rows = {r["provider"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"luna", "brightdata", "oxylabs", "smartproxy", "iproyal"}
    assert all(r["preset"] and not r["ready"] for r in rows.values())
    env |= {"GATEWAY_PROVIDER_LUNA_USERNAME": "acct", "GATEWAY_PROVIDER_LUNA_PASSWORD": "pw-1"}
    done = run_gateway("pool", "provision", "--provider", "luna", "--country", "us=5", env=env)
    assert done.returncode == 0 and "5 slot(s) added for provider luna" in done.stdout, done.stderr
    refused = run_gateway("pool", "provision", "--provider", "oxylabs", "--country", "us=1", env=env)
    assert refused.returncode == 2 and "GATEWAY_PROVIDER_OXYLABS_USERNAME" in refused.stderr
    shown = json.loads(run_gateway("pool", "providers", "--json", env=env).stdout)
    assert [r["provider"] for r in shown if r["ready"]] == ["luna"]
