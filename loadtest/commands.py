"""The `gateway` commands that bring up a lab of local doubles, added to the gateway's command line as entry
points of the group `gateway.commands` (pyproject.toml): the gateway itself never imports this package.

- `gateway bench [FIGURE ...] [--json]`: the gateway next to bare baselines, measured side by side in one run.
  Without a figure every figure runs and `--json` prints exactly the SUMMARY_KEYS.
- `gateway loadtest`: a Locust scenario against a gateway brought up on loopback, then its invariants.
- `gateway demo`: the gateway with a local chain, proxy and fake Trackier (see demo.py).

The modules behind them load when a command runs, not when the parser is built: `gateway --help` stays quick.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from gateway.cli.output import print_json
from gateway.config import Settings

LOADTEST_DOC = """A Locust scenario against a gateway brought up on loopback, then its invariants (see
loadtest/harness.py). Exit status 0 when every invariant holds, 1 when one is broken."""

SUMMARY_KEYS = ("fast_path_ratio", "overlap_clicks", "overlap_p99_ratio", "overlap_rss_mb",
                "traced_clicks_per_s_ratio", "lease_ratio", "webhook_ack_p99_ms", "workers_scaling")


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import bench

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    names = tuple(dict.fromkeys(args.figures)) or bench.DEFAULT
    browser = {"traces": args.traces} if args.traces else {}
    results = bench.run(settings, say, names, {"pool": {"greenlets": args.greenlets, "seconds": args.seconds},
                                               "browser": browser})
    if args.json:
        print_json({key: results[key] for key in SUMMARY_KEYS} if not args.figures else results)
    return 0


def add_bench(commands: argparse._SubParsersAction) -> None:
    """`gateway bench`."""
    from loadtest.bench import DEFAULT, FIGURES

    p = commands.add_parser("bench", help="benchmarks: the gateway's paths next to bare baselines, one run")
    p.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE",
                   help=f"only these of {', '.join(FIGURES)} (default: {', '.join(DEFAULT)})")
    p.add_argument("--greenlets", type=int, default=200, help="pool figure: concurrent greenlets")
    p.add_argument("--seconds", type=float, default=3.0, help="pool figure: measuring time")
    p.add_argument("--traces", type=int, metavar="N", help="browser figure: traces per mode and round (default 10)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: the summary keys, or every number of the figures asked for")
    p.set_defaults(handler=cmd_bench)


def cmd_loadtest(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import harness

    if importlib.util.find_spec("locust") is None:
        print("gateway: Locust is not installed: pip install 'click-gateway[load]'", file=sys.stderr)
        return 1
    try:
        options = harness.Options(
            scenario=args.scenario, users=args.users, duration_s=args.duration, workers=args.workers,
            hop_ms=args.hop_ms, slots=args.slots, wait_ms=args.wait_ms, cooldown_s=args.cooldown_s,
            wave_s=args.wave_s, burst=args.burst, rate=args.rate, offers=args.offers,
            pairs_per_offer=args.pairs, ahead_depth=args.ahead_depth, ahead_max_age_s=args.ahead_max_age_s,
            reports=args.reports)
    except ValueError as exc:
        print(f"gateway: loadtest: {exc}", file=sys.stderr)
        return 2

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    report = harness.run(settings, options, say)
    if args.json:
        print_json(report.as_dict())
    else:
        print(harness.summary(report))
    return 0 if report.ok else 1


def add_loadtest(commands: argparse._SubParsersAction) -> None:
    """`gateway loadtest`."""
    from loadtest.harness import REPORTS, SCENARIOS, Options

    defaults = Options()
    p = commands.add_parser("loadtest", help="a Locust scenario on loopback, then its invariants",
                            description=LOADTEST_DOC)
    p.add_argument("--scenario", choices=SCENARIOS, default=defaults.scenario)
    p.add_argument("--users", type=int, default=defaults.users, help="Locust users (default %(default)s)")
    p.add_argument("--duration", type=float, default=defaults.duration_s, metavar="S",
                   help="seconds of load (default %(default)s)")
    p.add_argument("--workers", type=int, default=defaults.workers, help="gateway processes (default %(default)s)")
    p.add_argument("--hop-ms", type=float, default=defaults.hop_ms,
                   help="latency of every chain hop, ms (default %(default)s; a chain is 2 hops)")
    p.add_argument("--slots", type=int, help="egress slots (default: one per user)")
    p.add_argument("--wait-ms", type=int, default=defaults.wait_ms,
                   help="the offers' wait budget before the fallback (default %(default)s)")
    p.add_argument("--cooldown-s", type=float, default=defaults.cooldown_s,
                   help="slot cooldown after each trace (default %(default)s)")
    p.add_argument("--wave-s", type=float, default=defaults.wave_s,
                   help="OverlappingClicks: seconds between waves (default %(default)s)")
    p.add_argument("--burst", type=int, default=defaults.burst,
                   help="ClicksWithGaps, AheadClicks: clicks per burst; ClicksWithGaps' gap is the cooldown + 1 s "
                        "(default %(default)s)")
    p.add_argument("--rate", type=float, default=defaults.rate,
                   help="WebhookStorm, Mixed, AheadClicks: requests (arrivals) per second per user "
                        "(default %(default)s)")
    p.add_argument("--offers", type=int, default=defaults.offers,
                   help="WebhookStorm, Mixed: offers receiving postbacks (default %(default)s)")
    p.add_argument("--pairs", type=int, default=defaults.pairs_per_offer,
                   help="campaign pairs per offer, at most 20 (default %(default)s)")
    p.add_argument("--ahead-depth", type=int, default=defaults.ahead_depth,
                   help="AheadClicks: the offer's bucket depth (default %(default)s)")
    p.add_argument("--ahead-max-age-s", type=int, default=defaults.ahead_max_age_s,
                   help="AheadClicks: the offer's age limit for traces made ahead (default %(default)s)")
    p.add_argument("--reports", type=Path, default=REPORTS,
                   help="where the Locust CSV, HTML and log go (default loadtest/reports)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (progress goes to stderr)")
    p.set_defaults(handler=cmd_loadtest)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import demo

    return demo.run(settings, args.host, args.port)


def add_demo(commands: argparse._SubParsersAction) -> None:
    """`gateway demo`."""
    p = commands.add_parser("demo", help="run the gateway with a local chain, proxy and demo offer")
    p.add_argument("--host", help="listen address (default [server] host)")
    p.add_argument("--port", type=int, help="listen port (default [server] port)")
    p.set_defaults(handler=cmd_demo)
