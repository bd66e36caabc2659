"""Load a consistent ``Cloud`` for the allocation-candidate engine.

All queries of one snapshot run in one read transaction; on PostgreSQL and MySQL that
transaction is REPEATABLE READ, so the providers, inventories, usages, traits and
aggregates read by separate statements all describe the same committed state (under READ
COMMITTED each statement could see a different one). SQLite's read transactions are
snapshots already.

Only the trees a request can touch are loaded (see ``SnapshotScope``); a tree is always
loaded whole, since summaries and ``same_subtree`` look at every provider of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    func,
    select,
    union,
)

from berth.db import tables
from berth.db.engine import Store
from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud, Node, SnapshotScope
from berth.model.inventory import Inventory

# The handle of a read transaction, for callers outside berth.db (which may not name
# SQLAlchemy types themselves).
ReadTx = Connection

RP = tables.resource_providers
INV = tables.inventories
RC = tables.resource_classes
ALLOC = tables.allocations
TRAITS = tables.traits
RPT = tables.resource_provider_traits
AGG = tables.placement_aggregates
RPA = tables.resource_provider_aggregates


@contextmanager
def consistent_read(store: Store) -> Iterator[Connection]:
    """A read transaction in which every statement sees the same committed state."""
    if store.dialect == "sqlite":
        with store.read() as conn:
            yield conn
        return
    with (
        store.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        conn.begin(),
    ):
        yield conn


def unknown_names(
    conn: Connection, classes: Iterable[str], traits: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(resource classes, traits) among those given that do not exist, sorted."""
    wanted_classes = set(classes)
    wanted_traits = set(traits)
    known_classes: set[str] = set()
    known_traits: set[str] = set()
    if wanted_classes:
        known_classes = set(
            conn.execute(select(RC.c.name).where(RC.c.name.in_(sorted(wanted_classes)))).scalars()
        )
    if wanted_traits:
        known_traits = set(
            conn.execute(
                select(TRAITS.c.name).where(TRAITS.c.name.in_(sorted(wanted_traits)))
            ).scalars()
        )
    return sorted(wanted_classes - known_classes), sorted(wanted_traits - known_traits)


def _root(table: FromClause = RP) -> ColumnElement[int]:
    return func.coalesce(table.c.root_provider_id, table.c.id)


def _relevant_roots(scope: SnapshotScope) -> Select[Any]:
    """Roots of the trees ``scope`` names (see SnapshotScope)."""
    classes = sorted(scope.classes)
    with_inventory = (
        select(INV.c.resource_provider_id)
        .select_from(INV.join(RC, RC.c.id == INV.c.resource_class_id))
        .where(RC.c.name.in_(classes))
    )
    own = select(_root()).select_from(RP).where(RP.c.id.in_(with_inventory))
    sharing = (
        select(RPT.c.resource_provider_id)
        .select_from(RPT.join(TRAITS, TRAITS.c.id == RPT.c.trait_id))
        .where(TRAITS.c.name == SHARES_VIA_AGGREGATE)
        .where(RPT.c.resource_provider_id.in_(with_inventory))
    )
    mine = RPA.alias("mine")
    theirs = RPA.alias("theirs")
    member = RP.alias("member")
    served = (
        select(_root(member))
        .select_from(
            mine.join(theirs, theirs.c.aggregate_id == mine.c.aggregate_id).join(
                member, member.c.id == theirs.c.resource_provider_id
            )
        )
        .where(mine.c.resource_provider_id.in_(sharing))
    )
    named = RP.alias("named")
    parts = [own, served]
    if scope.provider_uuids:
        parts.append(select(_root(named)).where(named.c.uuid.in_(sorted(scope.provider_uuids))))
    return select(union(*parts).subquery().c[0])


# Up to this many roots / providers are named in the SQL (an IN list); beyond that the
# whole table is read and filtered here, which is cheaper than a huge IN list and works
# on every engine's parameter limits.
_IN_LIST_MAX = 500


def load(conn: Connection, scope: SnapshotScope) -> Cloud:
    """The part of the cloud ``scope`` asks for, read through ``conn``."""
    roots: set[int] | None = None
    provider_where: list[ColumnElement[bool]] = []
    if not scope.everything:
        roots = {int(row[0]) for row in conn.execute(_relevant_roots(scope))}
        if not roots:
            return Cloud(nodes={})
        if len(roots) <= _IN_LIST_MAX:
            provider_where.append(_root().in_(sorted(roots)))
    nodes = _nodes(conn, *provider_where)
    if roots is not None:
        nodes = {pid: node for pid, node in nodes.items() if node.root_id in roots}
    return _with_details(conn, nodes, narrow=roots is not None and len(nodes) <= _IN_LIST_MAX)


_V = TypeVar("_V")


def _shared(seen: dict[_V, _V], value: _V) -> _V:
    """``value``, or an equal immutable object loaded before it (see ``_with_details``)."""
    return seen.setdefault(value, value)


def _nodes(conn: Connection, *where: ColumnElement[bool]) -> dict[int, Node]:
    """Providers matching ``where`` as Nodes (a root's root is itself)."""
    nodes: dict[int, Node] = {}
    stamps: dict[datetime | None, datetime | None] = {}
    for row in conn.execute(
        select(
            RP.c.id,
            RP.c.uuid,
            RP.c.name,
            RP.c.generation,
            RP.c.parent_provider_id,
            RP.c.root_provider_id,
            func.coalesce(RP.c.updated_at, RP.c.created_at).label("last_modified"),
        ).where(*where)
    ):
        nodes[row.id] = Node(
            id=row.id,
            uuid=row.uuid,
            name=row.name,
            generation=row.generation,
            parent_id=row.parent_provider_id,
            # A root's root is its own id: one int object, not two equal ones.
            root_id=row.id if row.root_provider_id in (None, row.id) else row.root_provider_id,
            last_modified=_shared(stamps, row.last_modified),
        )
    return nodes


def _with_details(conn: Connection, nodes: dict[int, Node], *, narrow: bool) -> Cloud:
    """``nodes`` with their inventories, usages, traits and aggregates (read only for
    them when ``narrow``, else read whole and filtered here).

    The same few values recur on every host: class and trait names, aggregate uuids,
    identical inventory records (a rack of one hardware model), identical trait and
    aggregate sets. Each is kept once (``_shared``) rather than once per row: at 100,000
    hosts that is millions of objects fewer in every worker's resident index (they are
    immutable, so sharing them is safe).
    """
    if not nodes:
        return Cloud(nodes={})
    wanted = sorted(nodes)
    names: dict[str, str] = {}
    records: dict[Inventory, Inventory] = {}

    def only(column: ColumnElement[int]) -> list[ColumnElement[bool]]:
        return [column.in_(wanted)] if narrow else []

    inventories: dict[int, dict[str, Inventory]] = defaultdict(dict)
    for row in conn.execute(
        select(INV, RC.c.name.label("rc_name"))
        .select_from(INV.join(RC, RC.c.id == INV.c.resource_class_id))
        .where(*only(INV.c.resource_provider_id))
    ):
        if row.resource_provider_id in nodes:
            record = Inventory(
                total=row.total,
                reserved=row.reserved,
                min_unit=row.min_unit,
                max_unit=row.max_unit,
                step_size=row.step_size,
                allocation_ratio=float(row.allocation_ratio),
            )
            inventories[row.resource_provider_id][_shared(names, row.rc_name)] = _shared(
                records, record
            )
    usages: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, rc_name, used in conn.execute(
        select(ALLOC.c.resource_provider_id, RC.c.name, func.sum(ALLOC.c.used))
        .select_from(ALLOC.join(RC, RC.c.id == ALLOC.c.resource_class_id))
        .where(*only(ALLOC.c.resource_provider_id))
        .group_by(ALLOC.c.resource_provider_id, RC.c.name)
    ):
        if pid in nodes and used:
            usages[pid][_shared(names, rc_name)] = int(used)
    traits: dict[int, list[str]] = defaultdict(list)
    for pid, name in conn.execute(
        select(RPT.c.resource_provider_id, TRAITS.c.name)
        .select_from(RPT.join(TRAITS, TRAITS.c.id == RPT.c.trait_id))
        .where(*only(RPT.c.resource_provider_id))
        .order_by(RPT.c.resource_provider_id, TRAITS.c.id)
    ):
        if pid in nodes:
            traits[pid].append(_shared(names, name))
    aggregates: dict[int, set[str]] = defaultdict(set)
    for pid, agg_uuid in conn.execute(
        select(RPA.c.resource_provider_id, AGG.c.uuid)
        .select_from(RPA.join(AGG, AGG.c.id == RPA.c.aggregate_id))
        .where(*only(RPA.c.resource_provider_id))
    ):
        if pid in nodes:
            aggregates[pid].add(_shared(names, agg_uuid))
    trait_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
    aggregate_sets: dict[frozenset[str], frozenset[str]] = {}
    return Cloud(
        nodes=nodes,
        inventories=dict(inventories),
        usages=dict(usages),
        traits={pid: _shared(trait_tuples, tuple(found)) for pid, found in traits.items()},
        aggregates={
            pid: _shared(aggregate_sets, frozenset(aggs)) for pid, aggs in aggregates.items()
        },
    )


def current_roots(conn: Connection, provider_ids: Iterable[int]) -> set[int]:
    """Roots of the trees the given providers belong to now (existing ones only)."""
    wanted = sorted(set(provider_ids))
    out: set[int] = set()
    for start in range(0, len(wanted), _IN_LIST_MAX):
        chunk = wanted[start : start + _IN_LIST_MAX]
        out.update(int(r[0]) for r in conn.execute(select(_root()).where(RP.c.id.in_(chunk))))
    return out


def load_trees(conn: Connection, roots: Iterable[int]) -> Cloud:
    """The whole current trees rooted at ``roots`` (roots that no longer exist give
    nothing). Callers keep ``roots`` short; an index refresh touching many trees reloads
    everything instead."""
    wanted = sorted(set(roots))
    if not wanted:
        return Cloud(nodes={})
    # Every committed provider has its root set (a root points at itself), so the
    # root_provider_id index answers this directly.
    nodes = _nodes(conn, RP.c.root_provider_id.in_(wanted))
    return _with_details(conn, nodes, narrow=len(nodes) <= _IN_LIST_MAX)


def take(store: Store, scope: SnapshotScope) -> Cloud:
    """Load a snapshot in its own consistent read transaction."""
    with consistent_read(store) as conn:
        return load(conn, scope)


def missing_change_ids(conn: Connection, head: int, window: int) -> list[int]:
    """Change ids among the last ``window`` up to ``head`` that this transaction cannot
    see: taken by writers still in flight (or rolled back). A reader starting from
    ``head`` after a full load must keep asking for them (``ChangeFeed.gaps``)."""
    low = max(1, head - window + 1)
    seen = set(
        conn.execute(
            select(tables.changes.c.id).where(
                tables.changes.c.id >= low, tables.changes.c.id <= head
            )
        ).scalars()
    )
    return [i for i in range(low, head + 1) if i not in seen]
