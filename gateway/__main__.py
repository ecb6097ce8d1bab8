"""Entry point of `gateway` and `python -m gateway`: gevent patching comes before every other import."""

from gevent import monkey

monkey.patch_all()

from gateway import resolver

resolver.install()

import sys


def run() -> None:
    from gateway.cli import main

    sys.exit(main())


if __name__ == "__main__":
    run()
