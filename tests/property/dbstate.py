"""What the database holds, read straight from the tables (not through berth's read paths).

The property tests compare what the API answers and what it accepted against this
snapshot, so it is read with plain SQLAlchemy queries of our own: a bug in berth's read
helpers cannot hide a bug in its writes. ``raw`` is a full dump of every table the API
writes, used to prove that a refused request changed nothing at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from berth.db import changes, tables
from berth.db.engine import Store

# Tables whose every row is dumped (traits: only the custom ones, the standard ones are
# hundreds of seeded rows nobody writes).
_DUMPED = (
    tables.resource_providers,
    tables.inventories,
    tables.allocations,
    tables.consumers,
    tables.consumer_types,
    tables.resource_classes,
    tables.placement_aggregates,
    tables.resource_provider_aggregates,
    tables.resource_provider_traits,
)


@dataclass(frozen=True, slots=True)
class Record:
    """One inventory row, with Placement's capacity formula computed independently."""

    total: int
    reserved: int
    min_unit: int
    max_unit: int
    step_size: int
    allocation_ratio: float

    @property
    def capacity(self) -> int:
        return int((self.total - self.reserved) * self.allocation_ratio)

    def admits(self, amount: int) -> bool:
        """Whether a single allocation of ``amount`` respects min/max/step."""
        return self.min_unit <= amount <= self.max_unit and amount % self.step_size == 0


@dataclass(frozen=True, slots=True)
class ProviderRow:
    id: int
    generation: int
    parent: str | None
    root: str | None


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    project_id: str
    user_id: str
    generation: int
    consumer_type: str | None


Pair = tuple[str, str]  # (provider uuid, resource class)


@dataclass(slots=True)
class Snapshot:
    providers: dict[str, ProviderRow] = field(default_factory=dict)
    inventories: dict[Pair, Record] = field(default_factory=dict)
    # (consumer uuid, provider uuid, class) -> used
    allocations: dict[tuple[str, str, str], int] = field(default_factory=dict)
    duplicate_allocation_rows: list[tuple[str, str, str]] = field(default_factory=list)
    consumers: dict[str, ConsumerRow] = field(default_factory=dict)
    classes: frozenset[str] = frozenset()
    raw: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def usage(self) -> dict[Pair, int]:
        out: dict[Pair, int] = defaultdict(int)
        for (_c, rp, rc), used in self.allocations.items():
            out[(rp, rc)] += used
        return dict(out)

    def of_consumer(self, consumer: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (c, rp, rc), used in self.allocations.items():
            if c == consumer:
                out.setdefault(rp, {})[rc] = used
        return out

    def on_provider(self, rp_uuid: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (c, rp, rc), used in self.allocations.items():
            if rp == rp_uuid:
                out.setdefault(c, {})[rc] = used
        return out

    def inventory_of(self, rp_uuid: str) -> dict[str, Record]:
        return {rc: rec for (rp, rc), rec in self.inventories.items() if rp == rp_uuid}

    def children(self, rp_uuid: str) -> list[str]:
        return sorted(u for u, p in self.providers.items() if p.parent == rp_uuid)

    def over_capacity(self) -> dict[Pair, tuple[int, int]]:
        """Pairs whose usage exceeds capacity -> (usage, capacity)."""
        out = {}
        for pair, used in self.usage().items():
            rec = self.inventories.get(pair)
            if rec is not None and used > rec.capacity:
                out[pair] = (used, rec.capacity)
        return out


def _dump(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    raw = {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr) for t in _DUMPED}
    traits = tables.traits
    raw["custom_traits"] = sorted(
        (tuple(r) for r in conn.execute(select(traits).where(traits.c.name.like("CUSTOM%")))),
        key=repr,
    )
    return raw


def read(store: Store) -> Snapshot:
    """One consistent snapshot of the database behind the app."""
    rp_t, inv_t, a_t = tables.resource_providers, tables.inventories, tables.allocations
    c_t, ct_t, rc_t = tables.consumers, tables.consumer_types, tables.resource_classes
    snap = Snapshot()
    with store.read() as conn:
        rows = conn.execute(select(rp_t)).all()
        uuid_of = {r.id: r.uuid for r in rows}
        for r in rows:
            snap.providers[r.uuid] = ProviderRow(
                r.id,
                r.generation,
                uuid_of.get(r.parent_provider_id) if r.parent_provider_id else None,
                uuid_of.get(r.root_provider_id) if r.root_provider_id else None,
            )
        class_of = {r.id: r.name for r in conn.execute(select(rc_t.c.id, rc_t.c.name))}
        snap.classes = frozenset(class_of.values())
        for r in conn.execute(select(inv_t)):
            snap.inventories[(uuid_of[r.resource_provider_id], class_of[r.resource_class_id])] = (
                Record(
                    r.total,
                    r.reserved,
                    r.min_unit,
                    r.max_unit,
                    r.step_size,
                    float(r.allocation_ratio),
                )
            )
        for r in conn.execute(select(a_t)):
            key = (r.consumer_id, uuid_of[r.resource_provider_id], class_of[r.resource_class_id])
            if key in snap.allocations:
                snap.duplicate_allocation_rows.append(key)
            snap.allocations[key] = snap.allocations.get(key, 0) + r.used
        type_of = {r.id: r.name for r in conn.execute(select(ct_t.c.id, ct_t.c.name))}
        for r in conn.execute(select(c_t)):
            snap.consumers[r.uuid] = ConsumerRow(
                r.project_id,
                r.user_id,
                r.generation,
                type_of.get(r.consumer_type_id) if r.consumer_type_id is not None else None,
            )
        snap.raw = _dump(conn)
    return snap


def empty_database(store: Store) -> None:
    """Forget everything the API wrote (standard classes and traits stay seeded)."""
    with store.write() as conn:
        for t in (
            tables.allocations,
            tables.consumers,
            tables.consumer_types,
            tables.resource_provider_traits,
            tables.resource_provider_aggregates,
            tables.placement_aggregates,
            tables.inventories,
        ):
            conn.execute(t.delete())
        rp_t = tables.resource_providers
        conn.execute(rp_t.update().values(parent_provider_id=None, root_provider_id=None))
        conn.execute(rp_t.delete())
        conn.execute(
            tables.resource_classes.delete().where(tables.resource_classes.c.name.like("CUSTOM%"))
        )
        conn.execute(tables.traits.delete().where(tables.traits.c.name.like("CUSTOM%")))
        # Behind the API's back: tell in-process candidate indexes to reload everything.
        changes.touch_everything(conn)
