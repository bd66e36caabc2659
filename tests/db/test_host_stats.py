"""Per-host build-failure counts in the store, on every engine."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import Connection

from berth.db import host_stats, providers
from berth.db.engine import Store
from berth.model.provider import Provider


def _host(conn: Connection, name: str) -> Provider:
    return providers.create(conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=None)


def test_failures_count_and_success_resets(store: Store) -> None:
    with store.write() as conn:
        a, b = _host(conn, "a"), _host(conn, "b")
    with store.read() as conn:
        fresh = host_stats.get(conn, a.id)
    assert (fresh.failed_builds, fresh.last_failure_at, fresh.updated_at) == (0, None, None)
    for _ in range(3):
        with store.write() as conn:
            host_stats.record_failure(conn, a.id)
    with store.write() as conn:
        after_b = host_stats.record_failure(conn, b.id)
    assert after_b.failed_builds == 1
    with store.read() as conn:
        assert host_stats.failures_by_root(conn) == {a.id: 3, b.id: 1}
        assert host_stats.failures_by_root(conn, [a.id, 424242]) == {a.id: 3}
        assert host_stats.failures_by_root(conn, []) == {}
    with store.write() as conn:
        reset = host_stats.record_success(conn, a.id)
    assert reset.failed_builds == 0
    assert reset.last_failure_at is not None  # kept for operators
    with store.write() as conn:
        # Success on a host never reported on records nothing and counts nothing.
        host = _host(conn, "c")
        assert host_stats.record_success(conn, host.id).failed_builds == 0
    with store.read() as conn:
        assert host_stats.failures_by_root(conn) == {b.id: 1}


def test_deleting_the_host_takes_its_record(store: Store) -> None:
    with store.write() as conn:
        host = _host(conn, "h")
        host_stats.record_failure(conn, host.id)
    with store.write() as conn:
        providers.delete_provider(conn, host.uuid)
    with store.read() as conn:
        assert host_stats.failures_by_root(conn) == {}


def test_concurrent_failures_all_count(store: Store) -> None:
    """Eight reports racing on a host never reported on: the first insert wins, the others
    fall back to the increment; none is lost."""
    with store.write() as conn:
        host = _host(conn, "h")
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def report() -> None:
        try:
            start.wait(timeout=60)
            with store.write() as conn:
                host_stats.record_failure(conn, host.id)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=report) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with store.read() as conn:
        assert host_stats.get(conn, host.id).failed_builds == 8
