"""Database engines: URL forms, per-dialect settings, and transactions.

Operators give plain URLs (``sqlite:///path``, ``postgresql://…``, ``mysql://…``); berth
picks the drivers it ships with (the stdlib sqlite3, psycopg 3, PyMySQL) so no URL needs a
``+driver`` suffix. Every write runs in exactly one transaction (``Store.write``); concurrent
writers are sorted out by generation compare-and-swap in the rows themselves, not by a lock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import NullPool

from berth.db import changes
from berth.model.errors import RetryableConflict

DEFAULT_SQLITE_PATH = "berth.sqlite"


def default_url() -> str:
    return os.environ.get("BERTH_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def normalize_url(url: str) -> str:
    """Map plain URLs onto the drivers berth depends on."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and not driver:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend in ("mysql", "mariadb") and not driver:
        parsed = parsed.set(drivername="mysql+pymysql")
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, connections: int | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``. ``connections``: how many threads may hold a connection at
    once (a server's threads per worker); the pool keeps that many, plus a few more
    for bursts, instead of SQLAlchemy's default of 5 + 10."""
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    memory = backend == "sqlite" and make_url(url).database in (None, "", ":memory:")
    if connections is not None and not memory:
        kwargs.setdefault("pool_size", connections)
        kwargs.setdefault("max_overflow", 8)
    if backend == "sqlite":
        engine = _sqlite_engine(url, **kwargs)
    else:
        # READ COMMITTED (PostgreSQL's default, stated): the allocation committer counts on
        # each statement seeing what the writer it waited for committed (berth.db.allocations).
        engine = create_engine(url, isolation_level="READ COMMITTED", **kwargs)
        _ping_when_idle(engine)
    return engine


# A pooled connection idle for longer than this is pinged before it is handed out (the
# server may have been restarted, or have closed it for idling). One that was in use a
# moment ago is not: a ping on every checkout (``pool_pre_ping``) is one more round trip
# on every request, the most frequent statement a busy server sends. A connection that
# died while busy fails its request once, and its disconnect makes the pool replace every
# connection it had (SQLAlchemy's behaviour on a disconnect error).
PING_AFTER_IDLE_S = 2.0
_IDLE_SINCE = "berth_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # brand new, or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool retries the checkout with a fresh connection.
            raise DisconnectionError("pooled connection is gone") from exc


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    memory = make_url(url).database in (None, "", ":memory:")
    if memory:
        kwargs.setdefault("poolclass", NullPool)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself, so writes can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes SQLite's write lock at BEGIN, not halfway through (when upgrading
        # a read lock can fail at once with SQLITE_BUSY instead of waiting).
        if conn.get_execution_options().get("berth_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _is_conflict(exc: DBAPIError) -> bool:
    """Deadlocks and serialization failures: another writer won; the client may retry."""
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    markers = (
        "deadlock",
        "serialize",
        "could not serialize",
        "lock wait timeout",
        "database is locked",
        "1213",
        "1205",
        "40001",
        "40p01",
    )
    return any(m in text for m in markers)


class Store:
    """The database, the single source of truth. Hands out read and write transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        return cls(make_engine(url, **kwargs))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction for one write; a deadlock becomes RetryableConflict (409)."""
        try:
            with (
                self.engine.connect().execution_options(berth_write=True) as conn,
                conn.begin(),
            ):
                changes.discard(conn)
                yield conn
                changes.flush(conn)
        except OperationalError as exc:
            if _is_conflict(exc):
                raise RetryableConflict(
                    "Another thread concurrently updated the data. Please retry your update"
                ) from exc
            raise
        except DBAPIError as exc:
            if _is_conflict(exc):
                raise RetryableConflict(
                    "Another thread concurrently updated the data. Please retry your update"
                ) from exc
            raise

    def dispose(self) -> None:
        self.engine.dispose()
