"""`python -m loadtest chains|proxy ...`: run a local double in its own process until SIGTERM.

Each prints `listening on URL` once it accepts connections (what `processes.ServiceProcess` waits for).
"""

from gevent import monkey

monkey.patch_all()

import argparse
import signal
import sys

import gevent
import gevent.event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    sub = parser.add_subparsers(dest="double", required=True)
    chains = sub.add_parser("chains", help="the affiliate-chain server on 127.0.0.1 and 127.0.0.2")
    chains.add_argument("--latency-ms", type=float, default=0.0, help="added to every hop")
    proxy = sub.add_parser("proxy", help="an HTTP or SOCKS5 proxy with username/password auth")
    proxy.add_argument("--kind", choices=("http", "socks5"), default="socks5")
    proxy.add_argument("--password", default="proxy-secret")
    args = parser.parse_args(argv)

    if args.double == "chains":
        from loadtest.chains import ChainServer

        server = ChainServer(args.latency_ms).start()
        url = server.url()
    else:
        from loadtest.proxies import ProxyServer

        server = ProxyServer(args.kind, args.password).start()
        host, port = server.address
        url = f"{args.kind}://{host}:{port}"
    print(f"listening on {url}", flush=True)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
