"""Resource classes: standard (seeded from os-resource-classes) and CUSTOM_* ones.

(Core lookups shared by every resource; the full resource-class operations build on these.)
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from berth.db import tables
from berth.model.errors import NotFoundError

RC = tables.resource_classes


def ids_by_name(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Map each name to its id; 404-style error naming the first unknown class."""
    wanted = set(names)
    if not wanted:
        return {}
    rows = conn.execute(select(RC.c.name, RC.c.id).where(RC.c.name.in_(wanted))).all()
    found = {name: id_ for name, id_ in rows}
    missing = sorted(wanted - found.keys())
    if missing:
        raise NotFoundError(f"No such resource class {missing[0]}")
    return found


def names_by_id(conn: Connection) -> dict[int, str]:
    return {id_: name for id_, name in conn.execute(select(RC.c.id, RC.c.name))}
