"""A click: lease an egress slot, trace the offer's chain, and answer within the offer's wait budget.

    success        302 to the traced final URL + the chain's parameters (per the offer's policy) + inbound
    late / error   302 to the fallback URL + inbound; the trace goes on in its greenlet, releases its slot,
                   and is recorded when it ends (outcome fallback_timeout or fallback_error)
    no slot        302 to the fallback URL (fallback_no_egress)
    HEAD, bots     302 to the fallback URL without a trace (fallback_bot)
    POST beacon    204 without a trace (beacon)

The click path only redirects to an offer's own URLs or to where their traced chains end, never to a URL
taken from the request. Records go to the background writer; nothing here waits on a store but the lease.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

import gevent

from gateway import params, pool, tracing, urls
from gateway.records import TraceRecord
from gateway.runtime import Runtime
from store.errors import StoreError
from store.offers import Offer
from store.pool import NoEgress

log = logging.getLogger(__name__)
PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")
UNSAFE = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")


@dataclass(frozen=True)
class Click:
    slug: str
    inbound: list[tuple[str, str]]
    method: str = "GET"
    user_agent: str = ""
    prefetch: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    location: str | None = None
    click_id: uuid.UUID | None = None
    outcome: str | None = None


def safe_location(url: str) -> str:
    """A URL that can travel in a Location header: controls, spaces and non-ASCII percent-encoded."""
    return UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), url)


def is_bot(rt: Runtime, user_agent: str) -> bool:
    agent = user_agent.lower()
    return not agent or any(word in agent for word in rt.settings.clicks.bot_words)


def fallback_url(offer: Offer, inbound: list[tuple[str, str]]) -> str:
    return safe_location(params.fill(offer.fallback_url or offer.tracking_url, inbound,
                                      params.passes(offer.pass_through)))


def handle(rt: Runtime, offer: Offer, click: Click) -> Answer:
    """Answer one click on an enabled offer."""
    started = time.monotonic()
    record = TraceRecord(outcome="", offer_id=offer.id, offer_slug=offer.slug, inbound=click.inbound)
    if click.method == "POST":
        return _done(rt, record, started, 204, None, "beacon")
    if click.method == "HEAD" or click.prefetch or is_bot(rt, click.user_agent):
        return _done(rt, record, started, 302, fallback_url(offer, click.inbound), "fallback_bot")
    budget_s = offer.wait_ms / 1000
    try:
        leased = pool.lease_slot(rt, [offer.country, *offer.fallback_countries],
                                 min(offer.wait_ms, rt.settings.clicks.lease_wait_ms), f"{rt.identity}:{record.id}")
    except (NoEgress, StoreError) as exc:
        record.error = "no_egress" if isinstance(exc, NoEgress) else f"store: {exc}"[:300]
        return _done(rt, record, started, 302, fallback_url(offer, click.inbound), "fallback_no_egress")
    record.egress_id, record.lease_wait_ms = leased.slot.id, round(leased.lease.waited_ms)
    tracking = params.fill(offer.tracking_url, click.inbound, params.passes(offer.pass_through))
    job = rt.background.spawn(_trace, rt, offer, leased, tracking)
    job.link_exception(lambda g: log.error("trace of click %s crashed: %r", record.id, g.exception))
    job.join(max(0.0, budget_s - (time.monotonic() - started)))
    if not job.ready():
        record.total_ms = round((time.monotonic() - started) * 1000)
        rt.background.spawn(_late, rt, record, job)
        return _answer(rt, 302, fallback_url(offer, click.inbound), "fallback_timeout", record, started)
    result = job.value
    if result is None or not result.ok:
        _describe(record, result)
        return _done(rt, record, started, 302, fallback_url(offer, click.inbound), "fallback_error")
    _describe(record, result)
    location = destination(offer, result, click.inbound)
    return _done(rt, record, started, 302, location, "final")


def destination(offer: Offer, result: tracing.TraceResult, inbound: list[tuple[str, str]]) -> str:
    """Where a successful click goes: an app link as the chain gave it; a web page with the chain's
    parameters (per the offer's policy) and the inbound ones merged in."""
    if urls.scheme_of(result.final_url) not in urls.WEB_SCHEMES:
        return safe_location(result.final_url)
    handed_out = params.ParamPolicy.parse(offer.param_policy).apply(
        params.chain_params([hop.url for hop in result.hops]))
    return safe_location(params.merge(result.final_url, handed_out, inbound))


def _trace(rt: Runtime, offer: Offer, leased: pool.Leased, url: str) -> tracing.TraceResult | None:
    options = tracing.TraceOptions.from_settings(rt.settings.tracing, user_agent=offer.ua_profile)
    result = pool.trace_through(rt, leased, url, options, offer.cooldown_s)
    rt.metrics.trace_seconds.observe(result.total_ms / 1000)
    return result


def _late(rt: Runtime, record: TraceRecord, job: gevent.Greenlet) -> None:
    """The record of a click answered before its trace ended, submitted once the trace has ended (a
    greenlet of `rt.background`, so a drain waits for it)."""
    job.join()
    _describe(record, job.value if job.successful() else None)
    rt.records.submit(record)


def _describe(record: TraceRecord, result: tracing.TraceResult | None) -> None:
    if result is None:
        record.error = record.error or "trace crashed"
        return
    record.error = result.error
    record.final_url = result.final_url
    record.hops = [vars(hop) for hop in result.hops]
    record.params = [list(pair) for pair in result.params]
    record.trace_ms = round(result.total_ms)


def _answer(rt: Runtime, status: int, location: str | None, outcome: str, record: TraceRecord,
            started: float) -> Answer:
    record.outcome = outcome
    record.redirect_url = location
    rt.metrics.clicks.labels(outcome).inc()
    rt.metrics.click_seconds.observe(time.monotonic() - started)
    return Answer(status, location, record.id, outcome)


def _done(rt: Runtime, record: TraceRecord, started: float, status: int, location: str | None,
          outcome: str) -> Answer:
    answer = _answer(rt, status, location, outcome, record, started)
    record.total_ms = round((time.monotonic() - started) * 1000)
    rt.records.submit(record)
    return answer
