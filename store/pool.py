"""The egress pool's live state in Redis: per-country sets, fenced leases, cooldowns and quarantine.

Every slot is in exactly one place per country: the ready zset (scored by the time its cooldown ends;
a score in the future means cooling), the leased zset (scored by the lease deadline), the quarantine zset
(scored by the retry time) or the disabled set. The state shown for a slot is derived from that place,
never stored twice. A hash per slot keeps its health and counters, the leases hash the current holder and
fencing token of each leased slot.

Each change is one Lua script (`store/lua/`) whose keys all arrive in KEYS and share the `{pool}` hash tag,
so the same scripts run on Redis Cluster. The lease script touches only fixed per-country keys; scripts
that update a slot's hash are given that hash's key.

Timeline of the fencing token (why a late release cannot corrupt a slot):

    A: lease(s1) -> token 7 ...... stalls past its deadline ............. release(s1, 7) -> ignored
    maintenance:                   reap(s1, 7) -> cooldown, s1 ready later
    B:                                              lease(s1) -> token 8 ... release(s1, 8) -> released
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import gevent
import gevent.event
import gevent.lock
import redis

from store.errors import StoreError, StoreUnavailable
from store.keys import Keyspace
from store.pubsub import Subscription
from store.redis_client import available, register_script


class Release(StrEnum):
    """How a slot's use went, as release.lua weighs it: `ok`, `fail` (the egress failed: counts toward
    quarantine), `upstream_error` (the chain failed, not the slot: no blame)."""

    OK = "ok"
    FAIL = "fail"
    UPSTREAM_ERROR = "upstream_error"
POLL_S = 0.1


class NoEgress(StoreError):
    """No slot of the wanted countries came free within the wait."""

    def __init__(self, countries: Sequence[str], next_ready_ms: int) -> None:
        super().__init__(f"no free egress slot in {', '.join(countries)}")
        self.countries = list(countries)
        self.next_ready_ms = next_ready_ms


@dataclass(frozen=True)
class PoolPolicy:
    lease_ms: int = 90_000
    cooldown_ms: int = 60_000
    fail_threshold: int = 3
    quarantine_ms: int = 60_000
    quarantine_max_ms: int = 3_600_000


@dataclass(frozen=True)
class Lease:
    slot_id: str
    country: str
    token: str
    leased_at_ms: int
    deadline_ms: int
    waited_ms: float
    waited: bool = False


@dataclass(frozen=True)
class ReleaseResult:
    result: str  # released | quarantined | disabled | ignored | not_due
    at_ms: int


class PoolKeys:
    """The pool's keys, all under the `{pool}` hash tag."""

    def __init__(self, keys: Keyspace) -> None:
        self.space = keys
        self.leases = self._key("leases")
        self.fence = self._key("fence")
        self.window = self._key("window")
        self.index = self._key("index")
        self.countries = self._key("countries")
        self.channel = self._key("ready")

    def _key(self, *parts: str) -> str:
        return self.space.tagged("pool", *parts)

    def ready(self, country: str) -> str:
        return self._key("ready", country)

    def leased(self, country: str) -> str:
        return self._key("leased", country)

    def quarantine(self, country: str) -> str:
        return self._key("quarantine", country)

    def disabled(self, country: str) -> str:
        return self._key("disabled", country)

    def slot(self, slot_id: str) -> str:
        return self._key("slot", slot_id)


class ReadyNotices:
    """Wakes local lease waiters when a slot of their country becomes ready (a pub/sub message), so a
    waiting lease sleeps on an event instead of polling Redis."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._events: dict[str, gevent.event.Event] = {}
        self.subscription = Subscription(client, channel, self._notice, self._wake_all)

    @property
    def listening(self) -> bool:
        return self.subscription.listening

    def start(self, timeout: float = 2.0) -> bool:
        return self.subscription.start(timeout)

    def stop(self) -> None:
        self.subscription.stop()

    def arm(self, countries: Sequence[str]) -> list[gevent.event.Event]:
        """Events set by the next ready notice of each country. Armed before a lease attempt, so a notice
        published while the attempt runs is not missed."""
        if not self.listening:
            return []
        return [self._events.setdefault(c, gevent.event.Event()) for c in countries]

    def wait(self, armed: list[gevent.event.Event], timeout: float) -> None:
        """Sleep until one of the armed events is set or `timeout` passes (short polls when not listening)."""
        if armed:
            gevent.wait(armed, timeout=timeout, count=1)
        else:
            gevent.sleep(min(timeout, POLL_S))

    def _notice(self, data: str) -> None:
        event = self._events.pop(data.split(" ", 1)[0], None)
        if event:
            event.set()

    def _wake_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


class EgressPool:
    """Lease, release and inspect egress slots. Redis faults surface as StoreUnavailable."""

    def __init__(self, client: redis.Redis, keys: Keyspace, policy: PoolPolicy) -> None:
        self.client = client
        self.keys = PoolKeys(keys)
        self.policy = policy
        self.notices = ReadyNotices(client, self.keys.channel)
        self._plans: dict[tuple[str, ...], tuple[list[str], gevent.lock.Semaphore]] = {}
        self._counts: dict[str, int] = {}
        channel = self.keys.channel
        self._lease = register_script(client, "lease", LEASE_MS=policy.lease_ms)
        self._lease_one = register_script(client, "lease_one", LEASE_MS=policy.lease_ms)
        self._release = register_script(client, "release", FAIL_THRESHOLD=policy.fail_threshold, CHANNEL=channel,
                                QUARANTINE_MS=policy.quarantine_ms, QUARANTINE_MAX_MS=policy.quarantine_max_ms)
        self._recover = register_script(client, "recover", CHANNEL=channel)
        self._ensure = register_script(client, "ensure", CHANNEL=channel)
        self._drop = register_script(client, "drop")
        self._ready_now = register_script(client, "ready_now")

    # -- leasing -------------------------------------------------------------------------------------------

    def lease(self, countries: Sequence[str], wait_ms: float = 0, holder: str = "") -> Lease:
        """Lease a slot of the first country (in order) that has one ready, waiting up to `wait_ms`.

        Waiters queue in this process behind a FIFO gate per country list, so only one of them at a time
        asks Redis; it sleeps until the earliest cooldown end or a ready notice, never polling in a loop.
        Raises NoEgress when nothing came free in time.
        """
        keys, gate = self._lease_plan(tuple(countries))
        args = [holder.replace(" ", "_")[:120], *countries]

        def attempt() -> list[Any]:
            return available(lambda: self._lease(keys=keys, args=args))

        started = time.monotonic()
        armed = self.notices.arm(countries) if wait_ms > 0 else []
        result = None if gate.locked() else attempt()
        if result and (result[0] == 1 or wait_ms <= 0):
            return self._granted(result, countries, started, waited=False)
        if not gate.acquire(blocking=False):
            result = None  # others were waiting: what we saw is stale once our turn comes
            if not gate.acquire(timeout=max(0.0, started + wait_ms / 1000 - time.monotonic())):
                raise NoEgress(countries, -1)
        try:
            return self._wait_turn(attempt, result, armed, countries, started, started + wait_ms / 1000)
        finally:
            gate.release()

    def _lease_plan(self, countries: tuple[str, ...]) -> tuple[list[str], gevent.lock.Semaphore]:
        """The lease script's keys and this process's waiting gate for a list of countries (built once)."""
        plan = self._plans.get(countries)
        if plan is None:
            keys = [self.keys.leases, self.keys.fence, self.keys.window]
            for country in countries:
                keys += [self.keys.ready(country), self.keys.leased(country)]
            plan = self._plans[countries] = (keys, gevent.lock.Semaphore())
        return plan

    def _wait_turn(self, attempt: Callable[[], list[Any]], result: list[Any] | None, armed: list[gevent.event.Event],
                   countries: Sequence[str], started: float, deadline: float) -> Lease:
        """The gate holder's loop: try, then sleep until a cooldown ends or a ready notice comes."""
        while True:
            if result is None:
                armed = self.notices.arm(countries)
                result = attempt()
            remaining = deadline - time.monotonic()
            if result[0] == 1 or remaining <= 0:
                return self._granted(result, countries, started, waited=True)
            next_ready, now = int(result[1]), int(result[2])
            until_ready = (next_ready - now) / 1000 if next_ready >= 0 else remaining
            self.notices.wait(armed, min(remaining, max(until_ready, 0.001)))
            result = None

    def lease_one(self, slot_id: str, country: str, holder: str = "") -> Lease:
        """Lease this very slot if it is ready now; NoEgress otherwise (leased, cooling, quarantined, ...)."""
        keys = [self.keys.leases, self.keys.fence, self.keys.window, self.keys.ready(country),
                self.keys.leased(country)]
        result = available(lambda: self._lease_one(keys=keys, args=[holder.replace(" ", "_")[:120], slot_id, country]))
        return self._granted(result, [country], time.monotonic(), waited=False)

    @staticmethod
    def _granted(result: list[Any], countries: Sequence[str], started: float, waited: bool) -> Lease:
        if result[0] != 1:
            raise NoEgress(countries, int(result[1]))
        _, slot_id, token, country, now, deadline = result
        return Lease(slot_id, country, str(token), int(now), int(deadline),
                     (time.monotonic() - started) * 1000, waited)

    def release(self, lease: Lease, outcome: Release, trace_ms: float | None = None,
                cooldown_ms: int | None = None) -> ReleaseResult:
        """Give a slot back with the outcome of its use; ignored unless the fencing token still holds."""
        outcome = Release(outcome)
        return self._finish(lease.slot_id, lease.country, lease.token, outcome, trace_ms, cooldown_ms)

    def _finish(self, slot_id: str, country: str, token: str, outcome: str, trace_ms: float | None,
                cooldown_ms: int | None) -> ReleaseResult:
        keys = [self.keys.leases, self.keys.leased(country), self.keys.ready(country),
                self.keys.quarantine(country), self.keys.disabled(country), self.keys.slot(slot_id),
                self.keys.window]
        args: list[str | int | float] = [slot_id, token, outcome,
                                         self.policy.cooldown_ms if cooldown_ms is None else cooldown_ms,
                                         "" if trace_ms is None else round(trace_ms, 1), country]
        result, at = available(lambda: self._release(keys=keys, args=args))
        return ReleaseResult(result, int(at))

    def count(self, field: str, country: str, amount: int = 1) -> None:
        """Add to a window counter (lease waits, no-egress events) for the next pool snapshot. Kept in the
        process and flushed by maintenance, so counting costs the hot path no round trip."""
        name = f"{field}:{country}"
        self._counts[name] = self._counts.get(name, 0) + amount

    def flush_counts(self) -> None:
        """Add this process's pending counts to the shared window counters."""
        counts, self._counts = self._counts, {}
        if not counts:
            return
        pipe = self.client.pipeline(transaction=False)
        for name, amount in counts.items():
            pipe.hincrby(self.keys.window, name, amount)
        try:
            available(pipe.execute)
        except StoreUnavailable:
            for name, amount in counts.items():
                self._counts[name] = self._counts.get(name, 0) + amount
            raise

    # -- maintenance ---------------------------------------------------------------------------------------

    def reap_expired(self) -> list[str]:
        """Reap every lease past its deadline as a failure of kind `lease_expired`; returns the slot ids."""
        reaped = []
        for country in self.countries():
            due = self._due(self.keys.leased(country))
            for slot_id in due:
                entry = self._lease_entry(slot_id)
                token = entry.split(" ", 1)[0] if entry else "0"
                if self._finish(slot_id, country, token, "lease_expired", None, None).result in (
                        "released", "quarantined", "disabled"):
                    reaped.append(slot_id)
        return reaped

    def recover_due(self) -> list[str]:
        """Move quarantined slots whose backoff has ended back to ready, half-open."""
        recovered = []
        for country in self.countries():
            due = self._due(self.keys.quarantine(country))
            recovered += [slot_id for slot_id in due if self._recover_one(slot_id, country, force=False)]
        return recovered

    def _due(self, zset: str) -> list[str]:
        """The members of a leased or quarantine zset whose score (deadline, retry time) has passed."""
        return available(lambda: cast(list[str], self.client.zrangebyscore(zset, "-inf", self._now_ms())))

    def _lease_entry(self, slot_id: str) -> str | None:
        """The slot's entry in the leases hash (its fencing token first); None when it holds no lease."""
        return available(lambda: cast(str | None, self.client.hget(self.keys.leases, slot_id)))

    def reset_health(self, slot_id: str, country: str) -> None:
        """Forget a slot's failures and take it out of quarantine now."""
        self._recover_one(slot_id, country, force=True)

    def _recover_one(self, slot_id: str, country: str, force: bool) -> bool:
        keys = [self.keys.quarantine(country), self.keys.ready(country), self.keys.disabled(country),
                self.keys.slot(slot_id)]
        args = [slot_id, "1" if force else "0", country]
        return bool(available(lambda: self._recover(keys=keys, args=args)))

    def ensure(self, slots: Iterable[tuple[str, str, bool, str]]) -> dict[str, int]:
        """Make Redis agree with the inventory for each (id, country, enabled, provider); counts by result."""
        results: dict[str, int] = {}
        pipe = self.client.pipeline(transaction=False)
        for slot_id, country, enabled, provider in slots:
            keys = [self.keys.index, self.keys.countries, self.keys.leases, self.keys.ready(country),
                    self.keys.leased(country), self.keys.quarantine(country), self.keys.disabled(country),
                    self.keys.slot(slot_id)]
            self._ensure(keys=keys, args=[slot_id, country, "1" if enabled else "0", provider], client=pipe)
        for result in available(pipe.execute):
            results[result] = results.get(result, 0) + 1
        return results

    def drop(self, slot_id: str) -> bool:
        """Forget a slot that left the inventory (any lease it holds is dropped too)."""
        country = available(lambda: cast(str | None, self.client.hget(self.keys.slot(slot_id), "country")))
        if not country:
            return bool(available(lambda: self.client.srem(self.keys.index, slot_id)))
        keys = [self.keys.index, self.keys.leases, self.keys.ready(country), self.keys.leased(country),
                self.keys.quarantine(country), self.keys.disabled(country), self.keys.slot(slot_id)]
        return bool(available(lambda: self._drop(keys=keys, args=[slot_id])))

    def known_ids(self) -> set[str]:
        return available(lambda: cast(set[str], self.client.smembers(self.keys.index)))

    def countries(self) -> list[str]:
        return sorted(available(lambda: cast(set[str], self.client.smembers(self.keys.countries))))

    def take_window(self) -> dict[str, int]:
        """Read and reset the counters gathered since the last call (one snapshot's worth)."""
        self.flush_counts()
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.keys.window)
        pipe.delete(self.keys.window)
        counts, _ = available(pipe.execute)
        return {name: int(value) for name, value in counts.items()}

    # -- inspection ----------------------------------------------------------------------------------------

    def census(self) -> dict[str, dict[str, int]]:
        """Per country: ready, cooling, leased, quarantined, disabled and total slot counts, read together."""
        now = self._now_ms()
        countries = self.countries()
        pipe = self.client.pipeline(transaction=False)
        for country in countries:
            pipe.zcount(self.keys.ready(country), "-inf", now)
            pipe.zcount(self.keys.ready(country), f"({now}", "+inf")
            pipe.zcard(self.keys.leased(country))
            pipe.zcard(self.keys.quarantine(country))
            pipe.scard(self.keys.disabled(country))
        counts = available(pipe.execute)
        census = {}
        for i, country in enumerate(countries):
            ready, cooling, leased, quarantined, disabled = counts[5 * i: 5 * i + 5]
            census[country] = {"ready": ready, "cooling": cooling, "leased": leased, "quarantined": quarantined,
                               "disabled": disabled, "total": ready + cooling + leased + quarantined + disabled}
        return census

    def ready_count(self, country: str) -> int:
        """Slots of `country` leasable right now (not cooling, leased, quarantined or disabled)."""
        return int(available(lambda: self._ready_now(keys=[self.keys.ready(country)])))

    def slot(self, slot_id: str) -> dict[str, Any] | None:
        """A slot's live view: derived state, health counters and current lease holder; None if unknown."""
        info = available(lambda: cast(dict[str, str], self.client.hgetall(self.keys.slot(slot_id))))
        if not info:
            return None
        country = info["country"]
        pipe = self.client.pipeline(transaction=False)
        pipe.zscore(self.keys.ready(country), slot_id)
        pipe.zscore(self.keys.leased(country), slot_id)
        pipe.zscore(self.keys.quarantine(country), slot_id)
        pipe.sismember(self.keys.disabled(country), slot_id)
        pipe.hget(self.keys.leases, slot_id)
        ready_at, deadline, retry_at, disabled, lease = available(pipe.execute)
        now = self._now_ms()
        view: dict[str, Any] = {"id": slot_id, **info}
        if disabled:
            view["state"] = "disabled"
        elif deadline is not None:
            token, _, leased_at, holder = (lease or "0 0 0 ").split(" ", 3)
            view.update(state="leased", lease_deadline_ms=int(deadline), leased_at_ms=int(leased_at),
                        holder=holder, token=token)
        elif retry_at is not None:
            view.update(state="quarantined", retry_at_ms=int(retry_at))
        elif ready_at is not None:
            view.update(state="ready" if ready_at <= now else "cooling", ready_at_ms=int(ready_at))
        else:
            view["state"] = "missing"
        return view

    def _now_ms(self) -> int:
        seconds, micros = available(self.client.time)
        return seconds * 1000 + micros // 1000
