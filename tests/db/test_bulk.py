"""Bulk load in the db layer: whole trees in one transaction, every refusal leaves the
database exactly as it was, and the change log names every new provider."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select

from berth.db import aggregates, bulk, changes, inventories, providers, tables, traits
from berth.db.engine import Store
from berth.model.bulk import NewProvider, check_batch, depths
from berth.model.errors import (
    CONCURRENT_UPDATE,
    DUPLICATE_NAME,
    UNDEFINED,
    ConflictError,
    DomainError,
    InvalidError,
)
from berth.model.inventory import Inventory

AGG_A = str(uuid.UUID(int=1))
AGG_B = str(uuid.UUID(int=2))


def _u() -> str:
    return str(uuid.uuid4())


def _tree(prefix: str, parent: str | None = None) -> list[NewProvider]:
    """A compute node with a NUMA child and a NIC grandchild (under ``parent`` if given)."""
    root, numa, nic = _u(), _u(), _u()
    return [
        NewProvider(
            uuid=root,
            name=f"{prefix}-cn",
            parent_uuid=parent,
            inventories={
                "VCPU": Inventory(total=64, allocation_ratio=4.0),
                "MEMORY_MB": Inventory(total=131072, reserved=512, max_unit=65536),
            },
            traits=("HW_CPU_X86_AVX2", "CUSTOM_RACK_A"),
            aggregates=(AGG_A, AGG_B),
        ),
        NewProvider(
            uuid=numa,
            name=f"{prefix}-numa0",
            parent_uuid=root,
            inventories={"PCPU": Inventory(total=16, step_size=2)},
            traits=("HW_NUMA_ROOT",),
        ),
        NewProvider(
            uuid=nic,
            name=f"{prefix}-nic",
            parent_uuid=numa,
            inventories={"SRIOV_NET_VF": Inventory(total=8)},
        ),
    ]


def _counts(store: Store) -> dict[str, int]:
    """Rows in every table a bulk load writes."""
    out: dict[str, int] = {}
    with store.read() as conn:
        for table in (
            tables.resource_providers,
            tables.inventories,
            tables.resource_provider_traits,
            tables.resource_provider_aggregates,
            tables.placement_aggregates,
            tables.changes,
        ):
            out[table.name] = int(conn.execute(select(func.count()).select_from(table)).scalar())
    return out


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.write() as conn:
        traits.ensure(conn, "CUSTOM_RACK_A")
    return store


def test_trees_land_whole_with_everything(seeded: Store) -> None:
    store = seeded
    batch = _tree("a") + _tree("b")
    with store.write() as conn:
        head = changes.head(conn)
        loaded = bulk.load(conn, batch)
    assert [p.uuid for p in loaded] == [p.uuid for p in batch]
    assert all(p.generation == 0 for p in loaded)
    with store.read() as conn:
        for new, done in zip(batch, loaded, strict=True):
            got = providers.get(conn, new.uuid)
            assert got.id == done.id
            assert (got.name, got.generation, got.parent_uuid) == (new.name, 0, new.parent_uuid)
            assert inventories.get_all(conn, got.id) == dict(new.inventories)
            assert {t.name for t in traits.provider_traits(conn, got.id)} == set(new.traits)
            assert sorted(aggregates.for_provider(conn, got.id)) == sorted(new.aggregates)
        for tree in (batch[:3], batch[3:]):
            assert {providers.get(conn, p.uuid).root_uuid for p in tree} == {tree[0].uuid}
        logged = set(
            conn.execute(
                select(tables.changes.c.provider_id).where(tables.changes.c.id > head)
            ).scalars()
        )
    assert logged == {p.id for p in loaded}


def test_children_of_existing_providers_join_their_tree(seeded: Store) -> None:
    store = seeded
    with store.write() as conn:
        root = providers.create(conn, uuid=_u(), name="old-root", parent_uuid=None)
        child = providers.create(conn, uuid=_u(), name="old-child", parent_uuid=root.uuid)
    batch = _tree("under", parent=child.uuid)
    with store.write() as conn:
        bulk.load(conn, batch)
    with store.read() as conn:
        for p in batch:
            assert providers.get(conn, p.uuid).root_uuid == root.uuid
        assert providers.get(conn, batch[0].uuid).parent_uuid == child.uuid


def test_existing_aggregates_are_reused(seeded: Store) -> None:
    store = seeded
    with store.write() as conn:
        other = providers.create(conn, uuid=_u(), name="other", parent_uuid=None)
        aggregates.set_for_provider(conn, other.id, [AGG_A])
    with store.write() as conn:
        bulk.load(conn, _tree("x"))
    with store.read() as conn:
        agg = tables.placement_aggregates
        assert conn.execute(select(func.count()).select_from(agg)).scalar() == 2


def test_depths_count_from_the_nearest_outside_ancestor() -> None:
    outside = _u()
    batch = _tree("a") + _tree("b", parent=outside)
    assert depths(batch) == [0, 1, 2, 0, 1, 2]
    check_batch(batch)


def _replace(batch: list[NewProvider], i: int, **changed: Any) -> list[NewProvider]:
    p = batch[i]
    values = {
        "uuid": p.uuid,
        "name": p.name,
        "parent_uuid": p.parent_uuid,
        "inventories": p.inventories,
        "traits": p.traits,
        "aggregates": p.aggregates,
        **changed,
    }
    return [*batch[:i], NewProvider(**values), *batch[i + 1 :]]


Case = tuple[str, Callable[[], list[NewProvider]], type[DomainError], str]


def _bad_cases(taken_uuid: str, taken_name: str) -> list[Case]:
    """(field the message names, batch builder, error type, error code)."""

    def dup_uuid() -> list[NewProvider]:
        batch = _tree("a") + _tree("b")
        return _replace(batch, 3, uuid=batch[0].uuid)

    def self_parent() -> list[NewProvider]:
        batch = _tree("a")
        return _replace(batch, 1, parent_uuid=batch[1].uuid)

    def loop() -> list[NewProvider]:
        batch = _tree("a")
        return _replace(batch, 0, parent_uuid=batch[2].uuid)  # the root under its own NIC

    return [
        ("uuid", dup_uuid, ConflictError, UNDEFINED),
        (
            "name",
            lambda: _replace(_tree("a") + _tree("b"), 4, name="a-numa0"),
            ConflictError,
            DUPLICATE_NAME,
        ),
        ("uuid", lambda: _replace(_tree("a"), 1, uuid=taken_uuid), ConflictError, UNDEFINED),
        ("name", lambda: _replace(_tree("a"), 2, name=taken_name), ConflictError, DUPLICATE_NAME),
        (
            "parent_provider_uuid",
            lambda: _replace(_tree("a"), 0, parent_uuid=_u()),
            InvalidError,
            UNDEFINED,
        ),
        ("parent_provider_uuid", self_parent, InvalidError, UNDEFINED),
        ("parent_provider_uuid", loop, InvalidError, UNDEFINED),
        (
            "inventories",
            lambda: _replace(_tree("a"), 2, inventories={"CUSTOM_NOPE": Inventory(total=1)}),
            InvalidError,
            UNDEFINED,
        ),
        (
            "traits",
            lambda: _replace(_tree("a"), 1, traits=("CUSTOM_NOPE",)),
            InvalidError,
            UNDEFINED,
        ),
    ]


def test_every_refusal_names_the_item_and_writes_nothing(seeded: Store) -> None:
    store = seeded
    with store.write() as conn:
        old = providers.create(conn, uuid=_u(), name="taken", parent_uuid=None)
    before = _counts(store)
    for field, build, kind, code in _bad_cases(old.uuid, old.name):
        batch = build()
        with pytest.raises(DomainError) as info, store.write() as conn:
            bulk.load(conn, batch)
        err = info.value
        assert type(err) is kind, (field, err.message)
        assert err.code == code, (field, err.message)
        assert f": {field}: " in err.message, err.message
        index = int(err.message.split("providers[", 1)[1].split("]", 1)[0])
        assert err.message.startswith(f"providers[{index}] (uuid {batch[index].uuid}): ")
        assert _counts(store) == before, field


def test_a_writer_racing_past_the_checks_is_a_conflict_and_undone(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique constraints catch what a concurrent writer slipped in between the checks
    and the INSERTs: the batch's writes are undone and the 409 says what clashed."""
    store = seeded
    batch = _tree("race")
    real_check = bulk._check
    calls = 0

    def check_then_race(conn: Connection, items: Any) -> Any:
        nonlocal calls
        calls += 1
        parents = real_check(conn, items)
        if calls == 1:  # the "other writer": takes the NIC's name right after the check
            conn.execute(
                insert(tables.resource_providers).values(uuid=_u(), name="race-nic", generation=0)
            )
        return parents

    monkeypatch.setattr(bulk, "_check", check_then_race)
    before = _counts(store)
    with pytest.raises(ConflictError) as info, store.write() as conn:
        bulk.load(conn, batch)
    assert info.value.code == DUPLICATE_NAME
    assert "providers[2]" in info.value.message
    assert calls == 2
    assert _counts(store) == before


def test_an_unexplained_constraint_failure_is_a_concurrent_update(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seeded
    batch = _tree("gone")
    real_check = bulk._check
    taken: list[str] = []

    def check_then_race(conn: Connection, items: Any) -> Any:
        rp = tables.resource_providers
        if taken:  # the racer is gone again before the re-check looks
            conn.execute(rp.delete().where(rp.c.uuid == taken[0]))
        parents = real_check(conn, items)
        if not taken:  # a racer takes the root's uuid right after the first check
            taken.append(items[0].uuid)
            conn.execute(insert(rp).values(uuid=items[0].uuid, name="elsewhere", generation=0))
        return parents

    monkeypatch.setattr(bulk, "_check", check_then_race)
    with pytest.raises(ConflictError) as info, store.write() as conn:
        bulk.load(conn, batch)
    assert info.value.code == CONCURRENT_UPDATE


def test_empty_batch_writes_nothing(store: Store) -> None:
    before = _counts(store)
    with store.write() as conn:
        assert bulk.load(conn, []) == []
    assert _counts(store) == before


def test_a_parent_deleted_past_the_checks_is_a_400_not_a_crash(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seeded
    with store.write() as conn:
        parent = providers.create(conn, uuid=_u(), name="doomed", parent_uuid=None)
        # A later row, so that SQLite cannot hand the deleted parent's id out again.
        providers.create(conn, uuid=_u(), name="keeper", parent_uuid=None)
    batch = _tree("orphan", parent=parent.uuid)
    real_check = bulk._check

    def check_then_delete(conn: Connection, items: Any) -> Any:
        found = real_check(conn, items)
        rp = tables.resource_providers
        conn.execute(rp.update().where(rp.c.id == parent.id).values(root_provider_id=None))
        conn.execute(rp.delete().where(rp.c.id == parent.id))
        return found

    monkeypatch.setattr(bulk, "_check", check_then_delete)
    missing = r"providers\[0\].*parent_provider_uuid.*does not"
    with pytest.raises(InvalidError, match=missing), store.write() as conn:
        bulk.load(conn, batch)
