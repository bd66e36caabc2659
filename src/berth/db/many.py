"""Many rows in one statement: PostgreSQL's ``unnest`` instead of an executemany.

psycopg runs an executemany as a pipeline of one statement per row, each row bound,
sent and acknowledged through Python: ~40 µs of client CPU a row. A scheduler batch
claims hundreds of rows at once (consumers, allocations, change-log entries, provider
generations), where that cost became a third of the claim. On PostgreSQL the rows go
instead as one array per column into a single statement whose text does not depend on
how many rows there are (so it is built once per table and column set); the other
engines keep the executemany, which they run cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, TextClause, bindparam, insert, text

from berth.db import tables


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) == 1:
        conn.execute(insert(table), list(rows))
        return
    columns = tuple(rows[0])
    statement = _unnest_insert(table.name, columns)
    conn.execute(statement, {f"c{k}": [r[c] for r in rows] for k, c in enumerate(columns)})


def advance_generations(conn: Connection, table: Table, ids: Sequence[int], now: Any) -> int:
    """``generation = generation + 1`` (and ``updated_at = now``) on the rows ``ids`` of
    ``table``, their row locks taken in id order (the order every committer follows);
    how many rows there were. PostgreSQL only (callers check ``supported``)."""
    statement = _advance(table.name)
    return int(conn.execute(statement, {"ids": list(ids), "now": now}).rowcount)


def supported(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@cache
def _unnest_insert(name: str, columns: tuple[str, ...]) -> TextClause:
    from sqlalchemy.dialects import postgresql

    table = tables.metadata.tables[name]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(
        f"CAST(:c{k} AS {table.c[c].type.compile(dialect=dialect)}[])"
        for k, c in enumerate(columns)
    )
    sql = f"INSERT INTO {name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    return text(sql).bindparams(*(bindparam(f"c{k}") for k in range(len(columns))))


@cache
def _advance(name: str) -> TextClause:
    # ORDER BY ... FOR UPDATE locks the rows as they come out of the sort: in id order,
    # whatever plan the UPDATE itself gets.
    sql = (
        f"WITH locked AS (SELECT id FROM {name} WHERE id = ANY(CAST(:ids AS INTEGER[])) "
        f"ORDER BY id FOR UPDATE) UPDATE {name} SET generation = {name}.generation + 1, "
        f"updated_at = :now FROM locked WHERE {name}.id = locked.id"
    )
    return text(sql).bindparams(bindparam("ids"), bindparam("now"))
