"""Bulk load: many whole provider trees, with inventories, traits and aggregates, in one
transaction.

Placement has no bulk API, so loading a region through it costs four requests (and four
transactions) per provider. This writes a batch with a handful of set-based statements
whatever its size: the names it refers to are resolved once, every table gets one
executemany INSERT (providers one per tree depth, since a child row needs its parent's
id), and every new provider goes into the change log, so each worker's resident index
picks the batch up on its next request.

It is all or nothing. Everything that can be checked is checked before the first INSERT,
naming the offending item (``providers[i] (uuid …): field: …``): a uuid or name that
already exists (409), a parent that does not (400), unknown resource classes or traits
(400). A concurrent writer can still take a uuid or name, or delete a parent, between the
checks and the INSERTs; the constraints catch that, the writes are undone (savepoint) and
the checks run again to say what happened, else it is a 409 concurrent update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import aggregates, changes, tables
from berth.model.bulk import LoadedProvider, NewProvider, check_batch, depths, label
from berth.model.errors import DUPLICATE_NAME, ConcurrentUpdate, ConflictError, InvalidError

RP = tables.resource_providers
RC = tables.resource_classes
TRAITS = tables.traits
INV = tables.inventories
RPT = tables.resource_provider_traits
RPA = tables.resource_provider_aggregates

# Values per IN list: well inside every engine's bound-parameter limit (SQLite's is the
# smallest), and small enough for the planner to use the unique indexes.
_CHUNK = 500

_T = TypeVar("_T")


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def load(conn: Connection, batch: Sequence[NewProvider]) -> list[LoadedProvider]:
    """Create every provider of ``batch`` (parents before children) inside the caller's
    transaction; the loaded providers in batch order, or a domain error and no writes."""
    check_batch(batch)
    if not batch:
        return []
    parents = _check(conn, batch)
    class_ids = _class_ids(conn, batch)
    trait_ids = _trait_ids(conn, batch)
    try:
        with conn.begin_nested():
            agg_ids = _aggregate_ids(conn, batch)
            ids = _insert_providers(conn, batch, parents)
            _insert_details(conn, batch, ids, class_ids, trait_ids, agg_ids)
    except IntegrityError as exc:
        # A concurrent writer got in between: say what it did if the checks can tell.
        _check(conn, batch)
        _class_ids(conn, batch)
        _trait_ids(conn, batch)
        raise ConcurrentUpdate(
            "Another thread concurrently updated the data. Please retry your update"
        ) from exc
    changes.touch(conn, ids.values())
    return [LoadedProvider(uuid=p.uuid, id=ids[p.uuid]) for p in batch]


def _check(conn: Connection, batch: Sequence[NewProvider]) -> dict[str, tuple[int, int]]:
    """409 for a uuid or name already taken, 400 for a parent that is neither in the
    batch nor in the database, each naming the first offending item; the parents outside
    the batch as ``{uuid: (id, root id)}``."""
    uuids = [p.uuid for p in batch]
    names = [p.name for p in batch]
    taken_uuids: set[str] = set()
    taken_names: set[str] = set()
    for uuid_chunk, name_chunk in zip(_chunks(uuids), _chunks(names), strict=True):
        rows = conn.execute(
            select(RP.c.uuid, RP.c.name).where(
                or_(RP.c.uuid.in_(uuid_chunk), RP.c.name.in_(name_chunk))
            )
        )
        for uuid, name in rows:
            taken_uuids.add(uuid)
            taken_names.add(name)
    in_batch = set(uuids)
    outside = sorted({p.parent_uuid for p in batch if p.parent_uuid} - in_batch)
    existing: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(outside):
        for uuid, id_, root in conn.execute(
            select(RP.c.uuid, RP.c.id, RP.c.root_provider_id).where(RP.c.uuid.in_(chunk))
        ):
            existing[uuid] = (id_, id_ if root is None else root)
    for i, p in enumerate(batch):
        where = label(i, p.uuid)
        if p.uuid in taken_uuids:
            raise ConflictError(
                f"{where}: uuid: conflicting resource provider uuid: {p.uuid} already exists"
            )
        if p.name in taken_names:
            raise ConflictError(
                f"{where}: name: conflicting resource provider name: {p.name} already exists",
                code=DUPLICATE_NAME,
            )
        if p.parent_uuid and p.parent_uuid not in in_batch and p.parent_uuid not in existing:
            raise InvalidError(
                f"{where}: parent_provider_uuid: parent provider {p.parent_uuid} does not "
                "exist (it must exist already or come earlier in the batch)."
            )
    return existing


def _class_ids(conn: Connection, batch: Sequence[NewProvider]) -> dict[str, int]:
    return _name_ids(
        conn,
        RC,
        batch,
        lambda p: p.inventories,
        lambda p, missing: (
            "inventories: Unknown resource class in inventory for resource "
            f"provider {p.uuid}: {missing}"
        ),
    )


def _trait_ids(conn: Connection, batch: Sequence[NewProvider]) -> dict[str, int]:
    return _name_ids(
        conn,
        TRAITS,
        batch,
        lambda p: p.traits,
        lambda _, missing: f"traits: No such trait(s): {missing}",
    )


def _name_ids(
    conn: Connection,
    table: Table,
    batch: Sequence[NewProvider],
    names_of: Callable[[NewProvider], Iterable[str]],
    problem: Callable[[NewProvider, str], str],
) -> dict[str, int]:
    """Ids of the resource classes (or traits) the batch names, resolved in one query;
    400 naming the first item that uses an unknown one (``problem`` words it)."""
    wanted = sorted({name for p in batch for name in names_of(p)})
    if not wanted:
        return {}
    query = select(table.c.name, table.c.id).where(table.c.name.in_(wanted))
    ids: dict[str, int] = {name: id_ for name, id_ in conn.execute(query)}
    if len(ids) == len(wanted):
        return ids
    for i, p in enumerate(batch):
        missing = sorted(set(names_of(p)) - ids.keys())
        if missing:
            raise InvalidError(f"{label(i, p.uuid)}: {problem(p, ', '.join(missing))}")
    raise AssertionError("an unknown name belongs to some item")  # pragma: no cover


def _aggregate_ids(conn: Connection, batch: Sequence[NewProvider]) -> dict[str, int]:
    """Ids for every aggregate uuid the batch names, interning new ones in one INSERT
    (one by one, as PUT aggregates does, only if a concurrent writer interned one too)."""
    wanted = sorted({agg for p in batch for agg in p.aggregates})
    if not wanted:
        return {}
    ids = aggregates.ids_by_uuid(conn, wanted)
    fresh = [u for u in wanted if u not in ids]
    if fresh:
        try:
            with conn.begin_nested():
                conn.execute(insert(aggregates.AGG), [{"uuid": u} for u in fresh])
        except IntegrityError:
            for uuid in fresh:  # a concurrent writer interned some: one at a time
                with suppress(IntegrityError), conn.begin_nested():
                    conn.execute(insert(aggregates.AGG).values(uuid=uuid))
        ids = aggregates.ids_by_uuid(conn, wanted)
    return ids


def _insert_providers(
    conn: Connection, batch: Sequence[NewProvider], outside: dict[str, tuple[int, int]]
) -> dict[str, int]:
    """Insert the provider rows, one executemany per depth, and set every root; the new
    ids by uuid. ``outside``: ``{uuid: (id, root id)}`` of the existing parents (one
    deleted meanwhile fails the foreign key)."""
    parents = dict(outside)
    ids: dict[str, int] = {}
    stamp = tables.now()
    by_depth: dict[int, list[NewProvider]] = {}
    for p, depth in zip(batch, depths(batch), strict=True):
        by_depth.setdefault(depth, []).append(p)
    for depth in sorted(by_depth):
        level = by_depth[depth]
        rows: list[dict[str, Any]] = []
        for p in level:
            parent_id: int | None = None
            root_id: int | None = None
            if p.parent_uuid is not None:
                parent_id, root_id = parents[p.parent_uuid]
            rows.append(
                {
                    "uuid": p.uuid,
                    "name": p.name,
                    "generation": 0,
                    "parent_provider_id": parent_id,
                    "root_provider_id": root_id,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        conn.execute(insert(RP), rows)
        for chunk in _chunks([p.uuid for p in level]):
            for uuid, id_, root in conn.execute(
                select(RP.c.uuid, RP.c.id, RP.c.root_provider_id).where(RP.c.uuid.in_(chunk))
            ):
                ids[uuid] = id_
                parents[uuid] = (id_, id_ if root is None else root)
    roots = [ids[p.uuid] for p in batch if p.parent_uuid is None]
    for root_chunk in _chunks(roots):
        # A root is its own root: only known once its id is.
        conn.execute(update(RP).where(RP.c.id.in_(root_chunk)).values(root_provider_id=RP.c.id))
    return ids


def _insert_details(
    conn: Connection,
    batch: Sequence[NewProvider],
    ids: dict[str, int],
    class_ids: dict[str, int],
    trait_ids: dict[str, int],
    agg_ids: dict[str, int],
) -> None:
    """Inventories, trait links and aggregate links of every provider: one executemany
    INSERT per table."""
    stamp = tables.now()
    inventories = [
        {
            "resource_provider_id": ids[p.uuid],
            "resource_class_id": class_ids[rc],
            "total": inv.total,
            "reserved": inv.reserved,
            "min_unit": inv.min_unit,
            "max_unit": inv.max_unit,
            "step_size": inv.step_size,
            "allocation_ratio": inv.allocation_ratio,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for p in batch
        for rc, inv in p.inventories.items()
    ]
    trait_links = [
        {"resource_provider_id": ids[p.uuid], "trait_id": trait_ids[t]}
        for p in batch
        for t in sorted(set(p.traits))
    ]
    agg_links = [
        {"resource_provider_id": ids[p.uuid], "aggregate_id": agg_ids[a]}
        for p in batch
        for a in dict.fromkeys(p.aggregates)
    ]
    for table, rows in ((INV, inventories), (RPT, trait_links), (RPA, agg_links)):
        if rows:
            conn.execute(insert(table), rows)
