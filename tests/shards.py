"""Run the suite as several pytest processes at once, each on its own set of test files.

Why not pytest-xdist: its workers talk to the controller through execnet, whose I/O thread cannot run once
the test process has patched `threading` for gevent (it stops with LoopExit). Separate processes need no such
channel: each has its own session fixtures (its own embedded servers, its own template database), so shards
are as isolated from each other as tests are.

    python tests/shards.py [PYTEST_ARGS]      # TEST_SHARDS=N (default: 2, at most the CPU count)

With explicit test paths among the arguments it runs one plain pytest instead.

Each shard has its own `--basetemp`: pytest resets its shared temp root (`pytest-of-USER`) to mode 0700 when
a session starts, which would take away the search bit the embedded PostgreSQL's own user needs to reach a
cluster another shard is creating under it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Seconds each file took on the reference machine: only the balance between shards depends on them.
WEIGHTS = {
    "test_pool_cli.py": 28, "test_trackier.py": 45, "test_webhooks.py": 26, "test_offers_cli.py": 22,
    "test_pool_api.py": 21, "test_trace_cli.py": 20, "test_serve.py": 20, "test_clicks.py": 9, "test_pool.py": 8,
    "test_loadtest.py": 26, "test_ahead.py": 12, "test_embedded.py": 6, "test_migrations.py": 4, "test_config.py": 3,
    "test_tracing.py": 2, "test_resolver.py": 1, "test_faults.py": 45, "test_openapi.py": 40, "test_secrets.py": 14,
    "test_properties.py": 5, "test_security.py": 15, "test_fuzz.py": 12, "test_architecture.py": 1,
    "test_console.py": 17, "test_console_browser.py": 16, "test_feed.py": 20, "test_edge.py": 15, "test_wheel.py": 20,
    "test_browser.py": 100,
}


def weight(path: Path) -> float:
    return WEIGHTS.get(path.name, path.stat().st_size / 1000)


def plan(files: list[Path], shards: int) -> list[list[Path]]:
    """Heaviest file first, each to the lightest shard so far."""
    groups: list[list[Path]] = [[] for _ in range(shards)]
    loads = [0.0] * shards
    for path in sorted(files, key=weight, reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(path)
        loads[lightest] += weight(path)
    return [group for group in groups if group]


def main(args: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    if any(Path(arg.split("::")[0]).exists() for arg in args if not arg.startswith("-")):
        return subprocess.call([*pytest, *args])
    shards = max(1, min(int(os.environ.get("TEST_SHARDS", "2")), os.cpu_count() or 1))
    groups = plan(sorted(TESTS.glob("test_*.py")), shards)
    started = time.monotonic()
    runs, codes = [], []
    with contextlib.ExitStack() as logs:
        temp = logs.enter_context(tempfile.TemporaryDirectory(prefix="gateway-tests-"))
        for n, group in enumerate(groups, 1):
            log = logs.enter_context(tempfile.TemporaryFile("w+"))
            proc = subprocess.Popen([*pytest, "-q", "-p", "no:cacheprovider", f"--basetemp={temp}/shard{n}",
                                     *map(str, group), *args], stdout=log, stderr=subprocess.STDOUT, text=True)
            runs.append((n, group, proc, log))
        for n, group, proc, log in runs:
            codes.append(proc.wait())
            log.seek(0)
            print(f"===== shard {n}/{len(runs)}: {' '.join(p.name for p in group)}", flush=True)
            print(log.read().rstrip(), flush=True)
    failed = [n for (n, *_), code in zip(runs, codes, strict=True) if code]
    print(f"===== {len(runs)} shards in {time.monotonic() - started:.0f} s: "
          + (f"shard(s) {failed} FAILED" if failed else "all passed"), flush=True)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
