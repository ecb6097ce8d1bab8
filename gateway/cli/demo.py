"""`gateway demo`: see gateway/demo.py."""

from __future__ import annotations

import argparse

from gateway.config import Settings


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from gateway import demo

    return demo.run(settings, args.host, args.port)


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="run the gateway with a local chain, proxy and demo offer")
    p.add_argument("--host", help="listen address (default [server] host)")
    p.add_argument("--port", type=int, help="listen port (default [server] port)")
    p.set_defaults(handler=cmd_demo)
