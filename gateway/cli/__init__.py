"""The `gateway` command line: one module per command group, each adding its subcommands here.

Commands that bring up a lab of local doubles (`bench`, `loadtest`, `demo`) belong to the `loadtest` package,
which depends on the gateway, not the other way round: it declares them as entry points of the group
`gateway.commands` (pyproject.toml), and they are added here when that package is installed.

Exit status: 0 success, 1 the operation failed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from typing import cast

from gateway import __version__, config, text
from gateway.cli import ahead_cmd, core_cmd, offers_cmd, pairs_cmd, pool_cmd, trace_cmd
from gateway.errors import GatewayError, ValidationError
from gateway.process import logs
from gateway.process.services import StartupError
from store.errors import StoreError

GROUPS = (core_cmd, pool_cmd, offers_cmd, pairs_cmd, trace_cmd, ahead_cmd)
PLUGINS = "gateway.commands"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gateway", description="Click-tracing gateway.")
    top.add_argument("--config", metavar="PATH", help="settings file (default: $GATEWAY_CONFIG or ./gateway.ini)")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    for plugin in sorted(entry_points(group=PLUGINS), key=lambda entry: entry.name):
        plugin.load()(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for n, arg in enumerate(argv, 1):
        if text.problem(arg):
            print(f"gateway: argument {n} is not valid UTF-8 text", file=sys.stderr)
            return 2
    args = parser().parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.server.log_level)
    try:
        return cast(int, args.handler(settings, args))  # each command's handler (set_defaults) returns its status
    except ValidationError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except (StartupError, StoreError, GatewayError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
