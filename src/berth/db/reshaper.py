"""The reshaper: move inventory and the allocations against it in one transaction.

Used when a provider splits into a tree (e.g. VCPU moving from a compute node to NUMA
children). Neither order of the two obvious steps works alone: inventory that still has
allocations cannot be removed, and allocations cannot be made against inventory that does
not exist yet. So, as Placement does, three steps, each moving the provider generation:

1. give each listed provider the *union* of its current and its new inventory;
2. replace the listed consumers' allocations through the single allocation committer
   (which checks capacity against that union, i.e. the new records where they exist);
3. set each provider's inventory to exactly the new one, refusing to drop a class that
   still has allocations (``placement.inventory.inuse``).

Any failure rolls the whole transaction back, generations included.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from berth.db import allocations, generations, inventories, tables
from berth.model.allocation import ConsumerAllocations, ProviderInventories
from berth.model.errors import PROVIDER_NOT_FOUND, ConcurrentUpdate, InvalidError

RP = tables.resource_providers
RC = tables.resource_classes


def _provider_ids(conn: Connection, wanted: Sequence[ProviderInventories]) -> dict[str, int]:
    """Each listed provider's id, after checking it exists and was seen at its generation."""
    ids: dict[str, int] = {}
    for item in wanted:
        row = conn.execute(
            select(RP.c.id, RP.c.generation).where(RP.c.uuid == item.provider_uuid)
        ).first()
        if row is None:
            raise InvalidError(
                f"Resource provider {item.provider_uuid} in inventories not found: "
                f"No resource provider with uuid {item.provider_uuid} found",
                code=PROVIDER_NOT_FOUND,
            )
        if row.generation != item.generation:
            raise ConcurrentUpdate(
                f"resource provider generation conflict for provider {item.provider_uuid}: "
                f"actual: {row.generation}, given: {item.generation}"
            )
        ids[item.provider_uuid] = row.id
    return ids


def _check_classes(conn: Connection, wanted: Sequence[ProviderInventories]) -> None:
    names = {rc for item in wanted for rc in item.inventories}
    if not names:
        return
    known = set(conn.execute(select(RC.c.name).where(RC.c.name.in_(sorted(names)))).scalars())
    for name in sorted(names - known):
        raise InvalidError(f"No such resource class {name}")


def _bump(conn: Connection, provider_id: int) -> None:
    """Move the generation we already hold (checked, or bumped, earlier in this transaction)."""
    seen = conn.execute(select(RP.c.generation).where(RP.c.id == provider_id)).scalar_one()
    generations.bump_provider(conn, provider_id, int(seen))


def reshape(
    conn: Connection,
    wanted: Sequence[ProviderInventories],
    batch: Sequence[ConsumerAllocations],
) -> None:
    """Apply a reshape in ``conn``'s transaction; see the module docstring for the steps."""
    ids = _provider_ids(conn, wanted)
    _check_classes(conn, wanted)
    ordered = sorted(wanted, key=lambda item: ids[item.provider_uuid])  # a stable lock order
    for item in ordered:
        pid = ids[item.provider_uuid]
        # The compare-and-swap against the generation the client saw comes first.
        generations.bump_provider(conn, pid, item.generation)
        union = {**inventories.get_all(conn, pid), **item.inventories}
        inventories.replace(conn, pid, union, check_in_use=False)
    allocations.replace(conn, batch)
    for item in ordered:
        pid = ids[item.provider_uuid]
        inventories.replace(conn, pid, item.inventories, check_in_use=True)
        _bump(conn, pid)
