"""Resource providers: rows, lookups, tree bookkeeping and the create/update/delete writes.

A provider's tree position is stored twice on purpose, as ``parent_provider_id`` and
``root_provider_id``: the root column is what makes "everything in this tree" (in_tree,
allocation candidates) a single indexed lookup, so every write that moves a subtree must
rewrite the root of every descendant in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import changes, generations, tables
from berth.model.errors import (
    DUPLICATE_NAME,
    PROVIDER_CANNOT_DELETE_PARENT,
    PROVIDER_IN_USE,
    PROVIDER_NOT_FOUND,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.provider import Provider

RP = tables.resource_providers
_PARENT = RP.alias("parent")
_ROOT = RP.alias("root")


def get_row(conn: Connection, uuid: str) -> Row[tuple[object, ...]]:
    """The provider row for ``uuid``, or 404 with Placement's wording."""
    row = conn.execute(select(RP).where(RP.c.uuid == uuid)).first()
    if row is None:
        raise NotFoundError(f"No resource provider with uuid {uuid} found", code=PROVIDER_NOT_FOUND)
    return row


def select_providers() -> Select[Any]:
    """SELECT of provider columns plus parent/root uuids; callers add WHERE clauses."""
    return (
        select(
            RP.c.id,
            RP.c.uuid,
            RP.c.name,
            RP.c.generation,
            _PARENT.c.uuid.label("parent_uuid"),
            _ROOT.c.uuid.label("root_uuid"),
            RP.c.created_at,
            RP.c.updated_at,
        )
        .select_from(RP)
        .outerjoin(_PARENT, _PARENT.c.id == RP.c.parent_provider_id)
        .outerjoin(_ROOT, _ROOT.c.id == RP.c.root_provider_id)
    )


def to_provider(row: Row[tuple[object, ...]]) -> Provider:
    """Build the model value from a row of ``select_providers()``."""
    m = row._mapping
    return Provider(
        id=m["id"],
        uuid=m["uuid"],
        name=m["name"],
        generation=m["generation"],
        parent_uuid=m["parent_uuid"],
        # A root's root column points at itself; tolerate a missing one (never written by
        # berth, but a hand-edited database should not turn into a 500).
        root_uuid=m["root_uuid"] or m["uuid"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def get(conn: Connection, uuid: str) -> Provider:
    """The provider ``uuid``, or 404 with Placement's wording."""
    row = conn.execute(select_providers().where(RP.c.uuid == uuid)).first()
    if row is None:
        raise NotFoundError(f"No resource provider with uuid {uuid} found", code=PROVIDER_NOT_FOUND)
    return to_provider(row)


def find(conn: Connection, uuid: str) -> Provider | None:
    """The provider ``uuid`` or None."""
    row = conn.execute(select_providers().where(RP.c.uuid == uuid)).first()
    return None if row is None else to_provider(row)


def by_ids(conn: Connection, ids: Iterable[int]) -> list[Provider]:
    """The providers with these internal ids, ordered by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(select_providers().where(RP.c.id.in_(wanted)).order_by(RP.c.id)).all()
    return [to_provider(r) for r in rows]


def _name_taken(conn: Connection, name: str, other_than: int | None = None) -> bool:
    query = select(RP.c.id).where(RP.c.name == name)
    if other_than is not None:
        query = query.where(RP.c.id != other_than)
    return conn.execute(query.limit(1)).first() is not None


def _duplicate_name(name: str) -> ConflictError:
    return ConflictError(
        f"Conflicting resource provider name: {name} already exists", code=DUPLICATE_NAME
    )


def _insert_conflict(conn: Connection, uuid: str, name: str) -> ConflictError:
    """The 409 for an insert/update refused by a unique constraint, as precise as possible."""
    if conn.execute(select(RP.c.id).where(RP.c.uuid == uuid)).first() is not None:
        return ConflictError(f"Conflicting resource provider uuid: {uuid} already exists")
    if _name_taken(conn, name):
        return _duplicate_name(name)
    return ConcurrentUpdate(
        "Another thread concurrently updated the data. Please retry your update"
    )


def create(conn: Connection, *, uuid: str, name: str, parent_uuid: str | None) -> Provider:
    """Insert a provider (a root, or a child of ``parent_uuid``) at generation 0.

    Duplicates are checked first for a precise message. A concurrent twin (or a parent
    deleted meanwhile) still trips the constraints: the insert runs in a savepoint so the
    409 can say which constraint, instead of the database error becoming a 500.
    """
    prefix = f'Unable to create resource provider "{name}", {uuid}: '
    if conn.execute(select(RP.c.id).where(RP.c.uuid == uuid)).first() is not None:
        raise ConflictError(f"Conflicting resource provider uuid: {uuid} already exists")
    if _name_taken(conn, name):
        raise _duplicate_name(name)
    parent_id: int | None = None
    root_id: int | None = None
    if parent_uuid is not None:
        if parent_uuid == uuid:
            raise InvalidError(prefix + "parent provider UUID cannot be same as UUID.")
        parent = conn.execute(
            select(RP.c.id, RP.c.root_provider_id).where(RP.c.uuid == parent_uuid)
        ).first()
        if parent is None:
            raise InvalidError(prefix + "parent provider UUID does not exist.")
        parent_id, root_id = parent.id, parent.root_provider_id or parent.id
    stamp = tables.now()
    try:
        with conn.begin_nested():
            key = conn.execute(
                insert(RP).values(
                    uuid=uuid,
                    name=name,
                    generation=0,
                    parent_provider_id=parent_id,
                    root_provider_id=root_id,
                    created_at=stamp,
                    updated_at=stamp,
                )
            ).inserted_primary_key
    except IntegrityError as exc:
        raise _insert_conflict(conn, uuid, name) from exc
    assert key is not None
    new_id = key[0]
    changes.touch(conn, (new_id,))
    if root_id is None:
        conn.execute(update(RP).where(RP.c.id == new_id).values(root_provider_id=new_id))
    return get(conn, uuid)


def _tree(conn: Connection, root_uuids: set[str], *, lock: bool = False) -> dict[int, int | None]:
    """``{id: parent id}`` for every provider in the trees rooted at ``root_uuids``.

    With ``lock``, the rows are locked (SELECT ... FOR UPDATE, in id order so concurrent
    movers queue instead of deadlocking); SQLite's BEGIN IMMEDIATE already serializes.
    """
    roots = select(RP.c.id).where(RP.c.uuid.in_(sorted(root_uuids))).scalar_subquery()
    query = (
        select(RP.c.id, RP.c.parent_provider_id)
        .where(RP.c.root_provider_id.in_(roots))
        .order_by(RP.c.id)
    )
    if lock:
        query = query.with_for_update()
    return {id_: parent for id_, parent in conn.execute(query)}


def _descendants(tree: dict[int, int | None], provider_id: int) -> set[int]:
    """Ids of every provider below ``provider_id`` in ``tree``."""
    children: dict[int, list[int]] = {}
    for id_, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(id_)
    found: set[int] = set()
    stack = [provider_id]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def update_provider(
    conn: Connection,
    uuid: str,
    *,
    name: str,
    set_parent: bool = False,
    parent_uuid: str | None = None,
    allow_reparenting: bool = False,
) -> Provider:
    """Rename a provider and, with ``set_parent``, move it in (or out of) a tree.

    Before microversion 1.37 (``allow_reparenting`` False) a provider that has a parent
    keeps it; a root may still be given a parent. Moving a provider moves its subtree:
    every descendant's root is rewritten. A provider never becomes its own ancestor.
    The generation is not bumped: Placement treats name/parent as metadata, not inventory.
    """
    current = get(conn, uuid)
    if _name_taken(conn, name, other_than=current.id):
        raise _duplicate_name(name)
    if set_parent and parent_uuid != current.parent_uuid:
        _move(conn, current, parent_uuid, allow_reparenting)
    # Logged although no candidate changes: resident indexes also answer the provider
    # list, which shows the name and (Last-Modified) updated_at.
    changes.touch(conn, (current.id,))
    try:
        with conn.begin_nested():
            conn.execute(
                update(RP).where(RP.c.id == current.id).values(name=name, updated_at=tables.now())
            )
    except IntegrityError as exc:
        if _name_taken(conn, name, other_than=current.id):
            raise _duplicate_name(name) from exc
        raise
    return get(conn, uuid)


def _move(
    conn: Connection, current: Provider, parent_uuid: str | None, allow_reparenting: bool
) -> None:
    """Put ``current`` (and its subtree) under ``parent_uuid``, or make it a root.

    Both trees involved are locked and re-read before deciding, so two concurrent moves
    cannot together build a loop (A under B while B goes under A).
    """
    prefix = f"Unable to save resource provider {current.uuid}: "
    if parent_uuid is None and not allow_reparenting:
        raise InvalidError(prefix + "un-parenting a provider is not currently allowed.")
    parent: Provider | None = None
    if parent_uuid is not None:
        parent = find(conn, parent_uuid)
        if parent is None:
            raise InvalidError(prefix + "parent provider UUID does not exist.")
    roots = {current.root_uuid} | ({parent.root_uuid} if parent else set())
    tree = _tree(conn, roots, lock=True)
    current = get(conn, current.uuid)
    parent = None if parent is None else get(conn, parent.uuid)
    if {current.root_uuid} | ({parent.root_uuid} if parent else set()) != roots:
        raise ConcurrentUpdate(
            "Another thread concurrently updated the data. Please retry your update"
        )
    below = _descendants(tree, current.id)
    if parent is None:
        new_parent_id, new_root_uuid = None, current.uuid
    else:
        if parent.id == current.id or parent.id in below:
            raise InvalidError(prefix + "creating loop in the provider tree is not allowed.")
        if current.parent_uuid is not None and not allow_reparenting:
            raise InvalidError(prefix + "re-parenting a provider is not currently allowed.")
        new_parent_id, new_root_uuid = parent.id, parent.root_uuid
    conn.execute(update(RP).where(RP.c.id == current.id).values(parent_provider_id=new_parent_id))
    changes.touch_everything(conn)
    if new_root_uuid != current.root_uuid:
        # Looked up first: MySQL refuses an UPDATE whose value selects from the same table.
        new_root = conn.execute(select(RP.c.id).where(RP.c.uuid == new_root_uuid)).scalar_one()
        conn.execute(
            update(RP)
            .where(RP.c.id.in_(sorted(below | {current.id})))
            .values(root_provider_id=new_root)
        )


def _refuse_if_in_use(conn: Connection, provider_id: int, uuid: str) -> None:
    alloc = tables.allocations
    if conn.execute(select(exists().where(alloc.c.resource_provider_id == provider_id))).scalar():
        raise ConflictError(
            f"Unable to delete resource provider {uuid}: Resource provider has allocations.",
            code=PROVIDER_IN_USE,
        )
    if conn.execute(select(exists().where(RP.c.parent_provider_id == provider_id))).scalar():
        raise ConflictError(
            f"Unable to delete parent resource provider {uuid}: It has child resource providers.",
            code=PROVIDER_CANNOT_DELETE_PARENT,
        )


def delete_provider(conn: Connection, uuid: str) -> None:
    """Delete a provider with its inventories, trait and aggregate links, in one go.

    Refused (409) while it has allocations or children. The generation is bumped first so
    a concurrent writer that read the provider (e.g. to allocate) loses its swap instead
    of writing against a provider that is about to vanish; a child created meanwhile is
    caught by the foreign key, and answered with the same 409.
    """
    row = conn.execute(select(RP.c.id, RP.c.generation).where(RP.c.uuid == uuid)).first()
    if row is None:
        raise NotFoundError(
            f"No resource provider with uuid {uuid} found for delete", code=PROVIDER_NOT_FOUND
        )
    generations.bump_provider(conn, row.id, row.generation)
    _refuse_if_in_use(conn, row.id, uuid)
    for table in (
        tables.inventories,
        tables.resource_provider_traits,
        tables.resource_provider_aggregates,
    ):
        conn.execute(delete(table).where(table.c.resource_provider_id == row.id))
    try:
        with conn.begin_nested():
            conn.execute(update(RP).where(RP.c.id == row.id).values(root_provider_id=None))
            conn.execute(delete(RP).where(RP.c.id == row.id))
    except IntegrityError:
        _refuse_if_in_use(conn, row.id, uuid)
        raise
