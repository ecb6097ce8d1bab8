"""`serve`, `migrate` and `redis-cli`."""

from __future__ import annotations

import argparse
import os
import subprocess
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from gateway import config
from gateway.config import Settings
from gateway.process import prefork, server
from gateway.process.browser_workers import COMMAND
from gateway.process.services import check_patched, migrate, store_options
from store import migrate as migrations
from store.embedded import redis_cli_binary
from store.stores import Stores


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """One process, or with `--workers N` (or `[server] workers`) a supervisor pre-forking N of them."""
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    workers = args.workers or settings.server.workers
    if workers > 1:
        return prefork.supervise(settings, host, port, workers)
    return server.serve(settings, host, port)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    check_patched()
    stores = Stores.open(store_options(settings))
    try:
        applied = migrate(stores.postgres_url)
    finally:
        stores.close()
    if not applied:
        count = len(migrations.available())
        print(f"database is up to date ({count} migration{'s' * (count != 1)} applied earlier); nothing changed")
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    return 0


def redis_cli_args(url: str) -> list[str]:
    """redis-cli connection options for a redis://, rediss:// or unix:// URL."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        db = parse_qs(parts.query).get("db", ["0"])[0]
        return ["-s", parts.path, "-n", db]
    return ["-u", url, *(["--tls"] if parts.scheme == "rediss" else [])]


def cmd_redis_cli(settings: Settings, args: argparse.Namespace) -> int:
    check_patched()
    stores = Stores.open(store_options(settings))
    try:
        return subprocess.call([str(redis_cli_binary()), *redis_cli_args(stores.redis_url), *args.args])
    finally:
        stores.close()


def cmd_example_config(settings: Settings, args: argparse.Namespace) -> int:
    """The documented defaults (the gateway.ini shipped in the package), to start a configuration from."""
    print((resources.files("gateway") / "gateway.ini").read_text(encoding="utf-8"), end="")
    return 0


def cmd_browser_worker(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway browser-worker` never gets here from the command line (`__main__` runs it before gevent patches
    anything); called in a patched process, it runs the worker in a process of its own."""
    path = settings.server.data_dir / f"browser-worker-{os.getpid()}.ini"
    try:
        return subprocess.call(COMMAND, env=config.child_env(settings, path))
    finally:
        path.unlink(missing_ok=True)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the HTTP gateway")
    serve.add_argument("--host", help="listen address (default [server] host)")
    serve.add_argument("--port", type=int, help="listen port (default [server] port)")
    serve.add_argument("--workers", type=int, help="pre-forked worker processes (default [server] workers)")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser(
        "browser-worker", help="follow browser traces from Redis in headless Chromium (run more on any host)",
        description="One browser worker: takes browser traces from the configured Redis, follows each in "
                    "headless Chromium ([browser] executable) through the trace's slot, answers through Redis. "
                    "`gateway serve` starts [browser] workers of them itself.")
    worker.set_defaults(handler=cmd_browser_worker)

    migrate = commands.add_parser("migrate", help="apply missing database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    cli = commands.add_parser("redis-cli", help="run redis-cli against the configured (or embedded) Redis",
                              description="Arguments after redis-cli go to redis-cli itself.")
    cli.add_argument("args", nargs=argparse.REMAINDER)
    cli.set_defaults(handler=cmd_redis_cli)

    example = commands.add_parser("example-config", help="print the documented default gateway.ini")
    example.set_defaults(handler=cmd_example_config)
