"""`gateway offers ...` and `gateway traces tail`."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gateway.cli.output import print_json, table
from gateway.config import Settings
from gateway.errors import ValidationError
from gateway.process.services import Services
from gateway.tracing.outcomes import Tracer
from store.errors import StoreError
from store.offers import Offer

FIELD_OPTIONS = {  # argparse destination -> offer field
    "slug": "slug", "name": "name", "tracking_url": "tracking_url", "fallback_url": "fallback_url",
    "final_url": "final_url", "country": "country", "fallback_country": "fallback_countries", "wait_ms": "wait_ms",
    "cooldown_s": "cooldown_s", "ua": "ua_profile", "update_interval_s": "update_interval_s",
    "click_mode": "click_mode", "ahead_depth": "ahead_depth", "ahead_max_age_s": "ahead_max_age_s",
    "tracer": "tracer",
}


def fields_from(args: argparse.Namespace) -> dict[str, Any]:
    """The offer fields named on the command line (unset options are left out)."""
    data = {field: value for option, field in FIELD_OPTIONS.items()
            if (value := getattr(args, option, None)) is not None}
    if args.policy is not None or args.rename:
        data["param_policy"] = _policy(args.policy or "all", args.rename or [])
    if args.pass_through is not None:
        data["pass_through"] = [name.strip() for name in args.pass_through.split(",") if name.strip()]
    if args.sub_ids:
        try:
            data["sub_id_mapping"] = json.loads(args.sub_ids)
        except ValueError:
            raise ValidationError("--sub-ids", 'must be JSON like {"p1": "gclid"}') from None
    return data


def _policy(text: str, renames: list[str]) -> dict[str, Any]:
    mode, _, names = text.partition(":")
    rename = {}
    for item in renames:
        old, sep, new = item.partition("=")
        if not sep:
            raise ValidationError("--rename", f"{item!r} must look like FROM=TO")
        rename[old] = new
    return {"mode": mode, "params": [n for n in names.split(",") if n], "rename": rename}


def show(offer: Offer, ahead: dict[str, Any]) -> None:
    for key, value in offer.as_dict().items():
        print(f"{key:20} {json.dumps(value, default=str) if isinstance(value, dict | list) else value}")
    print(f"{'ahead':20} depth {ahead['depth']}, max age {ahead['max_age_s']} s; "
          + ", ".join(f"{k} {v}" for k, v in ahead["counts"].items()))
    for bucket in ahead["buckets"]:
        age = "-" if bucket["oldest_age_s"] is None else f"{bucket['oldest_age_s']} s"
        print(f"{'  bucket ' + bucket['country']:20} {bucket['entries']} entries, oldest {age}")


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        offer = services.catalog.create(fields_from(args))
    print(f"added offer {offer.slug} ({offer.id})")
    return 0


def cmd_update(settings: Settings, args: argparse.Namespace) -> int:
    data = fields_from(args)
    if not data:
        raise ValidationError("OFFER", "name at least one field to change")
    with Services.open(settings) as services:
        offer = services.catalog.update(args.key, data)
    print(f"updated offer {offer.slug}: {', '.join(sorted(data))}")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        rows = services.catalog.all()
    if args.json:
        print_json([offer.as_dict() for offer in rows])
        return 0
    print(table(("slug", "enabled", "country", "wait_ms", "tracking_url"),
                [(o.slug, o.enabled, o.country, o.wait_ms, o.tracking_url) for o in rows]))
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        offer = services.catalog.get(args.key)
        ahead = services.ahead.status(offer)
    print_json({**offer.as_dict(), "ahead": ahead}) if args.json else show(offer, ahead)
    return 0


def cmd_rotate_feed_token(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        offer = services.catalog.rotate_feed_token(args.key)
    print(f"new feed token of {offer.slug} (the old one no longer works): {offer.feed_token}")
    print(f"feed: GET /feed/{offer.slug}/suffix with 'Authorization: Bearer <token>'; "
          f"`gateway ads-script {offer.slug}` writes a Google Ads script that uses it")
    return 0


def cmd_toggle(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        offer = services.catalog.set_enabled(args.key, args.offers_command == "enable")
    print(f"offer {offer.slug} {'enabled' if offer.enabled else 'disabled'}")
    return 0


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    """Print the newest traces, then (with --follow) each new one as it is recorded, until Ctrl-C."""
    if not 1 <= args.n <= 10_000:
        raise ValidationError("-n", "must be from 1 to 10000")
    with Services.open(settings) as services:
        entries = list(reversed(services.reports.stream(args.n)))
        for _, fields in entries:
            _print_trace(fields, args)
        last = entries[-1][0] if entries else "$"
        while args.follow:
            try:
                for entry_id, fields in services.reports.follow(last, block_ms=5000):
                    _print_trace(fields, args)
                    last = entry_id
            except StoreError as exc:
                print(f"# {exc}; retrying")
                time.sleep(1)
    return 0


def _print_trace(fields: dict[str, Any], args: argparse.Namespace) -> None:
    if args.offer and fields.get("offer") != args.offer:
        return
    if args.json:
        print(json.dumps(fields), flush=True)
        return
    where = fields.get("redirect") or fields.get("final_url") or "-"
    print(f"{fields.get('at', '-')}  {fields.get('offer', '-'):12} {fields.get('outcome', '-'):20} "
          f"{fields.get('total_ms', '-'):>6} ms  {fields.get('slot', '-'):14} {where}", flush=True)


def _field_options(parser: argparse.ArgumentParser, required: bool) -> None:
    for name in ("slug", "name", "tracking_url", "country"):
        if name != "slug" or required:
            parser.add_argument(f"--{name.replace('_', '-')}", required=required)
    parser.add_argument("--fallback-url")
    parser.add_argument("--final-url", help="the landing page the outbound (URL2) campaigns send to")
    parser.add_argument("--fallback-country", action="append", metavar="CC", help="repeat for several")
    parser.add_argument("--wait-ms", type=int)
    parser.add_argument("--cooldown-s", type=int)
    parser.add_argument("--ua", metavar="desktop|mobile|STRING")
    parser.add_argument("--policy", metavar="all|allow:a,b|deny:a,b", help="which chain parameters clicks keep")
    parser.add_argument("--rename", action="append", metavar="FROM=TO")
    parser.add_argument("--pass-through", metavar="NAME,PREFIX*,...",
                        help="inbound parameters passed on to the tracking URL (default: ad click ids and utm_*)")
    parser.add_argument("--sub-ids", metavar="JSON", help='sub-id mapping, e.g. {"p1": "gclid", "p5": "clickid"}')
    parser.add_argument("--update-interval-s", type=int)
    parser.add_argument("--click-mode", choices=("inline", "ahead", "ahead_only"),
                        help="answer clicks from their own trace (inline) or from traces made ahead")
    parser.add_argument("--tracer", choices=[str(mode) for mode in Tracer],
                        help="http (default), browser (headless Chromium), or auto (a browser only where needed)")
    parser.add_argument("--ahead-depth", type=int, help="fresh traces kept (default [ahead] depth)")
    parser.add_argument("--ahead-max-age-s", type=int, help="oldest a kept trace may be (default [ahead] max_age_s)")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("offers", help="offers: add, list, show, update, disable")
    sub = group.add_subparsers(dest="offers_command", required=True, metavar="ACTION")
    p = sub.add_parser("add", help="add an offer")
    _field_options(p, required=True)
    p.set_defaults(handler=cmd_add)
    p = sub.add_parser("update", help="change fields of an offer")
    p.add_argument("key", metavar="OFFER", help="id or slug")
    p.add_argument("--slug")
    _field_options(p, required=False)
    p.set_defaults(handler=cmd_update)
    p = sub.add_parser("list", help="list offers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("show", help="show one offer")
    p.add_argument("key", metavar="OFFER", help="id or slug")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)
    for action in ("disable", "enable"):
        p = sub.add_parser(action, help=f"{action} an offer")
        p.add_argument("key", metavar="OFFER", help="id or slug")
        p.set_defaults(handler=cmd_toggle)
    p = sub.add_parser("rotate-feed-token", help="a new token for the offer's suffix feed (the old one stops working)")
    p.add_argument("key", metavar="OFFER", help="id or slug")
    p.set_defaults(handler=cmd_rotate_feed_token)

    group = commands.add_parser("traces", help="recent traces")
    sub = group.add_subparsers(dest="traces_command", required=True, metavar="ACTION")
    p = sub.add_parser("tail", help="the newest traces; --follow to keep printing new ones")
    p.add_argument("-n", type=int, default=20, help="how many of the newest to print first")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--offer", metavar="SLUG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_tail)
