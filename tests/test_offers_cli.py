"""`gateway offers ...`, `gateway traces tail` and `gateway demo` as an operator runs them."""

from __future__ import annotations

import json
import re

import requests

from gateway.tracing.records import TraceRecord
from loadtest.processes import ServiceProcess
from tests.helpers import REPO, clean_env, gateway_command


def test_offers_add_list_show_update_disable(cli):
    """An offer's life from the command line; the policy and sub-id options land in their fields."""
    out = cli("offers", "add", "--slug", "shoes", "--name", "Shoes", "--tracking-url",
              "https://t.example/c?g={gclid}", "--country", "uk", "--fallback-country", "us", "--wait-ms", "4000",
              "--policy", "allow:clickid,sub1", "--rename", "clickid=cid").stdout
    assert out.startswith("added offer shoes")
    listed = cli("offers", "list").stdout.splitlines()
    assert listed[1].split()[:4] == ["shoes", "True", "gb", "4000"]
    shown = json.loads(cli("offers", "show", "shoes", "--json").stdout)
    assert shown["param_policy"] == {"mode": "allow", "params": ["clickid", "sub1"], "rename": {"clickid": "cid"}}
    assert shown["fallback_countries"] == ["us"]
    cli("offers", "update", "shoes", "--wait-ms", "2500", "--sub-ids", '{"p1": "gclid", "p2": "cid"}')
    shown = json.loads(cli("offers", "show", shown["id"], "--json").stdout)
    assert (shown["wait_ms"], shown["sub_id_mapping"]) == (2500, {"p1": "gclid", "p2": "cid"})
    assert "offer shoes disabled" in cli("offers", "disable", "shoes").stdout
    assert json.loads(cli("offers", "show", "shoes", "--json").stdout)["enabled"] is False


def test_bad_offer_input_exits_2_naming_the_field(cli):
    """Invalid values are refused with exit status 2 and the field's name; nothing is added."""
    result = cli("offers", "add", "--slug", "x", "--name", "X", "--tracking-url", "nope", "--country", "us",
                 expect=2)
    assert "tracking_url" in result.stderr
    assert "country" in cli("offers", "add", "--slug", "x", "--name", "X", "--tracking-url", "https://t.example/",
                            "--country", "zz", expect=2).stderr
    assert "no offer 'ghost'" in cli("offers", "update", "ghost", "--wait-ms", "1", expect=1).stderr
    assert json.loads(cli("offers", "list", "--json").stdout) == []


def test_traces_tail_prints_the_newest_traces(cli, runtime):
    """`traces tail` prints the stream of recent traces, newest last, filtered by offer on request."""
    offer = runtime.catalog.create({"slug": "bags", "name": "Bags", "country": "us",
                                    "tracking_url": "https://t.example/c"})
    for outcome in ("final", "fallback_timeout", "beacon"):
        runtime.records.submit(TraceRecord(outcome=outcome, offer_id=offer.id, offer_slug="bags",
                                           redirect_url="https://lp.example/"))
    assert runtime.records.flush(10)
    lines = cli("traces", "tail", "-n", "2", "--json").stdout.splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["fallback_timeout", "beacon"]
    table = cli("traces", "tail", "--offer", "bags").stdout
    assert table.count("bags") == 3 and "https://lp.example/" in table
    assert cli("traces", "tail", "--offer", "other").stdout == ""


def test_the_demo_lands_on_the_landing_page_with_gclid_and_clickid(tmp_path):
    """`gateway demo` on a fresh data dir prints a click URL that, followed like a browser, ends on the demo
    landing page with the inbound gclid and the chain's clickid; its printed postback is accepted."""
    env = clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path))
    demo = ServiceProcess(gateway_command("demo", "--port", "0"), env, REPO)
    try:
        url = demo.wait_for(re.compile(r"click URL: (\S+)"), 90).group(1)
        landing = requests.get(url, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131"},
                               timeout=30)
        assert landing.status_code == 200
        assert "Landing page" in landing.text
        params = dict(re.findall(r"<th>([^<]+)</th><td>([^<]*)</td>", landing.text))
        assert params["gclid"] == "TEST-GCLID-123" and re.fullmatch(r"[0-9a-f]{12}", params["clickid"])
        assert "to" not in params
        assert [r.status_code for r in landing.history] == [302]  # the gateway did the hopping
        postback = demo.wait_for(re.compile(r"postback:  curl '(\S+)'"), 5).group(1)
        answer = requests.get(postback, timeout=30).json()
        assert (answer["status"], answer["pair"]) == ("accepted", 1)
        assert demo.terminate(30) == 0
    finally:
        demo.kill()
