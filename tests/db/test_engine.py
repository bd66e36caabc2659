"""Pooled connections: an idle one the server dropped is replaced before anyone uses it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from berth.db import engine as engine_module
from berth.db.engine import Store


def _backend_id(store: Store) -> int:
    query = "SELECT pg_backend_pid()" if store.dialect == "postgresql" else "SELECT CONNECTION_ID()"
    with store.read() as conn:
        return int(conn.execute(text(query)).scalar_one())


def _kill(store: Store, backend: int) -> None:
    """End one server session from another connection, as a restart or timeout would."""
    other = Store.from_url(store.engine.url.render_as_string(hide_password=False))
    try:
        with other.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if store.dialect == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            else:
                conn.execute(text(f"KILL {int(backend)}"))
    finally:
        other.dispose()


def test_idle_connection_killed_by_the_server_is_replaced(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite has no server to drop connections")
    # One pooled connection, idle "long enough" at once.
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
    first = _backend_id(store)
    _kill(store, first)
    # The checkout pings the dead connection and hands out a fresh one: no error.
    second = _backend_id(store)
    assert second != first
    with store.write() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_busy_connection_is_reused_without_a_ping(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite connections are not pinged")
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)
    pings: list[object] = []
    real = store.engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(store.engine.dialect, "do_ping", counted)
    first = _backend_id(store)
    assert _backend_id(store) == first
    assert pings == []
