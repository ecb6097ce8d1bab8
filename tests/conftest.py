"""Real Redis and PostgreSQL for every test: the embedded servers, or those named by GATEWAY_REDIS_URL /
GATEWAY_DATABASE_URL. Each test gets its own PostgreSQL database (cloned from a migrated template) and its
own Redis key prefix, both removed afterwards."""

from gateway.process import resolver  # after gevent's patching, done by the tests.gevent_first plugin

resolver.install()

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gevent.pool
import psycopg
import pytest
import redis

from gateway.config import ProviderSettings, Secret, Settings
from gateway.process import wsgiserver
from gateway.process.app import build_app
from loadtest.chains import ChainServer
from loadtest.proxies import ProxyServer, ProxyStats
from loadtest.trackier import FakeTrackier
from store import database, migrate, redis_client
from store.embedded import EmbeddedRedis, EmbeddedStores
from tests import helpers
from tests.helpers import Process


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.needs("node", "chromium", ...)`: a test whose programs are missing skips, saying why; under
    `CI=true` it fails instead, so a CI run can never pass by skipping what matters."""
    for marker in item.iter_markers("needs"):
        missing = [program for program in marker.args if shutil.which(program) is None]
        if missing:
            why = f"{', '.join(missing)} not installed ({marker.kwargs.get('install', '.ci/run installs it')})"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true and {why}", pytrace=False)
            pytest.skip(why)


@dataclass(frozen=True)
class StoreUrls:
    redis: str
    postgres: str
    embedded: bool


@pytest.fixture(scope="session")
def store_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreUrls]:
    """The servers under test: embedded ones started for the session unless URLs are given."""
    redis_url = os.environ.get("GATEWAY_REDIS_URL", "")
    postgres_url = os.environ.get("GATEWAY_DATABASE_URL") or os.environ.get("GATEWAY_POSTGRES_URL", "")
    if redis_url and postgres_url:
        yield StoreUrls(redis_url, postgres_url, embedded=False)
        return
    with EmbeddedStores(tmp_path_factory.mktemp("stores"), durable=False) as stores:
        yield StoreUrls(redis_url or stores.redis_url, postgres_url or stores.postgres_url, embedded=True)


@pytest.fixture(scope="session")
def dropper(store_urls: StoreUrls) -> Iterator[gevent.pool.Pool]:
    """Drops finished tests' databases in the background (a drop costs a checkpoint); all done by the end."""
    pool = gevent.pool.Pool(2)
    yield pool
    pool.join(timeout=120, raise_error=True)


@pytest.fixture(scope="session")
def pg_template(store_urls: StoreUrls, dropper: gevent.pool.Pool) -> Iterator[str]:
    """A migrated database that every test's database is cloned from."""
    name = f"gwtest_tpl_{os.getpid()}"
    with psycopg.connect(database.create_database(store_urls.postgres, name)) as conn:
        migrate.migrate(conn)
    yield name
    dropper.join(timeout=120, raise_error=True)
    database.drop_database(store_urls.postgres, name)


_databases = itertools.count(1)


@pytest.fixture
def database_url(store_urls: StoreUrls, pg_template: str, dropper: gevent.pool.Pool) -> Iterator[str]:
    """A database of this test's own, with every migration applied."""
    name = f"gwtest_{os.getpid()}_{next(_databases)}"
    yield database.create_database(store_urls.postgres, name, template=pg_template)
    dropper.spawn(database.drop_database, store_urls.postgres, name)


@pytest.fixture
def redis_prefix(store_urls: StoreUrls) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"gwt{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(store_urls.redis)
    try:
        redis_client.delete_prefix(client, prefix)
    finally:
        client.close()


ADMIN_TOKEN = "test-admin-token"
PROVIDER_PASSWORD = "provider-pass-Zq9"
LUNA = ProviderSettings(host="127.0.0.1", port=9, scheme="socks5h", username="acct",
                        username_template="user-{username}-region-{country}-sessid-{session}-sesstime-90",
                        password=Secret(PROVIDER_PASSWORD))


@pytest.fixture
def settings(tmp_path: Path, store_urls: StoreUrls, database_url: str, redis_prefix: str) -> Settings:
    """Default settings pointed at this test's database, key prefix and data dir, with a test provider
    (`luna`), a known admin token, and no per-client trace budget (every test click comes from 127.0.0.1; the
    budget's tests set one)."""
    return Settings(providers={"luna": LUNA}).replace(
        server__data_dir=tmp_path, clicks__client_traces_per_minute=0,
        redis__url=store_urls.redis,
        redis__prefix=redis_prefix,
        postgres__url=database_url,
        admin__token=Secret(ADMIN_TOKEN),
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Process]:
    """One gateway process's services on this test's stores (not serving)."""
    rt = Process.open(settings)
    yield rt
    rt.close()


@pytest.fixture
def make_runtime(settings: Settings) -> Iterator:
    """Open runtimes on this test's stores with some settings changed: `make_runtime(pool__cooldown_s=0)`."""
    opened: list[Process] = []

    def make(**changes: object) -> Process:
        opened.append(Process.open(settings.replace(**changes)))
        return opened[-1]

    yield make
    for rt in opened:
        rt.close()


@pytest.fixture
def live_url(runtime: Process) -> Iterator[str]:
    """The gateway app served by gevent.pywsgi on a free loopback port, in this process."""
    server = wsgiserver.start(build_app(runtime.services))
    yield f"http://127.0.0.1:{server.server_port}"
    server.stop(timeout=1)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, for tests that stop it or change its configuration."""
    server = EmbeddedRedis(tmp_path / "own")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chain_server() -> Iterator[ChainServer]:
    server = ChainServer().start()
    yield server
    server.stop()


@pytest.fixture
def chains(chain_server: ChainServer) -> ChainServer:
    """The local affiliate-chain server on 127.0.0.1 and 127.0.0.2 (see loadtest/chains.py)."""
    return chain_server


@pytest.fixture(scope="session")
def proxy_servers() -> Iterator[dict[str, ProxyServer]]:
    servers = {kind: ProxyServer(kind).start() for kind in ("http", "socks5")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def proxies(proxy_servers: dict[str, ProxyServer]) -> dict[str, ProxyServer]:
    """A real local HTTP proxy and SOCKS5 proxy requiring credentials, healthy and with fresh stats."""
    for server in proxy_servers.values():
        server.mode = "ok"
        server.stats = ProxyStats()
    return proxy_servers


@pytest.fixture
def fake() -> Iterator[FakeTrackier]:
    """The fake Trackier API (real v2 request and response shapes) on loopback."""
    server = FakeTrackier().start()
    yield server
    server.stop()


@pytest.fixture
def cli(settings: Settings, tmp_path: Path):
    """Run `gateway ...` as a child process on this test's stores: `cli("pool", "status", expect=0)`."""
    from tests.helpers import cli_env, run_gateway

    env = cli_env(settings, tmp_path)

    def run(*args: str, expect: int = 0):
        result = run_gateway(*args, env=env)
        assert result.returncode == expect, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    return run


@pytest.fixture
def make_gateway(make_runtime, proxies):
    """Gateways served in this process on this test's stores: the local SOCKS5 proxy as provider `luna` with
    `slots` slots in us, private addresses allowed (the chains are on loopback), no cooldown."""
    servers = []

    def make(slots: int = 5, **changes) -> helpers.Gateway:
        changes = {"tracing__allow_private": True, "pool__cooldown_s": 0.0,
                   "providers": {"luna": helpers.provider_for(proxies["socks5"])}, **changes}
        rt = make_runtime(**changes)
        rt.slots.provision("luna", {"us": slots})
        rt.pool.notices.start()
        rt.offer_cache.subscription.start()
        servers.append(wsgiserver.start(build_app(rt.services)))
        return helpers.Gateway(rt, f"http://127.0.0.1:{servers[-1].server_port}")

    yield make
    for server in servers:
        server.stop(timeout=1)


@pytest.fixture
def gateway(make_gateway) -> helpers.Gateway:
    """A gateway with 5 slots (see make_gateway)."""
    return make_gateway()
