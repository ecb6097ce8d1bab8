"""`gateway bench [FIGURE ...] [--json]`: the gateway next to bare baselines, measured side by side in one run.

Without a figure every figure runs and `--json` prints exactly: fast_path_ratio, overlap_clicks,
overlap_p99_ratio, overlap_rss_mb, traced_clicks_per_s_ratio, lease_ratio, webhook_ack_p99_ms, workers_scaling.
"""

from __future__ import annotations

import argparse

from gateway.cli.output import print_json
from gateway.config import Settings

SUMMARY_KEYS = ("fast_path_ratio", "overlap_clicks", "overlap_p99_ratio", "overlap_rss_mb",
                "traced_clicks_per_s_ratio", "lease_ratio", "webhook_ack_p99_ms", "workers_scaling")


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from loadtest import bench

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    names = tuple(dict.fromkeys(args.figures)) or bench.DEFAULT
    results = bench.run(settings, say, names, {"pool": {"greenlets": args.greenlets, "seconds": args.seconds}})
    if args.json:
        print_json({key: results[key] for key in SUMMARY_KEYS} if not args.figures else results)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from loadtest.bench import DEFAULT, FIGURES

    p = commands.add_parser("bench", help="benchmarks: the gateway's paths next to bare baselines, one run")
    p.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE",
                   help=f"only these of {', '.join(FIGURES)} (default: {', '.join(DEFAULT)})")
    p.add_argument("--greenlets", type=int, default=200, help="pool figure: concurrent greenlets")
    p.add_argument("--seconds", type=float, default=3.0, help="pool figure: measuring time")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: the summary keys, or every number of the figures asked for")
    p.set_defaults(handler=cmd_bench)
