"""Embedded Redis and PostgreSQL: started on demand, shared by holders, stopped by the last, data kept."""

from __future__ import annotations

import json

import psutil
import psycopg
import redis

from store.embedded import EmbeddedStores
from tests.helpers import server_processes


def test_servers_start_answer_and_stop(tmp_path):
    """A hold starts both servers on unix sockets; leaving stops them and leaves no process behind."""
    with EmbeddedStores(tmp_path, durable=False) as stores:
        assert stores.started == ["redis", "postgres"]
        assert stores.redis_url.startswith("unix://")
        assert redis.Redis.from_url(stores.redis_url).ping()
        with psycopg.connect(stores.postgres_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert server_processes(tmp_path)
    assert server_processes(tmp_path) == []


def test_postgres_data_survives_a_restart(tmp_path):
    """Rows written before the servers stop are there after they start again."""
    with EmbeddedStores(tmp_path, durable=True) as stores, psycopg.connect(stores.postgres_url) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    with EmbeddedStores(tmp_path, durable=True) as stores, psycopg.connect(stores.postgres_url) as conn:
        assert stores.started == ["redis", "postgres"]
        assert conn.execute("SELECT v FROM kept").fetchall() == [("still here",)]


def test_a_second_holder_reuses_and_the_last_one_stops(tmp_path):
    """A second hold reuses the running servers; only the last hold to leave stops them."""
    first = EmbeddedStores(tmp_path, durable=False).acquire()
    pids = {p.pid for p in server_processes(tmp_path)}
    second = EmbeddedStores(tmp_path, durable=False).acquire()
    assert second.started == []
    first.release()
    assert {p.pid for p in server_processes(tmp_path)} == pids
    assert redis.Redis.from_url(second.redis_url).ping()
    second.release()
    assert server_processes(tmp_path) == []


def test_holders_that_died_are_pruned(tmp_path):
    """A holder killed without leaving does not keep the servers alive for ever."""
    stores = EmbeddedStores(tmp_path, durable=False).acquire()
    holders = json.loads((tmp_path / "embedded.holders").read_text())
    dead = {"id": "gone", "pid": max(psutil.pids()) + 10_000, "created": 1.0}
    (tmp_path / "embedded.holders").write_text(json.dumps([*holders, dead]))
    stores.release()
    assert server_processes(tmp_path) == []
    assert json.loads((tmp_path / "embedded.holders").read_text()) == []
