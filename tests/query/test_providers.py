"""GET /resource_providers filtering from the resident index equals a brute-force filter.

Random clouds (``cloudgen``) are written to a real database on every engine and random
``ProviderQuery`` values (resources, required / forbidden / any-of traits, member_of with
``in:`` and ``!``, in_tree, uuid, name, sometimes naming things that do not exist) are
answered by ``berth.query.providers.listing``; the reference below re-reads the spec
provider by provider, following Placement's order of checks (an early empty answer wins
over a later 400). Targeted tests pin the capacity rule and the error wording.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert, select

from berth.db import aggregates, changes, providers, tables
from berth.db.engine import Store
from berth.model.errors import InvalidError
from berth.model.filters import AggregateFilter, ProviderQuery, TraitFilter
from berth.model.inventory import Inventory
from berth.model.provider import Provider
from berth.query.providers import listing
from query.cloudgen import (
    CLASSES,
    CloudSpec,
    P,
    aggregate_filters,
    clouds,
    provider_uuid,
    trait_filters,
    wipe,
    write,
)

NO_TRAIT = "CUSTOM_NO_SUCH_TRAIT"
NO_CLASS = "CUSTOM_NO_SUCH_CLASS"
NO_AGG = str(uuid.UUID(int=0xBAD))

Answer = list[str] | str  # provider uuids in id order, or the 400's message


def _found(store: Store, query: ProviderQuery) -> Answer:
    try:
        with listing(store, query) as (index, ids):
            return [index.nodes[pid].uuid for pid in ids]
    except InvalidError as exc:
        return exc.message


def _no_traits(names: set[str]) -> str:
    listed = ", ".join(sorted(names))
    return f'Invalid trait(s) in "required" parameter: No such trait(s): {listed}.'


def _fits(p: P, rc: str, amount: int) -> bool:
    inv = p.inventory.get(rc)
    if inv is None:
        return False
    if not inv.min_unit <= amount <= inv.max_unit or amount % inv.step_size:
        return False
    return p.used.get(rc, 0) + amount <= int((inv.total - inv.reserved) * inv.allocation_ratio)


def brute(spec: CloudSpec, q: ProviderQuery) -> Answer:
    """What Placement answers, provider by provider."""
    ps = spec.providers
    roots: list[int] = []
    for i, p in enumerate(ps):
        roots.append(i if p.parent is None else roots[p.parent])
    uuids = [provider_uuid(i) for i in range(len(ps))]
    keep = [True] * len(ps)

    def narrow(ok: list[bool]) -> None:
        for i, good in enumerate(ok):
            keep[i] = keep[i] and good

    if q.in_tree is not None:
        if q.in_tree not in uuids:
            return []
        root = roots[uuids.index(q.in_tree)]
        narrow([r == root for r in roots])
    groups = [{t} for t in q.traits.required] + [set(g) for g in q.traits.any_of]
    if groups:
        bad = {t for g in groups for t in g if t == NO_TRAIT}
        if bad:
            return _no_traits(bad)
        ok = [all(g & set(p.traits) for g in groups) for p in ps]
        if not any(ok):
            return []
        narrow(ok)
    if q.traits.forbidden:
        if NO_TRAIT in q.traits.forbidden:
            return _no_traits({NO_TRAIT})
        narrow([not q.traits.forbidden & set(p.traits) for p in ps])
    if q.member_of.any_of:
        ok = [all(g & p.aggs for g in q.member_of.any_of) for p in ps]
        if not any(ok):
            return []
        narrow(ok)
    narrow([not q.member_of.forbidden & p.aggs for p in ps])
    for rc in q.resources:
        if rc == NO_CLASS:
            return f"Invalid resource class in resources parameter: No such resource class {rc}."
    for rc, amount in q.resources.items():
        narrow([_fits(p, rc, amount) for p in ps])
    if q.uuid is not None:
        narrow([u == q.uuid for u in uuids])
    if q.name:
        narrow([f"rp{i}" == q.name for i in range(len(ps))])
    return [u for u, k in zip(uuids, keep, strict=True) if k]


@st.composite
def queries(draw: st.DrawFn, n: int) -> ProviderQuery:
    """Any mix of filters over a spec of ``n`` providers; names and uuids sometimes miss."""

    def sometimes() -> bool:
        return draw(st.integers(0, 2)) == 0

    def rarely() -> bool:
        return draw(st.integers(0, 6)) == 0

    uuids = st.integers(0, n).map(provider_uuid)  # index n does not exist
    traits = trait_filters(draw) if sometimes() else TraitFilter()
    if draw(st.integers(0, 15)) == 0:
        traits = TraitFilter(traits.required | {NO_TRAIT}, traits.forbidden, traits.any_of)
    elif draw(st.integers(0, 15)) == 0:
        traits = TraitFilter(traits.required, traits.forbidden | {NO_TRAIT}, traits.any_of)
    member_of = aggregate_filters(draw) if sometimes() else AggregateFilter()
    if draw(st.integers(0, 5)) == 0:
        member_of = AggregateFilter((*member_of.any_of, frozenset({NO_AGG})), member_of.forbidden)
    resources: dict[str, int] = {}
    if draw(st.booleans()):
        pool = st.sampled_from((*CLASSES, *CLASSES, *CLASSES, NO_CLASS))
        for rc in draw(st.lists(pool, max_size=2, unique=True)):
            resources[rc] = draw(st.sampled_from((1, 1, 2, 3, 4)))
    return ProviderQuery(
        name=draw(st.sampled_from(("rp0", f"rp{n - 1}", "rp99", ""))) if rarely() else None,
        uuid=draw(uuids) if rarely() else None,
        in_tree=draw(uuids) if sometimes() else None,
        member_of=member_of,
        resources=resources,
        traits=traits,
    )


def _load(store: Store, spec: CloudSpec) -> None:
    """Replace the database's cloud with ``spec`` behind the API's back, and say so in
    the change log so the resident index reloads."""
    wipe(store)
    write(store, spec)
    with store.write() as conn:
        changes.touch_everything(conn)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_index_answers_what_brute_force_finds(store: Store, data: st.DataObject) -> None:
    spec = data.draw(clouds(), label="cloud")
    _load(store, spec)
    for _ in range(8):
        query = data.draw(queries(len(spec.providers)), label="query")
        assert _found(store, query) == brute(spec, query), query


# --- targeted cases ------------------------------------------------------------------


def _make(conn: Connection, name: str, parent: Provider | None = None) -> Provider:
    return providers.create(
        conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=parent.uuid if parent else None
    )


def _class_id(conn: Connection, name: str) -> int:
    rc = tables.resource_classes
    return int(conn.execute(select(rc.c.id).where(rc.c.name == name)).scalar_one())


def _inventory(conn: Connection, p: Provider, rc: str, inv: Inventory) -> None:
    conn.execute(
        insert(tables.inventories).values(
            resource_provider_id=p.id, resource_class_id=_class_id(conn, rc), **inv.as_dict()
        )
    )
    changes.touch(conn, (p.id,))


def _allocate(conn: Connection, p: Provider, rc: str, used: int) -> None:
    conn.execute(
        insert(tables.allocations).values(
            resource_provider_id=p.id,
            consumer_id=str(uuid.uuid4()),
            resource_class_id=_class_id(conn, rc),
            used=used,
        )
    )
    changes.touch(conn, (p.id,))


def _names(store: Store, query: ProviderQuery) -> set[str]:
    with listing(store, query) as (index, ids):
        return {index.nodes[pid].name for pid in ids}


def test_resources_filter_applies_capacity_and_units(store: Store) -> None:
    with store.write() as conn:
        big = _make(conn, "big")
        disk = Inventory(1000, reserved=100, min_unit=10, max_unit=500, step_size=10)
        _inventory(conn, big, "DISK_GB", disk)
        _allocate(conn, big, "DISK_GB", 400)
        ratio = _make(conn, "ratio")
        _inventory(conn, ratio, "VCPU", Inventory(4, max_unit=8, allocation_ratio=2.0))
        _allocate(conn, ratio, "VCPU", 6)

    def found(**wanted: int) -> set[str]:
        return _names(store, ProviderQuery(resources=wanted))

    assert found(DISK_GB=500) == {"big"}  # 400 + 500 <= 900
    assert found(DISK_GB=510) == set()  # over max_unit and capacity
    assert found(DISK_GB=5) == set()  # under min_unit
    assert found(DISK_GB=15) == set()  # not a multiple of step_size
    assert found(VCPU=2) == {"ratio"}  # 6 + 2 <= 4 * 2.0
    assert found(VCPU=3) == set()
    assert found(VCPU=2, DISK_GB=10) == set()  # nobody has both
    with pytest.raises(InvalidError, match=r"No such resource class NOPE\.$"):
        found(VCPU=1, NOPE=1)


def test_member_of_filter(store: Store) -> None:
    agg1, agg2, agg3 = (str(uuid.uuid4()) for _ in range(3))
    with store.write() as conn:
        one = _make(conn, "one")
        two = _make(conn, "two")
        _make(conn, "none")
        aggregates.set_for_provider(conn, one.id, [agg1, agg3])
        aggregates.set_for_provider(conn, two.id, [agg1, agg2])

    def found(f: AggregateFilter) -> set[str]:
        return _names(store, ProviderQuery(member_of=f))

    assert found(AggregateFilter(any_of=(frozenset({agg1}),))) == {"one", "two"}
    assert found(AggregateFilter(any_of=(frozenset({agg1}), frozenset({agg2})))) == {"two"}
    assert found(AggregateFilter(any_of=(frozenset({agg2, agg3}),))) == {"one", "two"}
    assert found(AggregateFilter(forbidden=frozenset({agg3}))) == {"two", "none"}
    assert found(AggregateFilter(any_of=(frozenset({NO_AGG}),))) == set()
    assert found(AggregateFilter(forbidden=frozenset({NO_AGG}))) == {"one", "two", "none"}


def test_in_tree_follows_a_moved_subtree(store: Store) -> None:
    with store.write() as conn:
        a = _make(conn, "a")
        b = _make(conn, "b", a)
        c = _make(conn, "c", b)
        other = _make(conn, "other")
    assert _names(store, ProviderQuery(in_tree=a.uuid)) == {"a", "b", "c"}
    with store.write() as conn:
        providers.update_provider(
            conn, b.uuid, name="b", set_parent=True, parent_uuid=other.uuid, allow_reparenting=True
        )
    assert _names(store, ProviderQuery(in_tree=c.uuid)) == {"other", "b", "c"}
    assert _names(store, ProviderQuery(in_tree=a.uuid)) == {"a"}
    assert _names(store, ProviderQuery(in_tree=str(uuid.uuid4()))) == set()


def test_renames_are_seen_by_name(store: Store) -> None:
    with store.write() as conn:
        p = _make(conn, "before")
    assert _names(store, ProviderQuery(name="before")) == {"before"}
    with store.write() as conn:
        providers.update_provider(conn, p.uuid, name="after")
    assert _names(store, ProviderQuery(name="before")) == set()
    assert _names(store, ProviderQuery(name="after")) == {"after"}
    assert _names(store, ProviderQuery(name="")) == {"after"}  # empty: no filter


def _traits(*names: str) -> TraitFilter:
    """Required traits, and forbidden ones written ``!NAME``."""
    return TraitFilter(
        frozenset(n for n in names if not n.startswith("!")),
        frozenset(n[1:] for n in names if n.startswith("!")),
    )


def test_unknown_names_and_early_empty_answers_in_placements_order(store: Store) -> None:
    with store.write() as conn:
        p = _make(conn, "p")
        _inventory(conn, p, "VCPU", Inventory(4))
    missing = str(uuid.uuid4())
    # An unknown tree answers nothing before any name is checked.
    assert _found(store, ProviderQuery(in_tree=missing, traits=_traits(NO_TRAIT))) == []
    # Unknown required traits are a 400, all of them named.
    both = _traits(NO_TRAIT, "CUSTOM_ZZ")
    assert _found(store, ProviderQuery(traits=both)) == _no_traits({NO_TRAIT, "CUSTOM_ZZ"})
    # Required traits nobody has: empty, before forbidden traits or classes are checked.
    nobody_has = _traits("HW_CPU_X86_AVX", "!" + NO_TRAIT)
    assert _found(store, ProviderQuery(traits=nobody_has, resources={NO_CLASS: 1})) == []
    assert _found(store, ProviderQuery(traits=_traits("!" + NO_TRAIT))) == _no_traits({NO_TRAIT})
    # An aggregate nobody is in: empty, before classes are checked.
    no_members = AggregateFilter(any_of=(frozenset({NO_AGG}),))
    assert _found(store, ProviderQuery(member_of=no_members, resources={NO_CLASS: 1})) == []
    # The first unknown class named is reported; uuid and name never answer early.
    classes = {"VCPU": 1, NO_CLASS: 1, "CUSTOM_B": 1}
    assert _found(store, ProviderQuery(resources=classes)) == (
        f"Invalid resource class in resources parameter: No such resource class {NO_CLASS}."
    )
    assert isinstance(_found(store, ProviderQuery(uuid=missing, resources={NO_CLASS: 1})), str)
    assert _found(store, ProviderQuery(name="p", resources={"VCPU": 4})) == [p.uuid]
