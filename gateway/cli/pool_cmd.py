"""`gateway pool ...`: provision, inspect and repair the egress pool."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.cli.output import print_json, table
from gateway.config import Settings
from gateway.countries import normalize
from gateway.egress import providers
from gateway.egress.sizing import required_slots
from gateway.egress.slots import key_counts
from gateway.errors import ValidationError
from gateway.process.services import Services

STATUS_COLUMNS = ("country", "total", "ready", "cooling", "leased", "quarantined", "disabled", "utilization")


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        report = services.slots.provision(args.provider, key_counts(args.country, "--country"))
    rows = [(cc, report.added.get(cc, 0), report.existing.get(cc, 0)) for cc in sorted(report.existing)]
    print(table(("country", "added", "already there"), rows))
    print(f"{report.as_dict()['total_added']} slot(s) added for provider {args.provider}")
    return 0


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        slot, created = services.slots.add_static(args.url, args.country, args.id)
    print(f"{'added' if created else 'already in the pool:'} {slot.id} ({slot.scheme}://{slot.host}:{slot.port}, "
          f"{slot.country})")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError("FILE", f"cannot read {args.file}: {exc}") from None
    with Services.open(settings) as services:
        result = services.slots.import_csv(text)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.items()))
    return 0


def cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        print(f"removed {services.slots.remove(args.id).id}")
    return 0


def cmd_toggle(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        slot = services.slots.set_enabled(args.id, args.pool_command == "enable")
    print(f"{slot.id} {'enabled' if slot.enabled else 'disabled'}")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        state = services.census.status(normalize(args.country) if args.country else None)
    if args.json:
        print_json(state.as_dict())
        return 0
    rows = [[getattr(c, col) for col in STATUS_COLUMNS] + ["ALERT" if c.alert else ""] for c in state.countries]
    print(table((*STATUS_COLUMNS, ""), rows) if rows else "the pool is empty: gateway pool provision ...")
    for warning in state.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        view = services.slots.describe(args.id)
    if args.json:
        print_json(view)
        return 0
    live = view.pop("live") or {}
    for key, value in [*view.items(), *live.items()]:
        if key.endswith("_ms") and str(value).isdigit() and int(value) > 10**12:
            value = datetime.fromtimestamp(int(value) / 1000, UTC).isoformat(timespec="milliseconds")
        print(f"{key:22} {value}")
    return 0


def cmd_reset_health(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.id) == args.all:
        raise ValidationError("ID", "name one slot id, or --all")
    with Services.open(settings) as services:
        count = services.slots.reset_health(args.id)
    print(f"health reset for {count} slot(s)")
    return 0


def cmd_size(settings: Settings, args: argparse.Namespace) -> int:
    cooldown = settings.pool.cooldown_s if args.cooldown_s is None else args.cooldown_s
    slots, explanation = required_slots(args.peak_clicks_per_s, args.trace_s, cooldown, args.headroom)
    print(explanation)
    print(f"provision at least {slots} slots across the countries that carry this traffic")
    return 0


def cmd_providers(settings: Settings, args: argparse.Namespace) -> int:
    rows = providers.listing(settings.providers)
    if args.json:
        print_json(rows)
        return 0
    print(table(("provider", "preset", "configured", "endpoint", "status"),
                [(r["provider"], "yes" if r["preset"] else "", "yes" if r["configured"] else "", r["endpoint"],
                  "ready" if r["ready"] else "lacks " + " and ".join(r["lacks"])) for r in rows]))
    return 0


def cmd_maintain(settings: Settings, args: argparse.Namespace) -> int:
    with Services.open(settings) as services:
        report = services.maintenance.tick()
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"reaped {len(report.reaped)}, recovered {len(report.recovered)}, reconciled {report.reconciled or '-'}, "
              f"snapshot {'written' if report.snapshot else 'not due'}")
        for line in report.warnings + report.errors:
            print(f"warning: {line}", file=sys.stderr)
    return 1 if report.errors else 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("pool", help="egress pool: provision, inspect, repair")
    sub = group.add_subparsers(dest="pool_command", required=True, metavar="ACTION")

    p = sub.add_parser("provision", help="add provider session slots up to a count per country (idempotent)")
    p.add_argument("--provider", required=True, help="a [provider:NAME] block of the configuration")
    p.add_argument("--country", action="append", required=True, metavar="CC=N", help="e.g. --country us=50")
    p.set_defaults(handler=cmd_provision)

    p = sub.add_parser("add", help="add one static proxy")
    p.add_argument("--url", required=True, help="http|socks5|socks5h://user:pass@host:port")
    p.add_argument("--country", required=True)
    p.add_argument("--id", help="slot id (default static-CC-N)")
    p.set_defaults(handler=cmd_add)

    p = sub.add_parser("import", help="import static proxies from CSV (columns country,url[,id])")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("remove", help="remove a slot from the inventory and the live pool")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=cmd_remove)

    for action in ("disable", "enable"):
        p = sub.add_parser(action, help=f"{action} a slot (a leased slot finishes its lease first)")
        p.add_argument("id", metavar="ID")
        p.set_defaults(handler=cmd_toggle)

    p = sub.add_parser("status", help="per-country counts, utilization and warnings")
    p.add_argument("--country")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("show", help="one slot: inventory row, live state, health, lease holder")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("reset-health", help="forget failures and end quarantine")
    p.add_argument("id", metavar="ID", nargs="?")
    p.add_argument("--all", action="store_true")
    p.set_defaults(handler=cmd_reset_health)

    p = sub.add_parser("size", help="slots needed: peak clicks/s x (trace s + cooldown s) x headroom")
    p.add_argument("--peak-clicks-per-s", type=float, required=True)
    p.add_argument("--trace-s", type=float, required=True)
    p.add_argument("--cooldown-s", type=float, help="default [pool] cooldown_s")
    p.add_argument("--headroom", type=float, default=1.5)
    p.set_defaults(handler=cmd_size)

    p = sub.add_parser("providers", help="built-in presets and configured providers, and what each still lacks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_providers)

    p = sub.add_parser("maintain", help="run one maintenance tick now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_maintain)
