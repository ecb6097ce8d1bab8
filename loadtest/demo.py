"""`gateway demo`: the whole product on one machine, nothing to configure.

It starts the gateway on embedded stores of its own (`<data_dir>/demo`, so demo slots and offers never mix
with real ones), a local affiliate chain (a 302, a meta refresh and a JavaScript hop, ending on a landing page
that shows the parameters it received), a local SOCKS5 proxy with 10 session slots and a local fake Trackier;
creates the `demo` offer and the `demo-trackier` offer with 3 campaign pairs; and prints a click URL to open in
a browser and a postback to fire with curl.
"""

from __future__ import annotations

import socket

from gateway.config import ProviderSettings, Secret, Settings
from gateway.process.server import serve
from gateway.process.services import Services
from loadtest.chains import ChainServer, chain
from loadtest.proxies import ProxyServer
from loadtest.trackier import FakeTrackier
from store.errors import NotFound

SLOTS = 10
PAIRS = 3


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def demo_settings(settings: Settings, proxy: ProxyServer, trackier: FakeTrackier, base_url: str) -> Settings:
    host, port = proxy.address
    provider = ProviderSettings(host=host, port=port, scheme="socks5h", username="demo",
                                username_template="{username}-{country}-{session}", password=Secret(proxy.password))
    return settings.replace(
        server__data_dir=settings.server.data_dir / "demo", redis__url="", postgres__url="",
        tracing__allow_private=True, pool__cooldown_s=10.0, providers={"demo": provider},
        trackier__base_url=trackier.url, trackier__api_key=Secret(trackier.api_key), trackier__advertiser_id="1",
        trackier__publisher_id="1", trackier__click_domain=trackier.url.split("//", 1)[1],
        trackier__public_base_url=base_url, trackier__create_pacing_ms=0)


def upsert_offer(services: Services, slug: str, fields: dict) -> None:
    try:
        services.catalog.update(slug, fields)
    except NotFound:
        services.catalog.create({"slug": slug, **fields})


def prepare(services: Services, chains: ChainServer, trackier: FakeTrackier) -> str:
    """Provision the demo slots, create (or refresh) the demo offers and their 3 pairs; safe to run again.
    Returns a postback URL for pair 1."""
    services.slots.provision("demo", {"us": SLOTS})
    upsert_offer(services, "demo", {
        "name": "Demo offer", "country": "us", "wait_ms": 5000, "enabled": True,
        "tracking_url": f"{chains.url()}/demo/start?aff=demo",  # gclid and utm_* pass through
        "fallback_url": f"{chains.url()}/land?fallback=1"})
    upsert_offer(services, "demo-browser", {
        "name": "Demo offer, browser", "country": "us", "wait_ms": 5000, "enabled": True, "tracer": "auto",
        "tracking_url": chain(chains.url(), ["302", "form-post", "atob"], f"{chains.url()}/land?sub1=browser"),
        "fallback_url": f"{chains.url()}/land?fallback=1"})
    upsert_offer(services, "demo-trackier", {
        "name": "Demo Trackier offer", "country": "us", "update_interval_s": 0,
        "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}", "final_url": f"{chains.url()}/land",
        "enabled": True})
    existing = services.pair_views.listing("demo-trackier")["pairs"]
    for pair in existing:
        for campaign in filter(None, (pair["url1_campaign_id"], pair["url2_campaign_id"])):
            trackier.adopt(campaign, f"{chains.url()}/land")
    if len(existing) < PAIRS:
        services.pair_creation.create("demo-trackier", PAIRS - len(existing))
    first = services.pair_views.listing("demo-trackier")["pairs"][0]
    return first["webhook_url"].replace("{campaign_id}", first["url1_campaign_id"]).replace("{click_id}",
                                                                                          "demo-click-1")


def run(settings: Settings, host: str | None, port: int | None) -> int:
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    port = port or free_port(host)
    chains = ChainServer().start()
    proxy = ProxyServer("socks5").start()
    trackier = FakeTrackier().start()
    base = f"http://{host}:{port}"
    demo = demo_settings(settings, proxy, trackier, base)
    postback = []

    def ready(server) -> None:
        print(f"\nDemo gateway on {base}\n"
              f"  click URL: {base}/c/demo?gclid=TEST-GCLID-123&utm_source=google\n"
              f"  chain:     {chains.url()}/demo/start (302 -> meta refresh -> JavaScript -> landing page)\n"
              f"  browser:   {base}/c/demo-browser (a self-submitting form, then atob: tracer auto, Chromium)\n"
              f"  proxy:     socks5h://127.0.0.1:{proxy.address[1]}, {SLOTS} session slots (demo-us-1..{SLOTS})\n"
              f"  trackier:  fake API on {trackier.url}, offer demo-trackier with {PAIRS} campaign pairs\n"
              f"  postback:  curl '{postback[0]}'\n"
              f"  admin:     token in {demo.server.data_dir / 'admin-token'}\n"
              "Open the click URL in a browser; Ctrl-C stops everything.\n", flush=True)

    try:
        return serve(demo, host, port, ready=ready,
                     prepare=lambda services: postback.append(prepare(services, chains, trackier)))
    finally:
        trackier.stop()
        proxy.stop()
        chains.stop()
