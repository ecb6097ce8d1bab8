"""Locust scenarios for the gateway.

`gateway loadtest` runs them against a gateway it brings up on loopback and checks the invariants afterwards;
`locust -f loadtest/locustfile.py --host URL SCENARIO` runs them against any gateway whose offers match the
LOADTEST_* variables below.

OverlappingClicks  every user clicks at the same moments: waves every LOADTEST_WAVE_S seconds from
                   LOADTEST_START_AT (epoch seconds), so each wave is `users` clicks in flight together
ClicksWithGaps     each user clicks LOADTEST_BURST times in a row, then idles LOADTEST_GAP_S seconds (longer
                   than the pool's cooldown, so slots come back between bursts)
WebhookStorm       Trackier postbacks, LOADTEST_RATE per second per user, spread round-robin over every
                   pair token in LOADTEST_TOKENS (all pairs of several offers)
Mixed              browser clicks (traced), bot clicks (the fast path) and postbacks together
AheadClicks        clicks on an offer that traces ahead: Poisson arrivals, LOADTEST_RATE per second per user, one
                   arrival in LOADTEST_BURST_EVERY a burst of LOADTEST_BURST clicks at once

A click passes when it is a 302 whose Location still carries the click's gclid and no other (a landing page or the
fallback, both keep the inbound parameters); a postback passes when it is a 200 the gateway accepted.
Anything else, connection errors included, is a Locust failure. With LOADTEST_SUMMARY set, the final
statistics (after the last user stopped) are written there as JSON for `gateway loadtest` to check.
"""

from gevent import monkey

monkey.patch_all()

import itertools
import json
import os
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import gevent
from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
BOT = "loadtest-bot/1.0 (+https://example.invalid/bot)"


@dataclass(frozen=True)
class Plan:
    """The scenario knobs, read once from the environment."""

    offer: str = "lt-clicks"
    tokens: tuple[str, ...] = ()
    wave_s: float = 10.0
    start_at: float = field(default_factory=lambda: time.time() + 2)
    burst: int = 3
    gap_s: float = 3.0
    rate: float = 5.0
    burst_every: int = 10

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Plan":
        defaults = cls()
        tokens = tuple(t for t in environ.get("LOADTEST_TOKENS", "").split(",") if t)
        return cls(offer=environ.get("LOADTEST_OFFER", defaults.offer), tokens=tokens,
                   wave_s=float(environ.get("LOADTEST_WAVE_S", defaults.wave_s)),
                   start_at=float(environ.get("LOADTEST_START_AT", defaults.start_at)),
                   burst=int(environ.get("LOADTEST_BURST", defaults.burst)),
                   gap_s=float(environ.get("LOADTEST_GAP_S", defaults.gap_s)),
                   rate=float(environ.get("LOADTEST_RATE", defaults.rate)),
                   burst_every=int(environ.get("LOADTEST_BURST_EVERY", defaults.burst_every)))


PLAN = Plan.from_environ(os.environ)
_tokens = itertools.cycle(PLAN.tokens or ("no-token-configured",))
_environment: list[Environment] = []


@events.init.add_listener
def _remember(environment: Environment, **_: object) -> None:
    _environment.append(environment)


@events.quit.add_listener
def _write_summary(exit_code: int, **_: object) -> None:
    """The final statistics per request name (and "Aggregated") and the failures, as JSON."""
    path = os.environ.get("LOADTEST_SUMMARY")
    if not path or not _environment:
        return
    stats = _environment[0].stats
    entries = {entry.name: entry for entry in stats.entries.values()}
    entries["Aggregated"] = stats.total
    summary = {
        "exit_code": exit_code,
        "requests": {name: {"requests": e.num_requests, "failures": e.num_failures, "per_s": round(e.total_rps, 1),
                            **{f"p{round(q * 100)}_ms": e.get_response_time_percentile(q) if e.num_requests else None
                               for q in (0.5, 0.95, 0.99)},
                            "max_ms": round(e.max_response_time or 0)}
                     for name, e in entries.items()},
        "failures": [f"{error.name}: {error.error} (x{error.occurrences})" for error in stats.errors.values()],
    }
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=1)


class GatewayUser(FastHttpUser):
    abstract = True

    def click(self, agent: str = BROWSER, name: str = "click") -> None:
        gclid = f"lt{uuid.uuid4().hex[:16]}"
        with self.client.get(f"/c/{PLAN.offer}?gclid={gclid}", headers={"User-Agent": agent}, name=name,
                             allow_redirects=False, catch_response=True) as response:
            location = response.headers.get("Location", "") if response.headers else ""
            if response.status_code != 302:
                response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
            elif gclid not in location:
                response.failure(f"the Location lost the click's gclid: {location[:200]}")
            elif set(parse_qs(urlsplit(location).query).get("gclid", [])) != {gclid}:
                response.failure(f"the Location carries another click's gclid: {location[:200]}")
            else:
                response.success()

    def postback(self) -> None:
        click_id = uuid.uuid4().hex
        with self.client.get(f"/webhooks/trackier?token={next(_tokens)}&click_id={click_id}&campaign_id=lt",
                             name="postback", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
            elif response.json().get("status") not in ("accepted", "disabled"):
                response.failure(f"not accepted: {response.text[:200]}")
            else:
                response.success()


def _until_next_wave() -> float:
    elapsed = time.time() - PLAN.start_at
    return -elapsed if elapsed < 0 else PLAN.wave_s - elapsed % PLAN.wave_s


class OverlappingClicks(GatewayUser):
    def wait_time(self) -> float:
        return _until_next_wave()

    def on_start(self) -> None:
        gevent.sleep(max(0.0, PLAN.start_at - time.time()))

    @task
    def wave(self) -> None:
        self.click()


class ClicksWithGaps(GatewayUser):
    wait_time = constant(PLAN.gap_s)

    @task
    def burst(self) -> None:
        for _ in range(PLAN.burst):
            self.click()


class WebhookStorm(GatewayUser):
    wait_time = constant_throughput(PLAN.rate)

    @task
    def storm(self) -> None:
        self.postback()


class Mixed(GatewayUser):
    wait_time = constant_throughput(PLAN.rate)

    @task(2)
    def browser_click(self) -> None:
        self.click()

    @task(3)
    def bot_click(self) -> None:
        self.click(BOT, name="click (bot)")

    @task(5)
    def storm(self) -> None:
        self.postback()


class AheadClicks(GatewayUser):
    """Visitors arriving at random (exponential gaps), now and then several at once, as ad traffic does."""

    def wait_time(self) -> float:
        return random.expovariate(PLAN.rate)

    def on_start(self) -> None:
        # Never follow redirects, for every request: `allow_redirects=False` swaps this setting of the shared
        # client for one request and puts it back, which concurrent clicks of one burst would interleave.
        self.client.client.redirect_response_codes = frozenset()

    @task
    def arrival(self) -> None:
        together = PLAN.burst if random.randrange(PLAN.burst_every) == 0 else 1
        if together == 1:
            self.click()
            return
        clicks = [gevent.spawn(self.click) for _ in range(together)]
        try:
            gevent.joinall(clicks)
        except gevent.GreenletExit:  # the user is being stopped: its clicks in flight still end and count
            gevent.joinall(clicks)
            raise
