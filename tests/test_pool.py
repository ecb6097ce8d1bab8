"""The live egress pool on real Redis: exclusive leases, fencing, cooldown, quarantine, rebuild, waits."""

from __future__ import annotations

import random

import gevent
import pytest

from gateway.egress import providers
from gateway.egress.sizing import required_slots
from gateway.errors import ValidationError
from store import redis_client
from store.errors import BadValue
from store.inventory import Slot
from store.pool import NoEgress
from tests.conftest import PROVIDER_PASSWORD

FAST = {"pool__cooldown_s": 0.0, "pool__lease_s": 30.0}


def redis_now_ms(rt) -> int:
    seconds, micros = rt.redis.time()
    return seconds * 1000 + micros // 1000


def sleep_until(rt, at_ms: int) -> None:
    """Let Redis's clock pass `at_ms` (the pool's deadlines are times, not events)."""
    gevent.sleep(max(0, at_ms - redis_now_ms(rt)) / 1000 + 0.005)


def provision(rt, **counts: int) -> None:
    rt.slots.provision("luna", counts)


def test_stress_never_hands_one_slot_to_two_holders(make_runtime):
    """1,000 greenlets leasing and releasing 50 slots for seconds: an independent registry never sees a slot
    held twice, and afterwards every slot is ready or cooling."""
    rt = make_runtime(pool__cooldown_s=0.01, pool__lease_s=30.0)
    provision(rt, us=50)
    assert rt.pool.notices.start()
    held: set[str] = set()
    violations: list[str] = []
    leases = [0]
    deadline = gevent.get_hub().loop.now() + 3.0

    def worker() -> None:
        while gevent.get_hub().loop.now() < deadline:
            try:
                leased = rt.leases.lease(["us"], 200, "stress")
            except NoEgress:
                continue
            slot_id = leased.lease.slot_id
            if slot_id in held:
                violations.append(slot_id)
            held.add(slot_id)
            leases[0] += 1
            gevent.sleep(random.uniform(0, 0.004))
            held.discard(slot_id)
            rt.leases.release(leased, random.choice(["ok", "ok", "upstream_error"]), trace_ms=3)

    gevent.joinall([gevent.spawn(worker) for _ in range(1000)], raise_error=True)
    assert violations == []
    assert leases[0] > 500
    counts = rt.pool.census()["us"]
    assert counts["leased"] == counts["quarantined"] == counts["disabled"] == 0
    assert counts["ready"] + counts["cooling"] == 50


def test_fencing_a_reaped_lease_released_late_changes_nothing(make_runtime):
    """A lease reaped after its deadline, then released late, is ignored and does not touch the new holder."""
    rt = make_runtime(pool__lease_s=0.05, pool__cooldown_s=0.0)
    provision(rt, us=1)
    first = rt.pool.lease(["us"], holder="A")
    sleep_until(rt, first.deadline_ms)
    report = rt.maintenance.tick()
    assert report.reaped == [first.slot_id]
    second = rt.pool.lease(["us"], holder="B")
    assert int(second.token) > int(first.token)

    late = rt.pool.release(first, "fail")
    assert late.result == "ignored"
    view = rt.pool.slot(first.slot_id)
    assert (view["state"], view["holder"], view["token"]) == ("leased", "B", second.token)
    assert view["failures"] == "1" and view["lease_expired"] == "1"
    assert rt.pool.take_window().get("late_releases") == 1
    assert rt.pool.release(second, "ok").result == "released"


def test_cooldown_holds_and_a_waiting_lease_gets_the_slot_when_it_ends(make_runtime):
    """A released slot is not leasable until its cooldown ends; a lease that waits gets it right then."""
    rt = make_runtime(pool__cooldown_s=0.3)
    provision(rt, us=1)
    released = rt.pool.release(rt.pool.lease(["us"]), "ok")
    with pytest.raises(NoEgress) as info:
        rt.pool.lease(["us"])
    assert info.value.next_ready_ms == released.at_ms
    again = rt.pool.lease(["us"], wait_ms=2000)
    assert again.leased_at_ms >= released.at_ms
    assert again.waited and 200 <= again.waited_ms < 1500


def test_per_release_cooldown_override(make_runtime):
    """An offer's own cooldown (here 0) replaces the pool's default for that release."""
    rt = make_runtime(pool__cooldown_s=60)
    provision(rt, us=1)
    rt.pool.release(rt.pool.lease(["us"]), "ok", cooldown_ms=0)
    assert rt.pool.lease(["us"]).slot_id == "luna-us-1"


def test_quarantine_after_threshold_then_half_open_recovery(make_runtime):
    """At the failure threshold a slot is quarantined; back half-open, one failure doubles the backoff and one
    success restores it."""
    rt = make_runtime(pool__cooldown_s=0, pool__fail_threshold=2, pool__quarantine_s=0.2, pool__quarantine_max_s=5)
    provision(rt, us=1)
    assert rt.pool.release(rt.pool.lease(["us"]), "fail").result == "released"
    now = redis_now_ms(rt)
    quarantined = rt.pool.release(rt.pool.lease(["us"]), "fail")
    assert quarantined.result == "quarantined"
    assert now + 200 <= quarantined.at_ms <= now + 200 + 40 + 50
    with pytest.raises(NoEgress):
        rt.pool.lease(["us"])
    assert rt.pool.recover_due() == []

    sleep_until(rt, quarantined.at_ms)
    assert rt.pool.recover_due() == ["luna-us-1"]
    assert rt.pool.slot("luna-us-1")["half_open"] == "1"
    again = rt.pool.release(rt.pool.lease(["us"]), "fail")
    assert again.result == "quarantined"
    assert rt.pool.slot("luna-us-1")["backoff_ms"] == "400"

    sleep_until(rt, again.at_ms)
    rt.maintenance.tick()
    assert rt.pool.release(rt.pool.lease(["us"]), "ok").result == "released"
    view = rt.pool.slot("luna-us-1")
    assert (view["half_open"], view["backoff_ms"], view["consecutive_failures"]) == ("0", "0", "0")


def test_upstream_errors_do_not_count_against_the_slot(make_runtime):
    """The chain's own failures leave the slot's health alone."""
    rt = make_runtime(pool__cooldown_s=0, pool__fail_threshold=1)
    provision(rt, us=1)
    for _ in range(3):
        assert rt.pool.release(rt.pool.lease(["us"]), "upstream_error").result == "released"
    view = rt.pool.slot("luna-us-1")
    assert (view["upstream_errors"], view.get("consecutive_failures", "0")) == ("3", "0")


def test_redis_wiped_then_one_tick_restores_the_whole_pool(make_runtime, store_urls):
    """After FLUSHALL (or, on a shared server, the loss of every key of ours) one maintenance tick rebuilds
    the pool from the inventory and leasing works again."""
    rt = make_runtime(**FAST)
    provision(rt, us=20, gb=5)
    stale = rt.pool.lease(["us"])
    if store_urls.embedded:
        rt.redis.flushall()
    else:
        redis_client.delete_prefix(rt.redis, rt.settings.redis.prefix)
    assert rt.pool.census() == {}
    report = rt.maintenance.tick()
    assert report.reconciled == {"added": 25}
    census = rt.pool.census()
    assert (census["us"]["ready"], census["gb"]["ready"]) == (20, 5)
    assert rt.pool.release(stale, "ok").result == "ignored"
    assert rt.pool.lease(["gb"]).country == "gb"


def test_provisioning_is_idempotent_and_the_seed_layout_gives_100_slots(runtime):
    """The five-country production layout provisions 100 slots; running it again adds nothing."""
    layout = {"us": 50, "uk": 20, "ca": 15, "au": 10, "de": 5}
    first = runtime.slots.provision("luna", layout)
    second = runtime.slots.provision("luna", layout)
    assert first.as_dict()["total_added"] == 100
    assert second.as_dict()["total_added"] == 0
    census = runtime.pool.census()
    assert {cc: c["total"] for cc, c in census.items()} == {"us": 50, "gb": 20, "ca": 15, "au": 10, "de": 5}
    assert len(runtime.inventory.all()) == 100
    assert runtime.slots.provision("luna", {"us": 60}).added == {"us": 10}


def test_provision_refuses_unknown_providers_and_countries(runtime):
    """Unknown providers, unknown countries and silly counts are refused, naming what is wrong."""
    with pytest.raises(ValidationError, match="unknown provider 'nope'"):
        runtime.slots.provision("nope", {"us": 1})
    with pytest.raises(ValidationError, match="'xx' is not an ISO"):
        runtime.slots.provision("luna", {"xx": 1})
    with pytest.raises(ValidationError, match="from 1 to"):
        runtime.slots.provision("luna", {"us": 0})
    assert runtime.inventory.all() == []


def test_a_batch_of_slots_is_added_whole_or_not_at_all(runtime):
    """The inventory writes a batch in one transaction: a slot PostgreSQL refuses leaves none of it behind."""
    good = Slot("static-ok-1", None, "us", "http", "127.0.0.1", 3128)
    refused = Slot("static-bad-1", None, "us", "http", "127.0.0.1", 70000)
    with pytest.raises(BadValue, match="egress_port_range"):
        runtime.inventory.add([good, refused])
    assert not any(slot.id.startswith("static-") for slot in runtime.inventory.all())
    assert runtime.inventory.add([good]) == ["static-ok-1"]


def test_fallback_countries_are_tried_in_order(make_runtime):
    """A lease for [de, us] takes a us slot when de has none free."""
    rt = make_runtime(**FAST)
    provision(rt, us=1, de=1)
    rt.pool.lease(["de"])
    assert rt.pool.lease(["de", "us"]).country == "us"


def test_disable_enable_and_remove(make_runtime):
    """A disabled slot is not leased (a leased one finishes first); a removed slot's late release is ignored."""
    rt = make_runtime(**FAST)
    provision(rt, us=2)
    rt.slots.set_enabled("luna-us-1", False)
    second = rt.pool.lease(["us"])
    assert second.slot_id == "luna-us-2"
    with pytest.raises(NoEgress):
        rt.pool.lease(["us"])
    rt.slots.set_enabled("luna-us-1", True)
    leased = rt.pool.lease(["us"])
    assert leased.slot_id == "luna-us-1"
    rt.pool.release(second, "ok")
    rt.slots.set_enabled("luna-us-1", False)
    assert rt.pool.release(leased, "ok").result == "disabled"
    assert rt.pool.census()["us"]["disabled"] == 1

    other = rt.pool.lease(["us"], wait_ms=500)
    rt.slots.remove(other.slot_id)
    assert rt.pool.release(other, "ok").result == "ignored"
    assert rt.pool.slot(other.slot_id) is None


def test_a_waiting_lease_sleeps_on_events_not_polling(make_runtime):
    """A lease waiting for a slot costs a handful of Redis calls however long it waits."""
    rt = make_runtime(**FAST)
    provision(rt, us=1)
    assert rt.pool.notices.start()
    held = rt.pool.lease(["us"])
    calls = []
    lease_script = rt.pool._lease
    rt.pool._lease = lambda **kwargs: (calls.append(1), lease_script(**kwargs))[1]
    waiter = gevent.spawn(rt.pool.lease, ["us"], 3000)
    gevent.sleep(0.5)  # the holder's trace takes this long
    rt.pool.release(held, "ok")
    got = waiter.get(timeout=5)
    assert got.slot_id == held.slot_id
    assert 400 <= got.waited_ms < 2000
    assert len(calls) <= 3


def test_passwords_never_reach_redis(runtime):
    """Neither a provider's password nor a static proxy's password is written to Redis."""
    runtime.slots.provision("luna", {"us": 2})
    runtime.slots.add_static("socks5://joe:static-Pw-77@127.0.0.1:1080", "us")
    for _ in range(3):
        leased = runtime.leases.lease(["us"], 0, "t")
        assert PROVIDER_PASSWORD in leased.proxy or "static-Pw-77" in leased.proxy
        runtime.leases.release(leased, "ok")
    dump = []
    for key in runtime.redis.scan_iter(match=runtime.settings.redis.prefix + "*"):
        kind = runtime.redis.type(key)
        value = {"hash": runtime.redis.hgetall, "zset": lambda k: runtime.redis.zrange(k, 0, -1),
                 "set": runtime.redis.smembers, "string": runtime.redis.get}[kind](key)
        dump.append(f"{key} {value}")
    text = "\n".join(dump)
    assert "luna-us-1" in text
    assert PROVIDER_PASSWORD not in text and "static-Pw-77" not in text


def test_proxy_urls_follow_the_provider_template(runtime):
    """A provider slot's proxy URL carries the templated session username and the provider's password."""
    runtime.slots.provision("luna", {"gb": 1})
    slot = runtime.inventory.get("luna-gb-1")
    url = providers.proxy_url(slot, runtime.settings.providers)
    assert url == (f"socks5h://user-acct-region-gb-sessid-{slot.session_id}-sesstime-90:{PROVIDER_PASSWORD}"
                   "@127.0.0.1:9")


def test_status_reports_utilization_and_warnings(make_runtime):
    """Utilization is the share of enabled slots not leasable now; above the threshold it is flagged."""
    rt = make_runtime(pool__cooldown_s=60, pool__alert_utilization=0.5)
    provision(rt, us=4)
    for _ in range(3):
        rt.pool.lease(["us"])
    state = rt.census.status()
    (us,) = state.countries
    assert (us.leased, us.ready, us.utilization, us.alert) == (3, 1, 0.75, True)
    assert any("utilization 75%" in w for w in state.warnings)


def test_snapshots_are_written_once_per_interval(make_runtime):
    """Two ticks inside one snapshot interval write one snapshot, with the window's lease counts."""
    rt = make_runtime(**FAST)
    provision(rt, us=3)
    for _ in range(2):
        rt.pool.release(rt.pool.lease(["us"]), "ok")
    assert rt.maintenance.tick().snapshot is True
    assert rt.maintenance.tick().snapshot is False
    (row,) = rt.snapshots.latest()
    assert (row["country"], row["total"], row["leases"]) == ("us", 3, 2)


def test_required_slots_is_rate_times_holding_time_times_headroom():
    """Sizing: 2 clicks/s x (5 s + 60 s) x 1.5 = 195 slots."""
    slots, explanation = required_slots(2, 5, 60, 1.5)
    assert slots == 195
    assert "130 slots busy at peak" in explanation
