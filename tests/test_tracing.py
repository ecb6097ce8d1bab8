"""The tracer against a local chain server on two loopback hosts, directly and through real proxies."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import requests

from gateway.config import Settings
from gateway.tracing import navigation
from gateway.tracing.ssrf import BlockedAddress, GuardedAdapter, is_blocked
from gateway.tracing.tracer import SlotRoute, TraceOptions, trace
from loadtest.chains import chain

LOCAL = TraceOptions(allow_private=True)


def kinds(result) -> list[str]:
    return [hop.kind for hop in result.hops]


def land(chains, query: str = "clickid=abc", host: int = 0) -> str:
    return f"{chains.url(host)}/land?{query}"


@pytest.mark.parametrize("kind", ["301", "302", "303", "307", "308"])
def test_every_http_redirect_status_is_followed(chains, kind):
    """301, 302, 303, 307 and 308 are hops of kind http with their status."""
    result = trace(chain(chains.url(), [kind], land(chains)), options=LOCAL)
    assert result.ok and result.final_url == land(chains)
    assert [(h.status, h.kind) for h in result.hops] == [(int(kind), "http"), (200, "final")]


@pytest.mark.parametrize(("kind", "hop_kind"), [
    ("refresh", "refresh_header"), ("meta", "meta_refresh"), ("meta-body", "meta_refresh"),
    ("meta-bare", "meta_refresh"), ("js", "js"), ("js-replace", "js"), ("js-assign", "js"), ("js-top", "js"),
    ("js-timeout", "js"), ("js-var", "js"), ("js-concat", "js"),
])
def test_every_page_redirect_is_followed(chains, kind, hop_kind):
    """Refresh header, meta refresh (head, body, without url=) and each JavaScript form are followed."""
    result = trace(chain(chains.url(), [kind], land(chains, "clickid=x&a=1&a=2")), options=LOCAL)
    assert result.ok, result.detail
    assert kinds(result) == [hop_kind, "final"]
    assert result.params == [("clickid", "x"), ("a", "1"), ("a", "2")]


def test_a_long_mixed_chain_records_every_hop(chains):
    """A chain mixing every kind ends where a browser would, one hop record per request."""
    steps = ["302", "meta", "js", "refresh", "js-timeout", "307", "meta-body", "js-var"]
    result = trace(chain(chains.url(), steps, land(chains, host=1)), options=LOCAL)
    assert result.ok and result.final_url == land(chains, host=1)
    assert kinds(result) == ["http", "meta_refresh", "js", "refresh_header", "js", "http", "meta_refresh", "js",
                             "final"]
    assert all(hop.ms >= 0 for hop in result.hops) and result.total_ms >= sum(h.ms for h in result.hops) * 0.5
    assert [hop.next for hop in result.hops[:-1]] == [hop.url for hop in result.hops[1:]]


def test_a_3xx_wins_over_the_meta_refresh_in_its_body(chains):
    """A redirect's body is not rendered: its meta refresh to /decoy is ignored."""
    result = trace(chain(chains.url(), ["3xx-meta"], land(chains)), options=LOCAL)
    assert result.final_url == land(chains)


@pytest.mark.parametrize("path", ["/commented", "/text-js", "/json-js"])
def test_what_browsers_do_not_run_is_not_followed(chains, path):
    """Commented-out JS, meta in an HTML comment or <noscript>, a string that mentions location, and scripts
    in text/plain or JSON responses leave the page final."""
    result = trace(chains.url() + path, options=LOCAL)
    assert result.ok and kinds(result) == ["final"]


def test_loops_are_detected(chains):
    """The same URL requested again with the same cookies is a redirect loop."""
    result = trace(chains.url() + "/loop", options=LOCAL)
    assert (result.ok, result.error) == (False, "redirect_loop")
    assert kinds(result) == ["http", "error"]


def test_a_cookie_gate_is_not_a_loop(chains):
    """A hop that sets a cookie and comes back to itself is let through on the second visit."""
    result = trace(f"{chains.url()}/gate?to={quote(land(chains), safe='')}", options=LOCAL)
    assert result.ok and result.final_url == land(chains)
    assert kinds(result) == ["http", "http", "final"]


def test_cookies_stay_with_the_host_that_set_them(chains):
    """A cookie set by 127.0.0.1 goes back to 127.0.0.1 but not to 127.0.0.2."""
    def seen_by(host: int) -> str:
        check = f"{chains.url(host)}/check-cookie?to={quote(land(chains, 'x=1', host), safe='')}"
        result = trace(f"{chains.url()}/set-cookie?name=tracker&to={quote(check, safe='')}", options=LOCAL)
        return dict(result.params)["had"]

    assert seen_by(0) == "tracker"
    assert seen_by(1) == "none"


def test_traces_never_share_cookies(chains):
    """Each trace has its own jar: a cookie from one trace is unknown to the next."""
    trace(f"{chains.url()}/set-cookie?name=first&to=/land", options=LOCAL)
    result = trace(f"{chains.url()}/check-cookie?to=/land", options=LOCAL)
    assert dict(result.params)["had"] == "none"


def test_hops_refusing_head_are_fetched_with_get(chains):
    """A hop answering 405 to HEAD works: the tracer only sends GET."""
    assert trace(f"{chains.url()}/nohead?to=/land%3Fvia%3Dget", options=LOCAL).params == [("via", "get")]


def test_user_agent_and_referer_are_sent_like_a_browser(chains):
    """The mobile profile is seen as mobile; a 3xx keeps the original referrer (its origin, cross-origin; none
    from https to http), a page hop to another origin sends only its own origin."""
    mobile = trace(f"{chains.url()}/check-ua?to=/land", options=TraceOptions(allow_private=True, user_agent="mobile"))
    assert dict(mobile.params)["device"] == "mobile"
    desktop = trace(f"{chains.url()}/check-ua?to=/land", options=LOCAL)
    assert dict(desktop.params)["device"] == "desktop"
    check = f"{chains.url(1)}/check-referer?to=/land"
    def referred(referer: str, steps: list[str]) -> str:
        result = trace(chain(chains.url(), steps, check), options=TraceOptions(allow_private=True, referer=referer))
        return dict(result.params)["ref"]

    assert referred("http://search.example/results?q=shoes", ["302"]) == "http://search.example/"
    assert referred("https://www.google.com/", ["302"]) == "none"
    via_meta = trace(chain(chains.url(), ["meta"], check), options=LOCAL)
    assert dict(via_meta.params)["ref"] == chains.url() + "/"


@pytest.mark.parametrize(("style", "expected"), [
    ("path", "/land?via=path"), ("dot", "/land?via=dot"), ("root", "/land?via=root"),
    ("query", "/relative/query?via=query"),
])
def test_relative_locations_resolve_like_a_browser(chains, style, expected):
    """Path-relative, dot-segment, root-relative and query-only Locations resolve against the hop's URL."""
    result = trace(f"{chains.url()}/relative/{style}", options=LOCAL)
    assert result.final_url == chains.url() + expected


def test_protocol_relative_location_keeps_the_scheme(chains):
    """`//host:port/path` takes the current scheme and the new host."""
    assert trace(f"{chains.url()}/relative/proto", options=LOCAL).final_url == chains.url(1) + "/land?via=proto"


def test_spaces_and_non_ascii_in_a_location_are_percent_encoded(chains):
    """A raw space and raw UTF-8 in a Location are encoded as browsers do."""
    result = trace(f"{chains.url()}/encoded", options=LOCAL)
    assert result.final_url == chains.url() + "/land?q=a%20b&city=Z%C3%BCrich&emoji=%E2%9C%93"
    assert result.params == [("q", "a b"), ("city", "Zürich"), ("emoji", "✓")]


@pytest.mark.parametrize(("charset", "city"), [
    ("windows-1251", "%CC%EE%F1%EA%E2%E0"),  # declared by a <meta charset> only
    ("koi8-r", "%ED%CF%D3%CB%D7%C1"),  # in the Content-Type header
    ("utf-16", "%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0"),  # a byte-order mark only: its URLs' queries are UTF-8
])
def test_legacy_pages_are_read_and_their_queries_encoded_like_a_browser(chains, charset, city):
    """A page is decoded by its BOM, header or meta charset, and a relative URL's query found in it is
    percent-encoded in that encoding (Chromium ends these three chains on exactly these URLs:
    tests/test_browser.py checks them against it)."""
    result = trace(f"{chains.url()}/legacy/{charset}", options=LOCAL)
    assert result.ok and kinds(result) == ["meta_refresh", "final"]
    assert result.final_url == f"{chains.url()}/land?city={city}&via=legacy"


@pytest.mark.parametrize("kind", ["atob", "dom-link", "form-get", "form-post", "cookie-reload", "fetch",
                                  "write-meta", "onload", "eval"])
def test_pages_only_a_script_engine_leaves_are_told_apart(chains, kind):
    """A run-time navigation ends the HTTP trace on its page, marked as needing a script engine (what `auto`
    hands to a browser); a page that stays put, and a landing page, are not marked."""
    gate = trace(chain(chains.url(), ["302", kind], land(chains)), options=LOCAL)
    assert gate.ok and kinds(gate) == ["http", "final"] and gate.needs_script
    assert not trace(land(chains), options=LOCAL).needs_script
    assert not trace(f"{chains.url()}/commented", options=LOCAL).needs_script


def test_fragments_are_kept_and_inherited(chains):
    """A fragment on a Location reaches the final URL; a Location without one inherits the current one."""
    assert trace(f"{chains.url()}/fragment", options=LOCAL).final_url.endswith("/land?via=fragment#offer")
    inherited = trace(chain(chains.url(), ["302"], "/land?x=1") + "#top", options=LOCAL)
    assert inherited.final_url == chains.url() + "/land?x=1#top"


@pytest.mark.parametrize(("path", "prefix"), [("/r/app?to=x", "market://details?id=com.example.app"),
                                              ("/r/intent?to=x", "intent://open#Intent")])
def test_app_links_end_the_chain(chains, path, prefix):
    """A redirect to market://, intent://, ... ends the chain with that URL as the final one."""
    result = trace(chains.url() + path, options=LOCAL)
    assert result.ok and result.final_url.startswith(prefix)
    assert kinds(result) == ["http", "app_link"]
    assert result.params == []


def test_max_hops(chains):
    """More hops than max_hops ends in too_many_hops."""
    result = trace(chain(chains.url(), ["302"] * 5, land(chains)),
                   options=TraceOptions(allow_private=True, max_hops=3))
    assert (result.error, len(result.hops)) == ("too_many_hops", 3)


def test_bodies_are_read_up_to_the_limit(chains):
    """A page is read only up to max_body_kb: a redirect beyond it is never seen."""
    result = trace(chains.url() + "/big", options=TraceOptions(allow_private=True, max_body_bytes=64 * 1024))
    assert result.ok and kinds(result) == ["final"]
    assert result.hops[0].bytes == 64 * 1024


def test_error_statuses_end_the_chain(chains):
    """A 4xx or 5xx hop ends the trace with http_error at that URL."""
    result = trace(chain(chains.url(), ["302"], chains.url() + "/status/404"), options=LOCAL)
    assert (result.ok, result.error, result.final_url) == (False, "http_error", chains.url() + "/status/404")
    assert [(h.status, h.kind) for h in result.hops] == [(302, "http"), (404, "error")]


def test_slow_hops_within_budget_and_a_hang_beyond_it(chains):
    """A slow hop inside the budget is fine; a hanging one ends at the total budget with `timeout`."""
    slow = trace(f"{chains.url()}/land?delay_ms=300", options=LOCAL)
    assert slow.ok and slow.hops[0].ms >= 250
    started = time.monotonic()
    hung = trace(f"{chains.url()}/hang?s=30", options=TraceOptions(allow_private=True, total_timeout_s=0.5))
    assert (hung.ok, hung.error) == (False, "timeout")
    assert time.monotonic() - started < 2
    read = trace(f"{chains.url()}/hang?s=30", options=TraceOptions(allow_private=True, read_timeout_s=0.3))
    assert read.error == "timeout"


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/", "http:///nohost"])
def test_bad_urls(url):
    """What is not an http(s) URL fails with bad_url and sends nothing."""
    assert trace(url, options=LOCAL).error == "bad_url"


CHAINS_THROUGH_PROXIES = [["302", "meta", "js"], ["refresh", "307"], ["js-timeout"], []]


@pytest.mark.parametrize("kind", ["http", "socks5"])
@pytest.mark.parametrize("steps", CHAINS_THROUGH_PROXIES)
def test_the_same_chains_through_real_proxies(chains, proxies, kind, steps):
    """Through an HTTP proxy and a SOCKS5 proxy, both with credentials, a chain ends where it does directly;
    the proxy carries the trace under the slot's session username, one connection at a time."""
    start = chain(chains.url(), steps, land(chains, "clickid=p", host=1))
    direct = trace(start, options=LOCAL)
    via = trace(start, SlotRoute("slot-7", proxies[kind].url("user-acct-sessid-7")), LOCAL)
    assert via.ok and via.final_url == direct.final_url and kinds(via) == kinds(direct)
    assert via.slot_id == "slot-7"
    usage = proxies[kind].stats.by_user["user-acct-sessid-7"]
    assert usage.connections >= 1 and usage.max_active == 1


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_wrong_proxy_credentials_are_the_egress_fault(chains, proxies, kind):
    """A proxy refusing the credentials (407 / SOCKS auth failure) is egress_failed, blamed on the slot."""
    result = trace(land(chains), SlotRoute("slot-1", proxies[kind].url("u", password="wrong")), LOCAL)
    assert (result.error, result.egress_outcome) == ("egress_failed", "fail")
    assert proxies[kind].stats.refused == 1


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_a_proxy_refusing_connections_is_the_egress_fault(chains, proxies, kind):
    """A proxy that does not accept connections is egress_failed."""
    port = proxies[kind].address[1]
    dead = proxies[kind].url("u").replace(f":{port}", ":1")
    assert trace(land(chains), SlotRoute("slot-1", dead), LOCAL).error == "egress_failed"


def test_a_rejected_connect_is_the_egress_fault(chains, proxies):
    """An HTTP proxy answering CONNECT with 502 is egress_failed (https goes through CONNECT)."""
    proxies["http"].mode = "reject"
    result = trace(land(chains).replace("http://", "https://"), SlotRoute("s", proxies["http"].url("u")), LOCAL)
    assert result.error == "egress_failed"


def test_a_proxy_side_proxy_status_is_the_egress_fault_a_dead_destination_the_chains(chains, proxies):
    """Plain http goes through an HTTP proxy in absolute form, so a 502 could be the proxy's or the chain's:
    RFC 9209 `Proxy-Status` tells them apart."""
    route = SlotRoute("s", proxies["http"].url("u"))
    proxies["http"].mode = "reject"
    failed = trace(land(chains), route, LOCAL)
    assert (failed.error, failed.egress_outcome) == ("egress_failed", "fail")
    assert "proxy_internal_error" in failed.detail
    proxies["http"].mode = "ok"
    dead = trace("http://127.0.0.1:1/land", route, LOCAL)
    assert dead.egress_outcome == "upstream_error" and dead.hops[-1].status == 502


def test_a_dead_destination_behind_socks_is_the_chain_fault(chains, proxies):
    """When the SOCKS proxy works but the destination refuses, the chain is at fault, not the slot."""
    result = trace("http://127.0.0.1:1/land", SlotRoute("s", proxies["socks5"].url("u")), LOCAL)
    assert (result.error, result.egress_outcome) == ("connect_failed", "upstream_error")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "10.0.0.1", "172.16.5.4", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "224.0.0.1", "240.0.0.1", "0.0.0.0",
                                     "255.255.255.255", "::1", "fc00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
                                     "::"])
def test_the_ssrf_guard_refuses_every_non_public_class(address):
    """Loopback, private, shared, link-local, multicast, reserved and unspecified addresses are refused before
    any request is sent; allow_private lifts the guard."""
    assert is_blocked(address)
    host = f"[{address}]" if ":" in address else address
    result = trace(f"http://{host}:9/x", options=TraceOptions())
    assert result.error == "blocked_address"
    assert result.hops[-1].kind == "error"


def test_public_addresses_pass_the_guard():
    """Globally routable addresses are not blocked."""
    assert not any(is_blocked(a) for a in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"))


def test_names_resolving_to_private_addresses_are_refused():
    """A host name is checked by what it resolves to."""
    assert trace("http://localhost:9/x", options=TraceOptions()).error == "blocked_address"


def test_a_redirect_into_private_space_is_refused(chains):
    """With only 127.0.0.1 exempt, a redirect from it to 127.0.0.2 or to the metadata address is refused."""
    options = TraceOptions(allow_networks="127.0.0.1/32")
    for target in (land(chains, host=1), "http://169.254.169.254/latest/meta-data/"):
        result = trace(chain(chains.url(), ["302"], target), options=options)
        assert (result.error, kinds(result)) == ("blocked_address", ["http", "error"]), target
    assert trace(chain(chains.url(), ["302"], land(chains)), options=options).ok


def test_the_connection_itself_is_checked(chains):
    """The guarded adapter refuses a connection whose peer is non-public even when no name check ran first
    (a name that resolved differently the second time)."""
    session = requests.Session()
    session.mount("http://", GuardedAdapter())
    with pytest.raises(BlockedAddress):
        session.get(land(chains), timeout=5)


def test_javascript_and_data_targets_are_not_navigations():
    """`location = "javascript:..."` does not leave the page; an unknown value is not guessed."""
    assert navigation.scan_script("location.href = 'javascript:void(0)'")[0].target.startswith("javascript:")
    assert navigation.scan_script("location.href = atob('aHR0cA==')") == []


def test_the_ssrf_guard_is_on_by_default(chains):
    """Shipped settings trace nothing in private address space: a chain pointing at loopback is refused."""
    options = TraceOptions.from_settings(Settings().tracing)
    assert trace(f"{chains.url()}/land", options=options).error == "blocked_address"
