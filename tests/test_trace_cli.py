"""`gateway trace` and `gateway bench trace` as an operator runs them."""

from __future__ import annotations

import json

import pytest

from gateway.config import ProviderSettings, Secret
from loadtest.chains import chain
from tests.helpers import cli_env, run_gateway


@pytest.fixture
def pooled(settings, proxies, tmp_path):
    """The CLI environment of settings whose provider `luna` is the local SOCKS5 proxy."""
    host, port = proxies["socks5"].address
    luna = ProviderSettings(host=host, port=port, scheme="socks5h", username="acct",
                            username_template="user-{username}-region-{country}-sessid-{session}",
                            password=Secret(proxies["socks5"].password))
    return cli_env(settings.replace(providers={"luna": luna}), tmp_path)


def test_json_output_and_exit_status(chains, settings, tmp_path):
    """--json prints the result object; exit 0 when the chain ends fine, 1 when it ends in an error."""
    env = cli_env(settings, tmp_path)
    start = chain(chains.url(), ["302", "meta", "js"], f"{chains.url(1)}/land?clickid=c1")
    done = run_gateway("trace", start, "--allow-private", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"ok", "error", "final_url", "hops", "params", "total_ms"} <= set(result)
    assert result["ok"] and result["params"] == [["clickid", "c1"]]
    assert [h["kind"] for h in result["hops"]] == ["http", "meta_refresh", "js", "final"]
    looped = run_gateway("trace", chains.url() + "/loop", "--allow-private", "--json", env=env)
    assert looped.returncode == 1 and json.loads(looped.stdout)["error"] == "redirect_loop"


def test_the_hop_table(chains, settings, tmp_path):
    """Without --json the hops are a table, each next URL under its hop, then the verdict."""
    out = run_gateway("trace", chain(chains.url(), ["refresh"], chains.url() + "/land?x=1"), "--allow-private",
                      env=cli_env(settings, tmp_path)).stdout
    assert out.splitlines()[0].split() == ["#", "status", "kind", "ms", "bytes", "url"]
    assert "refresh_header" in out and f"-> {chains.url()}/land?x=1" in out
    assert "\nok\n" in out and "params x=1" in out


def test_ssrf_guard_is_on_unless_lifted(chains, settings, tmp_path):
    """Without --allow-private a loopback chain is refused (exit 1, blocked_address)."""
    result = run_gateway("trace", chains.url() + "/land", "--json", env=cli_env(settings, tmp_path))
    assert result.returncode == 1 and json.loads(result.stdout)["error"] == "blocked_address"


@pytest.mark.parametrize("args", [["not-a-url"], ["http://x/", "--proxy", "ftp://p:1"],
                                  ["http://x/", "--max-hops", "0"], ["http://x/", "--direct", "--country", "us"]])
def test_bad_arguments_exit_2(settings, tmp_path, args):
    """A bad URL, proxy, hop limit or conflicting routes exit 2."""
    assert run_gateway("trace", *args, env=cli_env(settings, tmp_path)).returncode == 2


def test_through_a_given_proxy(chains, proxies, settings, tmp_path):
    """--proxy traces through that proxy."""
    result = run_gateway("trace", chains.url() + "/land?v=1", "--allow-private", "--json", "--proxy",
                         proxies["http"].url("cli-user"), env=cli_env(settings, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxies["http"].stats.by_user["cli-user"].connections == 1


def test_through_the_pool_by_country_and_by_slot(chains, proxies, pooled, runtime):
    """--country leases a slot of that country for the trace and releases it; --egress uses a chosen slot."""
    env = pooled
    provisioned = run_gateway("pool", "provision", "--provider", "luna", "--country", "de=1", env=env)
    assert provisioned.returncode == 0, provisioned.stderr
    result = run_gateway("trace", chains.url() + "/land?v=2", "--allow-private", "--json", "--country", "de", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["slot_id"] == "luna-de-1"
    slot = runtime.inventory.get("luna-de-1")
    assert proxies["socks5"].stats.by_user[f"user-acct-region-de-sessid-{slot.session_id}"].connections == 1
    view = runtime.pool.slot("luna-de-1")
    assert (view["state"], view["successes"]) == ("cooling", "1")
    busy = run_gateway("trace", chains.url() + "/land", "--allow-private", "--egress", "luna-de-1", env=env)
    assert busy.returncode == 1 and "no free egress slot" in busy.stderr


def test_bench_trace_prints_the_cpu_ratio(settings, tmp_path):
    """`gateway bench trace --json` measures the tracer and requests.get on the same chain in one run."""
    result = run_gateway("bench", "trace", "--json", env=cli_env(settings, tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"tracer_cpu_ms_per_hop", "requests_cpu_ms_per_hop", "trace_cpu_ratio"}
    assert figures["trace_cpu_ratio"] > 0
