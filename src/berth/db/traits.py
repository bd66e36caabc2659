"""Traits: standard (seeded from os-traits) and CUSTOM_* ones.

(Core lookups shared by every resource; the full trait operations build on these.)
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from berth.db import tables

TRAITS = tables.traits


def ids_by_name(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Map each known name to its id; unknown names are simply absent (callers decide)."""
    wanted = set(names)
    if not wanted:
        return {}
    rows = conn.execute(select(TRAITS.c.name, TRAITS.c.id).where(TRAITS.c.name.in_(wanted)))
    return {name: id_ for name, id_ in rows}
