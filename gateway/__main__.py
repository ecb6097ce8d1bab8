"""Entry point of `gateway` and `python -m gateway`: gevent patching comes before every other import."""

from gevent import monkey

monkey.patch_all()

from gateway.process import resolver

resolver.install()

import sys

from gateway.cli import main


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
