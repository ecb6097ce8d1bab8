"""`gateway bench [FIGURE ...] [--json]`: side-by-side measurements in one run."""

from __future__ import annotations

import argparse

from gateway.cli.output import print_json
from gateway.config import Settings
from gateway.runtime import Runtime

FIGURES = ("pool", "trace")


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import bench

    figures = args.figures or list(FIGURES)
    results: dict = {}
    if "pool" in figures:
        with Runtime.open(settings) as rt:
            results.update(bench.pool_figure(rt, args.greenlets, args.seconds))
        _say(args, f"pool: {results['lease_release_pairs_per_s']} lease+release pairs/s vs "
                   f"{results['ping_pairs_per_s']} PING pairs/s ({results['ping_round_trips_per_s']} round trips/s) "
                   f"from {args.greenlets} greenlets: lease_ratio {results['lease_ratio']} (goal >= 0.8)")
    if "trace" in figures:
        results.update(bench.trace_figure())
        _say(args, f"trace: tracer {results['tracer_cpu_ms_per_hop']} CPU ms/hop vs requests.get "
                   f"{results['requests_cpu_ms_per_hop']} CPU ms/hop on the same 3xx chain: "
                   f"trace_cpu_ratio {results['trace_cpu_ratio']} (goal <= 1.0)")
    if args.json:
        print_json(results)
    return 0


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.json:
        print(line, flush=True)


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="benchmarks: the gateway's paths next to bare baselines, one run")
    p.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE", help=f"one of {', '.join(FIGURES)}")
    p.add_argument("--greenlets", type=int, default=200)
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench)
