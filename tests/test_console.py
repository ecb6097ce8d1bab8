"""The operator console over HTTP: sign-in and roles, CSRF, every page against live stores, forms that re-show
their errors, hostile text rendered as text, the security headers. The walk in a real browser is in
test_console_browser.py."""

from __future__ import annotations

import re

import pytest
import requests

from gateway.config import Secret
from tests.conftest import ADMIN_TOKEN
from tests.console_client import ConsoleUser
from tests.test_trackier import trackier_settings

VIEWER_TOKEN = "viewer-token-for-tests"
HOSTILE = """<script>alert("x")</script> & 'quotes'"""
PAGES = ("/", "/offers", "/offers/new", "/offers/shop", "/offers/shop/edit", "/pool", "/traces", "/traces/rows",
         "/trace-tool", "/overview/charts")


@pytest.fixture
def console(make_gateway, fake, chains):
    """A gateway with a viewer token, the fake Trackier and offer `shop`; its admin console user, signed in."""
    gw = make_gateway(slots=4, admin__viewer_token=Secret(VIEWER_TOKEN), **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                          "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}"})
    user = ConsoleUser(gw.url)
    assert user.sign_in(ADMIN_TOKEN).status_code == 303
    return gw, user


def test_pages_need_a_session_and_the_token_gives_one(console):
    gw, admin = console
    stranger = ConsoleUser(gw.url)
    answer = stranger.get("/offers")
    assert answer.status_code == 303 and answer.headers["Location"] == "/signin?next=/offers"
    refused = stranger.sign_in("not-the-token")
    assert refused.status_code == 401 and "neither the admin token nor the viewer token" in refused.text
    signed = ConsoleUser(gw.url).sign_in(ADMIN_TOKEN)
    cookie = signed.headers["Set-Cookie"]
    assert "gw_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie  # plain HTTP here; Secure behind HTTPS
    for path in PAGES:
        page = admin.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["Cache-Control"] == "no-store" and "script-src 'self'" in \
            page.headers["Content-Security-Policy"] and "unsafe-inline" not in page.headers["Content-Security-Policy"]
        assert "Traceback" not in page.text
    assert admin.post("/signout").status_code == 303
    assert admin.get("/").status_code == 303


@pytest.mark.parametrize(("wanted", "landing"), [("/pool", "/pool"), ("//evil.example/", "/"),
                                                ("/\\evil.example", "/"), ("https://evil.example/", "/")])
def test_sign_in_returns_only_to_a_page_of_the_console(console, wanted, landing):
    gw, _ = console
    user = ConsoleUser(gw.url)
    page = user.http.get(f"{gw.url}/signin", params={"next": wanted}, timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = user.http.post(f"{gw.url}/signin", data={"csrf": csrf, "token": ADMIN_TOKEN, "next": wanted},
                            allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"] == landing


def test_a_session_is_kept_in_redis_only_as_a_hash(console):
    gw, admin = console
    cookie = admin.http.cookies["gw_console"]
    keys = gw.rt.stores.redis.keys(gw.rt.stores.keys.key("console", "session", "*"))
    assert len(keys) == 1 and cookie not in keys[0]
    assert gw.rt.stores.redis.ttl(keys[0]) > 28_000


def test_a_form_without_its_csrf_token_changes_nothing(console):
    gw, admin = console
    answer = admin.post("/offers/shop/disable", csrf=False)
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = admin.post("/offers/shop/disable", {"csrf": "forged"}, csrf=False)
    assert answer.status_code == 403 and gw.rt.offers.get("shop").enabled
    assert admin.post("/offers/shop/disable").status_code == 303 and not gw.rt.offers.get("shop").enabled


def test_viewers_see_everything_and_the_server_refuses_their_changes(console):
    gw, _ = console
    viewer = ConsoleUser(gw.url)
    assert viewer.sign_in(VIEWER_TOKEN).status_code == 303
    for path in PAGES:
        assert viewer.get(path).status_code == 200, path
    assert "role-viewer" in viewer.get("/offers/shop").text
    for path, data in (("/offers/shop/disable", {}), ("/offers/new", {"slug": "x", "name": "X"}),
                       ("/pool/provision", {"provider": "luna", "countries": "us=3"}), ("/offers/shop/pairs",
                                                                                         {"count": "1"})):
        refused = viewer.post(path, data)
        assert refused.status_code == 403 and "Viewers can look at everything but change nothing" in refused.text
    assert gw.rt.offers.get("shop").enabled and [o.slug for o in gw.rt.offers.all()] == ["shop"]
    assert gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id) == []
    assert viewer.post("/signout").status_code == 303  # signing out is not a change


def test_sign_ins_are_limited_per_address(make_gateway):
    gw = make_gateway(admin__sign_ins_per_minute=3)
    answers = [ConsoleUser(gw.url).sign_in("wrong").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert "too many sign-in attempts" in ConsoleUser(gw.url).sign_in(ADMIN_TOKEN).text


def test_the_offer_form_shows_each_error_beside_its_field_and_loses_nothing(console, chains):
    gw, admin = console
    form = {"slug": "new-one", "name": "New one", "tracking_url": f"{chains.url()}/land", "country": "us",
            "wait_ms": "soon", "click_mode": "inline", "param_policy": '{"mode": "all"}', "sub_id_mapping": "{}"}
    answer = admin.post("/offers/new", form)
    assert answer.status_code == 400 and "Traceback" not in answer.text
    field = re.search(r'<div class="field invalid">.*?</div>', answer.text, re.S).group(0)
    assert 'name="wait_ms"' in field and "must be a whole number" in field
    assert 'value="New one"' in answer.text  # what was typed is shown again
    bad_url = admin.post("/offers/new", {**form, "wait_ms": "100", "tracking_url": "ftp://x"})
    assert bad_url.status_code == 400 and re.search(r'field wide invalid">\s*<label for="f-tracking_url"', bad_url.text)
    bad_json = admin.post("/offers/new", {**form, "wait_ms": "100", "param_policy": "{nope"})
    assert bad_json.status_code == 400 and "must be JSON" in bad_json.text
    assert [o.slug for o in gw.rt.offers.all()] == ["shop"]
    created = admin.post("/offers/new", {**form, "wait_ms": "100"})
    assert created.status_code == 303 and created.headers["Location"] == "/offers/new-one"
    assert gw.rt.offers.get("new-one").wait_ms == 100
    edited = admin.post("/offers/new-one/edit", {"name": "Renamed", "fallback_url": "", "ahead_depth": "x"})
    assert edited.status_code == 400 and gw.rt.offers.get("new-one").name == "New one"
    assert admin.post("/offers/new-one/edit", {"name": "Renamed", "ahead_depth": ""}).status_code == 303
    assert gw.rt.offers.get("new-one").name == "Renamed"


def test_hostile_text_renders_as_text_everywhere(console, fake):
    """An offer name and a postback parameter carrying markup and quotes show as text on every page that shows
    them, never as markup."""
    gw, admin = console
    gw.rt.catalog.update("shop", {"name": HOSTILE})
    gw.rt.pair_creation.create("shop", 1)
    gw.rt.updater.start()
    token = gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id)[0].webhook_token
    answer = requests.get(f"{gw.url}/webhooks/trackier", params={"token": token, "click_id": HOSTILE}, timeout=10)
    assert answer.status_code == 200 and gw.rt.updater.wait_idle(30)
    assert gw.rt.records.flush(10)
    postback_trace = next(t for t in gw.rt.traces.recent(limit=10) if t["source"] == "postback")
    pages = {path: admin.get(path).text for path in ("/offers", "/offers/shop", f"/traces/{postback_trace['id']}")}
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#039;quotes&#039;"
    for path, text in pages.items():
        assert "<script>alert" not in text, path
    assert escaped in pages["/offers"] and escaped in pages["/offers/shop"]
    assert "&lt;script&gt;alert(&quot;x&quot;)" in pages[f"/traces/{postback_trace['id']}"]
    assert "p1=&lt;script&gt;alert(&quot;x&quot;)" in pages["/offers/shop"]  # the pair's sub-id, from the postback


def test_pairs_are_created_in_the_background_and_their_progress_can_be_followed(console, fake):
    gw, admin = console
    answer = admin.post("/offers/shop/pairs", {"count": "3"})
    assert answer.status_code == 303
    job = answer.headers["Location"].split("job=")[1]
    gw.rt.services.background.join(timeout=60)
    progress = admin.get(f"/jobs/{job}").json()
    assert progress["state"] == "done" and progress["done"] == "3" and progress["total"] == "3"
    page = admin.get("/offers/shop").text
    assert page.count('class="copy" data-copy="https://') >= 3 and 'id="pair-3"' in page
    assert admin.post("/offers/shop/pairs/2/disable").status_code == 303
    assert not gw.rt.pairs.get(gw.rt.offers.get("shop").id, 2).enabled
    refused = admin.post("/offers/shop/pairs/1/disable")
    assert refused.status_code == 409 and "pair 1 cannot be disabled" in refused.text
    tested = admin.post("/offers/shop/pairs/3/test")
    assert tested.status_code == 200 and "Test postback to pair 3" in tested.text
    csv = admin.get("/offers/shop/pairs.csv")
    assert csv.headers["Content-Disposition"] == 'attachment; filename="shop-pairs.csv"'
    assert csv.text.splitlines()[0].startswith("pair,name,enabled") and len(csv.text.splitlines()) == 4
    failed = admin.post("/offers/shop/pairs", {"count": "30"})
    gw.rt.services.background.join(timeout=30)
    state = admin.get(f"/jobs/{failed.headers['Location'].split('job=')[1]}").json()
    assert state["state"] == "failed" and "exceed 20" in state["message"]


def test_the_pool_page_acts_and_calculates(console):
    gw, admin = console
    assert admin.post("/pool/provision", {"provider": "luna", "countries": "us=6, gb=2"}).status_code == 303
    assert gw.rt.pool.census()["us"]["total"] == 6 and gw.rt.pool.census()["gb"]["total"] == 2
    bad = admin.post("/pool/provision", {"provider": "luna", "countries": "us=lots"})
    assert bad.status_code == 400 and "us=lots" in bad.text and 'value="us=lots"' in bad.text
    assert admin.post("/pool/slots/luna-gb-2/disable").status_code == 303
    assert gw.rt.inventory.get("luna-gb-2").enabled is False
    assert admin.post("/pool/slots/luna-gb-2/remove").status_code == 303
    assert gw.rt.pool.census()["gb"]["total"] == 1
    sized = admin.get("/pool?peak=10&trace_s=3&cooldown_s=2&headroom=1.5").text
    assert "<strong>75 slots</strong>" in sized
    assert "must be a number" in admin.get("/pool?peak=ten&trace_s=3&cooldown_s=2&headroom=1.5").text


def test_traces_filter_and_the_trace_tool_follows_a_chain(console, chains):
    gw, admin = console
    gw.rt.catalog.create({"slug": "other", "name": "Other", "country": "us", "tracking_url": f"{chains.url()}/land"})
    gw.click("other", {"gclid": "G1"})
    gw.click("other", {"gclid": "G2"}, **{"User-Agent": "curl/8"})
    assert gw.rt.records.flush(10)
    rows = admin.get("/traces/rows?offer=other&outcome=fallback_bot").text
    assert rows.count("<tr>") == 1 and "fallback_bot" in rows
    assert admin.get("/traces/rows?offer=shop").text.count("<tr>") == 1  # the empty-table row
    trace_id = gw.rt.traces.recent(limit=5, outcome="final")[0]["id"]
    detail = admin.get(f"/traces/{trace_id}").text
    assert "gclid=G1" in detail and "Hops" in detail and "<dt>Tracer</dt><dd>http</dd>" in detail
    assert admin.get("/traces/not-a-uuid").status_code == 404
    tool = admin.post("/trace-tool", {"url": f"{chains.url()}/demo/start?aff=1", "route": "direct", "ua": "mobile"})
    assert tool.status_code == 200 and "Reached the end" in tool.text and "meta_refresh" in tool.text
    assert "<dt>Tracer</dt><dd>http</dd>" in tool.text
    wrong_mode = admin.post("/trace-tool", {"url": f"{chains.url()}/land", "route": "direct", "mode": "selenium"})
    assert wrong_mode.status_code == 400 and "must be one of http, browser, auto" in wrong_mode.text
    bad = admin.post("/trace-tool", {"url": "javascript:alert(1)", "route": "direct"})
    assert bad.status_code == 400 and "not an http(s) URL" in bad.text
    no_slot = admin.post("/trace-tool", {"url": f"{chains.url()}/land", "route": "slot", "target": "nope"})
    assert no_slot.status_code == 400


def test_unknown_pages_and_methods_are_console_pages(console):
    _, admin = console
    missing = admin.get("/no/such/page")
    assert missing.status_code == 404 and "There is no such page" in missing.text
    assert "Content-Security-Policy" in missing.headers
    assert admin.get("/offers/nope").status_code == 404

