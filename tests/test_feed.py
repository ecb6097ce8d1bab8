"""The suffix feed as an endpoint on the internet (tokens, HEAD, 204, limits, the access log) and the Google Ads
script that reads it, run under node against a double of the Google Ads runtime."""

from __future__ import annotations

import http.client
import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from gateway.process import wsgiserver
from gateway.process.app import build_app
from tests.helpers import cli_env, run_gateway
from tests.test_ahead import AUTH, ahead_offer, fill

RUNTIME = Path(__file__).with_name("ads_runtime.js")
needs_node = pytest.mark.needs("node", install="apt-get install nodejs; .ci/run does")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def feed_offer(gw, chains, slug: str = "shop", **fields) -> str:
    """An ahead offer with a feed token; the token."""
    ahead_offer(gw, chains, slug, **fields)
    return gw.rt.catalog.rotate_feed_token(slug).feed_token


def test_the_feed_hands_out_fresh_suffixes_to_its_token_only(make_gateway, chains):
    """`GET /feed/{offer}/suffix` with the offer's feed token: a fresh suffix (the query of the URL a click would
    land on), 204 once the bucket is empty. No token, a wrong token and an unknown offer answer alike: nobody learns
    which offers exist."""
    gw = make_gateway(slots=4)
    ahead_offer(gw, chains)
    token = requests.post(f"{gw.url}/api/offers/shop/feed-token", headers=AUTH, timeout=10).json()["feed_token"]
    fill(gw)
    url = f"{gw.url}/feed/shop/suffix"
    got = requests.get(url, headers=bearer(token), timeout=10)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    body = got.json()
    suffix = dict(parse_qsl(body["suffix"]))
    assert set(suffix) == {"aff", "clickid", "sub1"} and len(suffix["clickid"]) == 12
    assert body["final_url"].startswith(f"{chains.url()}/land?") and 0 <= body["age_s"] < 300 and body["traced_at"]
    assert requests.get(f"{url}?token={token}", timeout=10).status_code == 204
    refusals = [requests.get(url, timeout=10), requests.get(url, headers=bearer("nope"), timeout=10),
                requests.get(f"{gw.url}/feed/nope/suffix", headers=bearer(token), timeout=10),
                requests.get(f"{gw.url}/feed/nope/suffix", headers=bearer("nope"), timeout=10)]
    assert {(r.status_code, r.text) for r in refusals} == {(401, refusals[0].text)}
    ahead = requests.get(f"{gw.url}/api/offers/shop/ahead", headers=AUTH, timeout=10).json()
    assert ahead["counts"]["feed"] == 1 and ahead["buckets"][0]["entries"] == 0
    assert ahead["counts"]["misses"] == 2  # the warm-up click and the feed's 204


def test_head_takes_nothing_and_a_204_has_no_body(make_gateway, chains):
    """HEAD says whether a suffix is there (200 or 204) and takes nothing; a 204 has neither a body nor a
    Content-Length (RFC 9110)."""
    gw = make_gateway(slots=4)
    token = feed_offer(gw, chains)
    fill(gw)
    url = f"{gw.url}/feed/shop/suffix"
    for _ in range(3):
        head = requests.head(url, headers=bearer(token), timeout=10)
        assert head.status_code == 200 and head.content == b""
    status = gw.rt.ahead.status(gw.rt.offers.get("shop"))
    assert status["counts"]["feed"] == 0 and status["buckets"][0]["entries"] == 1
    assert requests.get(url, headers=bearer(token), timeout=10).status_code == 200
    assert requests.head(url, headers=bearer(token), timeout=10).status_code == 204
    parts = urlsplit(gw.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/feed/shop/suffix", headers=bearer(token))
    empty = conn.getresponse()
    assert empty.status == 204 and empty.getheader("Content-Length") is None and empty.read() == b""
    conn.close()


def test_a_disabled_offer_or_one_not_traced_ahead_has_no_feed(make_gateway, chains):
    """With the right token: 404 for a disabled offer and for one in inline mode, saying which."""
    gw = make_gateway(slots=2)
    token = feed_offer(gw, chains)
    gw.rt.catalog.set_enabled("shop", False)
    disabled = requests.get(f"{gw.url}/feed/shop/suffix", headers=bearer(token), timeout=10)
    assert disabled.status_code == 404 and "disabled" in disabled.json()["error"]["message"]
    gw.rt.catalog.update("shop", {"enabled": True, "click_mode": "inline"})
    inline = requests.get(f"{gw.url}/feed/shop/suffix", headers=bearer(token), timeout=10)
    assert inline.status_code == 404 and "click_mode inline" in inline.json()["error"]["message"]


def test_each_token_has_its_own_rate_limit(make_gateway, chains):
    """Past `[ahead] feed_per_minute` a token gets 429 with Retry-After; another offer's token is not held back."""
    gw = make_gateway(slots=2, ahead__feed_per_minute=3)
    shop, other = feed_offer(gw, chains), feed_offer(gw, chains, "other")
    answers = [requests.get(f"{gw.url}/feed/shop/suffix", headers=bearer(shop), timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [204, 204, 204, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert requests.get(f"{gw.url}/feed/other/suffix", headers=bearer(other), timeout=10).status_code == 204


def test_a_token_in_the_query_never_reaches_the_access_log(make_gateway, chains):
    """`?token=` of the feed (and of postbacks) is replaced in the access log's request line."""
    gw = make_gateway(slots=2)
    token = feed_offer(gw, chains)

    class Lines(list):
        def write(self, line: str) -> None:
            self.append(line)

    lines = Lines()
    server = wsgiserver.start(build_app(gw.rt.services), log=lines)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(f"{base}/feed/shop/suffix?token={token}&country=us", timeout=10).status_code == 204
        requests.get(f"{base}/webhooks/trackier?token=pair-secret-123&click_id=c1", timeout=10)
    finally:
        server.stop(timeout=1)
    logged = "".join(lines)
    assert "/feed/shop/suffix?token=[redacted]&country=us" in logged and token not in logged
    assert "token=[redacted]&click_id=c1" in logged and "pair-secret-123" not in logged


# -- the Google Ads script ------------------------------------------------------------------------------------------

class FlakyFront:
    """In front of the gateway: the first requests are answered from `script` (a status, with Retry-After: 1, or a
    text answered as a 200), every later one is passed on."""

    def __init__(self, upstream: str, script: list[int | str]) -> None:
        self.upstream = upstream
        self.script = list(script)
        self.server = wsgiserver.start(self)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, int):
                start_response(f"{item} Scripted", [("Retry-After", "1"), ("Content-Type", "text/plain")])
                return [b"scripted failure"]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [item.encode()]
        query = f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""
        got = requests.get(self.upstream + environ["PATH_INFO"] + query, timeout=10,
                           headers={"Authorization": environ.get("HTTP_AUTHORIZATION", "")})
        start_response(f"{got.status_code} {got.reason}", [("Content-Type", got.headers.get("Content-Type", "x/y"))])
        return [got.content]

    def stop(self) -> None:
        self.server.stop(timeout=1)


def run_script(gw, tmp_path: Path, campaigns: list[dict], *options: str, base_url: str | None = None,
               run_s: float = 1800, real_sleep: bool = False) -> dict:
    """`gateway ads-script shop --label "gw shop" OPTIONS` run under node against the runtime double."""
    args = ["ads-script", "shop", "--label", "gw shop", "--base-url", base_url or gw.url, *options]
    made = run_gateway(*args, env=cli_env(gw.rt.settings, tmp_path))
    assert made.returncode == 0, made.stderr
    script = tmp_path / "ads.js"
    script.write_text(made.stdout)
    assert subprocess.run(["node", "--check", str(script)], capture_output=True, timeout=30).returncode == 0
    runtime = json.dumps({"run_s": run_s, "real_sleep": real_sleep})
    ran = subprocess.run(["node", str(RUNTIME), str(script), json.dumps(campaigns), runtime], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@needs_node
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_ads_script_runs_against_a_google_ads_double(make_gateway, chains, tmp_path, dry_run):
    """`gateway ads-script` prints a script that node parses and that, run against a double of the Google Ads
    runtime and the live gateway, sets a fresh suffix on each labelled campaign (none in a dry run)."""
    gw = make_gateway(slots=6)
    feed_offer(gw, chains)
    fill(gw, wanted=3)
    campaigns = [{"name": "A", "labels": ["gw shop"]}, {"name": "B", "labels": ["other"]},
                 {"name": "C", "labels": ["gw shop"]}]
    result = run_script(gw, tmp_path, campaigns, *(["--dry-run"] if dry_run else []))
    suffixes = result["suffixes"]
    if dry_run:
        assert suffixes == {"A": "", "B": "", "C": ""} and any("[dry run]" in line for line in result["log"])
    else:
        assert suffixes["B"] == "" and suffixes["A"] != suffixes["C"]
        assert all(dict(parse_qsl(suffixes[name]))["clickid"] for name in ("A", "C"))
        assert "pass 1: 2 campaign(s) labelled gw shop, 2 updated, 0 without a fresh trace, 0 failed" in result["log"]


@needs_node
def test_the_ads_script_rides_out_a_feed_that_fails_for_a_while(make_gateway, chains, tmp_path):
    """The feed answers 503, then 429 (both with Retry-After), then garbage once, then works: the script asks again
    with growing pauses within the run; the garbage costs the one campaign it was for, the others get fresh
    suffixes."""
    gw = make_gateway(slots=6)
    feed_offer(gw, chains)
    fill(gw, wanted=3)
    front = FlakyFront(gw.url, [503, 429, "<html>not json</html>"])
    try:
        campaigns = [{"name": n, "labels": ["gw shop"], "suffix": "old=1"} for n in ("A", "B", "C")]
        result = run_script(gw, tmp_path, campaigns, base_url=front.url)
    finally:
        front.stop()
    suffixes, log = result["suffixes"], result["log"]
    assert suffixes["A"] == "old=1", "A's third answer was the garbage"
    assert dict(parse_qsl(suffixes["B"]))["clickid"] and dict(parse_qsl(suffixes["C"]))["clickid"]
    assert any("answered 503" in line and "asking again in 1 s" in line for line in log)
    assert any("answered 429" in line and "asking again in 2 s" in line for line in log)
    assert any(line.startswith("A: the suffix feed answered something unreadable") for line in log)
    assert "pass 1: 3 campaign(s) labelled gw shop, 2 updated, 0 without a fresh trace, 1 failed" in log
    assert result["slept_ms"] == 3000


@needs_node
@pytest.mark.parametrize("on_empty", ["keep", "clear"])
def test_the_ads_script_stops_in_time_and_keeps_or_clears_on_an_empty_feed(make_gateway, chains, tmp_path,
                                                                          on_empty):
    """An empty feed is asked again after 5 and 15 s (it fills on demand), then the campaign's suffix is kept or
    cleared, as asked. With 125 s left and passes 30 s apart, a second pass still fits and a third would not: it
    stops after the second, saying so."""
    gw = make_gateway(slots=2)
    feed_offer(gw, chains)
    campaigns = [{"name": "A", "labels": ["gw shop"], "suffix": "old=1"}]
    result = run_script(gw, tmp_path, campaigns, "--passes", "5", "--interval-s", "30", "--on-empty", on_empty,
                        run_s=125)
    log = result["log"]
    waits = [line.rsplit(" ", 2)[-2] for line in log if "it fills on demand: asking again in" in line]
    assert waits == ["5", "15", "5"], "pass 2 has no time for the 15 s wait"
    assert result["slept_ms"] == 20_000 + 30_000 + 5_000
    assert [line.split(":")[0] for line in log if line.startswith("pass ")] == ["pass 1", "pass 2"]
    assert any(line.startswith("stopping after pass 2: another would outlast this run") for line in log)
    assert result["suffixes"]["A"] == ("old=1" if on_empty == "keep" else "")
    assert any(("suffix kept: old=1" if on_empty == "keep" else "suffix cleared (was old=1)") in line for line in log)


def test_ads_script_options_google_ads_cannot_run_are_refused(gateway, chains, tmp_path):
    """A pause longer than Utilities.sleep allows, or passes that outlast a run: exit 2 and one line naming the
    option."""
    feed_offer(gateway, chains)
    env = cli_env(gateway.rt.settings, tmp_path)
    for options, named in ((["--interval-s", "301"], "--interval-s"), (["--passes", "8", "--interval-s", "300"],
                                                                       "--passes")):
        refused = run_gateway("ads-script", "shop", "--base-url", gateway.url, *options, env=env)
        assert refused.returncode == 2 and refused.stderr.startswith(f"gateway: {named}:")
        assert len(refused.stderr.strip().splitlines()) == 1


@needs_node
def test_the_ads_script_gets_suffixes_for_an_offer_only_it_uses(make_gateway, chains, tmp_path):
    """An ahead_only offer nobody clicks, idle since the script's last run, its filler running: the pass's first
    request finds the feed empty and wakes the filler; asked again 5 s later (real time here), the feed has fresh
    suffixes for every campaign."""
    gw = make_gateway(slots=4, ahead__tick_s=60)
    feed_offer(gw, chains, mode="ahead_only")
    gw.rt.filler.start()
    try:
        result = run_script(gw, tmp_path, [{"name": n, "labels": ["gw shop"]} for n in ("A", "B")], real_sleep=True)
    finally:
        gw.rt.filler.stop()
    assert all(dict(parse_qsl(result["suffixes"][name]))["clickid"] for name in ("A", "B")), result["log"]
    assert "the suffix feed is empty; it fills on demand: asking again in 5 s" in result["log"]
