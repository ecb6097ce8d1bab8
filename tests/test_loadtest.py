"""`gateway loadtest`: a short smoke of a real Locust run that asserts the invariants (never speed), and the
invariant checks themselves, each shown to fail on what it exists to catch."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest import harness
from tests.helpers import cli_env, run_gateway


def test_mixed_smoke_run_holds_every_invariant_and_writes_the_reports(settings, runtime, tmp_path):
    """Clicks (traced and bot) and postbacks through a real gateway on 2 workers, a real proxy and the fake
    Trackier, on this test's stores without touching its data."""
    reports = tmp_path / "reports"
    result = run_gateway("loadtest", "--scenario", "Mixed", "--users", "8", "--duration", "5", "--hop-ms", "20",
                         "--offers", "2", "--pairs", "3", "--reports", str(reports), "--json",
                         env=cli_env(settings, tmp_path), timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {check["name"] for check in report["checks"]} == {
        "every request answered", "no slot carried two traces at once", "every answered click recorded",
        "every postback recorded", "pair postback counts match the events", "Redis counters agree with PostgreSQL",
        "the gateway stopped cleanly"}
    assert {"click", "click (bot)", "postback"} <= set(report["requests"])
    assert report["requests"]["Aggregated"]["requests"] > 0
    assert report["proxy"]["by_user"], "the proxy carried no trace"
    assert {Path(path).suffix for path in report["files"]} == {".html", ".json", ".log", ".csv"}
    assert all(Path(path).parent == reports for path in report["files"])
    assert runtime.offers.all() == [] and runtime.inventory.all() == []


def test_ahead_smoke_run_hands_each_trace_to_one_click_across_two_processes(settings, tmp_path):
    """AheadClicks on a gateway of 2 worker processes sharing the stores: clicks answered from the bucket, no trace
    to two clicks, none too old, the bucket within its depth."""
    result = run_gateway("loadtest", "--scenario", "AheadClicks", "--users", "6", "--rate", "2", "--duration", "6",
                         "--hop-ms", "20", "--ahead-depth", "8", "--reports", str(tmp_path / "reports"), "--json",
                         env=cli_env(settings, tmp_path), timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    ahead = [c for c in report["checks"] if c["name"].startswith("each trace made ahead")]
    assert report["ok"] is True and len(ahead) == 1 and ahead[0]["ok"]
    assert report["outcomes"]["lt-clicks"]["final_ahead"] > 0


def test_a_trace_handed_twice_too_old_or_a_bucket_too_deep_breaks_the_invariant():
    uses = {"uses": 10, "traces": 10, "oldest_ms": 3000, "unknown": 0, "private": 0}
    assert harness.check_ahead(uses, 300, deepest=5, depth=5).ok
    assert not harness.check_ahead({**uses, "traces": 9}, 300, 5, 5).ok
    assert not harness.check_ahead({**uses, "oldest_ms": 300_001}, 300, 5, 5).ok
    assert not harness.check_ahead({**uses, "unknown": 1}, 300, 5, 5).ok
    assert not harness.check_ahead({**uses, "private": 1}, 300, 5, 5).ok, "a trace made with a click's values"
    assert not harness.check_ahead(uses, 300, deepest=6, depth=5).ok
    assert not harness.check_ahead({**uses, "uses": 0, "traces": 0}, 300, 0, 5).ok, "no click from a bucket"


def test_bad_options_exit_2_before_anything_starts(settings, tmp_path):
    result = run_gateway("loadtest", "--users", "0", "--pairs", "21", env=cli_env(settings, tmp_path))
    assert result.returncode == 2
    assert "--users" in result.stderr and "--pairs" in result.stderr


def test_a_slot_that_carried_two_connections_at_once_breaks_the_invariant():
    usage = {"refused": 0, "by_user": {"lab-us-1": {"connections": 3, "active": 0, "max_active": 1},
                                       "lab-us-2": {"connections": 2, "active": 0, "max_active": 2},
                                       "bench-fanout": {"connections": 9, "active": 0, "max_active": 9}}}
    check = harness.check_one_trace_per_slot(usage, "lab-")
    assert not check.ok and "lab-us-2" in check.detail and "bench-fanout" not in check.detail
    usage["by_user"]["lab-us-2"]["max_active"] = 1
    assert harness.check_one_trace_per_slot(usage, "lab-").ok
    assert not harness.check_one_trace_per_slot({**usage, "refused": 1}, "lab-").ok


def test_failed_requests_missing_rows_and_unfinished_postbacks_break_the_invariants():
    stats = {"Aggregated": {"requests": 10, "failures": 1}}
    assert not harness.check_answered(stats, ["click: status 502 (x1)"]).ok
    assert not harness.check_answered({}, []).ok, "a run without a single request proves nothing"
    assert harness.check_answered({"Aggregated": {"requests": 10, "failures": 0}}, []).ok
    assert not harness.check_recorded("clicks", 10, 9).ok
    assert not harness.check_recorded("postbacks", 10, 10, unfinished=1).ok
    assert harness.check_recorded("postbacks", 10, 10).ok


def test_counters_that_disagree_with_postgres_break_the_invariant():
    pg = {"lt-clicks": {"final": 5, "fallback_timeout": 1}}
    assert harness.check_counters({"lt-clicks": {"final": 5, "fallback_timeout": 1}}, pg).ok
    check = harness.check_counters({"lt-clicks": {"final": 5}}, pg)
    assert not check.ok and "lt-clicks" in check.detail


def test_an_unclean_stop_breaks_the_invariant():
    assert harness.check_clean_exit(0, "INFO gateway listening\nWARNING slow\n").ok
    assert not harness.check_clean_exit(0, "2026-11-23 ERROR [12] gateway.clicks: trace crashed\n").ok
    assert not harness.check_clean_exit(None, "").ok
    assert not harness.check_clean_exit(1, "").ok
