"""`gateway serve` as a real process: ready on the embedded stores, drained and stopped cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import gevent
import gevent.event
import psutil
import pytest
import requests

from gateway.config import Settings
from gateway.process import wsgiserver
from gateway.process.server import InFlight
from loadtest.chains import chain
from loadtest.processes import ServiceProcess
from tests.helpers import (
    REPO,
    GatewayProcess,
    Process,
    clean_env,
    cli_env,
    gateway_command,
    provider_for,
    run_gateway,
    server_processes,
)

DRAIN_S = 2


def ready(url: str) -> dict:
    """/readyz of a gateway that logged "listening": the stores were opened before it listened."""
    response = requests.get(f"{url}/readyz", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def embedded_gateway(tmp_path):
    """`gateway serve` on a fresh data dir, with no store URL: it must bring up its own servers."""
    env = clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path), GATEWAY_SERVER_DRAIN_S=str(DRAIN_S))
    proc = GatewayProcess(env=env)
    yield proc, tmp_path, env
    if proc.proc.poll() is None:
        proc.proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_is_ready_on_embedded_stores_and_stops_cleanly(embedded_gateway, signum):
    """/readyz is 200 within 30 s with no installed server; SIGTERM/SIGINT exit 0 in time, no server left."""
    proc, data_dir, _ = embedded_gateway
    url = proc.wait_listening(30)
    body = ready(url)
    assert body["stores"]["redis"]["ok"] and body["stores"]["postgres"]["ok"]
    assert requests.get(f"{url}/healthz", timeout=2).json() == {"status": "alive"}
    metrics = requests.get(f"{url}/metrics", timeout=2)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'gateway_store_up{store="redis"} 1.0' in metrics.text
    assert server_processes(data_dir)

    stopping = time.monotonic()
    assert proc.terminate(timeout=DRAIN_S + 5, signum=signum) == 0, proc.output()
    assert time.monotonic() - stopping < DRAIN_S + 5
    assert server_processes(data_dir) == []


def http_workers(proc: ServiceProcess) -> list[psutil.Process]:
    """The supervisor's forked HTTP workers (not the browser worker it also starts when Chromium is there)."""
    return [child for child in psutil.Process(proc.proc.pid).children() if "browser-worker" not in child.cmdline()]


def test_prefork_workers_share_the_socket_are_restarted_and_drain(tmp_path):
    """`serve --workers 2`: two workers answer on one socket with metrics added up across them; a killed
    worker is replaced; SIGTERM stops every worker and the embedded servers, exiting 0."""
    env = clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path), GATEWAY_SERVER_DRAIN_S=str(DRAIN_S))
    proc = ServiceProcess(gateway_command("serve", "--workers", "2", "--port", "0"), env, REPO)
    try:
        url = proc.wait_listening(60)
        workers = http_workers(proc)
        assert len(workers) == 2
        for _ in range(10):
            assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'gateway_http_requests_total{status="2xx"} 10.0' in metrics
        workers[0].kill()
        killed = f"worker {workers[0].pid} was killed by signal 9"
        proc.wait_for(re.compile(killed), 30)
        proc.wait_for(re.compile(r"worker \d+ started"), 30,
                      after_line=next(i for i, line in enumerate(proc.log) if killed in line) + 1)
        assert len(http_workers(proc)) == 2
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        assert proc.terminate(DRAIN_S + 10) == 0, proc.output()
        assert server_processes(tmp_path) == [] and not any(w.is_running() for w in workers[1:])
    finally:
        proc.kill()


def test_sigterm_waits_for_the_traces_of_clicks_answered_late(make_runtime, proxies, chains, tmp_path):
    """A click answered with the fallback while its trace goes on: SIGTERM lets the trace end and its record
    reach PostgreSQL before the process exits."""
    rt = make_runtime(tracing__allow_private=True, pool__cooldown_s=0.0, server__drain_s=10.0,
                      providers={"luna": provider_for(proxies["socks5"])})
    rt.slots.provision("luna", {"us": 1})
    rt.catalog.create({"slug": "slow", "name": "slow", "country": "us", "wait_ms": 100,
                       "tracking_url": chain(chains.url(), ["302"], f"{chains.url()}/land?delay_ms=1500")})
    proc = GatewayProcess(env=cli_env(rt.settings, tmp_path))
    url = proc.wait_listening(30)
    click = requests.get(f"{url}/c/slow?gclid=late", allow_redirects=False, timeout=5,
                         headers={"User-Agent": "Mozilla/5.0 Chrome/131.0"})
    assert click.status_code == 302
    assert proc.terminate(timeout=15) == 0, proc.output()
    (record,) = rt.traces.recent()
    assert record["outcome"] == "fallback_timeout"
    assert record["final_url"] == f"{chains.url()}/land?delay_ms=1500"


def test_cli_commands_reuse_the_servers_of_a_running_serve(embedded_gateway):
    """`gateway migrate` on the same data dir uses serve's servers and leaves them running."""
    proc, data_dir, env = embedded_gateway
    url = proc.wait_listening(30)
    ready(url)
    before = {p.pid for p in server_processes(data_dir, children=False)}
    result = run_gateway("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert "started embedded" not in result.stderr
    assert {p.pid for p in server_processes(data_dir, children=False)} == before
    assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
    assert proc.terminate() == 0


def test_cli_command_alone_starts_and_stops_the_servers(tmp_path):
    """With no serve running, a CLI command starts the embedded servers for its duration only."""
    result = run_gateway("migrate", env=clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "applied 0001_initial" in result.stdout
    assert server_processes(tmp_path) == []


def test_given_urls_start_nothing(tmp_path, store_urls, database_url):
    """With both store URLs configured, a command uses them and starts no embedded server."""
    env = clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path), GATEWAY_REDIS_URL=store_urls.redis,
                    GATEWAY_DATABASE_URL=database_url)
    result = run_gateway("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_readyz_names_the_failing_store(settings: Settings):
    """/readyz answers 503 and names Redis when Redis does not answer, while PostgreSQL is fine."""
    from gateway.process.app import build_app

    broken = settings.replace(redis__url="redis://127.0.0.1:1/0")
    with Process.open(broken) as rt:
        server = wsgiserver.start(build_app(rt))
        try:
            response = requests.get(f"http://127.0.0.1:{server.server_port}/readyz", timeout=10)
        finally:
            server.stop(timeout=1)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["stores"]["postgres"]["ok"] is True


def test_drain_lets_in_flight_requests_finish(runtime: Process):
    """During a drain new requests are not accepted, but one already in flight completes."""
    entered, release = gevent.event.Event(), gevent.event.Event()

    def slow_app(environ, start_response):
        entered.set()
        release.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    tracker = InFlight(slow_app, runtime.metrics)
    server = wsgiserver.start(tracker)
    url = f"http://127.0.0.1:{server.server_port}/"
    pending = gevent.spawn(requests.get, url, timeout=10)
    assert entered.wait(5)
    server.close()
    drained = gevent.spawn(tracker.drain, 5)
    release.set()
    assert drained.get(timeout=6) is True
    response = pending.get(timeout=5)
    assert response.status_code == 200 and response.text == "done"
    assert response.headers["Connection"] == "close"
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    server.stop(timeout=1)


@pytest.mark.parametrize(("prelude", "message"), [
    ("import psycopg\nfrom gevent import monkey\nmonkey.patch_all()\n", "psycopg was imported before gevent"),
    ("", "patch_all() has not run"),
])
def test_start_refuses_late_or_missing_gevent_patching(tmp_path, prelude, message):
    """Start-up refuses to run when psycopg would block the hub or gevent was never patched."""
    script = prelude + "import sys\nfrom gateway.cli import main\nsys.exit(main(['migrate']))\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env=clean_env(GATEWAY_SERVER_DATA_DIR=str(tmp_path)), check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert server_processes(tmp_path) == []
