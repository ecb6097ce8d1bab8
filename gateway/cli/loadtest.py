"""`gateway loadtest`: a Locust scenario against a gateway brought up on loopback, then its invariants
(see loadtest/harness.py). Exit status 0 when every invariant holds, 1 when one is broken."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from gateway.cli.output import print_json
from gateway.config import Settings


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
            pairs_per_offer=args.pairs, reports=args.reports)
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    from loadtest.harness import REPORTS, SCENARIOS, Options

    defaults = Options()
    p = commands.add_parser("loadtest", help="a Locust scenario on loopback, then its invariants",
                            description=__doc__)
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
                   help="ClicksWithGaps: clicks per burst; the gap is the cooldown + 1 s (default %(default)s)")
    p.add_argument("--rate", type=float, default=defaults.rate,
                   help="WebhookStorm, Mixed: requests per second per user (default %(default)s)")
    p.add_argument("--offers", type=int, default=defaults.offers,
                   help="WebhookStorm, Mixed: offers receiving postbacks (default %(default)s)")
    p.add_argument("--pairs", type=int, default=defaults.pairs_per_offer,
                   help="campaign pairs per offer, at most 20 (default %(default)s)")
    p.add_argument("--reports", type=Path, default=REPORTS,
                   help="where the Locust CSV, HTML and log go (default loadtest/reports)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (progress goes to stderr)")
    p.set_defaults(handler=cmd_loadtest)
