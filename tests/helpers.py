"""Test helpers: database URLs, and a real `gateway serve` process driven from a test."""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import gevent
import gevent.event
import gevent.server
import psutil
import requests

from gateway import config
from gateway.config import ProviderSettings, Secret, Settings
from gateway.process.services import Services
from loadtest.processes import ServiceProcess

REPO = Path(__file__).resolve().parent.parent
COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")  # a RESP command's name


def eventually(predicate, timeout: float, what: str) -> None:
    """Wait for another process's effect on the stores, which sends no event this test could wait on."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        gevent.sleep(0.1)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any GATEWAY_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


def gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def run_gateway(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one `gateway` CLI command to completion, capturing its output."""
    return subprocess.run(gateway_command(*args), env=dict(env or clean_env()), cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


class GatewayProcess(ServiceProcess):
    """`gateway serve --port 0` in a child process; `url` comes from its own "listening on" log line."""

    def __init__(self, *args: str, env: Mapping[str, str], cwd: Path | None = None) -> None:
        super().__init__(gateway_command(*args, "serve", "--port", "0"), env, cwd or REPO)


def server_processes(data_dir: Path, children: bool = True) -> list[psutil.Process]:
    """The redis-server and postgres processes serving `data_dir`: the servers themselves and, with `children`,
    the postmaster's (its backends come and go with client connections)."""
    found = []
    marker = str(data_dir.resolve())
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("redis-server", "postgres") and marker in cmdline:
            found.append(proc)
            found.extend(proc.children(recursive=True) if children else [])
    return found


def cli_env(settings, tmp_path: Path) -> dict[str, str]:
    """Environment (and a config file) giving a `gateway` child process exactly a test's settings."""
    return config.child_env(settings, tmp_path / "cli.ini")


class Process:
    """One gateway process as a test sees it: its services (`catalog`, `records`, `slots`, ...) and, for what a test
    checks behind them, its stores (`pool`, `events`, `pairs`, `traces`, ...), by name."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def open(cls, settings: Settings, **options: bool) -> Process:
        return cls(Services.open(settings, **options))

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.services.close()

    def __getattr__(self, name: str) -> object:
        for owner in (self.services, self.services.stores):
            if hasattr(owner, name):
                return getattr(owner, name)
        raise AttributeError(name)


@dataclass
class Gateway:
    rt: Process
    url: str

    def click(self, slug: str, query: dict | str = "", method: str = "GET", **headers: str) -> requests.Response:
        qs = query if isinstance(query, str) else urlencode(query)
        headers.setdefault("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36")
        return requests.request(method, f"{self.url}/c/{slug}?{qs}", headers=headers, allow_redirects=False,
                                timeout=30)

    def raw(self, path: str) -> http.client.HTTPResponse:
        """GET `path` byte for byte (requests would re-quote a malformed escape before sending it)."""
        host, port = urlsplit(self.url).hostname, urlsplit(self.url).port
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("User-Agent", "Mozilla/5.0 Chrome/131")
        conn.endheaders()
        return conn.getresponse()

    def records(self, count: int) -> list[dict]:
        """The trace records, once `count` were submitted and written."""
        assert self.rt.records.wait_submitted(count, 30)
        assert self.rt.records.flush(10)
        return self.rt.traces.recent(limit=500)


def provider_for(proxy) -> ProviderSettings:
    host, port = proxy.address
    return ProviderSettings(host=host, port=port, scheme="http" if proxy.kind == "http" else "socks5h", username="acct",
                            username_template="user-{username}-region-{country}-sessid-{session}",
                            password=Secret(proxy.password))


class StallingRedis:
    """A TCP proxy on loopback in front of a Redis server (`unix://` or `redis://` URL) that can hold back the reply
    to the next command (`stall(seconds)`; `stalled` is set when one is held): a stalled Redis, which a client sees as a
    timeout after the command ran.
    `commands` counts the commands clients sent by name (as the proxy saw them go by)."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream = urlsplit(upstream_url)
        self.server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)
        self.commands: collections.Counter[str] = collections.Counter()
        self.stalled = gevent.event.Event()
        self._stall_s = 0.0

    @property
    def url(self) -> str:
        db = self.upstream.path.strip("/") if self.upstream.scheme != "unix" else "0"
        return f"redis://127.0.0.1:{self.server.server_port}/{db or 0}"

    def start(self) -> StallingRedis:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(timeout=1)

    def stall(self, seconds: float) -> None:
        self._stall_s = seconds
        self.stalled.clear()

    def _connect(self) -> socket.socket:
        if self.upstream.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.upstream.path)
            return sock
        return socket.create_connection((self.upstream.hostname, self.upstream.port or 6379))

    def _handle(self, client: socket.socket, _address: tuple) -> None:
        upstream = self._connect()
        pumps = [gevent.spawn(self._pump, client, upstream, False), gevent.spawn(self._pump, upstream, client, True)]
        gevent.joinall(pumps, count=1)
        for sock in (client, upstream):
            sock.close()
        gevent.killall(pumps)

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not replies:
                    self.commands.update(name.decode().upper() for name in COMMAND.findall(data))
                elif self._stall_s:
                    stall, self._stall_s = self._stall_s, 0.0
                    self.stalled.set()
                    gevent.sleep(stall)
                target.sendall(data)
