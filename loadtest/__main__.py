"""`python -m loadtest DOUBLE|TOOL ...`: a local double or a measuring tool, in a process of its own.

Doubles (run until SIGTERM; each prints `listening on URL` once it accepts connections):
  chains [--latency-ms N]              the affiliate-chain server on 127.0.0.1 and 127.0.0.2
  proxy [--kind http|socks5] [--stats-file F]   a proxy with username/password auth; per-username
                                       connection counts written to F (JSON) when it stops
  trackier                             the fake Trackier API
  bare                                 the bare Bottle+gevent redirect app (a benchmark baseline)
Tools (print one JSON object and exit):
  hammer URL [...]                     the load generator (closed loop, open loop or burst)
  fanout URL [...]                     the bare gevent fan-out of requests.get (a benchmark baseline)
"""

from gevent import monkey

monkey.patch_all()

from gateway.process import resolver

resolver.install()

import argparse
import json
import signal
import sys
from dataclasses import asdict

import gevent
import gevent.event


def serve_double(args: argparse.Namespace) -> int:
    from gateway.process import wsgiserver

    if args.what == "chains":
        from loadtest.chains import ChainServer

        server = ChainServer(args.latency_ms).start()
        url = server.url()
    elif args.what == "proxy":
        from loadtest.proxies import ProxyServer

        server = ProxyServer(args.kind, args.password).start()
        url = f"{args.kind}://{server.address[0]}:{server.address[1]}"
    elif args.what == "trackier":
        from loadtest.trackier import FakeTrackier

        server = FakeTrackier(api_key=args.api_key).start()
        url = server.url
    else:
        from loadtest.baselines import redirect_app

        server = wsgiserver.start(redirect_app())
        url = f"http://127.0.0.1:{server.server_port}"
    print(f"listening on {url}", flush=True)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    server.stop()
    if args.what == "proxy" and args.stats_file:
        with open(args.stats_file, "w") as fh:
            json.dump({"refused": server.stats.refused,
                       "by_user": {user: asdict(usage) for user, usage in server.stats.by_user.items()}}, fh)
    return 0


def run_tool(args: argparse.Namespace) -> int:
    if args.what == "fanout":
        from loadtest.baselines import fanout

        print(json.dumps(fanout(args.url, args.concurrency, args.seconds, args.proxy)), flush=True)
        return 0
    from loadtest.hammer import Hammer

    headers = dict(header.split(": ", 1) for header in args.header)
    values = args.values.split(",") if args.values else [""]
    hammer = Hammer(lambda n: args.url.replace("{n}", str(n)).replace("{v}", values[n % len(values)]),
                    args.method, headers, args.timeout)
    if args.burst:
        result = hammer.burst(args.burst)
    elif args.rate:
        result = hammer.open_loop(args.rate, args.seconds)
    else:
        result = hammer.closed_loop(args.concurrency, args.seconds, args.requests)
    print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("chains")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every hop")
    p = sub.add_parser("proxy")
    p.add_argument("--kind", choices=("http", "socks5"), default="socks5")
    p.add_argument("--password", default="proxy-secret")
    p.add_argument("--stats-file")
    p = sub.add_parser("trackier")
    p.add_argument("--api-key", default="fake-trackier-key")
    sub.add_parser("bare")
    for tool in ("hammer", "fanout"):
        p = sub.add_parser(tool)
        p.add_argument("url", metavar="URL", help="{n} is replaced by the request's number, {v} by --values")
        p.add_argument("--concurrency", type=int, default=50)
        p.add_argument("--seconds", type=float, default=5.0)
    p = sub.choices["hammer"]
    p.add_argument("--rate", type=float, help="open loop: requests started per second")
    p.add_argument("--requests", type=int, help="closed loop: stop after this many requests")
    p.add_argument("--burst", type=int, help="this many requests at the same moment")
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--values", help="comma-separated values cycled into {v} of the URL")
    sub.choices["fanout"].add_argument("--proxy", help="proxy URL for every request")
    args = parser.parse_args(argv)
    return run_tool(args) if args.what in ("hammer", "fanout") else serve_double(args)


if __name__ == "__main__":
    sys.exit(main())
