"""The `gateway` command line. Each command is a small function over the runtime; errors exit non-zero.

Exit status: 0 success, 1 the operation failed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from gateway import __version__, config, logs
from gateway.runtime import Runtime, StartupError
from store import migrate as migrations
from store.errors import StoreError

log = logging.getLogger("gateway")


def cmd_serve(settings: config.Settings, args: argparse.Namespace) -> int:
    from gateway.server import serve

    return serve(settings, host=args.host, port=args.port)


def cmd_migrate(settings: config.Settings, args: argparse.Namespace) -> int:
    with Runtime.open(settings) as rt, rt.db.connection() as conn:
        applied = migrations.migrate(conn)
    if not applied:
        count = len(migrations.available())
        print(f"database is up to date ({count} migration{'s' * (count != 1)} applied earlier); nothing changed")
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gateway", description="Click-tracing gateway.")
    top.add_argument("--config", metavar="PATH", help="settings file (default: $GATEWAY_CONFIG or ./gateway.ini)")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP gateway")
    serve.add_argument("--host", help="listen address (default [server] host)")
    serve.add_argument("--port", type=int, help="listen port (default [server] port)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply missing database migrations")
    migrate.set_defaults(handler=cmd_migrate)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.server.log_level)
    handler: Callable[[config.Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(settings, args)
    except (StartupError, StoreError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
