"""What an attacker found, closed: each finding of the security review against a live gateway.

Postback secrets and route 3 are in test_webhooks.py; hostile input thrown at every route is in test_fuzz.py.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import gevent
import gevent.event
import pytest
import requests

from gateway.tracing.records import TraceRecord
from loadtest.chains import chain
from store.errors import BadValue
from tests.conftest import ADMIN_TOKEN
from tests.helpers import GatewayProcess, cli_env, run_gateway
from tests.test_trackier import trackier_settings

BOT = {"User-Agent": "curl/8.0"}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def api(gw) -> requests.Session:
    session = requests.Session()
    session.headers.update(AUTH)
    session.base = f"{gw.url}/api"
    return session


# -- 2, 3: one NUL byte must not stop records or fail other postbacks -------------------------------------------

def test_a_nul_click_is_refused_and_the_next_100_records_reach_postgresql(gateway, chains):
    """`/c/SLUG?gclid=%00` (from a bot, the cheapest path) is a 400 with no record; the 100 clicks after it are
    all in PostgreSQL within seconds."""
    gateway.rt.catalog.create({"slug": "shoes", "name": "Shoes", "country": "us",
                               "tracking_url": f"{chains.url()}/land"})
    poisoned = requests.get(f"{gateway.url}/c/shoes?gclid=%00", headers=BOT, allow_redirects=False, timeout=10)
    assert (poisoned.status_code, poisoned.headers.get("Location")) == (400, None)
    for n in range(100):
        assert gateway.click("shoes", {"gclid": f"g{n}"}, **BOT).status_code == 302
    assert len(gateway.records(100)) == 100
    assert gateway.rt.records.rejected == 0


def test_a_record_postgresql_refuses_is_set_aside_alone(runtime):
    """A record PostgreSQL cannot hold (here: a NUL that slipped past every edge, and an unknown outcome) is
    set aside and counted; the records queued around it are written at once, the writer never stalls."""
    writer = runtime.records
    good = [TraceRecord(outcome="fallback_bot", offer_id=None, offer_slug="x", inbound=[["n", str(n)]])
            for n in range(200)]
    refused = TraceRecord(outcome="not-an-outcome", offer_id=None, offer_slug="x")
    scrubbed = TraceRecord(outcome="final", offer_id=None, offer_slug="x", params=[["clickid", "a\x00b"]],
                           final_url="https://land.example/?c=\ud800")
    for record in [*good[:100], refused, scrubbed, *good[100:]]:
        assert writer.submit(record)
    assert writer.flush(10)
    assert writer.rejected == 1
    assert "gateway_records_rejected_total 1.0" in runtime.metrics.render()[0].decode()
    rows = {str(row["id"]): row for row in runtime.traces.recent(limit=500)}
    assert len(rows) == 201 and str(refused.id) not in rows
    assert rows[str(scrubbed.id)]["params"] == [["clickid", "a\ufffdb"]]


def test_hostile_postbacks_leave_good_ones_in_the_same_batch_alone(make_gateway, fake, chains):
    """60 postbacks at once, a third carrying a NUL or a lone surrogate (query, form or JSON): those are 400
    naming their field and recorded nowhere; every good one is accepted and recorded."""
    gw = make_gateway(slots=5, **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                          "tracking_url": f"{chains.url()}/land?g={{click_id}}"})
    gw.rt.pair_creation.create("shop", 1)
    token = gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id)[0].webhook_token
    url = f"{gw.url}/webhooks/trackier"
    hostile = [
        lambda n: requests.get(f"{url}?token={token}&click_id=bad{n}%00", timeout=10),
        lambda n: requests.post(url, data=json.dumps({"token": token, "click_id": "\ud800"}),
                                headers={"Content-Type": "application/json"}, timeout=10),
        lambda n: requests.post(url, data=f"token={token}&sub1=%00", timeout=10,
                                headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    start = gevent.event.Event()

    def send(n: int) -> tuple[bool, requests.Response]:
        start.wait()
        if n % 3 == 0:
            return False, hostile[n // 3 % 3](n)
        return True, requests.get(f"{url}?{urlencode({'token': token, 'click_id': f'ok{n}'})}", timeout=10)

    jobs = [gevent.spawn(send, n) for n in range(60)]
    start.set()
    gevent.joinall(jobs, raise_error=True)
    for good, response in (job.value for job in jobs):
        assert response.status_code == (200 if good else 400), response.text
        if not good:
            assert response.json()["error"]["field"] in ("click_id", "sub1")
    assert sum(gw.rt.events.by_status().values()) == 40


def test_a_batch_with_a_refused_row_writes_every_other_row(runtime):
    """Group commit: a postback row PostgreSQL refuses fails alone; the rows submitted with it get their ids."""
    event = {"route": "unresolved", "offer_id": None, "pair_id": None, "click_id": "c", "campaign_id": None,
             "params": {}, "client_addr": None, "force_update": False, "status": "unresolved"}
    bad = {**event, "status": "not-a-status"}

    def submit(row: dict) -> int | str:
        try:
            return runtime.event_log.submit(row)
        except BadValue:
            return "refused"

    jobs = [gevent.spawn(submit, bad if n == 7 else event) for n in range(20)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value == "refused" for job in jobs] == [n == 7 for n in range(20)]
    assert runtime.events.by_status() == {"unresolved": 19}


# -- 1: what a postback may hand the re-trace ------------------------------------------------------------------

def test_only_macros_and_pass_through_names_of_a_postback_reach_the_retrace(make_gateway, fake, chains):
    """A postback's `to=` (which the first hop would follow) and other names stay behind; the template's macro
    and a pass-through name (`utm_source`) go into the re-trace."""
    gw = make_gateway(slots=5, **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                          "tracking_url": f"{chains.url()}/r/302?g={{click_id}}"})
    gw.rt.pair_creation.create("shop", 1)
    gw.rt.updater.start()
    token = gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id)[0].webhook_token
    evil = f"{chains.url(1)}/land?stolen=1"
    answer = requests.get(f"{gw.url}/webhooks/trackier?" + urlencode(
        {"token": token, "click_id": "CK", "to": evil, "utm_source": "ads", "x": "1"}), timeout=10).json()
    assert gw.rt.updater.wait_idle(30)
    (trace,) = [row for row in gw.records(1) if row["source"] == "postback"]
    assert trace["hops"][0]["url"] == f"{chains.url()}/r/302?g=CK&utm_source=ads"
    assert trace["final_url"].startswith(f"{chains.url()}/land")
    assert gw.rt.events.get(answer["event_id"])["params"]["to"] == evil  # recorded, not followed


# -- 4: destinations steerable through the chain -------------------------------------------------------------

def test_a_click_cannot_add_a_parameter_the_chain_follows(gateway, chains):
    """The first hop honours `to=` when it gets one; the click's `to=` is not passed on (neither to the traced
    tracking URL nor to the fallback), its click ids and utm_* are."""
    gateway.rt.catalog.create({"slug": "shoes", "name": "Shoes", "country": "us",
                               "tracking_url": f"{chains.url()}/r/302?aff=1"})
    evil = f"{chains.url(1)}/land?stolen=1"
    traced = gateway.click("shoes", {"to": evil, "gclid": "G", "utm_medium": "cpc", "x": "1"})
    assert traced.headers["Location"].startswith(f"{chains.url()}/land?")
    fallback = gateway.click("shoes", {"to": evil, "gclid": "G"}, **BOT)
    assert fallback.headers["Location"] == f"{chains.url()}/r/302?aff=1&gclid=G"
    first = next(r for r in gateway.records(2) if r["outcome"] == "final")["hops"][0]["url"]
    assert first == f"{chains.url()}/r/302?aff=1&gclid=G&utm_medium=cpc"


def test_an_offer_may_pass_on_more(gateway, chains):
    """`pass_through` names (and prefixes) what else travels; the API checks it."""
    session = api(gateway)
    created = session.post(f"{session.base}/offers", json={
        "slug": "wide", "name": "Wide", "country": "us", "tracking_url": f"{chains.url()}/land",
        "pass_through": ["sub*", "gclid"]}, timeout=10)
    assert created.status_code == 201 and created.json()["pass_through"] == ["sub*", "gclid"]
    assert session.post(f"{session.base}/offers", json={
        "slug": "bad", "name": "Bad", "country": "us", "tracking_url": f"{chains.url()}/land",
        "pass_through": ["to=x"]}, timeout=10).json()["error"]["field"] == "pass_through"
    gateway.click("wide", {"sub1": "a", "sub_aff": "b", "utm_source": "c", "gclid": "G"})
    (record,) = gateway.records(1)
    assert parse_qsl(urlsplit(record["hops"][0]["url"]).query) == [("sub1", "a"), ("sub_aff", "b"), ("gclid", "G")]


@pytest.mark.parametrize(("end", "allowed"), [
    ("market://details?id=com.example", True),
    ("itms-apps://apps.apple.com/app/id1", True),
    ("intent://open#Intent;scheme=ex;package=com.example;end", True),
    ("intent://open#Intent;scheme=ex;S.browser_fallback_url={same};end", True),
    ("intent://open#Intent;scheme=ex;S.browser_fallback_url=https%3A%2F%2Fevil.example%2F;end", False),
    ("search-ms:query=invoice&crumb=location:%5C%5Cevil.example%5Cshare", False),
    ("ms-msdt:/id PCWDiagnostic", False),
    ("itms-services://?action=download-manifest&url=https://evil.example/m.plist", False),
    ("view-source:https://evil.example/", False),
])
def test_app_links_only_for_allowed_schemes(gateway, chains, end, allowed):
    """A chain may end on `market:`, `itms-apps:` or an `intent:` whose browser fallback stays on the host
    that sent it; any other scheme ends the trace as blocked_scheme and the visitor gets the fallback."""
    end = end.replace("{same}", quote(f"{chains.url()}/land", safe=""))
    gateway.rt.catalog.create({"slug": "app", "name": "App", "country": "us",
                               "tracking_url": chain(chains.url(), ["302"], end),
                               "fallback_url": "https://fallback.example/"})
    location = gateway.click("app", {"gclid": "G"}).headers["Location"]
    (record,) = gateway.records(1)
    if allowed:
        assert (location, record["outcome"]) == (end, "final")
    else:
        assert location == "https://fallback.example/?gclid=G"
        assert (record["outcome"], record["error"]) == ("fallback_error", "blocked_scheme")


# -- 5, 6: 500s on hostile input; backslashes in offer URLs -----------------------------------------------------

def offer_body(chains, **fields) -> dict:
    return {"slug": "x", "name": "X", "country": "us", "tracking_url": f"{chains.url()}/land", **fields}


@pytest.mark.parametrize(("path", "field"), [("/webhooks/trackier?token=t", "body"), ("/api/offers", "body")])
def test_deeply_nested_json_is_a_400(gateway, path, field):
    """JSON nested 1500 deep (a RecursionError in the parser) is refused by the depth limit."""
    response = requests.post(f"{gateway.url}{path}", data="[" * 1500 + "]" * 1500,
                             headers={**AUTH, "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field and "deeper" in response.json()["error"]["message"]


@pytest.mark.parametrize(("fields", "named"), [
    ({"name": "caf\ud800"}, "name"),
    ({"tracking_url": "http://[::1/"}, "tracking_url"),
    ({"tracking_url": "http://a\uff0f@b.example/"}, "tracking_url"),
    ({"fallback_url": "http://exa mple.com/"}, "fallback_url"),
    ({"tracking_url": "https://ex<ample.com/"}, "tracking_url"),
    ({"ua_profile": "x\udcff"}, "ua_profile"),
])
def test_hostile_offer_fields_are_400s_naming_the_field(gateway, chains, fields, named):
    session = api(gateway)
    response = session.post(f"{session.base}/offers", data=json.dumps(offer_body(chains, **fields)), timeout=10,
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == named


def test_a_lone_surrogate_in_a_pair_name_is_a_400(make_gateway, fake, chains):
    gw = make_gateway(slots=2, **trackier_settings(fake))
    gw.rt.catalog.create(offer_body(chains, slug="shop", final_url="https://shop.example/"))
    gw.rt.pair_creation.create("shop", 1)
    session = api(gw)
    response = session.patch(f"{session.base}/offers/shop/pairs/1", data=json.dumps({"name": "p\ud800"}),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["field"] == "name"


@pytest.mark.parametrize("url", ["http://[::1/", "http://a\uff0f@b.example/", "http://example.com:99999/"])
def test_gateway_trace_says_what_is_wrong_with_the_url(url):
    """No traceback: one line naming the URL, exit 2."""
    result = run_gateway("trace", url)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("gateway: URL:")


def test_backslashes_are_read_as_browsers_read_them(gateway, chains):
    """`http://HOST1:P\\@HOST2:P/land` is stored as a browser reads it (host 1, path `/@HOST2...`), so the
    tracer and a visitor following the fallback reach the same host."""
    port = chains.port
    tricky = f"http://127.0.0.1:{port}\\@127.0.0.2:{port}/land"
    created = gateway.rt.catalog.create(offer_body(chains, slug="slash", tracking_url=tricky, fallback_url=tricky))
    assert created.tracking_url == created.fallback_url == f"http://127.0.0.1:{port}/@127.0.0.2:{port}/land"
    fallback = gateway.click("slash", {"gclid": "G"}, **BOT).headers["Location"]
    assert urlsplit(fallback).hostname == "127.0.0.1"
    gateway.click("slash", {"gclid": "G"})
    traced = next(r for r in gateway.records(2) if r["outcome"] != "fallback_bot")
    assert urlsplit(traced["hops"][0]["url"]).hostname == "127.0.0.1"


# -- 7: connections held open ----------------------------------------------------------------------------------

@pytest.fixture
def slow_guarded(settings, tmp_path):
    """`gateway serve` with a 1 s header timeout and a 2 s idle timeout."""
    served = settings.replace(server__header_timeout_s=1.0, server__idle_timeout_s=2.0)
    proc = GatewayProcess(env=cli_env(served, tmp_path))
    yield proc.wait_listening(30)
    proc.terminate(15)


def _closed_by_server(sock: socket.socket, trickle: bool, limit_s: float) -> float:
    """Seconds until the server closed `sock` (trickling a header byte every 0.2 s meanwhile, if asked)."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit_s:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(b"X")
                except OSError:
                    return time.monotonic() - started
        except OSError:
            return time.monotonic() - started
    return float("inf")


def test_slow_and_idle_connections_are_closed(slow_guarded):
    """50 connections trickling their headers are closed after the header timeout, an idle keep-alive
    connection after the idle timeout; meanwhile the gateway answers others."""
    host, port = urlsplit(slow_guarded).hostname, urlsplit(slow_guarded).port
    slow = [socket.create_connection((host, port), timeout=5) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    jobs = [gevent.spawn(_closed_by_server, sock, True, 10) for sock in slow]
    assert requests.get(f"{slow_guarded}/healthz", timeout=5).status_code == 200
    gevent.joinall(jobs, raise_error=True)
    assert max(job.value for job in jobs) < 4, [round(job.value, 1) for job in jobs]

    idle = socket.create_connection((host, port), timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in idle.recv(4096)
    assert 1.5 < _closed_by_server(idle, False, 10) < 5


# -- 8: small ones --------------------------------------------------------------------------------------------

def test_a_chunked_json_body_is_read(gateway, chains):
    session = api(gateway)
    body = json.dumps(offer_body(chains, slug="chunked")).encode()
    response = session.post(f"{session.base}/offers", data=iter([body[:20], body[20:]]), timeout=10,
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["slug"] == "chunked"


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("GET", "/api/no/such/route", {}, 404),
    ("PUT", "/api/offers", {}, 405),
    ("POST", "/api/offers", {"data": b"x" * (2 << 20)}, 413),
    ("POST", "/api/offers", {"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
    ("PUT", "/webhooks/trackier", {}, 405),
    ("POST", "/webhooks/trackier?token=t", {"data": b"x=" + b"a" * 70_000}, 413),
])
def test_every_api_and_webhook_error_is_json(gateway, method, path, kwargs, status):
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = requests.request(method, f"{gateway.url}{path}", headers=headers, timeout=10, **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"]
