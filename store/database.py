"""PostgreSQL access: the connection pool, and the boundary where psycopg errors become store errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.waiting
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from store.errors import BadValue, StoreUnavailable
from store.queries import QUERIES as Q

DOWN_WAIT_S = 0.2
RECONNECT_GIVE_UP_S = 5.0


class FailFastPool(ConnectionPool):
    """A pool that, once it has failed to hand out a connection, makes callers wait only `DOWN_WAIT_S` for
    one until it succeeds again: with PostgreSQL down, every postback and every lookup would otherwise wait
    the whole pool timeout before its 503.

    The pool's background reconnect backs off exponentially (1, 2, 4 ... s) for as long as `reconnect_timeout`;
    after a long outage its next attempt could be minutes away. It gives up after `RECONNECT_GIVE_UP_S`
    instead, and the next caller who finds no connection starts a fresh attempt at once: recovery follows
    PostgreSQL's return by about one request, whatever the outage lasted."""

    down = False

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        if timeout is None and self.down:
            timeout = DOWN_WAIT_S
        try:
            conn = super().getconn(timeout)
        except PoolTimeout:
            self.down = True
            raise
        self.down = False
        return conn


def connect(url: str, *, min_size: int, max_size: int, connect_timeout_s: float,
            pool_timeout_s: float, name: str = "gateway") -> ConnectionPool:
    """An opened pool; connections are checked before use so a PostgreSQL restart costs no request.

    Connections run in autocommit: a statement is its own transaction, one round trip where an implicit
    transaction would add a BEGIN and a COMMIT (most writes here are one statement by design). Code that needs
    several statements to hold together opens `conn.transaction()`."""
    pool = FailFastPool(
        url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        timeout=pool_timeout_s,
        kwargs={"connect_timeout": max(1, round(connect_timeout_s)), "application_name": name, "autocommit": True},
        check=ConnectionPool.check_connection,
        reconnect_timeout=RECONNECT_GIVE_UP_S,
        open=False,
        name=name,
    )
    pool.open(wait=False)
    return pool


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn "PostgreSQL is not there" into StoreUnavailable and "cannot hold this row" into BadValue: a value
    of the wrong shape (NUL, out of range), a text that is not Unicode (a lone surrogate cannot even be
    encoded) or a broken constraint. Other psycopg errors are bugs and pass through."""
    try:
        yield
    except PoolTimeout as exc:
        raise StoreUnavailable(f"PostgreSQL: no connection ({exc})") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL: {exc}".strip()) from exc
    except (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError) as exc:
        raise BadValue(str(exc).strip().split("\n")[0]) from exc


def url_for(url: str, database: str) -> str:
    """`url` naming `database` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def create_database(url: str, name: str, template: str | None = None) -> str:
    """Create database `name` (afresh: an older one of that name is dropped) on the server of `url`; its URL."""
    drop_database(url, name)
    if template:
        _administer(url, "database_create_from", name=name, template=template)
    else:
        _administer(url, "database_create", name=name)
    return url_for(url, name)


def ensure_database(url: str, name: str) -> None:
    """Create database `name` on the server of `url` unless it exists."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        if admin.execute(Q["database_exists"], {"name": name}).fetchone():
            return
    _administer(url, "database_create", name=name)


def drop_database(url: str, name: str) -> None:
    _administer(url, "database_drop", name=name)


def ping(pool: ConnectionPool, timeout: float) -> None:
    """One round trip to PostgreSQL (the readiness check)."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute(Q["ping"])


def _administer(url: str, query: str, **identifiers: str) -> None:
    """Run a statement on database names (identifiers, which take no bind parameters)."""
    statement = sql.SQL(Q[query].rstrip(";")).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(statement)


def is_cooperative() -> bool:
    """True when psycopg waits on sockets through gevent (it was imported after monkey-patching)."""
    return psycopg.waiting.wait is not getattr(psycopg.waiting, "wait_c", None)
