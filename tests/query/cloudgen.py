"""Small clouds and candidate requests: by hand, at random, in memory and in a database.

A ``CloudSpec`` is a list of providers (parent, inventories, usage, traits, aggregates).
It becomes a ``Cloud`` directly (for engine and reference tests without a database) or
rows in a real database (to test the snapshot loader and the engine on what it loads).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from berth.db import tables
from berth.db.engine import Store
from berth.model.candidates import CandidateRequest, RequestGroup
from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud, Node, SnapshotScope
from berth.model.filters import AggregateFilter, TraitFilter
from berth.model.inventory import Inventory

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
TRAITS = ("HW_CPU_X86_AVX", "HW_CPU_X86_SSE", "HW_NUMA_ROOT")
AGGS = tuple(str(uuidlib.UUID(int=0xA660 + i)) for i in range(3))


def provider_uuid(index: int) -> str:
    return str(uuidlib.UUID(int=0x1000 + index))


@dataclass
class P:
    """One provider of a spec; ``parent`` is the index of an earlier provider."""

    parent: int | None = None
    inventory: dict[str, Inventory] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    aggs: frozenset[str] = frozenset()


@dataclass
class CloudSpec:
    providers: list[P]

    def cloud(self) -> Cloud:
        """The spec as a Cloud; provider ids are index + 1."""
        nodes: dict[int, Node] = {}
        for i, p in enumerate(self.providers):
            pid = i + 1
            parent = p.parent + 1 if p.parent is not None else None
            root = nodes[parent].root_id if parent is not None else pid
            nodes[pid] = Node(pid, provider_uuid(i), f"rp{i}", 0, parent, root)
        return Cloud(
            nodes=nodes,
            inventories={i + 1: dict(p.inventory) for i, p in enumerate(self.providers)},
            usages={i + 1: dict(p.used) for i, p in enumerate(self.providers)},
            traits={i + 1: _trait_order(p.traits) for i, p in enumerate(self.providers)},
            aggregates={i + 1: p.aggs for i, p in enumerate(self.providers)},
        )


def _trait_order(traits: tuple[str, ...]) -> tuple[str, ...]:
    # (A database lists traits in trait-id order; tests compare candidates, not order.)
    return tuple(sorted(set(traits)))


def scope_for(request: CandidateRequest) -> SnapshotScope:
    """The snapshot scope the API asks for (mirrors the handler)."""
    return SnapshotScope(
        classes=request.resource_classes,
        provider_uuids=frozenset(g.in_tree for g in request.groups if g.in_tree),
        everything=request.has_resourceless_group,
    )


# --- writing a spec into a database --------------------------------------------------

_DATA = (
    tables.allocations,
    tables.resource_provider_traits,
    tables.resource_provider_aggregates,
    tables.placement_aggregates,
    tables.inventories,
)


def wipe(store: Store) -> None:
    rp = tables.resource_providers
    with store.write() as conn:
        for table in _DATA:
            conn.execute(delete(table))
        conn.execute(update(rp).values(parent_provider_id=None, root_provider_id=None))
        conn.execute(delete(rp))


def write(store: Store, spec: CloudSpec) -> None:
    """Insert ``spec`` (into an empty database) with plain rows, as the API would."""
    rp = tables.resource_providers
    now = tables.now()
    with store.write() as conn:
        rc_ids = dict(
            conn.execute(select(tables.resource_classes.c.name, tables.resource_classes.c.id)).all()
        )
        names = set(TRAITS) | {SHARES_VIA_AGGREGATE}
        trait_ids = dict(
            conn.execute(
                select(tables.traits.c.name, tables.traits.c.id).where(
                    tables.traits.c.name.in_(sorted(names))
                )
            ).all()
        )
        agg_ids: dict[str, int] = {}
        for agg in AGGS:
            agg_ids[agg] = conn.execute(
                insert(tables.placement_aggregates).values(uuid=agg)
            ).inserted_primary_key[0]
        ids: list[int] = []
        roots: list[int] = []
        for i, p in enumerate(spec.providers):
            parent = ids[p.parent] if p.parent is not None else None
            pid = conn.execute(
                insert(rp).values(
                    uuid=provider_uuid(i),
                    name=f"rp{i}",
                    generation=0,
                    parent_provider_id=parent,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            root = roots[p.parent] if p.parent is not None else pid
            conn.execute(update(rp).where(rp.c.id == pid).values(root_provider_id=root))
            ids.append(pid)
            roots.append(root)
            for rc, inv in p.inventory.items():
                conn.execute(
                    insert(tables.inventories).values(
                        resource_provider_id=pid,
                        resource_class_id=rc_ids[rc],
                        total=inv.total,
                        reserved=inv.reserved,
                        min_unit=inv.min_unit,
                        max_unit=inv.max_unit,
                        step_size=inv.step_size,
                        allocation_ratio=inv.allocation_ratio,
                    )
                )
            for rc, amount in p.used.items():
                # Two consumers each, so usage really is a sum.
                first = amount // 2
                for part in (first, amount - first):
                    if part:
                        conn.execute(
                            insert(tables.allocations).values(
                                resource_provider_id=pid,
                                consumer_id=str(uuidlib.uuid4()),
                                resource_class_id=rc_ids[rc],
                                used=part,
                            )
                        )
            for name in set(p.traits):
                conn.execute(
                    insert(tables.resource_provider_traits).values(
                        resource_provider_id=pid, trait_id=trait_ids[name]
                    )
                )
            for agg in p.aggs:
                conn.execute(
                    insert(tables.resource_provider_aggregates).values(
                        resource_provider_id=pid, aggregate_id=agg_ids[agg]
                    )
                )


# --- random clouds and requests ------------------------------------------------------

_RATIOS = (1.0, 1.5, 2.0)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    # Mostly roomy and plain, sometimes tight or with odd units: enough of the random
    # requests must have answers for the comparison to mean something.
    total = draw(st.sampled_from((2, 2, 3, 4, 8)))
    return Inventory(
        total=total,
        reserved=draw(st.sampled_from((0, 0, 0, 1))),
        min_unit=draw(st.sampled_from((1, 1, 1, 1, 2))),
        max_unit=draw(st.sampled_from((total, total, total, 8, 2))),
        step_size=draw(st.sampled_from((1, 1, 1, 1, 2))),
        allocation_ratio=draw(st.sampled_from(_RATIOS)),
    )


@st.composite
def clouds(draw: st.DrawFn, max_providers: int = 7) -> CloudSpec:
    n = draw(st.sampled_from(range(max_providers, 0, -1)))
    providers: list[P] = []
    for i in range(n):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        classes = [rc for rc in CLASSES if draw(st.integers(0, 4)) < 3]
        inventory = {rc: draw(inventories()) for rc in classes}
        used = {
            rc: draw(st.sampled_from((0, 0, 0, 0, 1, 2, inv.total)))
            for rc, inv in inventory.items()
        }
        traits = draw(st.sets(st.sampled_from(TRAITS), max_size=2))
        if draw(st.integers(0, 1)) == 0:
            traits.add(SHARES_VIA_AGGREGATE)
        aggs = draw(st.frozensets(st.sampled_from(AGGS[:2]), max_size=2))
        providers.append(P(parent, inventory, used, tuple(sorted(traits)), aggs))
    return CloudSpec(providers)


def trait_filters(draw: st.DrawFn) -> TraitFilter:
    """Mostly one kind of constraint at a time (all at once rarely leaves an answer)."""
    pool = st.sampled_from((*TRAITS, SHARES_VIA_AGGREGATE))
    kind = draw(st.integers(0, 3))
    one = draw(pool)
    if kind == 0:
        return TraitFilter(required=frozenset({one}))
    if kind == 1:
        return TraitFilter(forbidden=frozenset({one}))
    if kind == 2:
        return TraitFilter(any_of=(frozenset({one, draw(pool)}),))
    return TraitFilter(
        required=draw(st.frozensets(pool, max_size=1)),
        forbidden=draw(st.frozensets(pool, max_size=1)),
        any_of=tuple(draw(st.lists(st.frozensets(pool, min_size=1, max_size=2), max_size=1))),
    )


def aggregate_filters(draw: st.DrawFn) -> AggregateFilter:
    pool = st.sampled_from(AGGS)
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return AggregateFilter(any_of=(frozenset({draw(pool)}),))
    if kind == 1:
        return AggregateFilter(forbidden=frozenset({draw(pool)}))
    return AggregateFilter(
        any_of=tuple(draw(st.lists(st.frozensets(pool, min_size=1, max_size=2), max_size=2))),
        forbidden=draw(st.frozensets(pool, max_size=1)),
    )


def _sometimes(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 2)) == 0


def _resources(draw: st.DrawFn, min_size: int) -> Mapping[str, int]:
    classes = draw(st.sets(st.sampled_from(CLASSES), min_size=min_size, max_size=2))
    return {rc: draw(st.sampled_from((1, 1, 1, 2, 3))) for rc in sorted(classes)}


@st.composite
def requests(draw: st.DrawFn, n_providers: int) -> CandidateRequest:
    """A request over a spec cloud of ``n_providers`` (in_tree may name a missing one)."""
    tree_names = st.none() | st.integers(0, n_providers).map(provider_uuid)
    groups: list[RequestGroup] = []
    if draw(st.booleans()):
        groups.append(
            RequestGroup(
                suffix="",
                resources=_resources(draw, 1),
                traits=trait_filters(draw) if _sometimes(draw) else TraitFilter(),
                member_of=aggregate_filters(draw) if _sometimes(draw) else AggregateFilter(),
                in_tree=draw(tree_names) if draw(st.integers(0, 3)) == 0 else None,
            )
        )
    n_granular = draw(st.integers(0 if groups else 1, 2))
    for i in range(n_granular):
        groups.append(
            RequestGroup(
                suffix=f"_G{i}",
                resources=_resources(draw, 0),
                traits=trait_filters(draw) if _sometimes(draw) else TraitFilter(),
                member_of=aggregate_filters(draw) if _sometimes(draw) else AggregateFilter(),
                in_tree=draw(tree_names) if draw(st.integers(0, 3)) == 0 else None,
            )
        )
    if not any(g.resources for g in groups):
        first = groups[0]
        groups[0] = RequestGroup(
            first.suffix, {"VCPU": 1}, first.traits, first.member_of, first.in_tree
        )
    suffixes = [g.suffix for g in groups if g.suffix]
    same: list[tuple[str, ...]] = []
    if suffixes and draw(st.booleans()):
        same.append(tuple(draw(st.lists(st.sampled_from(suffixes), min_size=1, unique=True))))
    resourceless = tuple(g.suffix for g in groups if not g.resources)
    if resourceless:
        same.append(resourceless + tuple(s for s in suffixes if s not in resourceless)[:1])
    nested_aware = draw(st.integers(0, 4)) > 0
    return CandidateRequest(
        groups=tuple(groups),
        group_policy=draw(st.sampled_from(("none", "isolate"))),
        root_traits=trait_filters(draw) if draw(st.integers(0, 3)) == 0 else TraitFilter(),
        same_subtrees=tuple(same),
        nested_aware=nested_aware,
    )
