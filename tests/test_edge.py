"""The second security probe, through the live server: one rule for the client address (forwarded headers only from
trusted proxies), what viewers see of secrets, bad input to the console and the CLI, the per-client trace budget,
pair creation once at a time, sessions bound to their tokens, what /metrics and /readyz tell strangers, and the SSRF
guard where clicks and pair updates run."""

from __future__ import annotations

import logging
import socket
from urllib.parse import parse_qsl, urlsplit

import gevent
import gevent.event
import pytest
import requests

from gateway.config import Secret
from gateway.postbacks import pair_setup
from gateway.process import wsgiserver
from gateway.routes.clients import Clients
from tests.conftest import ADMIN_TOKEN
from tests.console_client import HIDDEN_CSRF, ConsoleUser
from tests.helpers import cli_env, provider_for, run_gateway
from tests.test_ahead import ahead_offer, fill, records_of
from tests.test_trackier import trackier_settings

VIEWER_TOKEN = "viewer-token-for-edge-tests"
PROXY = {"server__trusted_proxies": "127.0.0.1/32"}


def sign_in_as(gw, token: str, forwarded: str | None = None) -> requests.Response:
    """One sign-in through the form, optionally behind `X-Forwarded-For: forwarded`."""
    user = ConsoleUser(gw.url)
    if forwarded:
        user.http.headers["X-Forwarded-For"] = forwarded
    return user.sign_in(token)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


# -- 1. one rule for the client address -----------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "trusted", "client"), [
    (None, "", "127.0.0.1"),
    ("203.0.113.7", "", "127.0.0.1"),  # from a peer nobody trusts: ignored
    ("203.0.113.7", "127.0.0.1/32", "203.0.113.7"),
    ("6.6.6.6, 203.0.113.7", "127.0.0.1/32", "203.0.113.7"),  # the client wrote the left part itself
    ("6.6.6.6, 203.0.113.7, 10.0.0.2", "127.0.0.1/32, 10.0.0.0/8", "203.0.113.7"),  # past every trusted hop
    ("10.0.0.3, 10.0.0.2", "127.0.0.1/32, 10.0.0.0/8", "10.0.0.3"),  # all trusted: the leftmost
    ("not-an-ip, 203.0.113.7", "127.0.0.1/32, 203.0.113.0/24", "203.0.113.7"),  # garbage ends the walk
    ("[2001:db8::1]:443", "127.0.0.1/32", "2001:db8::/64"),  # an IPv6 client is its /64
    ("198.51.100.4:5678", "127.0.0.1/32", "198.51.100.4"),
    ("x" * 16_000 + ", 203.0.113.7", "127.0.0.1/32", "203.0.113.7"),  # only the right end is read
    ("203.0.113.7, " + "x" * 16_000, "127.0.0.1/32", "127.0.0.1"),
])
def test_the_client_address_rule(header, trusted, client):
    environ = {"REMOTE_ADDR": "127.0.0.1", **({"HTTP_X_FORWARDED_FOR": header} if header else {})}
    assert Clients(trusted).address(environ) == client


def test_forwarded_for_from_anyone_neither_dodges_the_sign_in_limit_nor_locks_out_the_admin(make_gateway):
    """30 wrong tokens with 30 X-Forwarded-For values from a peer nobody trusts: the limit still counts the peer
    (429 after 10), no Redis key carries the 16 KB header, and the admin behind another address signs in."""
    gw = make_gateway(slots=1)
    answers = [sign_in_as(gw, "wrong", f"10.9.{n}.1" + ("," + "9" * 16_000 if n == 0 else "")).status_code
               for n in range(30)]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    keys = gw.rt.stores.redis.keys(f"{gw.rt.settings.redis.prefix}rate:*")
    assert keys and max(map(len, keys)) < 120


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(make_gateway):
    """From a trusted proxy the client is the rightmost untrusted hop: rotating the left part of the header does
    not dodge the limit, another client is not locked out by it."""
    gw = make_gateway(slots=1, **PROXY)
    answers = [sign_in_as(gw, "wrong", f"10.{n}.0.1, 203.0.113.7").status_code for n in range(12)]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
    assert sign_in_as(gw, "wrong", "198.51.100.9").status_code == 401
    assert sign_in_as(gw, ADMIN_TOKEN, "198.51.100.9").status_code == 303


def test_postbacks_with_unknown_secrets_are_limited_by_the_same_rule(make_gateway):
    gw = make_gateway(slots=1, webhooks__unknown_per_minute=5)
    codes = [requests.get(f"{gw.url}/webhooks/trackier", params={"token": f"nope-{n}", "click_id": "c"},
                          headers={"X-Forwarded-For": f"10.1.{n}.1"}, timeout=10).status_code for n in range(7)]
    assert codes == [404] * 5 + [429] * 2


@pytest.mark.parametrize(("trusted", "secure"), [("", False), ("127.0.0.1/32", True)])
def test_cookies_are_secure_behind_a_trusted_proxy_that_says_https(make_gateway, trusted, secure):
    gw = make_gateway(slots=1, server__trusted_proxies=trusted)
    user = ConsoleUser(gw.url)
    user.http.headers["X-Forwarded-Proto"] = "http,https"
    cookie = user.sign_in(ADMIN_TOKEN).headers["Set-Cookie"]
    assert ("Secure" in cookie) is secure


# -- 2. viewers never see secrets -------------------------------------------------------------------------------------

@pytest.fixture
def paired(make_gateway, fake, chains):
    """A gateway with a viewer token and offer `shop` with 2 pairs."""
    gw = make_gateway(slots=4, admin__viewer_token=Secret(VIEWER_TOKEN), **trackier_settings(fake))
    gw.rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                          "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}"})
    gw.rt.pair_creation.create("shop", 2)
    return gw


def test_viewers_see_no_postback_token_admins_see_them_on_demand(paired):
    tokens = [p.webhook_token for p in paired.rt.pairs.for_offer(paired.rt.offers.get("shop").id)]
    viewer, admin = ConsoleUser(paired.url), ConsoleUser(paired.url)
    assert viewer.sign_in(VIEWER_TOKEN).status_code == 303 and admin.sign_in(ADMIN_TOKEN).status_code == 303
    for path in ("/offers/shop", "/offers/shop/pairs.csv", "/offers", "/", "/traces"):
        shown = viewer.get(path)
        assert shown.status_code == 200 and not any(token in shown.text for token in tokens), path
    assert "token=(hidden)" in viewer.get("/offers/shop").text
    page, csv = admin.get("/offers/shop").text, admin.get("/offers/shop/pairs.csv").text
    assert all(token in page and token in csv for token in tokens)
    assert "Show token" in page


# -- 3. bad input: a clear answer, never a 500 -------------------------------------------------------------------------

def test_bad_input_to_the_console_is_never_a_500(paired, caplog):
    admin = ConsoleUser(paired.url)
    admin.sign_in(ADMIN_TOKEN)
    stranger = requests.Session()
    form = stranger.get(f"{paired.url}/signin", timeout=10)
    csrf = HIDDEN_CSRF.search(form.text).group(1)
    escaped = stranger.post(f"{paired.url}/signin", data=f"csrf={csrf}&token=%FF", allow_redirects=False, timeout=10,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert escaped.status_code == 400 and "UTF-8" in escaped.text
    surrogate = admin.http.post(f"{paired.url}/offers/shop/edit", timeout=10, allow_redirects=False,
                                data=f"csrf={admin.csrf}&name=%ED%A0%80".encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert surrogate.status_code == 400
    smuggled = paired.raw("/x%0d%0aSet-Cookie:%20evil=1")
    assert smuggled.status == 303 and smuggled.getheader("Location") == "/signin?next=/"
    assert smuggled.getheader("Set-Cookie") is None or "evil" not in smuggled.getheader("Set-Cookie")
    for peak in ("inf", "nan", "1e308", "-1"):
        sized = admin.get(f"/pool?peak={peak}&trace_s=5&cooldown_s=60&headroom=1.5")
        assert sized.status_code == 200 and "the peak must be a number from 0 to 1e+06" in sized.text, peak
    no_tracebacks(caplog)


def test_a_session_while_redis_is_down_gets_a_503_that_names_no_socket(make_gateway, own_redis, caplog):
    gw = make_gateway(slots=1, redis__url=own_redis.url, redis__connect_timeout_s=0.5)
    admin = ConsoleUser(gw.url)
    assert admin.sign_in(ADMIN_TOKEN).status_code == 303
    own_redis.stop()
    api = requests.get(f"{gw.url}/api/pool", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    for answer in (admin.get("/offers"), sign_in_as(gw, ADMIN_TOKEN), requests.get(f"{gw.url}/readyz", timeout=10),
                   api):
        assert answer.status_code == 503
        assert "sock" not in answer.text and "unix" not in answer.text and "Traceback" not in answer.text
    assert "redis" in requests.get(f"{gw.url}/readyz", timeout=10).json()["failing"]
    no_tracebacks(caplog)


@pytest.mark.parametrize(("args", "named"), [(("traces", "tail", "-n", "0"), "-n"),
                                             (("pool", "size", "--peak-clicks-per-s", "inf", "--trace-s", "5"),
                                              "--peak-clicks-per-s"),
                                             (("pool", "size", "--peak-clicks-per-s", "5", "--trace-s", "nan"),
                                              "--trace-s")])
def test_the_cli_answers_bad_numbers_with_one_line(settings, tmp_path, args, named):
    done = run_gateway(*args, env=cli_env(settings, tmp_path))
    assert done.returncode == 2 and done.stderr.startswith(f"gateway: {named}: ") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- 4. the per-client trace budget ----------------------------------------------------------------------------------

def test_one_client_cannot_drain_an_offers_bucket_or_the_pool(make_gateway, chains):
    """With a budget of 3 traces per client and minute, a client clicking an ahead offer over and over gets 3
    traces; past it every click is still answered (the fallback, fallback_limited) but takes no entry and starts no
    trace, so the bucket is there for the next visitor from another address."""
    gw = make_gateway(slots=6, clicks__client_traces_per_minute=3, **PROXY)
    ahead_offer(gw, chains, fallback_url="https://fallback.example/")
    fill(gw, wanted=5)
    greedy = [gw.click("shop", {"gclid": f"G{n}"}, **{"X-Forwarded-For": "203.0.113.66"}) for n in range(8)]
    landed = [urlsplit(a.headers["Location"]).netloc for a in greedy]
    assert landed[:3] == [urlsplit(chains.url()).netloc] * 3 and set(landed[3:]) == {"fallback.example"}
    visitor = gw.click("shop", {"gclid": "V"}, **{"X-Forwarded-For": "198.51.100.5"})
    assert dict(parse_qsl(urlsplit(visitor.headers["Location"]).query))["clickid"]
    assert len(records_of(gw, "fallback_limited")) == 5
    status = gw.rt.ahead.status(gw.rt.offers.get("shop"))
    assert status["buckets"][0]["entries"] == 1 and status["counts"]["limited"] == 5


def test_the_budget_holds_for_inline_offers_and_the_trace_tool(make_gateway, chains):
    gw = make_gateway(slots=4, clicks__client_traces_per_minute=2)
    gw.rt.catalog.create({"slug": "inline", "name": "Inline", "country": "us", "tracking_url": f"{chains.url()}/land"})
    outcomes = [gw.click("inline", {"gclid": f"G{n}"}) for n in range(3)]
    assert [r["outcome"] for r in records_of(gw)[::-1]] == ["final", "final", "fallback_limited"]
    assert gw.rt.pool.slot("luna-us-1").get("uses") and all(a.status_code == 302 for a in outcomes)
    admin = ConsoleUser(gw.url)
    admin.sign_in(ADMIN_TOKEN)
    tool = [admin.post("/trace-tool", {"url": f"{chains.url()}/land", "route": "direct", "ua": "desktop"})
            for _ in range(3)]
    assert [t.status_code for t in tool] == [200, 200, 429] and "client_traces_per_minute" in tool[2].text


# -- 5. pair creation runs once at a time ----------------------------------------------------------------------------

def test_two_pair_creations_at_once_make_no_duplicate_campaign(paired, fake):
    """Two `POST .../pairs` at the same moment: one creates, the other is told creation is running (409); Trackier
    has two campaigns per pair, none twice. The console says the same."""
    fake.latency_ms = 150
    start, headers = gevent.event.Event(), {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def create() -> requests.Response:
        start.wait()
        return requests.post(f"{paired.url}/api/offers/shop/pairs", json={"count": 2}, headers=headers, timeout=60)

    calls = [gevent.spawn(create) for _ in range(2)]
    start.set()
    gevent.joinall(calls, raise_error=True)
    statuses = sorted(call.value.status_code for call in calls)
    assert statuses[1] == 409 and statuses[0] < 300, [c.value.text for c in calls]
    assert "being created right now" in next(c.value for c in calls if c.value.status_code == 409).text
    titles = [c["title"] for c in fake.campaigns.values()]
    assert len(titles) == 8 and len(set(titles)) == 8
    claim = paired.rt.pair_creation.claim("shop")
    try:
        admin = ConsoleUser(paired.url)
        admin.sign_in(ADMIN_TOKEN)
        busy = admin.post("/offers/shop/pairs", {"count": "1"})
        assert busy.status_code == 409 and "being created right now" in busy.text
    finally:
        claim.release()


# -- 6. sessions end with their tokens -------------------------------------------------------------------------------

def test_sessions_end_when_their_token_changes_or_an_admin_ends_them_all(make_gateway):
    gw = make_gateway(slots=1, admin__viewer_token=Secret(VIEWER_TOKEN))
    admin, viewer = ConsoleUser(gw.url), ConsoleUser(gw.url)
    assert admin.sign_in(ADMIN_TOKEN).status_code == 303 and viewer.sign_in(VIEWER_TOKEN).status_code == 303
    rotated = make_gateway(slots=1, admin__token=Secret("a-new-admin-token"), admin__viewer_token=Secret(VIEWER_TOKEN))
    cookies = {name: user.http.cookies.get("gw_console") for name, user in (("admin", admin), ("viewer", viewer))}
    assert requests.get(f"{rotated.url}/offers", cookies={"gw_console": cookies["admin"]}, allow_redirects=False,
                        timeout=10).status_code == 303, "a session of the old admin token"
    assert requests.get(f"{rotated.url}/offers", cookies={"gw_console": cookies["viewer"]}, allow_redirects=False,
                        timeout=10).status_code == 200, "the viewer token did not change"
    again = ConsoleUser(gw.url)
    again.sign_in(ADMIN_TOKEN)
    assert again.post("/signout-everywhere").status_code == 303
    assert viewer.get("/offers").status_code == 303 and again.get("/offers").status_code == 303
    old = ConsoleUser(gw.url)
    old.sign_in(ADMIN_TOKEN)
    first = old.http.cookies.get("gw_console")
    old.sign_in(ADMIN_TOKEN)
    assert old.http.cookies.get("gw_console") != first
    assert requests.get(f"{gw.url}/offers", cookies={"gw_console": first}, allow_redirects=False,
                        timeout=10).status_code == 303, "signing in again ends the session the cookie held"


# -- 7. quieter probes -----------------------------------------------------------------------------------------------

def test_metrics_ask_for_their_token_when_one_is_set(make_gateway, chains):
    gw = make_gateway(slots=1, metrics__token=Secret("scrape-me"))
    ahead_offer(gw, chains)
    stranger = requests.get(f"{gw.url}/metrics", timeout=10)
    assert stranger.status_code == 401 and "shop" not in stranger.text and stranger.headers["WWW-Authenticate"]
    scraped = requests.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert scraped.status_code == 200 and "gateway_http_requests_total" in scraped.text


# -- 8. the SSRF guard where clicks and pair updates run -------------------------------------------------------------

@pytest.fixture
def private_target():
    """A server on 127.0.0.2 (a non-public address the guard must keep chains away from) counting its requests."""
    seen: list[str] = []

    def app(environ: dict, start_response) -> list[bytes]:
        seen.append(environ.get("PATH_INFO", ""))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"internal"]

    server = wsgiserver.start(app, "127.0.0.2", 0)
    yield f"http://127.0.0.2:{server.server_port}", seen
    server.stop(timeout=1)


def test_the_trace_tool_stops_a_chain_before_a_private_address(make_gateway, chains, private_target):
    """With `allow_private` off (here only the chain server's 127.0.0.1 is allowed), the console's trace tool
    following a chain directly stops at the hop to 127.0.0.2 (blocked_address), which sees no request."""
    target, seen = private_target
    gw = make_gateway(slots=1, tracing__allow_private=False, tracing__allow_networks="127.0.0.1/32")
    admin = ConsoleUser(gw.url)
    admin.sign_in(ADMIN_TOKEN)
    traced = admin.post("/trace-tool", {"url": f"{chains.url()}/r/302?to={target}/admin", "route": "direct",
                                        "ua": "desktop"})
    assert traced.status_code == 200 and "blocked_address" in traced.text
    assert seen == [], "the private address was reached"


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_a_click_and_a_pair_update_stop_before_a_private_address(make_gateway, proxies, chains, fake,
                                                                  private_target, kind):
    """With `allow_private` off, a click and a pair update whose chain redirects to 127.0.0.2, through an HTTP or a
    SOCKS5 slot, stop at that hop as blocked_address: the slot never carries a request to it."""
    target, seen = private_target
    gw = make_gateway(slots=2, tracing__allow_private=False, tracing__allow_networks="127.0.0.1/32",
                      providers={"luna": provider_for(proxies[kind])}, **trackier_settings(fake))
    gw.rt.updater.start()
    try:
        gw.rt.catalog.create({"slug": "turn", "name": "Turn", "country": "us", "final_url": "https://shop.example/",
                              "tracking_url": f"{chains.url()}/r/302?to={target}/admin"})
        assert gw.click("turn", {"gclid": "G"}).status_code == 302
        gw.rt.pair_creation.create("turn", 1)
        pair = gw.rt.pairs.for_offer(gw.rt.offers.get("turn").id)[0]
        receipt = requests.get(f"{gw.url}/webhooks/trackier", timeout=10,
                               params={"token": pair.webhook_token, "click_id": "c1", "campaign_id": "x"})
        assert receipt.status_code == 200
        assert gw.rt.updater.wait_idle(30)
    finally:
        gw.rt.updater.stop()
    blocked = [r for r in records_of(gw) if r["error"] == "blocked_address"]
    assert {r["source"] for r in blocked} == {"click", "postback"}, records_of(gw)
    assert seen == [], "the private address was reached"


# -- the second probe's second look ----------------------------------------------------------------------------------

def raw_request(gw, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` (request line and headers, CRLF-separated, without the blank line) and `body` byte for byte; the
    answer's status and whole text."""
    parts = urlsplit(gw.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_bytes_no_decoder_expects_are_a_clear_answer_not_a_500(paired, caplog):
    """A non-UTF-8 Authorization, a broken chunked body, more than 100 headers, a non-UTF-8 CSRF header, a multipart
    form with undecodable bytes, a deep JSON field and a NUL in a console path: each a 4xx, none a 500 or a
    traceback."""
    gw = paired
    admin = ConsoleUser(gw.url)
    admin.sign_in(ADMIN_TOKEN)
    cookie = f"gw_console={admin.http.cookies.get('gw_console')}".encode()
    assert raw_request(gw, b"GET /api/offers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff")[0] == 401
    assert raw_request(gw, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff")[0] in (200, 401)
    for path in (b"/api/offers", b"/webhooks/trackier", b"/signin"):
        head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer " + \
            ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: " + cookie
        assert raw_request(gw, head, b"zz\r\n")[0] in (400, 403), path
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"\r\n".join(b"X-H%d: 1" % n for n in range(150))
    assert raw_request(gw, many)[0] == 400
    csrf = b"POST /offers/shop/disable HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX-CSRF-Token: \xff\xfe\r\nCookie: "
    assert raw_request(gw, csrf + cookie)[0] == 403
    multipart = (b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + admin.csrf.encode() +
                 b"\r\n--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\xff\xfe\r\n--b--\r\n")
    head = (b"POST /offers/shop/edit HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\nCookie: " % len(multipart)) + cookie
    assert raw_request(gw, head, multipart)[0] == 400
    deep = admin.post("/offers/shop/edit", {"name": "Shop", "param_policy": "[" * 5000})
    assert deep.status_code == 400 and "param_policy" in deep.text
    for path in ("/offers/%00", "/offers/a%00b/edit", "/traces?offer=%00", "/traces/rows?slot=%00"):
        assert admin.get(path).status_code in (400, 404), path
    no_tracebacks(caplog)


def test_ipv6_clients_are_their_64_whatever_their_zone_id(make_gateway):
    """From a trusted proxy, clients rotating zone ids (`fe80::1%N`) or addresses within their /64 are one client:
    the sign-in limit holds, and no key carries the header's text."""
    gw = make_gateway(slots=1, **PROXY)
    answers = [sign_in_as(gw, "wrong", f"2001:db8:1:2::{n:x}" if n % 2 else f"fe80::1%{'A' * 500}{n}").status_code
               for n in range(24)]
    assert answers.count(401) == 20 and answers[-2:] == [429, 429]
    keys = gw.rt.stores.redis.keys(f"{gw.rt.settings.redis.prefix}rate:*")
    assert keys and max(map(len, keys)) < 120


def test_links_use_the_host_the_trusted_proxy_wrote(make_gateway):
    """X-Forwarded-Host is read like X-Forwarded-For: the rightmost value, the one the proxy wrote."""
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "internal:8080",
               "HTTP_X_FORWARDED_HOST": "evil.example, gw.example", "HTTP_X_FORWARDED_PROTO": "https"}
    assert Clients("127.0.0.1/32").origin(environ) == "https://gw.example"
    assert Clients("").origin(environ) == "http://internal:8080"


def test_a_creation_waiting_on_trackier_keeps_its_hold(paired, fake, monkeypatch):
    """One Trackier call may take longer than the hold lasts (429s with Retry-After): the hold is renewed while
    the creation runs, so a second creation meanwhile still gets 409 and no campaign is made twice."""
    monkeypatch.setattr(pair_setup, "HOLD_MS", 400)
    fake.latency_ms = 1500
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    first = gevent.spawn(requests.post, f"{paired.url}/api/offers/shop/pairs", json={"count": 1}, headers=headers,
                         timeout=60)
    gevent.sleep(1.0)  # the time under test: longer than the hold, inside the first Trackier call
    second = requests.post(f"{paired.url}/api/offers/shop/pairs", json={"count": 1}, headers=headers, timeout=60)
    first.join(60)
    assert second.status_code == 409 and first.value.status_code == 201, (second.text, first.value.text)
    titles = [c["title"] for c in fake.campaigns.values()]
    assert len(titles) == len(set(titles)) == 6
