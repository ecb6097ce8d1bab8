"""What a trace record says happened: the answer a click got, or the end of a trace made for no click (by the
filler, a pair update, pair creation). The `traces` table's CHECK lists the same values (a test keeps them equal)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    FINAL = "final"  # the click went where its own trace ended
    FINAL_AHEAD = "final_ahead"  # ... where a trace made ahead of it ended
    FALLBACK_TIMEOUT = "fallback_timeout"  # its trace did not end within the offer's wait
    FALLBACK_ERROR = "fallback_error"  # its trace failed
    FALLBACK_NO_EGRESS = "fallback_no_egress"  # no slot was free
    FALLBACK_AHEAD_EMPTY = "fallback_ahead_empty"  # ahead_only, and the bucket was empty
    FALLBACK_LIMITED = "fallback_limited"  # its client was past its trace budget
    FALLBACK_BOT = "fallback_bot"  # a bot, HEAD or a prefetch: never traced
    BEACON = "beacon"  # a POST beacon (parallel tracking): answered with nothing
    TRACED = "traced"  # a trace made for no click ended well
    FAILED = "failed"  # ... or not


NOT_CLICKS = frozenset({Outcome.TRACED, Outcome.FAILED})
CLICKS = tuple(o for o in Outcome if o not in NOT_CLICKS)


class Tracer(StrEnum):
    """How an offer's chain is followed (`offers.tracer`; its CHECK lists the same values)."""

    HTTP = "http"  # the static reader: 3xx, Refresh, meta refresh, JavaScript it can read
    BROWSER = "browser"  # headless Chromium, the whole chain
    AUTO = "auto"  # HTTP, then Chromium from a page a script engine would still leave


class TracedBy(StrEnum):
    """What followed a recorded trace (`traces.tracer`; its CHECK lists the same values)."""

    HTTP = "http"
    BROWSER = "browser"
    HTTP_THEN_BROWSER = "http+browser"  # auto: HTTP up to the page that needed a script engine, Chromium from there
    HTTP_NO_BROWSER = "http-no-browser"  # the offer wanted a browser and none was free: HTTP alone, as far as it got
