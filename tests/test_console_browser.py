"""The console in a real browser: Debian's Chromium driven by Selenium (chromium-driver). One walk through what an
operator does, with a screenshot of every page in reports/console/ (ignored by git). Skipped, saying why, where
Chromium or its driver is not installed (`.ci/run` installs both); under CI=true it fails instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gateway.config import Secret
from tests.conftest import ADMIN_TOKEN
from tests.helpers import REPO
from tests.test_trackier import trackier_settings

pytestmark = pytest.mark.needs("chromium", "chromedriver", install="apt-get install chromium chromium-driver; "
                                                                   ".ci/run does")

SHOTS = REPO / "reports" / "console"
VIEWER_TOKEN = "viewer-token-browser"


class Browser:
    def __init__(self, base: str) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,900",
                         "--disable-gpu", "--no-first-run"):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        self.driver.implicitly_wait(10)  # an element a page is still loading is waited for
        self.base = base
        self.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.driver.execute_script("return document.body ? document.body.innerText : ''")

    def wait_for(self, condition, seconds: float = 30) -> None:
        """Until `condition()` holds; a page being replaced meanwhile (stale or missing elements) is waited out."""
        WebDriverWait(self.driver, seconds, poll_frequency=0.2, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException)).until(lambda d: condition())

    def sign_in(self, token: str) -> None:
        self.open("/")
        self.find("#token").send_keys(token)
        self.find(".signin button[type=submit]").click()
        self.wait_for(lambda: self.driver.current_url.rstrip("/") == self.base)

    def shot(self, name: str, width: int = 1360) -> Path:
        """A screenshot of the whole page, `width` pixels wide."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(width, 900)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(height, 700), 4000))
        path = SHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1360, 900)
        return path

    def fetch_text(self, path: str) -> str:
        return self.driver.execute_async_script(
            "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(arguments[1])", path)

    def clipboard(self) -> str:
        return self.driver.execute_async_script(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('clipboard refused: ' + e))")

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def browser_gateway(make_gateway, fake, chains):
    gw = make_gateway(slots=6, admin__viewer_token=Secret(VIEWER_TOKEN),
                      **trackier_settings(fake, trackier__create_pacing_ms=250))  # paced: progress to watch
    browsers: list[Browser] = []

    def open_browser() -> Browser:
        browsers.append(Browser(gw.url))
        return browsers[-1]

    yield gw, open_browser
    for browser in browsers:
        browser.quit()


def test_an_operator_walks_through_the_console(browser_gateway, chains):
    gw, open_browser = browser_gateway
    b = open_browser()
    b.open("/")
    assert "/signin" in b.driver.current_url
    b.shot("01-sign-in")
    b.sign_in(ADMIN_TOKEN)
    assert "No warnings" in b.text()
    b.shot("02-overview-empty")

    b.open("/offers")
    b.find("a.button.primary[href='/offers/new']").click()
    b.wait_for(lambda: b.driver.current_url.endswith("/offers/new"))
    for name, value in (("slug", "shoes"), ("name", "Shoes <b>sale</b>"), ("country", "us"),
                        ("tracking_url", f"{chains.url()}/demo/start?aff=7")):
        b.find(f"#f-{name}").send_keys(value)
    wait = b.find("#f-wait_ms")
    wait.clear()
    wait.send_keys("soon")
    b.find("form.form button[type=submit]").click()
    b.wait_for(lambda: "must be a whole number" in b.find(".field.invalid .error").text)
    assert b.find("#f-slug").get_attribute("value") == "shoes"
    b.shot("03-offer-form-error")
    wait = b.find("#f-wait_ms")
    wait.clear()
    wait.send_keys("5000")
    b.find("form.form button[type=submit]").click()
    b.wait_for(lambda: b.driver.current_url.endswith("/offers/shoes"))
    assert "Offer shoes created." in b.text() and "Shoes <b>sale</b>" in b.find("h1").text

    count = b.find("#count")
    count.clear()
    count.send_keys("3")
    b.find("form.inline-form button[type=submit]").click()
    b.wait_for(lambda: "job=" in b.driver.current_url)
    seen: list[str] = []
    b.wait_for(lambda: seen.append(b.find(".job-text").text) or "done" in b.find(".job").get_attribute("class"), 60)
    assert "Creating pair 2 (2 of 3)…" in seen and "Done: created pair(s) 1, 2, 3" in b.find(".job-text").text
    b.shot("04-pairs-created")
    b.wait_for(lambda: len(b.driver.find_elements(By.CSS_SELECTOR, "table.pairs tbody tr")) == 3)  # reloaded

    template = b.find("#pair-1 td:nth-child(4) button.copy")
    template.click()
    b.wait_for(lambda: template.text == "Copied", 5)
    assert b.clipboard() == template.get_attribute("data-copy") and "campaign_id=" in b.clipboard()

    b.find("#pair-2 button.switch").click()
    b.wait_for(lambda: "Pair 2 disabled." in b.text())
    assert "off" in b.find("#pair-2").get_attribute("class")
    assert b.find("#pair-1 button.switch").get_attribute("disabled") == "true"  # pair 1 is protected
    b.shot("05-offer-and-pairs")
    b.driver.set_window_size(400, 900)
    assert b.driver.execute_script("return document.documentElement.scrollWidth") <= 400  # no sideways page
    b.shot("05-offer-and-pairs-phone", width=400)
    csv = b.fetch_text("/offers/shoes/pairs.csv").splitlines()
    assert csv[0].startswith("pair,name,enabled") and len(csv) == 4 and csv[2].startswith("2,Pair 2,False")

    b.open("/traces")
    assert gw.click("shoes", {"gclid": "BROWSER-CLICK"}).status_code == 302
    assert gw.rt.records.flush(10)
    b.wait_for(lambda: "final" in b.find("#trace-rows").text, 15)  # the live table picks it up
    b.shot("06-traces")
    b.find("#trace-rows a").click()
    b.wait_for(lambda: "gclid=BROWSER-CLICK" in b.text() and "meta_refresh" in b.text())
    b.shot("07-trace")

    b.open("/")
    assert int(b.find("#clicks-total").text) >= 1
    assert b.driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    b.shot("08-overview")
    b.open("/pool")
    b.shot("09-pool")
    b.open("/trace-tool")
    b.find("#url").send_keys(f"{chains.url()}/demo/start?aff=1")
    b.find("form.form button[type=submit]").click()
    b.wait_for(lambda: "Reached the end" in b.text())
    b.shot("10-trace-tool")

    viewer = open_browser()
    viewer.sign_in(VIEWER_TOKEN)
    viewer.open("/offers/shoes")
    switch = viewer.find("#pair-3 button.switch")
    assert switch.get_attribute("disabled") == "true"  # the page offers no change...
    viewer.driver.execute_script("arguments[0].removeAttribute('disabled')", switch)
    switch.click()  # ...and the server refuses one anyway
    viewer.wait_for(lambda: "Viewers can look at everything but change nothing" in viewer.text())
    viewer.shot("11-viewer-refused")
    assert gw.rt.pairs.get(gw.rt.offers.get("shoes").id, 3).enabled
