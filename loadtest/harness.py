"""The runner behind `gateway loadtest`: bring up a gateway and everything it talks to on loopback, run one
Locust scenario headless against it, then check the invariants and write the Locust CSV and HTML report.

Invariants (speed is never one of them):
- every request answered: Locust saw no failure (no 5xx, no wrong answer, no connection error);
- no slot carried two traces at once: from the proxy's own per-session log, at most one connection at a time;
- every answered click and every accepted postback has its row in PostgreSQL, and every postback was
  processed to an end;
- the Redis click counters agree with the PostgreSQL trace records, outcome by outcome;
- AheadClicks: no trace made ahead handed to two clicks, none handed out older than the offer's age limit, none
  made with a click's values (its first hop is the offer's clean tracking URL; the chain copies the click's query
  into the landing page, and Locust fails a click whose Location carries another click's gclid), every click's
  trace recorded, the bucket never deeper than the offer's depth (sampled through the run);
- the gateway stopped cleanly on SIGTERM and logged no error.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import gevent

from gateway.ahead.buckets import clean_url
from gateway.config import Settings
from gateway.tracing.outcomes import NOT_CLICKS
from loadtest.chains import chain
from loadtest.lab import PROVIDER, Lab

SCENARIOS = ("OverlappingClicks", "ClicksWithGaps", "WebhookStorm", "Mixed", "AheadClicks")
CLICKS = {"OverlappingClicks": True, "ClicksWithGaps": True, "WebhookStorm": False, "Mixed": True, "AheadClicks": True}
POSTBACKS = {"OverlappingClicks": False, "ClicksWithGaps": False, "WebhookStorm": True, "Mixed": True,
             "AheadClicks": False}
BURST_EVERY = 10  # AheadClicks: one arrival in ten is a burst
CLICK_OFFER = "lt-clicks"
MIXED_CLICK_SHARE = 0.2  # the locustfile's Mixed: browser clicks are 2 of 10 tasks
REPORTS = Path(__file__).parent / "reports"
LOGGED_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")


@dataclass(frozen=True)
class Options:
    scenario: str = "OverlappingClicks"
    users: int = 100
    duration_s: float = 30.0
    workers: int = 2
    hop_ms: float = 250.0
    slots: int | None = None  # default: one per user
    wait_ms: int = 8000
    cooldown_s: float = 2.0
    wave_s: float = 10.0
    burst: int = 3
    rate: float = 5.0  # postbacks (Mixed: requests) per second per user
    offers: int = 3
    pairs_per_offer: int = 20
    ahead_depth: int = 20
    ahead_max_age_s: int = 300
    reports: Path = REPORTS

    def __post_init__(self) -> None:
        problems = {
            "scenario": self.scenario not in SCENARIOS, "users": self.users < 1, "duration": self.duration_s <= 0,
            "workers": not 1 <= self.workers <= 64, "hop-ms": self.hop_ms < 0,
            "slots": self.slots is not None and self.slots < 1, "wait-ms": not 1 <= self.wait_ms <= 120_000,
            "cooldown-s": self.cooldown_s < 0, "wave-s": self.wave_s <= 0, "burst": self.burst < 1,
            "rate": self.rate <= 0, "offers": self.offers < 1, "pairs": not 1 <= self.pairs_per_offer <= 20,
            "ahead-depth": not 1 <= self.ahead_depth <= 1000, "ahead-max-age-s": not 5 <= self.ahead_max_age_s <= 86400}
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            raise ValueError(f"out of range: {', '.join('--' + name for name in bad)}")

    @property
    def slot_count(self) -> int:
        """`slots`, or enough that no click waits for one: as many as a user can hold at once (a slot is held
        for the chain, then rests for the cooldown)."""
        if self.slots:
            return self.slots
        held_s = 2 * self.hop_ms / 1000 + self.cooldown_s + 0.5
        per_user = {"OverlappingClicks": 1, "ClicksWithGaps": self.burst, "WebhookStorm": 1,
                    "Mixed": math.ceil(self.rate * MIXED_CLICK_SHARE * held_s) + 1,
                    "AheadClicks": math.ceil(self.rate * (1 + (self.burst - 1) / BURST_EVERY) * held_s) + 1}
        return self.users * per_user[self.scenario]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    options: dict
    requests: dict[str, dict] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    postbacks: dict[str, int] = field(default_factory=dict)
    proxy: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


# -- the invariants, each a plain function of what was measured ---------------------------------------------

def check_answered(stats: dict[str, dict], failures: list[str]) -> Check:
    total = stats.get("Aggregated") or {"requests": 0, "failures": 0}
    ok = total["requests"] > 0 and total["failures"] == 0 and not failures
    detail = f"{total['requests']} requests, {total['failures']} failed"
    return Check("every request answered", ok, detail + ("; " + "; ".join(failures[:5]) if failures else ""))


def check_one_trace_per_slot(usage: dict, slot_prefix: str) -> Check:
    slots = {user: u for user, u in usage.get("by_user", {}).items() if user.startswith(slot_prefix)}
    crowded = sorted(user for user, u in slots.items() if u["max_active"] > 1)
    ok = not crowded and not usage.get("refused")
    detail = (f"{len(slots)} slot sessions carried {sum(u['connections'] for u in slots.values())} connections, "
              f"at most {max((u['max_active'] for u in slots.values()), default=0)} at once per session")
    if crowded:
        detail += f"; crowded: {', '.join(crowded[:5])}"
    if usage.get("refused"):
        detail += f"; {usage['refused']} refused by the proxy"
    return Check("no slot carried two traces at once", ok, detail)


def check_recorded(name: str, answered: int, rows: int, unfinished: int = 0) -> Check:
    detail = f"{answered} answered, {rows} rows in PostgreSQL"
    if unfinished:
        detail += f", {unfinished} not processed to an end"
    return Check(name, answered == rows and not unfinished, detail)


def check_counters(redis_counts: dict[str, dict[str, int]], pg_counts: dict[str, dict[str, int]]) -> Check:
    differing = {offer: (redis_counts.get(offer, {}), counts) for offer, counts in pg_counts.items()
                 if redis_counts.get(offer, {}) != counts}
    detail = f"{sum(sum(c.values()) for c in pg_counts.values())} records in {len(pg_counts)} offer(s)"
    if differing:
        detail += "; differ: " + "; ".join(f"{offer} Redis {r} vs PostgreSQL {p}"
                                           for offer, (r, p) in differing.items())
    return Check("Redis counters agree with PostgreSQL", not differing, detail)


def check_ahead(uses: dict[str, int], max_age_s: int, deepest: int, depth: int) -> Check:
    detail = (f"{uses['uses']} clicks answered from {uses['traces']} traces made ahead, the oldest "
              f"{uses['oldest_ms'] / 1000:.1f} s old (limit {max_age_s} s), the bucket at most {deepest} deep "
              f"(depth {depth})")
    if uses["unknown"]:
        detail += f"; {uses['unknown']} name a trace never recorded"
    if uses["private"]:
        detail += f"; {uses['private']} got a trace made with another click's values"
    ok = (uses["uses"] > 0 and uses["uses"] == uses["traces"] and uses["oldest_ms"] <= max_age_s * 1000
          and not uses["unknown"] and not uses["private"] and deepest <= depth)
    return Check("each trace made ahead went to one click, fresh, clean, from a bucket within its depth", ok, detail)


def check_clean_exit(code: int | None, log: str) -> Check:
    errors = [line.strip() for line in log.splitlines() if LOGGED_ERROR.search(line)]
    detail = f"exit status {code}, {len(errors)} error line(s) logged" + (f": {errors[0][:200]}" if errors else "")
    return Check("the gateway stopped cleanly", code == 0 and not errors, detail)


# -- the run ------------------------------------------------------------------------------------------------

def run(settings: Settings, options: Options, say: Callable[[str], None]) -> Report:
    report = Report(options={k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()})
    with Lab(settings, "loadtest") as lab:
        say(f"setting up {options.scenario}: {options.users} users, {options.duration_s:g} s, gateway on "
            f"{options.workers} worker(s)")
        env = _prepare(lab, options)
        gateway = lab.gateway(options.workers, pool__cooldown_s=options.cooldown_s,
                              server__drain_s=options.wait_ms / 1000 + 10, webhooks__lease_wait_ms=options.wait_ms)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        prefix = options.reports / f"{options.scenario}-{stamp}"
        say(f"running Locust against {gateway.url}")
        sampler = gevent.spawn(_deepest_bucket, lab, options) if options.scenario == "AheadClicks" else None
        locust = _locust(gateway.url, options, env, prefix)
        report.files = [str(p) for p in sorted(options.reports.glob(f"{prefix.name}*"))]
        report.requests, failures = locust["requests"], locust["failures"]
        say("waiting for the gateway to record everything it answered")
        answered_clicks = _answered(report.requests, lambda name: name.startswith("click"))
        answered_postbacks = _answered(report.requests, lambda name: name == "postback")
        offer_ids = {offer.slug: offer.id for offer in lab.services.stores.offers.all() if offer.slug.startswith("lt-")}
        _settle(lab, offer_ids, answered_clicks, timeout=options.wait_ms / 1000 + 30)
        code = _stop(gateway, options.wait_ms / 1000 + 20)
        report.proxy = lab.proxy_usage()
        stores = lab.services.stores
        report.outcomes = {slug: stores.traces.by_outcome(offer_id) for slug, offer_id in offer_ids.items()}
        report.postbacks = dict(sum((Counter(stores.events.by_status(offer_id)) for slug, offer_id in
                                     offer_ids.items() if slug != CLICK_OFFER), Counter()))
        minutes = math.ceil((options.duration_s + options.wait_ms / 1000 + 120) / 60) + 1
        redis_counts = {slug: _summed(lab.services.stores.click_stats.minutes(str(offer_id), minutes))
                        for slug, offer_id in offer_ids.items()}
        clicks_rows = _click_rows(report.outcomes.get(CLICK_OFFER, {}))
        unfinished = report.postbacks.get("pending", 0) + report.postbacks.get("processing", 0)
        pair_counts = sum(p.webhook_count for slug, offer_id in offer_ids.items() if slug != CLICK_OFFER
                          for p in lab.services.stores.pairs.for_offer(offer_id))
        report.checks = [check_answered(report.requests, failures),
                         check_one_trace_per_slot(report.proxy, f"{PROVIDER}-")]
        if CLICKS[options.scenario]:
            report.checks.append(check_recorded("every answered click recorded", answered_clicks, clicks_rows))
        if sampler:
            sampler.kill()
            uses = stores.traces.ahead_uses(offer_ids[CLICK_OFFER], clean_url(stores.offers.get(CLICK_OFFER)))
            report.checks.append(check_ahead(uses, options.ahead_max_age_s, sampler.value or 0, options.ahead_depth))
        if POSTBACKS[options.scenario]:
            report.checks += [
                check_recorded("every postback recorded", answered_postbacks, sum(report.postbacks.values()),
                               unfinished),
                check_recorded("pair postback counts match the events", answered_postbacks, pair_counts)]
        report.checks += [check_counters(redis_counts, {slug: n for slug, n in report.outcomes.items() if n}),
                          check_clean_exit(code, gateway.output())]
    return report


def _prepare(lab: Lab, options: Options) -> dict[str, str]:
    """Slots, offers and pairs for the scenario; the LOADTEST_* environment of the Locust process."""
    lab.services.slots.provision(PROVIDER, {"us": options.slot_count})
    env = {"LOADTEST_OFFER": CLICK_OFFER, "LOADTEST_WAVE_S": str(options.wave_s),
           "LOADTEST_BURST": str(options.burst), "LOADTEST_GAP_S": str(options.cooldown_s + 1.0),
           "LOADTEST_RATE": str(options.rate), "LOADTEST_BURST_EVERY": str(BURST_EVERY)}
    if CLICKS[options.scenario]:
        base = lab.chain_server(options.hop_ms).url
        if options.scenario == "AheadClicks":  # a chain that copies the click's query into the landing page, and
            # a wait shorter than it, so that clicks traced inline fall back and their late traces show what is kept
            lab.offer(CLICK_OFFER, tracking_url=f"{base}/demo/start?aff=lt", click_mode="ahead",
                      wait_ms=min(options.wait_ms, round(options.hop_ms * 2)), ahead_depth=options.ahead_depth,
                      ahead_max_age_s=options.ahead_max_age_s)
        else:
            lab.offer(CLICK_OFFER, tracking_url=chain(base, ["302"], f"{base}/land?clickid=lt"),
                      wait_ms=options.wait_ms)
    if POSTBACKS[options.scenario]:
        base = lab.chain_server(options.hop_ms).url
        tokens = []
        for n in range(1, options.offers + 1):
            slug = f"lt-hooks-{n}"
            lab.offer(slug, tracking_url=f"{base}/demo/start?gclid={{click_id}}", final_url=f"{base}/land",
                      wait_ms=options.wait_ms)
            lab.services.pair_creation.create(slug, options.pairs_per_offer)
            stores = lab.services.stores
            tokens += [p.webhook_token for p in stores.pairs.for_offer(stores.offers.get(slug).id)]
        env["LOADTEST_TOKENS"] = ",".join(tokens)
    return env


def _locust(host: str, options: Options, env: dict[str, str], prefix: Path) -> dict:
    """Run Locust headless to its end (bounded: run time, then a stop timeout for clicks in flight); its final
    statistics (see the locustfile's LOADTEST_SUMMARY)."""
    options.reports.mkdir(parents=True, exist_ok=True)
    spawn_s = max(1.0, options.users / 500)
    start_at = time.time() + spawn_s + 3
    summary = Path(f"{prefix}.json")
    child_env = {**os.environ, **env, "LOADTEST_START_AT": str(start_at), "LOADTEST_SUMMARY": str(summary)}
    stop_timeout = options.wait_ms / 1000 + 5
    argv = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
            "--host", host, "--users", str(options.users), "--spawn-rate", str(options.users / spawn_s),
            "--run-time", f"{options.duration_s:g}s", "--stop-timeout", f"{stop_timeout:g}",
            "--csv", str(prefix), "--html", f"{prefix}.html", "--only-summary", "--loglevel", "WARNING",
            options.scenario]
    with open(f"{prefix}.log", "w") as log:
        done = subprocess.run(argv, env=child_env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=options.duration_s + stop_timeout + 120)
    if not summary.exists():
        raise RuntimeError(f"Locust exited with status {done.returncode} and wrote no statistics: see {prefix}.log")
    return json.loads(summary.read_text())


def _settle(lab: Lab, offer_ids: dict, clicks: int, timeout: float) -> None:
    """Wait until the click records are in PostgreSQL and no postback is left pending (bounded)."""
    deadline = time.monotonic() + timeout
    click_offer = offer_ids.get(CLICK_OFFER)
    while time.monotonic() < deadline:
        stores = lab.services.stores
        recorded = _click_rows(stores.traces.by_outcome(click_offer)) if click_offer else 0
        open_events = sum(stores.events.by_status(offer_id).get(status, 0) for slug, offer_id in offer_ids.items()
                          if slug != CLICK_OFFER for status in ("pending", "processing"))
        if recorded >= clicks and not open_events:
            return
        gevent.sleep(0.5)


def _deepest_bucket(lab: Lab, options: Options) -> int:
    """Look at the click offer's bucket every 50 ms until killed; the most entries it held (the greenlet's value)."""
    offer = lab.services.stores.offers.get(CLICK_OFFER)
    deepest = 0
    try:
        while True:
            look = lab.services.ahead.look(offer, "us")
            deepest = max(deepest, look.entries)
            gevent.sleep(0.05)
    except gevent.GreenletExit:
        return deepest


def _click_rows(counts: dict[str, int]) -> int:
    return sum(n for outcome, n in counts.items() if outcome not in NOT_CLICKS)


def _stop(gateway, timeout: float) -> int | None:
    try:
        return gateway.terminate(timeout)
    except subprocess.TimeoutExpired:
        gateway.kill()
        return None


def _answered(requests: dict[str, dict], named: Callable[[str], bool]) -> int:
    return sum(s["requests"] - s["failures"] for name, s in requests.items() if name != "Aggregated" and named(name))


def _summed(minutes: list[dict]) -> dict[str, int]:
    total: Counter = Counter()
    for minute in minutes:
        total.update(minute["counts"])
    return dict(total)


def summary(report: Report) -> str:
    """The report as an operator reads it."""
    lines = []
    for name, s in report.requests.items():
        lines.append(f"  {name:<14} {s['requests']:>7} requests {s['failures']:>5} failed {s['per_s']:>8}/s  "
                     f"p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms  p99 {s['p99_ms']} ms  max {s['max_ms']} ms")
    for slug, counts in report.outcomes.items():
        if counts:
            lines.append(f"  {slug} records: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if report.postbacks:
        lines.append("  postbacks: " + ", ".join(f"{k} {v}" for k, v in sorted(report.postbacks.items())))
    lines.append("invariants:")
    lines += [f"  {'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in report.checks]
    lines.append("reports: " + ", ".join(report.files))
    lines.append("all invariants hold" if report.ok else "INVARIANTS BROKEN")
    return "\n".join(lines)
