"""`gateway bench [FIGURE ...] [--json]`: the gateway next to bare baselines, measured side by side in one run.

Without a figure every figure runs and `--json` prints exactly: fast_path_ratio, overlap_clicks,
overlap_p99_ratio, overlap_rss_mb, traced_clicks_per_s_ratio, lease_ratio, webhook_ack_p99_ms, workers_scaling.
"""

from __future__ import annotations

import argparse

from gateway.cli.output import print_json
from gateway.config import Settings

FIGURES = ("pool", "trace")
SUMMARY_KEYS = ("fast_path_ratio", "overlap_clicks", "overlap_p99_ratio", "overlap_rss_mb",
                "traced_clicks_per_s_ratio", "lease_ratio", "webhook_ack_p99_ms", "workers_scaling")


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import bench

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    if not args.figures:
        results = bench.run_all(settings, say)
        if args.json:
            print_json({key: results[key] for key in SUMMARY_KEYS})
        return 0
    results: dict = {}
    if "pool" in args.figures:
        with bench.Lab(settings) as lab:
            results.update(bench.pool_figure(lab.rt, args.greenlets, args.seconds))
        say(f"pool: {results['lease_release_pairs_per_s']} lease+release pairs/s vs {results['ping_pairs_per_s']} "
            f"PING pairs/s ({results['ping_round_trips_per_s']} round trips/s) from {args.greenlets} greenlets: "
            f"lease_ratio {results['lease_ratio']} (goal >= 0.8)")
    if "trace" in args.figures:
        results.update(bench.trace_figure())
        say(f"trace: tracer {results['tracer_cpu_ms_per_hop']} CPU ms/hop vs requests.get "
            f"{results['requests_cpu_ms_per_hop']} CPU ms/hop on the same 3xx chain: "
            f"trace_cpu_ratio {results['trace_cpu_ratio']} (goal <= 1.0)")
    if args.json:
        print_json(results)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="benchmarks: the gateway's paths next to bare baselines, one run")
    p.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE",
                   help=f"only {' or '.join(FIGURES)} (default: every figure)")
    p.add_argument("--greenlets", type=int, default=200, help="pool figure: concurrent greenlets")
    p.add_argument("--seconds", type=float, default=3.0, help="pool figure: measuring time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench)
