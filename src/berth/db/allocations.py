"""The single committer of allocation changes, and the allocation reads.

Every write of the ``allocations`` table in berth goes through ``replace`` or
``delete_consumer``: PUT/POST/DELETE /allocations, the reshaper, and the scheduler's
claims. ``replace`` never trusts a capacity figure computed outside its transaction. It
first moves the generation of every provider that receives allocations, in id order
(``generations.advance_provider``: the UPDATE takes the provider's row lock on
PostgreSQL/MySQL, waiting for a racing writer to commit; SQLite serialises writers with
``BEGIN IMMEDIATE``), then writes the rows, then re-reads inventory and usage of those
providers *in the same transaction* (READ COMMITTED: the statement sees everything the
previous lock holder committed) and refuses anything over capacity. Two claims racing
for one provider therefore run one after the other, and the second sees the first's
allocations in its usage figures; nobody can overcommit, and nobody's work is wasted.

Clients never send provider generations with allocations (only consumer generations,
which stay a compare-and-swap), so there is nothing of theirs to compare: Placement
compares the generation it read itself and retries, which under contention burns whole
transactions on retries that the row lock turns into a short wait.

As in Placement, only providers that *receive* allocations change generation: releasing
allocations (DELETE, or a provider left out of a consumer's new set) cannot overcommit
anything, and clients rely on those generations staying put. Claims log their providers
as usage-only changes (``changes.touch_usage``): readers patch usage, not whole trees.

A new consumer's claim costs a handful of statements: one looking up every name the
request uses and its consumer, one creating the consumer, one per receiving provider, one
inserting the allocations, one checking capacity, and the change log's insert.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    null,
    select,
    union_all,
)

from berth.db import changes, consumer_types, consumers, generations, many, tables
from berth.db.engine import Store
from berth.model.allocation import (
    INCOMPLETE_CONSUMER_ID,
    Consumer,
    ConsumerAllocations,
    ConsumerView,
    ProviderAllocation,
    ProviderAllocationsView,
)
from berth.model.errors import (
    PROVIDER_NOT_FOUND,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
    RetryableConflict,
)
from berth.model.inventory import Inventory

A = tables.allocations
RP = tables.resource_providers
RC = tables.resource_classes
CT = tables.consumer_types
C = tables.consumers
INV = tables.inventories


@dataclass(slots=True)
class _Names:
    """Ids of the providers, resource classes and consumer types a batch names, and its
    consumers' rows."""

    providers: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)  # those that exist


# --------------------------------------------------------------------------- writes


def commit(store: Store, batch: Sequence[ConsumerAllocations], *, attempts: int = 8) -> None:
    """Replace allocations in a transaction of their own, retrying races the client did not see.

    With provider rows locked rather than compared, what is left to retry is rare: a
    deadlock between two multi-provider writers, or a provider deleted under us (the next
    attempt reports it as unknown). The transaction runs again after a short, jittered
    pause. A stale *consumer* generation is the client's and is never retried.
    """
    for attempt in range(attempts):
        try:
            with store.write() as conn:
                replace(conn, batch)
            return
        except RetryableConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.002 * (2**attempt)))


def replace(conn: Connection, batch: Sequence[ConsumerAllocations]) -> None:
    """Make each consumer's allocations exactly its new set, all in ``conn``'s transaction.

    Raises InvalidError (400) for unknown providers or classes, ConcurrentUpdate (409) on a
    stale consumer generation, RetryableConflict (409) when a provider vanished meanwhile,
    ConflictError (409) when the result would break an inventory's constraints or
    capacity. The caller's transaction rolls back on any of them, so nothing is
    half-written.
    """
    if not batch:
        return
    batch = sorted(batch, key=lambda c: c.consumer_uuid)  # a stable lock order
    names = _lookup(conn, batch)
    emptied, held = _claim_consumers(conn, batch, names)

    # Every provider receiving allocations, in id order (a stable lock order).
    if not generations.advance_providers(conn, sorted(set(names.providers.values()))):
        raise RetryableConflict(
                "resource provider generation conflict: another thread concurrently "
                "updated the provider. Please retry your update"
            )

    if held:  # only consumers that existed can hold allocations already
        changes.touch_usage(conn, _providers_of(conn, held))
        conn.execute(delete(A).where(A.c.consumer_id.in_(held)))
    now = tables.now()
    rows = [
        {
            "resource_provider_id": names.providers[rp],
            "consumer_id": c.consumer_uuid,
            "resource_class_id": names.classes[rc],
            "used": amount,
            "created_at": now,
        }
        for c in batch
        for rp, res in sorted(c.resources.items())
        for rc, amount in sorted(res.items())
    ]
    if rows:
        many.insert_rows(conn, A, rows)
        _check_capacity(conn, batch, names)
    consumers.delete_ids(conn, emptied)


def delete_consumer(conn: Connection, consumer_uuid: str) -> None:
    """Release every allocation of a consumer and forget it; 404 if it holds nothing."""
    consumers.delete_by_uuid(conn, consumer_uuid)  # locks out racing writers of it first
    changes.touch_usage(conn, _providers_of(conn, [consumer_uuid]))
    removed = conn.execute(delete(A).where(A.c.consumer_id == consumer_uuid)).rowcount
    if not removed:
        raise NotFoundError(f"No allocations for consumer '{consumer_uuid}'")


def _providers_of(conn: Connection, consumer_uuids: list[str]) -> set[int]:
    """Providers currently holding allocations of these consumers."""
    query = select(A.c.resource_provider_id).where(A.c.consumer_id.in_(consumer_uuids))
    return set(conn.execute(query.distinct()).scalars())


def _named(kind: str, id_: ColumnElement[int], key: ColumnElement[str]) -> Select[Any]:
    """One branch of ``_LOOKUP`` for providers, classes or types: kind, id, name."""
    # Typed NULLs: PostgreSQL matches a UNION's column types branch by branch.
    columns: list[ColumnElement[Any]] = [
        literal_column(f"'{kind}'"),
        id_,
        key,
        cast(null(), Integer),
        cast(null(), String),
        cast(null(), String),
        cast(null(), String),
    ]
    return select(*columns).where(key.in_(bindparam(kind, expanding=True)))


# Everything a batch names, in one round trip: (kind, id, name, generation, project,
# user, type) rows for the providers ("p"), resource classes ("c") and consumer types
# ("t") it uses and for its consumers ("k") that exist. Built once: constructing and
# hashing a statement costs more Python than executing a cached one.
_LOOKUP = union_all(
    _named("p", RP.c.id, RP.c.uuid),
    _named("c", RC.c.id, RC.c.name),
    _named("t", CT.c.id, CT.c.name),
    select(
        literal_column("'k'"),
        C.c.id,
        C.c.uuid,
        C.c.generation,
        C.c.project_id,
        C.c.user_id,
        CT.c.name,
    )
    .select_from(C.outerjoin(CT, C.c.consumer_type_id == CT.c.id))
    .where(C.c.uuid.in_(bindparam("k", expanding=True))),
)


def _lookup(conn: Connection, batch: Sequence[ConsumerAllocations]) -> _Names:
    """Ids for every name the batch uses and its existing consumers, in one statement;
    InvalidError (400) for an unknown provider, then for an unknown class (first in
    sorted order, as Placement). Consumer types missing here are created later by
    ``consumer_types.ensure``."""
    providers = {rp for c in batch for rp, res in c.resources.items() if res}
    classes = {rc for c in batch for res in c.resources.values() for rc in res}
    types = {c.consumer_type for c in batch if c.consumer_type is not None}
    names = _Names()
    by_kind = {"p": names.providers, "c": names.classes, "t": names.types}
    params = {
        "p": sorted(providers),
        "c": sorted(classes),
        "t": sorted(types),
        "k": sorted({c.consumer_uuid for c in batch}),
    }
    for kind, id_, name, generation, project_id, user_id, type_name in conn.execute(
        _LOOKUP, params
    ):
        if kind == "k":
            names.consumers[name] = Consumer(
                int(id_), name, project_id, user_id, int(generation), type_name
            )
        else:
            by_kind[kind][name] = int(id_)
    for uuid in sorted(providers - names.providers.keys()):
        raise InvalidError(f"Allocation for resource provider '{uuid}' that does not exist.")
    for name in sorted(classes - names.classes.keys()):
        raise InvalidError(f"No such resource class {name}")
    return names


def _claim_consumers(
    conn: Connection, batch: Sequence[ConsumerAllocations], names: _Names
) -> tuple[list[int], list[str]]:
    """Check and move every consumer's generation; return the ids of consumers left empty
    and the uuids of those that existed (only they can hold allocations already).

    A consumer is created at generation 1 by the write that gives it its first
    allocations (as if made at 0 and moved on like any other). Type and owner are
    recorded as the request states them, in the statement that moves the generation.
    """
    existing = names.consumers
    type_ids = names.types
    emptied: list[int] = []
    held: list[str] = []
    created: list[tuple[str, str, str, int | None]] = []
    for req in batch:
        current = existing.get(req.consumer_uuid)
        _check_generation(req, current)
        if current is None and req.is_empty:
            continue  # releasing nothing for a consumer nobody knows: nothing to record
        type_id: int | None = None
        if req.consumer_type is not None:
            type_id = type_ids.get(req.consumer_type)
            if type_id is None:
                type_id = type_ids[req.consumer_type] = consumer_types.ensure(
                    conn, req.consumer_type
                )
        if current is None:
            created.append(
                (
                    req.consumer_uuid,
                    req.project_id or INCOMPLETE_CONSUMER_ID,
                    req.user_id or INCOMPLETE_CONSUMER_ID,
                    type_id,
                )
            )
            continue
        held.append(current.uuid)
        owner = _owner_changes(req, current, type_id)
        generations.bump_consumer(conn, current.id, current.generation, owner)
        if req.is_empty:
            emptied.append(current.id)
    if created:
        consumers.create_many(conn, created)
    return emptied, held


def _check_generation(req: ConsumerAllocations, current: Consumer | None) -> None:
    if not req.check_generation:
        return
    if current is None and req.generation is not None:
        raise ConcurrentUpdate(
            f"consumer generation conflict - expected null but got {req.generation}"
        )
    if current is not None and current.generation != req.generation:
        got = "null" if req.generation is None else str(req.generation)
        raise ConcurrentUpdate(
            f"consumer generation conflict - expected {current.generation} but got {got}"
        )


def _owner_changes(
    req: ConsumerAllocations, current: Consumer, type_id: int | None
) -> dict[str, object]:
    """The consumer columns this request changes (bug 1779717: project and user may)."""
    values: dict[str, object] = {}
    if req.project_id is not None and req.project_id != current.project_id:
        values["project_id"] = req.project_id
    if req.user_id is not None and req.user_id != current.user_id:
        values["user_id"] = req.user_id
    if type_id is not None:
        values["consumer_type_id"] = type_id
    return values


_USED = (
    select(func.sum(A.c.used))
    .where(
        A.c.resource_provider_id == INV.c.resource_provider_id,
        A.c.resource_class_id == INV.c.resource_class_id,
    )
    .scalar_subquery()
)
# Inventory and current usage (our own new rows included) of the claimed classes.
_CAPACITY = select(INV, _USED.label("used")).where(
    INV.c.resource_provider_id.in_(bindparam("providers", expanding=True)),
    INV.c.resource_class_id.in_(bindparam("classes", expanding=True)),
)


def _check_capacity(
    conn: Connection, batch: Sequence[ConsumerAllocations], names: _Names
) -> None:
    """Re-read inventory and (already updated) usage now that the providers are ours."""
    params = {
        "providers": sorted(set(names.providers.values())),
        "classes": sorted(set(names.classes.values())),
    }
    inventory: dict[tuple[int, int], Inventory] = {}
    usage: dict[tuple[int, int], int] = {}
    for r in conn.execute(_CAPACITY, params):
        key = (r.resource_provider_id, r.resource_class_id)
        inventory[key] = Inventory(
            total=r.total,
            reserved=r.reserved,
            min_unit=r.min_unit,
            max_unit=r.max_unit,
            step_size=r.step_size,
            allocation_ratio=r.allocation_ratio,
        )
        usage[key] = int(r.used or 0)
    for req in batch:
        for rp_uuid, res in sorted(req.resources.items()):
            for rc, amount in sorted(res.items()):
                key = (names.providers[rp_uuid], names.classes[rc])
                inv = inventory.get(key)
                if inv is None:
                    raise ConflictError(
                        f"Inventory for '{rc}' on resource provider '{rp_uuid}' invalid."
                    )
                if amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size != 0:
                    raise ConflictError(
                        f"Unable to create allocation for '{rc}' on resource provider "
                        f"'{rp_uuid}'. The requested amount would violate inventory "
                        "constraints."
                    )
                if usage.get(key, 0) > inv.capacity:
                    raise ConflictError(
                        f"Unable to create allocation for '{rc}' on resource provider "
                        f"'{rp_uuid}'. The requested amount would exceed the capacity."
                    )


# --------------------------------------------------------------------------- reads


def _newest(stamps: Iterable[datetime | None]) -> datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def for_consumer(conn: Connection, consumer_uuid: str) -> ConsumerView:
    """Everything the consumer holds, grouped by provider (with provider generations)."""
    rows = conn.execute(
        select(
            RP.c.uuid,
            RP.c.generation,
            RC.c.name,
            A.c.used,
            A.c.created_at,
            A.c.updated_at,
        )
        .select_from(A.join(RP, RP.c.id == A.c.resource_provider_id))
        .join(RC, RC.c.id == A.c.resource_class_id)
        .where(A.c.consumer_id == consumer_uuid)
    ).all()
    if not rows:
        return ConsumerView(consumer=None)
    grouped: dict[str, dict[str, int]] = defaultdict(dict)
    gens: dict[str, int] = {}
    for r in rows:
        grouped[r.uuid][r.name] = r.used
        gens[r.uuid] = r.generation
    allocations = tuple(
        ProviderAllocation(uuid, gens[uuid], dict(res)) for uuid, res in grouped.items()
    )
    return ConsumerView(
        consumer=consumers.get(conn, consumer_uuid),
        allocations=allocations,
        last_modified=_newest(r.updated_at or r.created_at for r in rows),
    )


def for_provider(conn: Connection, provider_uuid: str) -> ProviderAllocationsView:
    """Every consumer's allocations on one provider; 404 when the provider is unknown."""
    row = conn.execute(select(RP.c.id, RP.c.generation).where(RP.c.uuid == provider_uuid)).first()
    if row is None:
        raise NotFoundError(
            f"No resource provider with uuid {provider_uuid} found", code=PROVIDER_NOT_FOUND
        )
    rows = conn.execute(
        select(A.c.consumer_id, RC.c.name, A.c.used, A.c.created_at, A.c.updated_at)
        .select_from(A.join(RC, RC.c.id == A.c.resource_class_id))
        .where(A.c.resource_provider_id == row.id)
    ).all()
    by_consumer: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        by_consumer[r.consumer_id][r.name] = r.used
    return ProviderAllocationsView(
        provider_generation=row.generation,
        by_consumer=dict(by_consumer),
        last_modified=_newest(r.updated_at or r.created_at for r in rows),
    )
