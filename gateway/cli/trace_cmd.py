"""`gateway trace URL`: follow a chain from the command line, directly, through a proxy, or through the pool, over
HTTP, in a browser, or `auto` (a browser from a page that needs one). Browser modes use the running gateway's
browser workers, or start one for the command."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

from gateway.cli.output import print_json, table
from gateway.config import Settings
from gateway.countries import normalize
from gateway.egress.slots import parse_proxy_url
from gateway.errors import ValidationError
from gateway.process.browser_workers import BrowserWorkers
from gateway.process.services import Services
from gateway.tracing import tracer, urls
from gateway.tracing.outcomes import Tracer

WORKER_START_S = 30.0


def options(settings: Settings, args: argparse.Namespace) -> tracer.TraceOptions:
    for name, value, low in (("--max-hops", args.max_hops, 1), ("--timeout", args.timeout, 0.001)):
        if value is not None and value < low:
            raise ValidationError(name, f"must be at least {low:g}")
    return tracer.TraceOptions.from_settings(
        settings.tracing, user_agent=args.ua, referer=args.referer, max_hops=args.max_hops,
        total_timeout_s=args.timeout, allow_private=True if args.allow_private else None)


def run_trace(settings: Settings, args: argparse.Namespace, opts: tracer.TraceOptions) -> tracer.TraceResult:
    if args.proxy:
        parse_proxy_url(args.proxy, "--proxy")
    route = tracer.SlotRoute("cli-proxy", args.proxy, pooled=False) if args.proxy else None
    if args.mode == Tracer.HTTP and not (args.egress or args.country):
        return tracer.trace(args.url, route, opts)
    country = normalize(args.country, "--country") if args.country else None
    with Services.open(settings) as services, _browser_worker(services, args.mode):
        if args.egress or country:
            return services.runner.probe(args.url, opts, "cli", args.egress, country, args.mode)
        return services.runner.follow(args.url, route, opts, args.mode)


@contextlib.contextmanager
def _browser_worker(services: Services, mode: str) -> Iterator[None]:
    """A browser worker for this command, when its mode needs one and no gateway runs one."""
    if mode == Tracer.HTTP or services.browser.workers(fresh=True):
        yield
        return
    stores = services.stores
    with BrowserWorkers(services.settings, stores.redis_url, stores.postgres_url, count=1) as workers:
        deadline = time.monotonic() + WORKER_START_S
        while workers.procs and not services.browser.available(fresh=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield


def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    try:
        urls.split_web(urls.prepared(args.url))
    except urls.BadUrl as exc:
        raise ValidationError("URL", f"{args.url!r} is not an http(s) URL a browser could open: {exc}") from None
    result = run_trace(settings, args, options(settings, args))
    if args.json:
        print_json(result.as_dict())
    else:
        print_result(result)
    return 0 if result.ok else 1


def print_result(result: tracer.TraceResult) -> None:
    rows: list[tuple[object, ...]] = []
    for n, hop in enumerate(result.hops, 1):
        rows.append((n, hop.status, hop.kind, f"{hop.ms:.1f}", hop.bytes, hop.url))
        if hop.next:
            rows.append(("", "", "", "", "", f"-> {hop.next}"))
    print(table(("#", "status", "kind", "ms", "bytes", "url"), rows))
    verdict = "ok" if result.ok else f"error {result.error}: {result.detail}"
    via = f" via {result.slot_id}" if result.slot_id else ""
    print(f"\n{verdict}\nfinal  {result.final_url}\ntotal  {result.total_ms:.1f} ms{via}, {result.tracer}")
    if result.params:
        print("params " + "&".join(f"{k}={v}" for k, v in result.params))


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("trace", help="follow a redirect chain like a browser and show every hop")
    p.add_argument("url", metavar="URL")
    route = p.add_mutually_exclusive_group()
    route.add_argument("--direct", action="store_true", help="no proxy (the default)")
    route.add_argument("--egress", metavar="ID", help="through this pool slot (leased for the trace)")
    route.add_argument("--proxy", metavar="URL", help="through this proxy: http|socks5|socks5h://user:pass@host:port")
    route.add_argument("--country", metavar="CC", help="through a slot of this country, leased from the pool")
    p.add_argument("--ua", metavar="desktop|mobile|STRING", help="User-Agent (default [tracing] user_agent)")
    p.add_argument("--referer", metavar="URL")
    p.add_argument("--max-hops", type=int, metavar="N")
    p.add_argument("--timeout", type=float, metavar="S", help="whole-trace budget in seconds")
    p.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses (testing)")
    p.add_argument("--mode", choices=[str(mode) for mode in Tracer], default=Tracer.HTTP,
                   help="http (default), browser (headless Chromium), or auto (a browser only where needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_trace)
