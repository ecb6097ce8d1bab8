"""`gateway demo`: the whole product on one machine, nothing to configure.

It starts the gateway on embedded stores of its own (`<data_dir>/demo`, so demo slots and offers never mix
with real ones), a local affiliate chain (a 302, a meta refresh and a JavaScript hop, ending on a landing page
that shows the parameters it received), and a local SOCKS5 proxy with 10 session slots; creates the `demo`
offer; and prints a click URL to open in a browser.
"""

from __future__ import annotations

from gateway import egress, offers
from gateway.config import ProviderSettings, Secret, Settings
from gateway.runtime import Runtime
from gateway.server import serve
from loadtest.chains import ChainServer
from loadtest.proxies import ProxyServer
from store.errors import NotFound

SLOTS = 10


def demo_settings(settings: Settings, proxy: ProxyServer) -> Settings:
    host, port = proxy.address
    provider = ProviderSettings(host=host, port=port, scheme="socks5h", username="demo",
                                username_template="{username}-{country}-{session}", password=Secret(proxy.password))
    return settings.replace(server__data_dir=settings.server.data_dir / "demo", redis__url="", postgres__url="",
                            tracing__allow_private=True, pool__cooldown_s=10.0, providers={"demo": provider})


def prepare(rt: Runtime, chains: ChainServer) -> None:
    """Provision the demo slots and create (or refresh) the demo offer; safe to run again."""
    egress.provision(rt, "demo", {"us": SLOTS})
    fields = {"name": "Demo offer", "country": "us", "wait_ms": 5000,
              "tracking_url": f"{chains.url()}/demo/start?gclid={{gclid}}&utm_source={{utm_source}}",
              "fallback_url": f"{chains.url()}/land?fallback=1", "enabled": True}
    try:
        offers.update(rt, "demo", fields)
    except NotFound:
        offers.create(rt, {"slug": "demo", **fields})


def run(settings: Settings, host: str | None, port: int | None) -> int:
    chains = ChainServer().start()
    proxy = ProxyServer("socks5").start()
    demo = demo_settings(settings, proxy)

    def ready(server) -> None:
        base = f"http://{host or demo.server.host}:{server.server_port}"
        print(f"\nDemo gateway on {base}\n"
              f"  click URL: {base}/c/demo?gclid=TEST-GCLID-123&utm_source=google\n"
              f"  chain:     {chains.url()}/demo/start (302 -> meta refresh -> JavaScript -> landing page)\n"
              f"  proxy:     socks5h://127.0.0.1:{proxy.address[1]}, {SLOTS} session slots (demo-us-1..{SLOTS})\n"
              f"  admin:     token in {demo.server.data_dir / 'admin-token'}\n"
              "Open the click URL in a browser; Ctrl-C stops everything.\n", flush=True)

    try:
        return serve(demo, host, port, ready=ready, prepare=lambda rt: prepare(rt, chains))
    finally:
        proxy.stop()
        chains.stop()
