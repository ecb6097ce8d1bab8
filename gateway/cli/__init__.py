"""The `gateway` command line: one module per command group, each adding its subcommands here.

Exit status: 0 success, 1 the operation failed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import sys

from gateway import __version__, config, logs, text
from gateway.errors import GatewayError, ValidationError
from gateway.runtime import StartupError
from store.errors import StoreError

GROUPS = ("core", "pool", "offers", "pairs", "trace", "bench", "loadtest", "demo")


def parser() -> argparse.ArgumentParser:
    import importlib

    top = argparse.ArgumentParser(prog="gateway", description="Click-tracing gateway.")
    top.add_argument("--config", metavar="PATH", help="settings file (default: $GATEWAY_CONFIG or ./gateway.ini)")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(f"gateway.cli.{group}").add_commands(commands)
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
        return args.handler(settings, args)
    except ValidationError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except (StartupError, StoreError, GatewayError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
