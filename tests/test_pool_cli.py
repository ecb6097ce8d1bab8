"""`gateway pool ...`, `gateway redis-cli` and `gateway bench pool` as an operator runs them."""

from __future__ import annotations

import json

from tests.conftest import PROVIDER_PASSWORD
from tests.helpers import REPO


def test_provision_status_show_and_reset(cli):
    """Provisioning the seed layout prints what was added; status, show and reset-health report the pool."""
    out = cli("pool", "provision", "--provider", "luna", "--country", "us=50", "--country", "uk=20",
              "--country", "ca=15", "--country", "au=10", "--country", "de=5").stdout
    assert "100 slot(s) added for provider luna" in out
    again = cli("pool", "provision", "--provider", "luna", "--country", "us=50").stdout
    assert "0 slot(s) added" in again

    status = json.loads(cli("pool", "status", "--json").stdout)
    assert {c["country"]: c["total"] for c in status["countries"]} == {"au": 10, "ca": 15, "de": 5, "gb": 20,
                                                                       "us": 50}
    table = cli("pool", "status", "--country", "gb").stdout
    assert table.splitlines()[0].split()[:3] == ["country", "total", "ready"]
    assert table.splitlines()[1].split()[:3] == ["gb", "20", "20"]

    shown = json.loads(cli("pool", "show", "luna-us-7", "--json").stdout)
    assert (shown["provider"], shown["country"], shown["live"]["state"]) == ("luna", "us", "ready")
    assert "password" in shown and PROVIDER_PASSWORD not in json.dumps(shown)
    assert "health reset for 100 slot(s)" in cli("pool", "reset-health", "--all").stdout


def test_static_proxies_add_import_disable_remove(cli, tmp_path):
    """Static proxies: add (idempotent), import the example CSV, disable, enable and remove."""
    assert "added static-us-1" in cli("pool", "add", "--url", "socks5://u:p@127.0.0.1:1080", "--country", "us").stdout
    assert "already in the pool" in cli("pool", "add", "--url", "socks5://u:p@127.0.0.1:1080", "--country", "us").stdout
    out = cli("pool", "import", str(REPO / "conf" / "pool-example.csv")).stdout
    assert "added: 4" in out
    assert "static-de-open-1 disabled" in cli("pool", "disable", "static-de-open-1").stdout
    status = json.loads(cli("pool", "status", "--json", "--country", "de").stdout)
    assert status["countries"][0]["disabled"] == 1
    assert "enabled" in cli("pool", "enable", "static-de-open-1").stdout
    assert "removed static-us-1" in cli("pool", "remove", "static-us-1").stdout
    cli("pool", "show", "static-us-1", expect=1)


def test_a_bad_csv_imports_nothing_and_names_the_lines(cli, tmp_path):
    """One bad row refuses the whole file, naming each bad line; nothing is imported."""
    bad = tmp_path / "bad.csv"
    bad.write_text("country,url\nus,socks5://h:1080\nzz,socks5://h:1081\nus,ftp://h:21\n")
    result = cli("pool", "import", str(bad), expect=2)
    assert "line 3: country: 'zz' is not an ISO" in result.stderr
    assert "line 4: url: scheme must be one of" in result.stderr
    assert json.loads(cli("pool", "status", "--json").stdout)["countries"] == []


def test_bad_arguments_exit_2(cli):
    """Unknown providers, malformed counts and missing ids are refused with exit status 2."""
    assert "unknown provider" in cli("pool", "provision", "--provider", "x", "--country", "us=1", expect=2).stderr
    assert "CC=COUNT" in cli("pool", "provision", "--provider", "luna", "--country", "us", expect=2).stderr
    assert "name one slot id, or --all" in cli("pool", "reset-health", expect=2).stderr


def test_size_explains_the_number(cli):
    """`pool size` computes slots = rate x (trace + cooldown) x headroom and says so."""
    out = cli("pool", "size", "--peak-clicks-per-s", "2", "--trace-s", "5", "--cooldown-s", "60").stdout
    assert "= 130 slots busy at peak; x 1.5 headroom = 195 slots" in out


def test_maintain_and_redis_cli_show_the_pool(cli, settings):
    """`pool maintain` runs a tick; `redis-cli` runs against the same Redis and sees the pool's keys."""
    cli("pool", "provision", "--provider", "luna", "--country", "de=3")
    assert "reaped 0, recovered 0" in cli("pool", "maintain").stdout
    ready = f"{settings.redis.prefix}{{pool}}:ready:de"
    out = cli("redis-cli", "ZRANGE", ready, "0", "-1").stdout
    assert out.split() == ["luna-de-1", "luna-de-2", "luna-de-3"]


def test_bench_pool_prints_the_ratio(cli):
    """`gateway bench pool --json` measures both rates in one run and prints their ratio."""
    result = json.loads(cli("bench", "pool", "--json", "--greenlets", "20", "--seconds", "0.6").stdout)
    assert set(result) == {"lease_release_pairs_per_s", "ping_pairs_per_s", "ping_round_trips_per_s", "lease_ratio"}
    assert result["lease_ratio"] > 0
