"""Snapshots for the candidate engine: what is loaded, and that it is loaded right."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from berth.db import snapshot, tables
from berth.db.engine import Store
from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud, SnapshotScope
from berth.model.inventory import Inventory
from query.cloudgen import AGGS, CloudSpec, P, provider_uuid, write


def _by_uuid(cloud: Cloud) -> dict[str, int]:
    return {node.uuid: pid for pid, node in cloud.nodes.items()}


SPEC = CloudSpec(
    [
        # 0: compute tree 0 -> 1 -> 2, VCPU on 1, VF on 2, AGG0 on the root
        P(aggs=frozenset({AGGS[0]}), traits=("HW_NUMA_ROOT", "HW_CPU_X86_AVX")),
        P(parent=0, inventory={"VCPU": Inventory(8, reserved=1, allocation_ratio=2.0)}),
        P(parent=1, inventory={"SRIOV_NET_VF": Inventory(4)}, used={"SRIOV_NET_VF": 3}),
        # 3: sharing disk in AGG0
        P(
            inventory={"DISK_GB": Inventory(100, step_size=10)},
            traits=(SHARES_VIA_AGGREGATE,),
            aggs=frozenset({AGGS[0]}),
        ),
        # 4: a tree with MEMORY_MB only, 5 its child
        P(inventory={"MEMORY_MB": Inventory(1024)}, used={"MEMORY_MB": 7}),
        P(parent=4),
    ]
)


def test_everything_round_trips(store: Store) -> None:
    write(store, SPEC)
    loaded = snapshot.take(store, SnapshotScope(everything=True))
    expected = SPEC.cloud()
    ids = _by_uuid(loaded)
    assert set(ids) == {n.uuid for n in expected.nodes.values()}
    for pid, node in expected.nodes.items():
        got = loaded.nodes[ids[node.uuid]]
        assert got.name == node.name
        parent = expected.nodes[node.parent_id].uuid if node.parent_id else None
        assert (loaded.nodes[got.parent_id].uuid if got.parent_id else None) == parent
        assert loaded.nodes[got.root_id].uuid == expected.nodes[node.root_id].uuid
        assert loaded.inventories.get(got.id, {}) == expected.inventories[pid]
        assert dict(loaded.usages.get(got.id, {})) == expected.usages[pid]
        assert set(loaded.traits.get(got.id, ())) == set(expected.traits[pid])
        assert loaded.aggregates_of(got.id) == expected.aggregates[pid]


@pytest.mark.parametrize("in_list_max", [500, 1])
def test_scope_loads_whole_trees_with_the_classes_and_sharing_anchors(
    store: Store, monkeypatch: pytest.MonkeyPatch, in_list_max: int
) -> None:
    # Small scopes are filtered in SQL, large ones after reading: same answer.
    monkeypatch.setattr(snapshot, "_IN_LIST_MAX", in_list_max)
    write(store, SPEC)
    vf = snapshot.take(store, SnapshotScope(classes=frozenset({"SRIOV_NET_VF"})))
    assert set(_by_uuid(vf)) == {provider_uuid(i) for i in (0, 1, 2)}
    disk = snapshot.take(store, SnapshotScope(classes=frozenset({"DISK_GB"})))
    # The sharing provider and every tree it shares an aggregate with.
    assert set(_by_uuid(disk)) == {provider_uuid(i) for i in (0, 1, 2, 3)}
    named = snapshot.take(
        store,
        SnapshotScope(classes=frozenset({"VCPU"}), provider_uuids=frozenset({provider_uuid(5)})),
    )
    assert set(_by_uuid(named)) == {provider_uuid(i) for i in (0, 1, 2, 4, 5)}
    assert snapshot.take(store, SnapshotScope(classes=frozenset({"VGPU"}))).nodes == {}


def test_traits_come_in_trait_id_order(store: Store) -> None:
    write(store, SPEC)
    loaded = snapshot.take(store, SnapshotScope(everything=True))
    root = loaded.nodes[_by_uuid(loaded)[provider_uuid(0)]]
    with store.read() as conn:
        ids = dict(conn.execute(select(tables.traits.c.name, tables.traits.c.id)).all())
    assert loaded.traits[root.id] == tuple(sorted(("HW_NUMA_ROOT", "HW_CPU_X86_AVX"), key=ids.get))


def test_unknown_names(store: Store) -> None:
    with snapshot.consistent_read(store) as conn:
        assert snapshot.unknown_names(conn, {"VCPU", "CUSTOM_NOPE"}, {"HW_NUMA_ROOT", "X_Y"}) == (
            ["CUSTOM_NOPE"],
            ["X_Y"],
        )
        assert snapshot.unknown_names(conn, (), ()) == ([], [])
