"""The single committer of allocation changes, and the allocation reads.

Every write of the ``allocations`` table in berth goes through ``replace`` or
``delete_consumer``: PUT/POST/DELETE /allocations, the reshaper, and the scheduler's
claims. ``replace`` never trusts a capacity figure computed outside its transaction. It
first moves the generation of every provider that receives allocations (compare-and-swap,
which also takes that provider's row lock on PostgreSQL/MySQL and is serialised by
``BEGIN IMMEDIATE`` on SQLite), then writes the rows, then re-reads inventory and usage of
those providers *in the same transaction* and refuses anything over capacity. A writer
that raced us on a provider therefore either committed before our compare-and-swap (and
its allocations are in our usage figures) or fails its own compare-and-swap with a 409
``placement.concurrent_update``; nobody can overcommit.

As in Placement, only providers that *receive* allocations change generation: releasing
allocations (DELETE, or a provider left out of a consumer's new set) cannot overcommit
anything, and clients rely on those generations staying put.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from berth.db import changes, consumer_types, consumers, generations, tables
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
INV = tables.inventories


@dataclass(frozen=True, slots=True)
class _ProviderRef:
    id: int
    uuid: str
    generation: int


# --------------------------------------------------------------------------- writes


def commit(store: Store, batch: Sequence[ConsumerAllocations], *, attempts: int = 8) -> None:
    """Replace allocations in a transaction of their own, retrying races the client did not see.

    Placement clients never send provider generations with allocations, so losing a
    provider compare-and-swap to a concurrent claim is the server's business: the whole
    transaction (which re-reads usage and re-checks capacity) runs again after a short,
    jittered pause. A stale *consumer* generation is the client's and is never retried.
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
    stale consumer generation or a lost provider compare-and-swap, ConflictError (409) when
    the result would break an inventory's constraints or capacity. The caller's transaction
    rolls back on any of them, so nothing is half-written.
    """
    if not batch:
        return
    batch = sorted(batch, key=lambda c: c.consumer_uuid)  # a stable lock order
    providers = _providers(conn, {rp for c in batch for rp, res in c.resources.items() if res})
    class_ids = _class_ids(conn, {rc for c in batch for res in c.resources.values() for rc in res})

    emptied = _claim_consumers(conn, batch)

    # Every provider receiving allocations, in id order (a stable lock order).
    receiving = sorted(providers.values(), key=lambda p: p.id)
    try:
        for ref in receiving:
            generations.bump_provider(conn, ref.id, ref.generation)
    except ConcurrentUpdate as exc:
        # We read those generations ourselves a moment ago: another writer raced us, not
        # the client, so the whole transaction may simply be tried again (see commit()).
        raise RetryableConflict(exc.message) from exc

    batch_ids = [c.consumer_uuid for c in batch]
    changes.touch(conn, _providers_of(conn, batch_ids))
    conn.execute(delete(A).where(A.c.consumer_id.in_(batch_ids)))
    now = tables.now()
    rows = [
        {
            "resource_provider_id": providers[rp].id,
            "consumer_id": c.consumer_uuid,
            "resource_class_id": class_ids[rc],
            "used": amount,
            "created_at": now,
        }
        for c in batch
        for rp, res in sorted(c.resources.items())
        for rc, amount in sorted(res.items())
    ]
    if rows:
        conn.execute(insert(A), rows)
        _check_capacity(conn, batch, providers, class_ids)
    consumers.delete_ids(conn, emptied)


def delete_consumer(conn: Connection, consumer_uuid: str) -> None:
    """Release every allocation of a consumer and forget it; 404 if it holds nothing."""
    consumers.delete_by_uuid(conn, consumer_uuid)  # locks out racing writers of it first
    changes.touch(conn, _providers_of(conn, [consumer_uuid]))
    removed = conn.execute(delete(A).where(A.c.consumer_id == consumer_uuid)).rowcount
    if not removed:
        raise NotFoundError(f"No allocations for consumer '{consumer_uuid}'")


def _providers_of(conn: Connection, consumer_uuids: list[str]) -> set[int]:
    """Providers currently holding allocations of these consumers."""
    query = select(A.c.resource_provider_id).where(A.c.consumer_id.in_(consumer_uuids))
    return set(conn.execute(query.distinct()).scalars())


def _providers(conn: Connection, uuids: set[str]) -> dict[str, _ProviderRef]:
    if not uuids:
        return {}
    rows = conn.execute(
        select(RP.c.id, RP.c.uuid, RP.c.generation).where(RP.c.uuid.in_(sorted(uuids)))
    ).all()
    found = {r.uuid: _ProviderRef(r.id, r.uuid, r.generation) for r in rows}
    for uuid in sorted(uuids):
        if uuid not in found:
            raise InvalidError(f"Allocation for resource provider '{uuid}' that does not exist.")
    return found


def _class_ids(conn: Connection, names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    rows = conn.execute(select(RC.c.name, RC.c.id).where(RC.c.name.in_(sorted(names)))).all()
    found = {name: id_ for name, id_ in rows}
    for name in sorted(names):
        if name not in found:
            raise InvalidError(f"No such resource class {name}")
    return found


def _claim_consumers(conn: Connection, batch: Sequence[ConsumerAllocations]) -> list[int]:
    """Check and move every consumer's generation; return ids of consumers left empty.

    A consumer is created (generation 0, then moved to 1 like any other) by the write that
    gives it its first allocations. Type and owner are recorded as the request states them.
    """
    existing = consumers.get_many(conn, [c.consumer_uuid for c in batch])
    emptied: list[int] = []
    for req in batch:
        current = existing.get(req.consumer_uuid)
        _check_generation(req, current)
        if current is None and req.is_empty:
            continue  # releasing nothing for a consumer nobody knows: nothing to record
        type_id = (
            consumer_types.ensure(conn, req.consumer_type)
            if req.consumer_type is not None
            else None
        )
        if current is None:
            current = consumers.create(
                conn,
                req.consumer_uuid,
                req.project_id or INCOMPLETE_CONSUMER_ID,
                req.user_id or INCOMPLETE_CONSUMER_ID,
                type_id,
            )
        elif _owner_changes(req, current, type_id):
            consumers.set_owner(
                conn,
                current.id,
                req.project_id or current.project_id,
                req.user_id or current.user_id,
                type_id,
            )
        generations.bump_consumer(conn, current.id, current.generation)
        if req.is_empty:
            emptied.append(current.id)
    return emptied


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


def _owner_changes(req: ConsumerAllocations, current: Consumer, type_id: int | None) -> bool:
    return (
        (req.project_id is not None and req.project_id != current.project_id)
        or (req.user_id is not None and req.user_id != current.user_id)
        or type_id is not None
    )


def _check_capacity(
    conn: Connection,
    batch: Sequence[ConsumerAllocations],
    providers: Mapping[str, _ProviderRef],
    class_ids: Mapping[str, int],
) -> None:
    """Re-read inventory and (already updated) usage now that the providers are ours."""
    ids = sorted({p.id for p in providers.values()})
    inventory = _inventories(conn, ids)
    usage = _usage(conn, ids)
    for req in batch:
        for rp_uuid, res in sorted(req.resources.items()):
            for rc, amount in sorted(res.items()):
                rp = providers[rp_uuid]
                key = (rp.id, class_ids[rc])
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


def _inventories(conn: Connection, provider_ids: Iterable[int]) -> dict[tuple[int, int], Inventory]:
    rows = conn.execute(select(INV).where(INV.c.resource_provider_id.in_(list(provider_ids))))
    return {
        (r.resource_provider_id, r.resource_class_id): Inventory(
            total=r.total,
            reserved=r.reserved,
            min_unit=r.min_unit,
            max_unit=r.max_unit,
            step_size=r.step_size,
            allocation_ratio=r.allocation_ratio,
        )
        for r in rows
    }


def _usage(conn: Connection, provider_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    rows = conn.execute(
        select(A.c.resource_provider_id, A.c.resource_class_id, func.sum(A.c.used))
        .where(A.c.resource_provider_id.in_(list(provider_ids)))
        .group_by(A.c.resource_provider_id, A.c.resource_class_id)
    )
    return {(rp, rc): int(used or 0) for rp, rc, used in rows}


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
