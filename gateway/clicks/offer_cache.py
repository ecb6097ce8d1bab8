"""Offers by slug for the click path: an in-process copy at most `[clicks] offer_cache_s` old, dropped at once in
every process when an offer changes (Redis pub/sub), and kept serving while PostgreSQL is down."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import cast

import gevent
import gevent.event

from store.errors import StoreUnavailable
from store.offer_changes import EVERYTHING, OfferChanges
from store.offers import Offer, Offers

log = logging.getLogger(__name__)
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_CACHED = 10_000
STALE_WAIT_S = 0.25


class OfferCache:
    """Offers by slug for the click path: at most `ttl_s` old, invalidated across processes on change."""

    def __init__(self, offers: Offers, changes: OfferChanges, ttl_s: float) -> None:
        self.offers = offers
        self.changes = changes
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Offer | None]] = {}
        self._loading: dict[str, gevent.event.AsyncResult] = {}
        self.listeners: list[Callable[[str], None]] = []  # told of every change, like the cache itself
        self.subscription = changes.subscription(self._drop)

    def get(self, slug: str) -> Offer | None:
        """The offer (enabled or not), None if there is none. Past its time a cached copy is looked up again;
        when PostgreSQL is down or slow to answer (over `STALE_WAIT_S`) the stale copy serves meanwhile, so
        a click never waits on PostgreSQL for an offer it has seen."""
        entry = self._entries.get(slug)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        pending = self._loading.get(slug)
        if pending is None:
            pending = self._loading[slug] = gevent.event.AsyncResult()
            loader = gevent.spawn(self._load, slug, pending)  # a store error reaches every waiter through `pending`
            loader.link_exception(lambda g: log.error("loading offer %r crashed: %r", slug, g.exception))
        try:
            return cast(Offer | None, pending.get(timeout=STALE_WAIT_S if entry else None))
        except (gevent.Timeout, StoreUnavailable):
            if entry:
                return entry[1]
            raise

    def _load(self, slug: str, pending: gevent.event.AsyncResult) -> None:
        try:
            offer = self.offers.find(slug) if SLUG.match(slug) else None
        except Exception as exc:
            pending.set_exception(exc)
        else:
            self._remember(slug, offer)
            pending.set(offer)
        finally:
            self._loading.pop(slug, None)

    def _remember(self, slug: str, offer: Offer | None) -> None:
        if len(self._entries) >= MAX_CACHED:
            self._entries = {k: v for k, v in self._entries.items() if v[1] is not None}
            if len(self._entries) >= MAX_CACHED:
                self._entries.clear()
        self._entries[slug] = (time.monotonic() + self.ttl_s, offer)

    def changed(self, *slugs: str) -> None:
        """Forget these offers here, and tell every other process to forget them too."""
        for slug in slugs:
            self._drop(slug)
            with contextlib.suppress(StoreUnavailable):  # else the others drop it within offer_cache_s
                self.changes.publish(slug)

    def _drop(self, slug: str) -> None:
        if slug == EVERYTHING:
            self._entries.clear()
        else:
            self._entries.pop(slug, None)
        for listener in self.listeners:
            listener(slug)
