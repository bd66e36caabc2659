"""Usages: sums of allocations, per provider or per project/user (and consumer type).

Usage is never stored; it is always summed from ``allocations`` so it cannot drift from
what consumers actually hold. ``allocations.consumer_id`` is the consumer's uuid, which
is how allocations are tied to a consumer's project, user and type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select

from berth.db import tables

ALLOC = tables.allocations
RP = tables.resource_providers
INV = tables.inventories
RC = tables.resource_classes
C = tables.consumers
CT = tables.consumer_types

# Consumer-type filters with a meaning of their own at microversion 1.38.
ALL_TYPES = "all"
UNKNOWN_TYPE = "unknown"


@dataclass(slots=True)
class TypedUsage:
    """What the consumers of one type (or of every type, "all") hold, and how many they are."""

    consumer_count: int = 0
    resources: dict[str, int] = field(default_factory=dict)


def usage_by_class(conn: Connection, provider_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Allocated amounts by provider id and class name (only classes with allocations)."""
    ids = sorted(set(provider_ids))
    out: dict[int, dict[str, int]] = {}
    if not ids:
        return out
    rows = conn.execute(
        select(ALLOC.c.resource_provider_id, RC.c.name, func.sum(ALLOC.c.used))
        .join(RC, RC.c.id == ALLOC.c.resource_class_id)
        .where(ALLOC.c.resource_provider_id.in_(ids))
        .group_by(ALLOC.c.resource_provider_id, RC.c.name)
    )
    for rp_id, name, used in rows:
        out.setdefault(rp_id, {})[name] = int(used)
    return out


_SUMS = (
    select(
        ALLOC.c.resource_provider_id.label("rp"),
        ALLOC.c.resource_class_id.label("rc"),
        func.sum(ALLOC.c.used).label("used"),
    )
    .where(ALLOC.c.resource_provider_id.in_(bindparam("ids", expanding=True)))
    .group_by(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id)
    .subquery()
)
# One row per provider and allocated class (one with NULLs for a provider without any).
_STATES = (
    select(
        RP.c.id,
        RP.c.generation,
        func.coalesce(RP.c.updated_at, RP.c.created_at),
        RC.c.name,
        _SUMS.c.used,
    )
    .select_from(RP.outerjoin(_SUMS, _SUMS.c.rp == RP.c.id).outerjoin(RC, RC.c.id == _SUMS.c.rc))
    .where(RP.c.id.in_(bindparam("ids", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class ProviderState:
    """What an allocation write moves on a provider: generation, timestamp and usage."""

    generation: int
    last_modified: datetime | None
    used: dict[str, int]


def provider_states(conn: Connection, provider_ids: Iterable[int]) -> dict[int, ProviderState]:
    """Generation, last modification and non-zero usage by class of the given providers
    (those that still exist), in one statement: the resident index's refresh after a
    usage-only change (``berth.db.changes.touch_usage``)."""
    ids = sorted(set(provider_ids))
    if not ids:
        return {}
    rows = conn.execute(_STATES, {"ids": ids})
    out: dict[int, ProviderState] = {}
    for pid, generation, stamp, rc_name, used in rows:
        state = out.get(pid)
        if state is None:
            state = out[pid] = ProviderState(int(generation), stamp, {})
        if rc_name is not None and used:
            state.used[rc_name] = int(used)
    return out


def provider_usages(conn: Connection, provider_id: int) -> dict[str, int]:
    """Usage of every class in the provider's inventory (0 when nothing is allocated)."""
    inventory_classes = conn.execute(
        select(RC.c.name)
        .join(INV, INV.c.resource_class_id == RC.c.id)
        .where(INV.c.resource_provider_id == provider_id)
        .order_by(RC.c.id)
    )
    usages = {name: 0 for (name,) in inventory_classes}
    usages.update(usage_by_class(conn, [provider_id]).get(provider_id, {}))
    return usages


def _owned(query: Select[Any], project_id: str, user_id: str | None) -> Select[Any]:
    query = query.where(C.c.project_id == project_id)
    if user_id is not None:
        query = query.where(C.c.user_id == user_id)
    return query


def project_usages(conn: Connection, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """Total allocated amounts by class for a project (and optionally one of its users)."""
    query = (
        select(RC.c.name, func.sum(ALLOC.c.used))
        .select_from(ALLOC)
        .join(C, C.c.uuid == ALLOC.c.consumer_id)
        .join(RC, RC.c.id == ALLOC.c.resource_class_id)
        .group_by(RC.c.name)
    )
    rows = conn.execute(_owned(query, project_id, user_id))
    return {name: int(used) for name, used in rows}


def project_usages_by_type(
    conn: Connection,
    project_id: str,
    user_id: str | None = None,
    consumer_type: str | None = None,
) -> dict[str, TypedUsage]:
    """Usage grouped by consumer type (1.38); untyped consumers are grouped as "unknown".

    ``consumer_type`` narrows to one type; ``"all"`` folds every type into one "all"
    group and ``"unknown"`` selects the untyped consumers (both exact, lower case).
    """
    type_name = func.coalesce(CT.c.name, UNKNOWN_TYPE)
    base: Select[Any] = (
        select(ALLOC.c.consumer_id, RC.c.name.label("rc"), ALLOC.c.used, type_name.label("ct"))
        .select_from(ALLOC)
        .join(C, C.c.uuid == ALLOC.c.consumer_id)
        .outerjoin(CT, CT.c.id == C.c.consumer_type_id)
        .join(RC, RC.c.id == ALLOC.c.resource_class_id)
    )
    base = _owned(base, project_id, user_id)
    if consumer_type == UNKNOWN_TYPE:
        base = base.where(C.c.consumer_type_id.is_(None))
    elif consumer_type is not None and consumer_type != ALL_TYPES:
        base = base.where(CT.c.name == consumer_type)
    rows = base.subquery()
    by_type = consumer_type != ALL_TYPES
    extra = [rows.c.ct] if by_type else []
    out: dict[str, TypedUsage] = {}

    def bucket(row: Row[Any]) -> TypedUsage:
        return out.setdefault(str(row[-1]) if by_type else ALL_TYPES, TypedUsage())

    sums = select(rows.c.rc, func.sum(rows.c.used), *extra).group_by(rows.c.rc, *extra)
    for row in conn.execute(sums):
        bucket(row).resources[row[0]] = int(row[1])
    counts = select(func.count(rows.c.consumer_id.distinct()), *extra).group_by(*extra)
    for row in conn.execute(counts):
        if row[0]:
            bucket(row).consumer_count = int(row[0])
    return out
