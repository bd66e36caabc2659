"""Inventories: what each provider offers, one row per (provider, resource class).

None of these functions bump the provider generation: the caller owns the transaction and
does the compare-and-swap (``berth.db.generations.bump_provider``), so a handler and the
reshaper can combine inventory and allocation writes under one generation change.
Removing a class that still has allocations is refused (``placement.inventory.inuse``);
shrinking a class below its current usage is allowed, as in Placement, because the
operator knows better (e.g. a failed disk) and the allocations are already made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import tables
from berth.model.errors import (
    INVENTORY_INUSE,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.inventory import Inventory

INV = tables.inventories
RC = tables.resource_classes
ALLOC = tables.allocations
RP = tables.resource_providers

_COLUMNS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


def _values(inv: Inventory) -> dict[str, int | float]:
    return {name: getattr(inv, name) for name in _COLUMNS}


def get_all(conn: Connection, provider_id: int) -> dict[str, Inventory]:
    """The provider's inventory by class name, in class-id order (standard classes first)."""
    rows = conn.execute(
        select(RC.c.name, *(INV.c[name] for name in _COLUMNS))
        .join(RC, RC.c.id == INV.c.resource_class_id)
        .where(INV.c.resource_provider_id == provider_id)
        .order_by(INV.c.resource_class_id)
    )
    return {row[0]: Inventory(*row[1:]) for row in rows}


def get_many(conn: Connection, provider_ids: Iterable[int]) -> dict[int, dict[str, Inventory]]:
    """Inventories of many providers at once (providers without any are absent)."""
    ids = sorted(set(provider_ids))
    out: dict[int, dict[str, Inventory]] = {}
    if not ids:
        return out
    rows = conn.execute(
        select(INV.c.resource_provider_id, RC.c.name, *(INV.c[name] for name in _COLUMNS))
        .join(RC, RC.c.id == INV.c.resource_class_id)
        .where(INV.c.resource_provider_id.in_(ids))
        .order_by(INV.c.resource_provider_id, INV.c.resource_class_id)
    )
    for row in rows:
        out.setdefault(row[0], {})[row[1]] = Inventory(*row[2:])
    return out


def last_modified(conn: Connection, provider_id: int) -> datetime | None:
    """When the provider's inventory last changed (None when it has none)."""
    newest = conn.execute(
        select(
            func.max(func.coalesce(INV.c.updated_at, INV.c.created_at)),
        ).where(INV.c.resource_provider_id == provider_id)
    ).scalar()
    return newest if isinstance(newest, datetime) else None


def _class_ids(conn: Connection, names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    wanted = set(names)
    if not wanted:
        return {}, []
    found = {
        name: id_
        for name, id_ in conn.execute(select(RC.c.name, RC.c.id).where(RC.c.name.in_(wanted)))
    }
    return found, sorted(wanted - found.keys())


def _provider_uuid(conn: Connection, provider_id: int) -> str:
    return str(conn.execute(select(RP.c.uuid).where(RP.c.id == provider_id)).scalar_one())


def classes_in_use(conn: Connection, provider_id: int, class_ids: Iterable[int]) -> list[str]:
    """Names of those classes that have allocations against the provider, in id order."""
    ids = list(set(class_ids))
    if not ids:
        return []
    rows = conn.execute(
        select(RC.c.name)
        .where(
            RC.c.id.in_(
                select(ALLOC.c.resource_class_id).where(
                    ALLOC.c.resource_provider_id == provider_id,
                    ALLOC.c.resource_class_id.in_(ids),
                )
            )
        )
        .order_by(RC.c.id)
    )
    return [name for (name,) in rows]


def _in_use_error(conn: Connection, provider_id: int, names: list[str]) -> ConflictError:
    return ConflictError(
        f"Inventory for '{', '.join(names)}' on resource provider "
        f"'{_provider_uuid(conn, provider_id)}' in use.",
        code=INVENTORY_INUSE,
    )


def _current_ids(conn: Connection, provider_id: int) -> dict[int, Inventory]:
    rows = conn.execute(
        select(INV.c.resource_class_id, *(INV.c[name] for name in _COLUMNS)).where(
            INV.c.resource_provider_id == provider_id
        )
    )
    return {row[0]: Inventory(*row[1:]) for row in rows}


def replace(
    conn: Connection,
    provider_id: int,
    new: Mapping[str, Inventory],
    *,
    check_in_use: bool = True,
) -> None:
    """Make ``new`` the provider's whole inventory, inside the caller's transaction.

    400 (InvalidError) naming unknown classes; 409 ``placement.inventory.inuse`` when a
    class that would disappear still has allocations (unless ``check_in_use`` is False,
    for the reshaper, which moves those allocations in the same transaction).
    """
    ids, missing = _class_ids(conn, new)
    if missing:
        raise InvalidError(
            "Unknown resource class in inventory for resource provider "
            f"{_provider_uuid(conn, provider_id)}: {', '.join(missing)}"
        )
    current = _current_ids(conn, provider_id)
    wanted = {ids[name]: inv for name, inv in new.items()}
    removed = set(current) - set(wanted)
    if removed and check_in_use:
        busy = classes_in_use(conn, provider_id, removed)
        if busy:
            raise _in_use_error(conn, provider_id, busy)
    stamp = tables.now()
    if removed:
        conn.execute(
            delete(INV).where(
                INV.c.resource_provider_id == provider_id,
                INV.c.resource_class_id.in_(removed),
            )
        )
    for class_id, inv in wanted.items():
        if class_id not in current:
            continue
        if current[class_id] != inv:
            conn.execute(
                update(INV)
                .where(
                    INV.c.resource_provider_id == provider_id,
                    INV.c.resource_class_id == class_id,
                )
                .values(**_values(inv), updated_at=stamp)
            )
    added = [
        {
            "resource_provider_id": provider_id,
            "resource_class_id": class_id,
            "created_at": stamp,
            "updated_at": stamp,
            **_values(inv),
        }
        for class_id, inv in wanted.items()
        if class_id not in current
    ]
    if added:
        conn.execute(insert(INV), added)


def add(conn: Connection, provider_id: int, resource_class: str, inv: Inventory) -> None:
    """Add one class to the provider's inventory; 409 if it already has that class."""
    ids, missing = _class_ids(conn, [resource_class])
    if missing:
        raise InvalidError(f"No such resource class {resource_class}")
    if ids[resource_class] in _current_ids(conn, provider_id):
        raise ConflictError(
            f"Update conflict: Inventory for '{resource_class}' on resource provider "
            f"'{_provider_uuid(conn, provider_id)}' already exists."
        )
    stamp = tables.now()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(INV).values(
                    resource_provider_id=provider_id,
                    resource_class_id=ids[resource_class],
                    created_at=stamp,
                    updated_at=stamp,
                    **_values(inv),
                )
            )
    except IntegrityError as exc:  # the class was deleted, or the row added, concurrently
        raise ConcurrentUpdate(
            "resource provider generation conflict: the inventory changed concurrently. "
            "Please retry your update"
        ) from exc


def update_one(conn: Connection, provider_id: int, resource_class: str, inv: Inventory) -> None:
    """Overwrite one existing class's record; 400 when the provider has no such record."""
    ids, _ = _class_ids(conn, [resource_class])
    class_id = ids.get(resource_class)
    if class_id is None or class_id not in _current_ids(conn, provider_id):
        raise InvalidError(
            f"No inventory record with resource class {resource_class} for resource "
            f"provider {_provider_uuid(conn, provider_id)}"
        )
    conn.execute(
        update(INV)
        .where(INV.c.resource_provider_id == provider_id, INV.c.resource_class_id == class_id)
        .values(**_values(inv), updated_at=tables.now())
    )


def delete_one(conn: Connection, provider_id: int, resource_class: str) -> None:
    """Remove one class; 404 when absent, 409 while it has allocations here."""
    ids, _ = _class_ids(conn, [resource_class])
    class_id = ids.get(resource_class)
    if class_id is None or class_id not in _current_ids(conn, provider_id):
        raise NotFoundError(f"No inventory of class {resource_class} found for delete")
    busy = classes_in_use(conn, provider_id, [class_id])
    if busy:
        raise _in_use_error(conn, provider_id, busy)
    conn.execute(
        delete(INV).where(
            INV.c.resource_provider_id == provider_id, INV.c.resource_class_id == class_id
        )
    )
