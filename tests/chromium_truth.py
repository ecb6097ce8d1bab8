"""Where Chromium itself ends each chain: `python tests/chromium_truth.py URL...` prints a JSON list of final URLs.

Plain Playwright on the system Chromium, directly, nothing blocked, no gateway code: the yardstick the browser
tracer's results are checked against. Every chain runs at once, each in a context of its own; a page is final once
its URL has been still for STILL_S (longer than any delay in the test corpus), within BUDGET_S. Run as a process of
its own, never inside the gevent-patched test process."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time

from playwright.sync_api import Error, sync_playwright

STILL_S, BUDGET_S = 3.0, 30.0


def main(urls: list[str]) -> None:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        pages, moved = [], []
        for n, url in enumerate(urls):
            page = browser.new_context().new_page()
            moved.append(time.monotonic())
            page.on("framenavigated", lambda frame, n=n, page=page: frame == page.main_frame and
                    moved.__setitem__(n, time.monotonic()))
            with contextlib.suppress(Error):  # the chain navigated on before its first page committed
                page.goto(url, wait_until="commit")
            pages.append(page)
        deadline = time.monotonic() + BUDGET_S
        while time.monotonic() < deadline and min(time.monotonic() - at for at in moved) < STILL_S:
            pages[0].wait_for_timeout(100)
        print(json.dumps([page.url for page in pages]))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
