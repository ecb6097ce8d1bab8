"""Migrations apply in order, once, and the schema enforces its constraints."""

from __future__ import annotations

import re

import gevent
import psycopg
import pytest
from psycopg import errors

from gateway.postbacks.updating import EventStatus
from gateway.tracing.outcomes import Outcome, TracedBy, Tracer
from store import database, migrate
from tests.helpers import clean_env, run_gateway

TABLES = {"offers", "pairs", "slots", "webhook_events", "traces", "pool_snapshots", "trackier_calls",
          "schema_migrations"}


@pytest.fixture
def empty_database(store_urls, request):
    """A database with no tables at all."""
    name = f"gwtest_empty_{abs(hash(request.node.nodeid)) % 10**8}"
    yield database.create_database(store_urls.postgres, name)
    database.drop_database(store_urls.postgres, name)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def test_migrate_creates_every_table_then_is_a_no_op(empty_database):
    """The first run applies every migration; the second applies none."""
    with psycopg.connect(empty_database) as conn:
        first = migrate.migrate(conn)
        second = migrate.migrate(conn)
    assert [m.version for m in first] == [m.version for m in migrate.available()]
    assert second == []
    assert tables(empty_database) == TABLES


def test_cli_migrate_twice_says_nothing_changed(empty_database, store_urls, tmp_path):
    """`gateway migrate` applies, then on a second run reports that nothing changed."""
    env = clean_env(GATEWAY_DATABASE_URL=empty_database, GATEWAY_REDIS_URL=store_urls.redis,
                    GATEWAY_SERVER_DATA_DIR=str(tmp_path))
    first = run_gateway("migrate", env=env)
    second = run_gateway("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    assert "applied 0001" not in second.stdout


def test_concurrent_migrations_apply_once(empty_database):
    """Two processes migrating at once (workers starting together) apply each migration exactly once."""
    def run() -> list:
        with psycopg.connect(empty_database) as conn:
            return migrate.migrate(conn)

    jobs = [gevent.spawn(run) for _ in range(4)]
    gevent.joinall(jobs, raise_error=True)
    applied = [m.version for job in jobs for m in job.value]
    assert sorted(applied) == [m.version for m in migrate.available()]


def test_an_edited_applied_migration_is_reported(empty_database, tmp_path):
    """Changing a migration after it ran is an error, not a silent divergence."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (id int);")
    with psycopg.connect(empty_database) as conn:
        migrate.migrate(conn, tmp_path)
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (id bigint);")
        with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
            migrate.migrate(conn, tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(empty_database, tmp_path):
    """A migration runs in one transaction: when it fails, none of it stays and it is not recorded."""
    (tmp_path / "0001_bad.sql").write_text("CREATE TABLE t (id int); SELECT no_such_function();")
    with psycopg.connect(empty_database) as conn:
        with pytest.raises(psycopg.Error):
            migrate.migrate(conn, tmp_path)
        assert "t" not in tables(empty_database)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)


OFFER = ("INSERT INTO offers (slug, name, tracking_url, country) VALUES (%s, 'Offer', 'https://t.example/', 'us') "
         "RETURNING id")
PAIR = ("INSERT INTO pairs (offer_id, pair_index, url1_campaign_id, url2_campaign_id, webhook_token, template, "
        "token_hash) VALUES (%s, %s, '1', '2', %s, 't', sha256(convert_to(%s, 'UTF8')))")


@pytest.mark.parametrize(("statement", "error"), [
    ("dup_slug", errors.UniqueViolation),
    ("bad_slug", errors.CheckViolation),
    ("pair_index_0", errors.CheckViolation),
    ("pair_index_21", errors.CheckViolation),
    ("dup_pair_index", errors.UniqueViolation),
    ("dup_token", errors.UniqueViolation),
    ("short_token", errors.CheckViolation),
    ("orphan_pair", errors.ForeignKeyViolation),
    ("offer_without_url", errors.NotNullViolation),
    ("bad_slot_scheme", errors.CheckViolation),
])
def test_schema_constraints(database_url, statement, error):
    """The schema itself refuses duplicates, out-of-range pair indexes, orphans and missing values."""
    token = "t" * 32
    with psycopg.connect(database_url) as conn:
        offer = conn.execute(OFFER, ("shop",)).fetchone()[0]
        def pair(index: int, value: str, offer_id=offer):
            return conn.execute(PAIR, (offer_id, index, value, value))

        pair(1, token)
        actions = {
            "dup_slug": lambda: conn.execute(OFFER, ("shop",)),
            "bad_slug": lambda: conn.execute(OFFER, ("Bad Slug!",)),
            "pair_index_0": lambda: pair(0, "a" * 32),
            "pair_index_21": lambda: pair(21, "a" * 32),
            "dup_pair_index": lambda: pair(1, "a" * 32),
            "dup_token": lambda: pair(2, token),
            "short_token": lambda: pair(2, "short"),
            "orphan_pair": lambda: pair(2, "b" * 32, "00000000-0000-0000-0000-000000000000"),
            "offer_without_url": lambda: conn.execute(
                "INSERT INTO offers (slug, name, country) VALUES ('x', 'X', 'us')"),
            "bad_slot_scheme": lambda: conn.execute(
                "INSERT INTO slots (id, country, scheme, host, port) VALUES ('e1', 'us', 'ftp', 'h', 1)"),
        }
        with pytest.raises(error):
            actions[statement]()


def test_lookup_indexes_exist(database_url):
    """Webhook token, campaign ids and trace time are indexed."""
    with psycopg.connect(database_url) as conn:
        indexes = {row[0] for row in conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'")}
    text = "\n".join(indexes)
    for needle in ("(webhook_token)", "(url1_campaign_id)", "(url2_campaign_id)", "traces USING btree (created_at)"):
        assert needle in text, needle


@pytest.mark.parametrize(("constraint", "vocabulary"), [("traces_outcome_known", Outcome),
                                                        ("webhook_events_status_known", EventStatus),
                                                        ("offers_tracer_known", Tracer),
                                                        ("traces_tracer_known", TracedBy)])
def test_the_databases_checks_list_the_vocabularies_of_the_code(database_url, constraint, vocabulary):
    """Each CHECK of a vocabulary column names exactly the values of its enum: a value added to one and not the
    other is a refused row (or a value nobody writes)."""
    with psycopg.connect(database_url) as conn:
        (definition,) = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                                     (constraint,)).fetchone()
    assert set(re.findall(r"'([^']+)'::text", definition)) == {str(value) for value in vocabulary}
