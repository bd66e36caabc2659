"""Generation compare-and-swap: the only concurrency control berth uses for writes.

A writer reads a provider's (or consumer's) generation, decides, and then bumps it with
``UPDATE … WHERE generation = :seen`` inside its transaction. If another writer got there
first the UPDATE matches no row and the whole transaction is abandoned with a 409
``placement.concurrent_update``: clients re-read and retry, and nobody holds a global lock.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, update

from berth.db import changes, tables
from berth.model.errors import ConcurrentUpdate

# Generations live in 32-bit integer columns; a client's "seen" value outside that range
# cannot match any row, and must not reach the driver (SQLite overflows past 2**63,
# PostgreSQL rejects > 2**31 - 1).
_MAX_GENERATION = 2**31 - 1


def _in_range(seen: int) -> bool:
    return 0 <= seen <= _MAX_GENERATION


_PROVIDER_CONFLICT = (
    "resource provider generation conflict: another thread concurrently updated the "
    "provider. Please retry your update"
)
_CONSUMER_CONFLICT = (
    "consumer generation conflict: another process concurrently updated the consumer. "
    "Please retry your update"
)


def _swap(conn: Connection, table: Table, row_id: int, seen: int, conflict: str) -> int:
    """``UPDATE table SET generation = seen + 1 WHERE id = row_id AND generation = seen``."""
    if not _in_range(seen):
        raise ConcurrentUpdate(conflict)
    result = conn.execute(
        update(table)
        .where(table.c.id == row_id, table.c.generation == seen)
        .values(generation=seen + 1, updated_at=tables.now())
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(conflict)
    return seen + 1


def bump_provider(conn: Connection, provider_id: int, seen: int) -> int:
    """Move provider ``provider_id`` from generation ``seen`` to ``seen + 1``, or raise 409.

    The provider is logged as changed for the resident indexes (even if the swap loses,
    the transaction then rolls back and takes the log row with it)."""
    changes.touch(conn, (provider_id,))
    return _swap(conn, tables.resource_providers, provider_id, seen, _PROVIDER_CONFLICT)


def bump_consumer(conn: Connection, consumer_id: int, seen: int) -> int:
    """Move consumer ``consumer_id`` from generation ``seen`` to ``seen + 1``, or raise 409."""
    return _swap(conn, tables.consumers, consumer_id, seen, _CONSUMER_CONFLICT)
