"""`gateway pairs ...` and `gateway trackier check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.output import print_json, table
from gateway.config import Settings
from gateway.postbacks.pair_setup import PairCreationFailed
from gateway.process.services import Services


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        try:
            report = services.pair_creation.create(args.offer, args.count)
        except PairCreationFailed as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return 1
    print(f"created pair(s) {', '.join(map(str, report.created))} for {report.offer}; "
          f"{report.pairs_total} pair(s) in all")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        rows = services.pair_views.listing(args.offer)["pairs"]
    if args.json:
        print_json(rows)
        return 0
    print(table(("pair", "name", "enabled", "url1", "url2", "webhooks", "updates", "webhook_url"),
                [(r["pair"], r["name"], r["enabled"], r["url1_campaign_id"], r["url2_campaign_id"],
                  r["webhook_count"], r["update_count"], r["webhook_url"]) for r in rows]))
    return 0


def cmd_toggle(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        pair = services.pair_controls.change(args.offer, args.index, {"enabled": args.pairs_command == "enable"})
    print(f"pair {pair.pair_index} {'enabled' if pair.enabled else 'disabled'}")
    return 0


def cmd_test(settings: Settings, args: argparse.Namespace) -> int:
    """A synthetic postback for the pair, routed and processed now."""
    with Services.open(settings) as services:
        answer = services.pair_controls.test(args.offer, args.index)
    print_json(answer)
    return 0 if answer.get("status") == "updated" else 1


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        data = services.pair_views.stats(args.offer)
    if args.json:
        print_json(data)
        return 0
    print(f"{data['offer']}: {data['pairs_enabled']}/{data['pairs_total']} pairs enabled, "
          f"{data['webhooks']} webhooks, {data['updates']} updates, last webhook {data['last_webhook_at'] or '-'}")
    print(table(("pair", "enabled", "webhooks", "updates", "last_update_at", "sub_id_values"),
                [(p["pair"], p["enabled"], p["webhook_count"], p["update_count"], p["last_update_at"],
                  p["sub_id_values"] or "-") for p in data["pairs"]]))
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        text = services.pair_views.export_csv(args.offer).text
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        count = services.trackier.check()
    print(f"Trackier answered: the key sees {count} advertiser(s)")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("pairs", help="Trackier campaign pairs of an offer")
    sub = group.add_subparsers(dest="pairs_command", required=True, metavar="ACTION")
    p = sub.add_parser("create", help="create N more pairs (URL1 + URL2 campaigns, template, token)")
    p.add_argument("offer", metavar="OFFER")
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(handler=cmd_create)
    p = sub.add_parser("list", help="pairs with their webhook URLs")
    p.add_argument("offer", metavar="OFFER")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    for action in ("disable", "enable"):
        p = sub.add_parser(action, help=f"{action} a pair (pair 1 cannot be disabled)")
        p.add_argument("offer", metavar="OFFER")
        p.add_argument("index", type=int, metavar="PAIR")
        p.set_defaults(handler=cmd_toggle)
    p = sub.add_parser("test", help="send a synthetic postback through the real routing path")
    p.add_argument("offer", metavar="OFFER")
    p.add_argument("index", type=int, metavar="PAIR")
    p.set_defaults(handler=cmd_test)
    p = sub.add_parser("stats", help="webhook and update counts per pair")
    p.add_argument("offer", metavar="OFFER")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)
    p = sub.add_parser("export", help="the pairs as CSV (formula-safe)")
    p.add_argument("offer", metavar="OFFER")
    p.add_argument("--output", "-o", metavar="FILE")
    p.set_defaults(handler=cmd_export)

    group = commands.add_parser("trackier", help="Trackier API")
    sub = group.add_subparsers(dest="trackier_command", required=True, metavar="ACTION")
    p = sub.add_parser("check", help="check the API key against Trackier")
    p.set_defaults(handler=cmd_check)
