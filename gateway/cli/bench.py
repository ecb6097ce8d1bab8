"""`gateway bench [FIGURE ...] [--json]`: side-by-side measurements in one run."""

from __future__ import annotations

import argparse

from gateway import bench
from gateway.cli.output import print_json
from gateway.config import Settings
from gateway.runtime import Runtime

FIGURES = ("pool",)


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    figures = args.figures or list(FIGURES)
    results: dict = {}
    with Runtime.open(settings) as rt:
        if "pool" in figures:
            results.update(bench.pool_figure(rt, args.greenlets, args.seconds))
            if not args.json:
                print(f"pool: {results['lease_release_pairs_per_s']} lease+release pairs/s vs "
                      f"{results['ping_pairs_per_s']} PING pairs/s ({results['ping_round_trips_per_s']} round trips/s)"
                      f" from {args.greenlets} greenlets: lease_ratio {results['lease_ratio']} (goal >= 0.8)")
    if args.json:
        print_json(results)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="benchmarks: the gateway's paths next to bare baselines, one run")
    p.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE", help=f"one of {', '.join(FIGURES)}")
    p.add_argument("--greenlets", type=int, default=200)
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench)
