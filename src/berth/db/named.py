"""Name tables: resource classes and traits are both ``id, name, created_at, updated_at``.

One row type and one lookup serve both, so Last-Modified and "no such name" behave the
same way for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, select


@dataclass(frozen=True, slots=True)
class NamedRow:
    """A name and the timestamps that feed Last-Modified."""

    name: str
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def modified(self) -> datetime | None:
        return self.updated_at or self.created_at


def columns(table: Table) -> Select[Any]:
    """``SELECT name, created_at, updated_at FROM table`` for callers to narrow or order."""
    return select(table.c.name, table.c.created_at, table.c.updated_at)


def rows(conn: Connection, query: Select[Any]) -> list[NamedRow]:
    return [NamedRow(name, created, updated) for name, created, updated in conn.execute(query)]


def find(conn: Connection, table: Table, name: str) -> NamedRow | None:
    found = rows(conn, columns(table).where(table.c.name == name))
    return found[0] if found else None
