"""Entry point of `gateway` and `python -m gateway`: gevent patching comes before every other import, except in a
browser worker, which must run without gevent (Playwright brings its own event loop)."""

import sys


def _is_browser_worker(argv: list[str]) -> bool:
    """`gateway [--config PATH] browser-worker ...`: the first argument that is not an option is the command."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "--config" else rest[1:]
    return bool(rest) and rest[0] == "browser-worker"


if _is_browser_worker(sys.argv[1:]):
    from gateway.process.browser_worker import main as browser_worker

    sys.exit(browser_worker(sys.argv[1:]))

from gevent import monkey

monkey.patch_all()

from gateway.process import resolver

resolver.install()

from gateway.cli import main


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
