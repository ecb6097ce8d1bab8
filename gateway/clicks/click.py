"""A click: trace the offer's chain through a leased slot and answer within the offer's wait budget.

    success        to the traced final URL + the chain's parameters (per the offer's policy) + inbound
    late / error   to the fallback URL + the inbound parameters the offer passes through; the trace goes on,
                   releases its slot, and is recorded when it ends (outcome fallback_timeout or fallback_error)
    no slot        to the fallback URL (fallback_no_egress)
    HEAD, bots     to the fallback URL without a trace (fallback_bot)
    POST beacon    nowhere (no Location: the route answers with nothing), without a trace (beacon)
    over budget    to the fallback URL without a trace or a take (fallback_limited): a client address may
                   cost `[clicks] client_traces_per_minute` traces per offer and minute, from a bucket or inline

An offer in `ahead` or `ahead_only` mode first takes a fresh trace made ahead from its bucket (`final_ahead`, the
record naming that trace and its age); on a miss `ahead` traces inline as above (and a trace that ends after its
click fell back goes into the bucket for the next click, if nothing of its click went into it: its tracking URL got
no pass-through value), `ahead_only` sends to the fallback at once (`fallback_ahead_empty`).

The click path only redirects to an offer's own URLs or to where their traced chains end, never to a URL
taken from the request. Records, and the answers of uses of traces made ahead, go to the background; what a click
waits on a store for is one Redis call (the take with its budget, or the budget of an inline click) and, traced
inline, the lease.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from gateway.ahead.buckets import AHEAD_MODES, AheadBuckets, Handed, OverBudget
from gateway.config import ClickSettings
from gateway.metrics import Metrics
from gateway.tracing import params
from gateway.tracing.outcomes import Outcome
from gateway.tracing.records import RecordWriter, TraceRecord
from gateway.tracing.runner import TraceRunner
from gateway.tracing.tracer import TraceResult
from store.buckets import Spend
from store.errors import StoreError
from store.offers import Offer

log = logging.getLogger(__name__)
PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")
UNSAFE = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
NOT_STARTED = frozenset({"no_egress", "store_unavailable"})


@dataclass(frozen=True)
class Click:
    slug: str
    inbound: list[tuple[str, str]]
    method: str = "GET"
    user_agent: str = ""
    prefetch: bool = False
    client: str = "-"  # the client's address (routes/clients.py)


@dataclass(frozen=True)
class Answer:
    """Where the click goes (None: nowhere, a beacon is answered with nothing), its record's id, its outcome."""

    location: str | None
    click_id: uuid.UUID
    outcome: Outcome


def safe_location(url: str) -> str:
    """A URL that can travel in a Location header: controls, spaces and non-ASCII percent-encoded."""
    return UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), url)


def fallback_url(offer: Offer, inbound: list[tuple[str, str]]) -> str:
    return safe_location(params.fill(offer.fallback_url or offer.tracking_url, inbound,
                                     params.passes(offer.pass_through)))


def destination(offer: Offer, result: TraceResult | None, inbound: list[tuple[str, str]]) -> str | None:
    """Where a successful click goes (see `params.landing`), safe for a Location header; None when the trace did
    not end on a page (no result in time, or a failure)."""
    if result is None or not result.ok or result.final_url is None:
        return None
    chain = params.chain_params([hop.url for hop in result.hops])
    return safe_location(params.landing(result.final_url, chain, offer.param_policy, inbound))


def outcome_of(result: TraceResult | None) -> Outcome:
    """A click's outcome from its trace's result (None: not in time)."""
    if result is None:
        return Outcome.FALLBACK_TIMEOUT
    if result.error in NOT_STARTED:
        return Outcome.FALLBACK_NO_EGRESS
    return Outcome.FINAL if result.ok else Outcome.FALLBACK_ERROR


class ClickHandler:
    def __init__(self, runner: TraceRunner, ahead: AheadBuckets, records: RecordWriter, metrics: Metrics,
                 settings: ClickSettings) -> None:
        self.runner = runner
        self.ahead = ahead
        self.records = records
        self.metrics = metrics
        self.settings = settings

    def is_bot(self, user_agent: str) -> bool:
        agent = user_agent.lower()
        return not agent or any(word in agent for word in self.settings.bot_words)

    def handle(self, offer: Offer, click: Click) -> Answer:
        """Answer one click on an enabled offer."""
        started = time.monotonic()
        record = TraceRecord(outcome="", offer_id=offer.id, offer_slug=offer.slug, inbound=click.inbound)
        if click.method == "POST":
            return self._untraced(record, started, None, Outcome.BEACON)
        if click.method == "HEAD" or click.prefetch or self.is_bot(click.user_agent):
            return self._untraced(record, started, fallback_url(offer, click.inbound), Outcome.FALLBACK_BOT)
        spend = Spend(click.client, self.settings.client_traces_per_minute) \
            if self.settings.client_traces_per_minute else None
        try:
            if offer.click_mode in AHEAD_MODES:
                handed = self._take(offer, spend)
                if handed is not None:
                    return self._answer_ahead(offer, click, record, started, handed)
                if offer.click_mode == "ahead_only":
                    return self._untraced(record, started, fallback_url(offer, click.inbound),
                                          Outcome.FALLBACK_AHEAD_EMPTY)
            elif spend and not self._spend(offer, spend):
                raise OverBudget(offer.slug)
        except OverBudget:
            return self._untraced(record, started, fallback_url(offer, click.inbound), Outcome.FALLBACK_LIMITED)
        return self._inline(offer, click, record, started)

    def _inline(self, offer: Offer, click: Click, record: TraceRecord, started: float) -> Answer:
        url = params.fill(offer.tracking_url, click.inbound, params.passes(offer.pass_through))
        late = (lambda result, country: self._keep(offer, url, record, result, country)) \
            if offer.click_mode == "ahead" else None
        job = self.runner.start(offer, url, wait_ms=min(offer.wait_ms, self.settings.lease_wait_ms),
                                purpose=str(record.id), record=record, late=late)
        try:
            result = job.wait(max(0.0, offer.wait_ms / 1000 - (time.monotonic() - started)))
            outcome = outcome_of(result)
            location = destination(offer, result, click.inbound) or fallback_url(offer, click.inbound)
            return self._answer(record, started, location, outcome)
        finally:
            job.answered()

    def _take(self, offer: Offer, spend: Spend | None) -> Handed | None:
        try:
            return self.ahead.take(offer, spend=spend)
        except StoreError as exc:  # without Redis there is no bucket: an empty one
            log.warning("bucket of %s not read: %s", offer.slug, exc)
            return None

    def _spend(self, offer: Offer, spend: Spend) -> bool:
        try:
            return self.ahead.spend(offer, spend)
        except StoreError:  # without Redis no slot can be leased either: the trace ends as fallback_no_egress
            return True

    def _keep(self, offer: Offer, url: str, record: TraceRecord, result: TraceResult, country: str) -> None:
        """A trace that ended after its click fell back: the next click of the offer may use it if it carries
        nothing of this click."""
        try:
            self.ahead.keep_late(offer, url, country, record.id, result)
        except StoreError as exc:
            log.warning("late trace %s of %s not kept: %s", record.id, offer.slug, exc)

    def _answer_ahead(self, offer: Offer, click: Click, record: TraceRecord, started: float, handed: Handed) -> Answer:
        trace = handed.trace
        record.final_url, record.slot_id = trace.final_url, trace.slot_id
        record.ahead_trace_id, record.ahead_age_ms = trace.trace_id, handed.age_ms
        record.params = trace.params
        location = safe_location(params.landing(trace.final_url, trace.chain, offer.param_policy, click.inbound))
        self.ahead.answered(offer, handed)
        return self._untraced(record, started, location, Outcome.FINAL_AHEAD)

    def _answer(self, record: TraceRecord, started: float, location: str | None, outcome: Outcome) -> Answer:
        record.outcome, record.redirect_url = outcome, location
        record.total_ms = round((time.monotonic() - started) * 1000)
        self.metrics.clicks.labels(outcome).inc()
        self.metrics.click_seconds.observe(time.monotonic() - started)
        return Answer(location, record.id, outcome)

    def _untraced(self, record: TraceRecord, started: float, location: str | None, outcome: Outcome) -> Answer:
        answer = self._answer(record, started, location, outcome)
        self.records.submit(record)
        return answer
