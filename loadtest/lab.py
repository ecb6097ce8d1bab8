"""A lab on loopback for the benchmarks and the load test: stores of its own, the local doubles (chain servers,
a proxy, the fake Trackier) and gateways, each in a process of its own so that each one's CPU is its own.

Stores: without configured URLs, embedded servers under `<data_dir>/<name>`, wiped at the start; with
configured URLs, a database `<database>_<name>` created afresh on that PostgreSQL and the key prefix
`<prefix><name>:` on that Redis, both removed at the end. Either way a lab never touches the gateway's own data.
Everything it started stops when the `with` block ends.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import redis

from gateway import config
from gateway.config import ProviderSettings, Secret, Settings
from gateway.process.services import Services
from loadtest.processes import ServiceProcess
from store import database, redis_client
from store.embedded import EmbeddedStores

PROXY_PASSWORD = "proxy-secret"
TRACKIER_KEY = "fake-trackier-key"
PROVIDER = "lab"


class Lab:
    def __init__(self, settings: Settings, name: str) -> None:
        self.name = name
        self.base = settings
        self.data_dir = Path(settings.server.data_dir) / name
        self.processes: list[ServiceProcess] = []
        self._chain_servers: dict[float, ServiceProcess] = {}
        self.embedded: EmbeddedStores | None = None
        self.database: str | None = None

    def __enter__(self) -> Lab:
        shutil.rmtree(self.data_dir, ignore_errors=True)  # every run starts from nothing
        self.data_dir.mkdir(parents=True)
        redis_url, postgres_url = self.base.redis.url, self.base.postgres.url
        if not redis_url or not postgres_url:
            self.embedded = EmbeddedStores(self.data_dir).acquire()
        self.prefix = f"{self.base.redis.prefix}{self.name}:" if redis_url else self.base.redis.prefix
        self.redis_url = redis_url or self.embedded.redis_url
        if postgres_url:
            self.database = f"{urlsplit(postgres_url).path.lstrip('/') or 'gateway'}_{self.name}"
            self.postgres_url = database.create_database(postgres_url, self.database)
        else:
            self.postgres_url = self.embedded.postgres_url
        if redis_url:
            self._clear_keys()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.processes):
            try:
                proc.terminate(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if "services" in self.__dict__:
            self.services.close()
        if self.database:
            database.drop_database(self.base.postgres.url, self.database)
        if self.base.redis.url:
            self._clear_keys()
        if self.embedded:
            self.embedded.release()

    def _clear_keys(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            redis_client.delete_prefix(client, self.prefix)
        finally:
            client.close()

    # The doubles start when something first needs them.
    @cached_property
    def proxy(self) -> ServiceProcess:
        """A SOCKS5 proxy that writes its per-username usage to `proxy_stats_file` when it stops."""
        return self.double("proxy", "--kind", "socks5", "--password", PROXY_PASSWORD,
                           "--stats-file", str(self.proxy_stats_file))

    @property
    def proxy_stats_file(self) -> Path:
        return self.data_dir / "proxy-stats.json"

    def proxy_usage(self) -> dict:
        """Stop the proxy and read what it carried: {"refused": n, "by_user": {username: usage}}."""
        self.proxy.terminate(30)
        return json.loads(self.proxy_stats_file.read_text())

    def chain_server(self, latency_ms: float = 0) -> ServiceProcess:
        """A chain server whose every hop takes `latency_ms` (one per latency)."""
        if latency_ms not in self._chain_servers:
            self._chain_servers[latency_ms] = self.double("chains", "--latency-ms", str(latency_ms))
        return self._chain_servers[latency_ms]

    @cached_property
    def trackier(self) -> ServiceProcess:
        return self.double("trackier", "--api-key", TRACKIER_KEY)

    @cached_property
    def services(self) -> Services:
        """The gateway's services on the lab's stores, to prepare offers and slots and to read what happened."""
        return Services.open(self.settings)

    @cached_property
    def settings(self) -> Settings:
        """Built-in defaults pointed at the lab: its stores, proxy and fake Trackier, no cooldown, and no per-client
        trace budget (every click of a load test comes from one address)."""
        host, port = self.proxy.url.split("//", 1)[1].split(":")
        provider = ProviderSettings(host=host, port=int(port), scheme="socks5h", username=PROVIDER,
                                    username_template="{username}-{country}-{session}", password=Secret(PROXY_PASSWORD))
        return Settings(providers={PROVIDER: provider}).replace(
            server__data_dir=self.data_dir, server__drain_s=2.0, server__log_level="info",
            redis__url=self.redis_url, redis__prefix=self.prefix, postgres__url=self.postgres_url,
            tracing__allow_private=True, pool__cooldown_s=0.0, clicks__lease_wait_ms=5000, browser__workers=0,
            clicks__client_traces_per_minute=0,
            admin__token=Secret(uuid.uuid4().hex),
            trackier__base_url=self.trackier.url, trackier__api_key=Secret(TRACKIER_KEY),
            trackier__advertiser_id="1", trackier__publisher_id="1", trackier__click_domain="track.example",
            trackier__public_base_url="http://127.0.0.1", trackier__create_pacing_ms=0)

    def browser_worker(self) -> ServiceProcess:
        """`gateway browser-worker` on the lab's settings, once it says it is ready."""
        proc = ServiceProcess([sys.executable, "-m", "gateway", "browser-worker"], self._env(self.settings))
        self.processes.append(proc)
        proc.wait_for(re.compile(r"browser worker \S+ ready"), 60)
        return proc

    def _env(self, settings: Settings) -> dict[str, str]:
        return config.child_env(settings, self.data_dir / f"gateway-{len(self.processes)}.ini")

    def double(self, *args: str) -> ServiceProcess:
        proc = ServiceProcess.python("-m", "loadtest", *args)
        self.processes.append(proc)
        proc.wait_listening(60)
        return proc

    def gateway(self, workers: int, **changes: object) -> ServiceProcess:
        """`gateway serve --workers N` on the lab's settings with `section__key` `changes`."""
        proc = ServiceProcess([sys.executable, "-m", "gateway", "serve", "--workers", str(workers), "--port", "0"],
                              self._env(self.settings.replace(**changes)))
        self.processes.append(proc)
        proc.wait_listening(60)
        return proc

    @staticmethod
    def hammer(url: str, *args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "loadtest", "hammer", url, *args], capture_output=True,
                              text=True, timeout=300, check=True)
        return json.loads(done.stdout)

    def offer(self, slug: str, **fields: object) -> None:
        self.services.catalog.create({"slug": slug, "name": slug, "country": "us", **fields})
