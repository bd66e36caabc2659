"""Generations: the compare-and-swap counters of providers and consumers.

A writer that acts on a generation a *client* saw bumps it with
``UPDATE … WHERE generation = :seen`` inside its transaction. If another writer got there
first the UPDATE matches no row and the whole transaction is abandoned with a 409
``placement.concurrent_update``: clients re-read and retry, and nobody holds a global lock.

Allocations are different: clients never send provider generations with them, so the
committer moves the generation of each receiving provider unconditionally
(``advance_provider``). The UPDATE takes the provider's row lock (waiting for a racing
writer to finish) and the committer re-checks capacity afterwards, so a race costs a
short wait instead of a wasted transaction.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, Table, bindparam, update

from berth.db import changes, many, tables
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


def _swap(
    conn: Connection,
    table: Table,
    row_id: int,
    seen: int,
    conflict: str,
    also: Mapping[str, object] | None = None,
) -> int:
    """``UPDATE table SET generation = seen + 1 [, also] WHERE id = row_id AND
    generation = seen``."""
    if not _in_range(seen):
        raise ConcurrentUpdate(conflict)
    result = conn.execute(
        update(table)
        .where(table.c.id == row_id, table.c.generation == seen)
        .values(generation=seen + 1, updated_at=tables.now(), **(also or {}))
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


def bump_consumer(
    conn: Connection, consumer_id: int, seen: int, also: Mapping[str, object] | None = None
) -> int:
    """Move consumer ``consumer_id`` from generation ``seen`` to ``seen + 1``, or raise 409;
    ``also`` sets other columns in the same statement (a new owner or type)."""
    return _swap(conn, tables.consumers, consumer_id, seen, _CONSUMER_CONFLICT, also)


def advance_provider(conn: Connection, provider_id: int) -> bool:
    """Move provider ``provider_id`` one generation on, whatever it is; False if the
    provider no longer exists.

    The row stays locked (PostgreSQL/MySQL; SQLite writers are serialized) until the
    transaction ends, and every statement after this one sees what the previous holder
    committed (READ COMMITTED), which is what lets the allocation committer check
    capacity without a compare-and-swap. Only usage is logged as changed: callers use it
    for allocations alone."""
    changes.touch_usage(conn, (provider_id,))
    result = conn.execute(_ADVANCE, {"pid": provider_id, "now": tables.now()})
    return result.rowcount == 1


def advance_providers(conn: Connection, provider_ids: list[int]) -> bool:
    """``advance_provider`` for many providers, in the order given (callers pass them in
    id order: that is the lock order every committer follows), in one round trip; False
    if any of them no longer exists."""
    if not provider_ids:
        return True
    if len(provider_ids) == 1 or not conn.dialect.supports_sane_multi_rowcount:
        return all(advance_provider(conn, pid) for pid in provider_ids)
    changes.touch_usage(conn, provider_ids)
    now = tables.now()
    if many.supported(conn):
        return many.advance_generations(conn, _RP, provider_ids, now) == len(provider_ids)
    result = conn.execute(_ADVANCE, [{"pid": pid, "now": now} for pid in provider_ids])
    return result.rowcount == len(provider_ids)


_RP = tables.resource_providers
_ADVANCE = (
    update(_RP)
    .where(_RP.c.id == bindparam("pid"))
    .values(generation=_RP.c.generation + 1, updated_at=bindparam("now"))
)
