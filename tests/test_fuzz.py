"""Hostile input thrown at every route that takes input (hypothesis): NULs, lone surrogates, deep JSON, huge
numbers, odd URLs. Whatever comes, the gateway answers without a 5xx, its record writer keeps writing, and it is
healthy afterwards."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN
from tests.test_trackier import trackier_settings

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ODD_URLS = ["http://[::1/", "http://a\uff0f@b.example/", "javascript:alert(1)", "http://x.example:99999/",
            "\\\\evil.example\\share", "http://127.0.0.1:1\\@127.0.0.2:2/land", "//evil.example/", " http://x ",
            "http://%00/", "ftp://x.example/", "http://" + "a" * 3000 + ".example/", "intent://x#Intent;end",
            "http://exa mple.com/", "https://xn--zz.example/", "http://\u0000.example/", "https://ex<a>.example/"]
NASTY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # any code point, lone surrogates and NUL included
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\ufffe", "\U0010ffff", "%00", "' OR 1=1 --",
                     "<script>alert(1)</script>", "a" * 5000, *ODD_URLS]),
)
NUMBERS = st.one_of(st.integers(min_value=-(10 ** 30), max_value=10 ** 30), st.sampled_from(
    [10 ** 400, -(10 ** 400), 2 ** 63, -(2 ** 63) - 1, 1e308, -0.0, 0.5]))
LEAVES = st.one_of(NASTY_TEXT, NUMBERS, st.booleans(), st.none())
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(NASTY_TEXT, inner, max_size=3)), max_leaves=8)
OFFER_KEYS = ["slug", "name", "tracking_url", "fallback_url", "final_url", "country", "fallback_countries",
              "wait_ms", "cooldown_s", "ua_profile", "param_policy", "pass_through", "sub_id_mapping",
              "update_interval_s", "enabled"]
# Hypothesis raises the recursion limit while a test runs (and this gateway runs in the test's process): 8000
# levels overflow the JSON parser even so.
DEPTHS = st.sampled_from([0, 0, 0, 2, 40, 1500, 8000])
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def document(value: object, depth: int) -> bytes:
    """`value` as JSON (lone surrogates as \\u escapes), wrapped in `depth` arrays."""
    return b"[" * depth + json.dumps(value).encode() + b"]" * depth


@st.composite
def offer_fields(draw) -> dict:
    """Mostly valid offer fields with one or two hostile ones: hostile values must get past the easy refusals
    to reach the store."""
    fields = {"slug": draw(st.sampled_from(["shop", "fuzzed"])), "name": "Fuzzed", "country": "us",
              "tracking_url": "https://aff.example/c?g={gclid}"}
    for key in draw(st.lists(st.sampled_from(OFFER_KEYS), min_size=1, max_size=2)):
        fields[key] = draw(VALUES)
    return fields


@pytest.fixture
def target(make_gateway, fake, chains):
    """A gateway with an offer (`shop`) and a pair, whose updater runs: every route has something to hit."""
    gw = make_gateway(slots=3, **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": f"{chains.url()}/land",
                          "tracking_url": f"{chains.url()}/land?g={{click_id}}"})
    gw.rt.pair_creation.create("shop", 1)
    gw.rt.updater.start()
    gw.rt.records.start()
    gw.token = gw.rt.pairs.for_offer(gw.rt.offers.get("shop").id)[0].webhook_token
    yield gw
    assert gw.rt.records.flush(15) and not gw.rt.records.queue, "the record writer is stuck"
    assert gw.rt.updater.wait_idle(30)
    assert requests.get(f"{gw.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{gw.url}/readyz", timeout=5).status_code == 200
    gw.rt.records.stop()


def no_5xx(response: requests.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url[:200], response.text[:300])


@FUZZ
@given(st.lists(st.tuples(NASTY_TEXT, NASTY_TEXT), max_size=4), st.sampled_from(["shop", "nope", "%00", "\ud800"]),
       st.sampled_from(["Mozilla/5.0 Chrome/131", "curl/8"]))
def test_clicks(target, pairs_, slug, agent):
    query = "&".join(f"{quote(n, errors='surrogatepass')}={quote(v, errors='surrogatepass')}" for n, v in pairs_)
    path = quote(slug, safe="%", errors="surrogatepass")
    for url in (f"{target.url}/c/{path}?{query}", f"{target.url}/track-hit?offer={path}&{query}"):
        no_5xx(requests.get(url, headers={"User-Agent": agent}, allow_redirects=False, timeout=15))


@FUZZ
@given(st.dictionaries(NASTY_TEXT, VALUES, max_size=5), DEPTHS, st.sampled_from(["json", "form", "query"]),
       st.booleans())
def test_postbacks(target, fields, depth, how, real_token):
    fields = {**fields, "token": target.token} if real_token else fields
    url = f"{target.url}/webhooks/trackier"
    if how == "json":
        response = requests.post(url, data=document(fields, depth), timeout=15,
                                 headers={"Content-Type": "application/json"})
    else:
        flat = "&".join(f"{quote(str(k), errors='surrogatepass')}={quote(str(v), errors='surrogatepass')}"
                        for k, v in fields.items())
        response = (requests.post(url, data=flat.encode(), timeout=15,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
                    if how == "form" else requests.get(f"{url}?{flat}", timeout=15))
    no_5xx(response)


@FUZZ
@given(st.one_of(offer_fields(), st.dictionaries(st.sampled_from([*OFFER_KEYS, "count", "countries", "url", "id"]),
                                                 VALUES, max_size=4)), DEPTHS,
       st.sampled_from(["POST /offers", "PATCH /offers/shop", "PATCH /offers/shop/pairs/1", "POST /pool/provision",
                        "POST /pool/slots", "POST /offers/shop/pairs"]))
def test_admin_bodies(target, fields, depth, route):
    method, path = route.split(" ")
    response = requests.request(method, f"{target.url}/api{path}", data=document(fields, depth),
                                headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    no_5xx(response)


@FUZZ
@given(NASTY_TEXT, NASTY_TEXT, st.sampled_from(["/pool/size", "/pool", "/traces", "/offers/shop/clicks",
                                                 "/pool/slots", "/offers/{}", "/pool/slots/{}"]))
def test_admin_paths_and_queries(target, first, second, route):
    path = route.format(quote(first, safe="", errors="surrogatepass"))
    names = {"/pool/size": ("peak_clicks_per_s", "trace_s"), "/pool": ("country", "country"),
             "/traces": ("offer", "limit"), "/offers/shop/clicks": ("minutes", "minutes"),
             "/pool/slots": ("country", "limit")}.get(route, ("x", "y"))
    query = (f"{names[0]}={quote(first, errors='surrogatepass')}&{names[1]}={quote(second, errors='surrogatepass')}"
             if route in ("/pool/size", "/pool", "/traces", "/offers/shop/clicks", "/pool/slots") else "")
    no_5xx(requests.get(f"{target.url}/api{path}?{query}", headers=AUTH, timeout=15))


@FUZZ
@given(st.lists(st.lists(NASTY_TEXT, min_size=1, max_size=4), max_size=4))
def test_pool_import(target, rows):
    body = "country,url,id\n" + "\n".join(",".join(row) for row in rows)
    no_5xx(requests.post(f"{target.url}/api/pool/import", data=body.encode("utf-8", "surrogatepass"),
                         headers={**AUTH, "Content-Type": "text/csv"}, timeout=15))
