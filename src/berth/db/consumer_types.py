"""Consumer types (1.38): free-form upper-case labels such as INSTANCE or MIGRATION.

They exist only as names a consumer refers to, so a type is created the first time a
write mentions it and never deleted: usage reports group by them, and a name once seen
should keep meaning the same row.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from berth.db import tables

CT = tables.consumer_types


def ensure(conn: Connection, name: str) -> int:
    """The id of type ``name``, created now if no writer has used it before."""
    found = conn.execute(select(CT.c.id).where(CT.c.name == name)).scalar()
    if found is not None:
        return int(found)
    try:
        # A savepoint, so a concurrent writer creating the same name first does not
        # abort our whole transaction: we simply use the row it made.
        with conn.begin_nested():
            result = conn.execute(insert(CT).values(name=name, created_at=tables.now()))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])
    except IntegrityError:
        again = conn.execute(select(CT.c.id).where(CT.c.name == name)).scalar()
        if again is None:
            raise
        return int(again)
