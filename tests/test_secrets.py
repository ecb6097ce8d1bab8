"""Secrets never leave the process: after a full run of a real gateway (clicks traced through a proxy with a
password, a failing proxy, postbacks pushing updates through Trackier with the API key, the admin API with its
token, CLI commands, metrics), none of them appears in the log, the CLI output, any API answer, the CSV
export, the metrics, Redis or PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest
import redis
import requests

from gateway.config import Secret
from loadtest.chains import chain
from loadtest.proxies import ProxyServer
from tests.helpers import GatewayProcess, Process, cli_env, provider_for, run_gateway
from tests.test_trackier import trackier_settings

PROXY_PASSWORD = "Proxy-Pw-7Qx2"
TRACKIER_KEY = "trk-Key-9f3Lm"
ADMIN = "Admin-Tok-4Rz8"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}


@pytest.fixture
def fake(fake):
    fake.api_key = TRACKIER_KEY
    return fake


@pytest.fixture
def proxy():
    server = ProxyServer("socks5", password=PROXY_PASSWORD).start()
    yield server
    server.stop()


def redis_dump(client: redis.Redis, prefix: str) -> str:
    readers = {"string": client.get, "hash": client.hgetall, "set": client.smembers, "list":
               lambda k: client.lrange(k, 0, -1), "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
               "stream": lambda k: client.xrange(k)}
    return "\n".join(f"{key!r} {readers[client.type(key).decode()](key)!r}"
                     for key in client.scan_iter(match=f"{prefix}*", count=1000))


def postgres_dump(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        return "\n".join(str(row[0]) for table in tables
                         for row in conn.execute(f'SELECT t::text FROM "{table}" t'))


def test_secrets_appear_nowhere_after_a_full_run(settings, chains, fake, proxy, tmp_path):
    served = settings.replace(tracing__allow_private=True, pool__cooldown_s=0.0, pool__fail_threshold=1,
                              admin__token=Secret(ADMIN), providers={"luna": provider_for(proxy)},
                              **trackier_settings(fake, trackier__api_key=Secret(TRACKIER_KEY)))
    with Process.open(served) as rt:
        rt.slots.provision("luna", {"us": 3})
        rt.catalog.create({"slug": "shop", "name": "Shop", "country": "us", "final_url": "https://shop.example/",
                           "tracking_url": f"{chains.url()}/demo/start?gclid={{click_id}}"})
        rt.catalog.create({"slug": "plain", "name": "Plain", "country": "us",
                           "tracking_url": chain(chains.url(), ["302", "meta"], f"{chains.url()}/land")})
        rt.pair_creation.create("shop", 2)
        tokens = [p.webhook_token for p in rt.pairs.for_offer(rt.offers.get("shop").id)]

    env = cli_env(served, tmp_path / "cli")
    proc = GatewayProcess(env=env)
    url = proc.wait_listening(30)
    seen: list[str] = []
    auth = {"Authorization": f"Bearer {ADMIN}"}

    def get(path: str, **headers: str) -> None:
        response = requests.get(f"{url}{path}", headers=headers, allow_redirects=False, timeout=30)
        seen.append(f"{path} {response.status_code} {response.headers} {response.text}")

    for n in range(3):
        get(f"/c/plain?gclid=g{n}", **BROWSER)
    proxy.mode = "bad_auth"
    get("/c/plain?gclid=refused", **BROWSER)
    proxy.mode = "ok"
    for n, token in enumerate(tokens):
        get(f"/webhooks/trackier?token={token}&click_id=c{n}")
    for path in ("/api/pool", "/api/pool/slots", "/api/pool/slots/luna-us-1", "/api/offers", "/api/traces",
                 "/api/offers/shop/pairs", "/api/offers/shop/stats", "/api/offers/shop/pairs.csv",
                 "/api/openapi.json", "/api/offers/shop/clicks"):
        get(path, **auth)
    get("/api/pool", Authorization="Bearer wrong")
    get("/metrics")
    get("/readyz")
    for command in (("pool", "status", "--json"), ("pool", "show", "luna-us-1", "--json"), ("offers", "list"),
                    ("pairs", "list", "shop", "--json"), ("trackier", "check"), ("traces", "tail", "-n", "20"),
                    ("pool", "maintain", "--json")):
        result = run_gateway(*command, env=env)
        seen.append(f"{command} {result.returncode} {result.stdout} {result.stderr}")
    assert proc.terminate(15) == 0, proc.output()

    client = redis.Redis.from_url(served.redis.url)
    try:
        places = {"gateway log": proc.output(), "answers and CLI output": "\n".join(seen),
                  "Redis": redis_dump(client, served.redis.prefix), "PostgreSQL": postgres_dump(served.postgres.url)}
    finally:
        client.close()
    assert fake.overrides, "the run pushed updates through Trackier"
    assert "egress_failed" in places["PostgreSQL"] and "final" in places["PostgreSQL"], "traced and refused"
    for secret in (PROXY_PASSWORD, TRACKIER_KEY, ADMIN):
        for place, text in places.items():
            assert secret not in text and quote(secret) not in text, f"{secret} leaked into {place}"
