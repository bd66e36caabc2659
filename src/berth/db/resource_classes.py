"""Resource classes: standard (seeded from os-resource-classes) and CUSTOM_* ones.

Standard classes are read-only: their names are shared with every OpenStack service, so
only custom classes may be created, renamed or deleted, and never while an inventory or an
allocation still refers to them (the rows would otherwise point at a name nobody knows).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import changes, named, tables
from berth.db.named import NamedRow
from berth.model.errors import DUPLICATE_NAME, ConflictError, NotFoundError

RC = tables.resource_classes


ResourceClassRow = NamedRow


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


def list_all(conn: Connection) -> list[ResourceClassRow]:
    """Every class, in id order: standard ones first (their seed order), then custom."""
    return named.rows(conn, named.columns(RC).order_by(RC.c.id))


def get(conn: Connection, name: str) -> ResourceClassRow:
    row = named.find(conn, RC, name)
    if row is None:
        raise NotFoundError(f"No such resource class {name}.")
    return row


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(RC.c.id).where(RC.c.name == name)).first() is not None


def create(conn: Connection, name: str) -> None:
    """Add a custom class; 409 duplicate_name when it exists (or a racing writer added it)."""
    if _exists(conn, name):
        raise ConflictError(
            f"Conflicting resource class already exists: {name}", code=DUPLICATE_NAME
        )
    try:
        with conn.begin_nested():
            conn.execute(insert(RC).values(name=name, created_at=tables.now()))
    except IntegrityError as exc:
        raise ConflictError(
            f"Conflicting resource class already exists: {name}", code=DUPLICATE_NAME
        ) from exc


def ensure(conn: Connection, name: str) -> bool:
    """Create ``name`` unless it exists; True when this call created it (PUT at 1.7+)."""
    if _exists(conn, name):
        return False
    try:
        with conn.begin_nested():
            conn.execute(insert(RC).values(name=name, created_at=tables.now()))
    except IntegrityError:
        return False  # a concurrent PUT created it first: same outcome for the client
    return True


def rename(conn: Connection, old: str, new: str) -> None:
    """Rename custom class ``old`` to ``new`` (PUT at 1.2-1.6); ids, hence usage, stay put."""
    if not _exists(conn, old):
        raise NotFoundError(f"No such resource class {old}.")
    if _exists(conn, new):
        raise ConflictError(f"Resource class already exists: {new}", code=DUPLICATE_NAME)
    try:
        with conn.begin_nested():
            conn.execute(
                update(RC).where(RC.c.name == old).values(name=new, updated_at=tables.now())
            )
    except IntegrityError as exc:
        raise ConflictError(f"Resource class already exists: {new}", code=DUPLICATE_NAME) from exc
    # Every provider with this class now reports it under its new name: readers reload.
    changes.touch_everything(conn)


def in_use(conn: Connection, class_id: int) -> bool:
    """Whether any inventory or allocation refers to the class."""
    inv = tables.inventories
    alloc = tables.allocations
    used = conn.execute(
        select(
            exists().where(inv.c.resource_class_id == class_id)
            | exists().where(alloc.c.resource_class_id == class_id)
        )
    ).scalar()
    return bool(used)


def delete_custom(conn: Connection, name: str) -> None:
    """Delete custom class ``name``; 404 when unknown, 409 while anything refers to it."""
    row = conn.execute(select(RC.c.id).where(RC.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"No such resource class {name}.")
    if in_use(conn, row.id):
        raise ConflictError(f"Error in delete resource class: Class is in use in inventory: {name}")
    try:
        with conn.begin_nested():
            conn.execute(delete(RC).where(RC.c.id == row.id))
    except IntegrityError as exc:  # an inventory or allocation took it up concurrently
        raise ConflictError(
            f"Error in delete resource class: Class is in use in inventory: {name}"
        ) from exc
    changes.touch_classes(conn)  # readers caching class names forget this one
