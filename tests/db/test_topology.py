"""Stored topologies and their Placement mirror, guest assignments and usage, per engine."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from sqlalchemy import Connection, func, select

from berth.db import allocations, changes, consumers, inventories, providers, tables, traits
from berth.db import topology as db
from berth.db.engine import Store
from berth.model.allocation import ConsumerAllocations
from berth.model.errors import (
    INVENTORY_INUSE,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.guest import Assignment, CellAssignment
from berth.model.inventory import Inventory
from berth.model.provider import Provider
from berth.model.topology import CellUsage, HostTopology, PciDeviceType
from berth.model.topology_placement import child_uuid
from model.test_topology_codec import sample_topology

PF1, PF2 = "0000:81:00.0", "0000:82:00.0"


def _host(store: Store, name: str = "cn1") -> Provider:
    with store.write() as conn:
        return providers.create(conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=None)


def _put(store: Store, host: Provider, topo: HostTopology, **kw: object) -> int:
    with store.write() as conn:
        return db.put(conn, host.uuid, topo, **kw)  # type: ignore[arg-type]


def _tree(conn: Connection, host: Provider) -> dict[str, Provider]:
    rp = tables.resource_providers
    ids = conn.execute(select(rp.c.id).where(rp.c.root_provider_id == host.id)).scalars()
    return {p.name: p for p in providers.by_ids(conn, ids)}


def _invs(conn: Connection, p: Provider) -> dict[str, Inventory]:
    return inventories.get_all(conn, p.id)


def _traits(conn: Connection, p: Provider) -> set[str]:
    return {t.name for t in traits.provider_traits(conn, p.id)}


def _without_pf2(topo: HostTopology) -> HostTopology:
    keep = tuple(d for d in topo.devices if PF2 not in (d.address, d.parent_address))
    return dataclasses.replace(topo, devices=keep)


def _allocate(store: Store, resources: dict[str, dict[str, int]]) -> str:
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(
            conn, [ConsumerAllocations(consumer, resources, "p", "u", None, True)]
        )
    return consumer


def test_round_trip_and_generations(store: Store) -> None:
    host = _host(store)
    topo = sample_topology()
    with store.read() as conn:
        assert db.get(conn, host.uuid) is None
    assert _put(store, host, topo) == 1
    with store.read() as conn:
        assert db.get(conn, host.uuid) == (topo, 1)
    assert _put(store, host, topo) == 1  # the same report again changes nothing
    assert _put(store, host, _without_pf2(topo)) == 2
    with store.read() as conn:
        assert db.get(conn, host.uuid) == (_without_pf2(topo), 2)
        assert db.topologies(conn, [host.id, host.id + 1000]) == {host.id: _without_pf2(topo)}


def test_placement_view_of_the_host(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology(), settings=db.SettingsRequest(2.0, 1.5, 1, 1024))
    with store.read() as conn:
        tree = _tree(conn, host)
        root = tree["cn1"]
        assert _invs(conn, root) == {
            "VCPU": Inventory(8, 1, 1, 8, 1, 2.0),
            "PCPU": Inventory(8, 0, 1, 8, 1, 1.0),
            "MEMORY_MB": Inventory(49152, 1024, 1, 49152, 1, 1.5),
        }
        assert _traits(conn, root) == {"HW_CPU_HYPERTHREADING", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"}
        assert root.generation == 1
        pf1 = tree[f"cn1_{PF1}"]
        assert pf1.uuid == child_uuid(host.uuid, f"pf:{PF1}")
        assert pf1.parent_uuid == host.uuid and pf1.generation == 1
        assert _invs(conn, pf1) == {"SRIOV_NET_VF": Inventory(4, 0, 1, 4, 1, 1.0)}
        assert _traits(conn, pf1) == {"HW_NIC_SRIOV", "CUSTOM_PHYSNET_PHYSNET1"}
        assert _invs(conn, tree[f"cn1_{PF2}"])["SRIOV_NET_VF"].total == 2
        assert _invs(conn, tree["cn1_PCI_10DE_1DB4"]) == {
            "CUSTOM_PCI_10DE_1DB4": Inventory(2, 0, 1, 2, 1, 1.0)
        }
        assert len(tree) == 4


def test_other_inventory_and_traits_are_left_alone(store: Store) -> None:
    host = _host(store)
    with store.write() as conn:
        traits.ensure(conn, "CUSTOM_RACK_7")
        inventories.replace(conn, host.id, {"DISK_GB": Inventory(500), "VCPU": Inventory(2)})
        traits.set_provider_traits(conn, host.id, {"CUSTOM_RACK_7", "HW_CPU_X86_AVX2"})
    _put(store, host, sample_topology())
    with store.read() as conn:
        root = providers.get(conn, host.uuid)
        invs = _invs(conn, root)
        assert invs["DISK_GB"] == Inventory(500)
        assert invs["VCPU"].total == 8
        assert {"CUSTOM_RACK_7", "HW_CPU_X86_AVX2", "HW_CPU_HYPERTHREADING"} <= _traits(conn, root)


def test_omitted_settings_keep_what_the_inventory_has(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology(), settings=db.SettingsRequest(cpu_allocation_ratio=8.0))
    with store.write() as conn:  # an operator tunes the ratio through Placement
        root = providers.get(conn, host.uuid)
        invs = _invs(conn, root)
        invs["VCPU"] = dataclasses.replace(invs["VCPU"], allocation_ratio=3.0)
        inventories.replace(conn, root.id, invs)
    _put(store, host, _without_pf2(sample_topology()))
    with store.read() as conn:
        stored = db.read(conn, host.uuid)
        assert stored is not None and stored.settings.cpu_allocation_ratio == 3.0
        assert _invs(conn, providers.get(conn, host.uuid))["VCPU"].allocation_ratio == 3.0


def test_re_put_reconciles_children_and_traits(store: Store) -> None:
    host = _host(store)
    topo = sample_topology()
    _put(store, host, topo)
    no_smt = HostTopology(
        cells=tuple(dataclasses.replace(c, siblings=(), socket=None) for c in topo.cells),
        devices=tuple(d for d in _without_pf2(topo).devices if d.device_type != "type-PCI"),
    )
    _put(store, host, no_smt)
    with store.read() as conn:
        tree = _tree(conn, host)
        assert set(tree) == {"cn1", f"cn1_{PF1}"}
        assert _traits(conn, tree["cn1"]) == set()
        assert tree[f"cn1_{PF1}"].generation == 1  # untouched child keeps its generation
    _put(store, host, topo)
    with store.read() as conn:
        assert len(_tree(conn, host)) == 4


def test_removing_an_allocated_device_is_refused_and_nothing_changes(store: Store) -> None:
    host = _host(store)
    topo = sample_topology()
    _put(store, host, topo)
    pf2 = child_uuid(host.uuid, f"pf:{PF2}")
    _allocate(store, {pf2: {"SRIOV_NET_VF": 1}, host.uuid: {"VCPU": 1}})
    with store.read() as conn:
        before = (db.get(conn, host.uuid), _tree(conn, host), changes.head(conn))
    with pytest.raises(ConflictError) as info:
        _put(store, host, _without_pf2(topo))
    assert info.value.code == INVENTORY_INUSE
    no_shared = HostTopology(
        tuple(dataclasses.replace(c, shared_cpus=frozenset(), siblings=()) for c in topo.cells),
        topo.devices,
    )
    with pytest.raises(ConflictError) as info:
        _put(store, host, no_shared)
    assert info.value.code == INVENTORY_INUSE and "VCPU" in info.value.message
    with store.read() as conn:
        assert (db.get(conn, host.uuid), _tree(conn, host), changes.head(conn)) == before


def test_compare_and_swap_on_the_document(store: Store) -> None:
    host = _host(store)
    topo = sample_topology()
    with pytest.raises(ConcurrentUpdate):
        _put(store, host, topo, expected_generation=1)
    assert _put(store, host, topo, expected_generation=0) == 1
    with pytest.raises(ConcurrentUpdate, match="expected 0"):
        _put(store, host, topo, expected_generation=0)
    assert _put(store, host, _without_pf2(topo), expected_generation=1) == 2


def test_host_must_exist_and_be_a_root(store: Store) -> None:
    host = _host(store)
    with store.write() as conn:
        child = providers.create(conn, uuid=str(uuid.uuid4()), name="c", parent_uuid=host.uuid)
    with pytest.raises(NotFoundError):
        _put(store, dataclasses.replace(host, uuid=str(uuid.uuid4())), sample_topology())
    with pytest.raises(InvalidError, match="not a root provider"):
        _put(store, child, sample_topology())


def test_a_child_uuid_taken_by_another_tree_is_a_conflict(store: Store) -> None:
    host, other = _host(store), _host(store, "other")
    with store.write() as conn:
        providers.create(
            conn, uuid=child_uuid(host.uuid, f"pf:{PF1}"), name="x", parent_uuid=other.uuid
        )
    with pytest.raises(ConflictError, match="another tree"):
        _put(store, host, sample_topology())
    with store.read() as conn:
        assert db.get(conn, host.uuid) is None


def test_delete_removes_document_and_children_but_keeps_root_inventory(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology())
    consumer = _allocate(store, {child_uuid(host.uuid, f"pf:{PF1}"): {"SRIOV_NET_VF": 2}})
    with pytest.raises(ConflictError), store.write() as conn:
        db.delete_topology(conn, host.uuid)
    with store.write() as conn:
        allocations.delete_consumer(conn, consumer)
    with store.write() as conn:
        db.delete_topology(conn, host.uuid)
    with store.read() as conn:
        assert db.get(conn, host.uuid) is None
        assert set(_tree(conn, host)) == {"cn1"}
        assert set(_invs(conn, providers.get(conn, host.uuid))) == {"VCPU", "PCPU", "MEMORY_MB"}
    with pytest.raises(NotFoundError), store.write() as conn:
        db.delete_topology(conn, host.uuid)


def test_deleting_the_host_provider_takes_its_document(store: Store) -> None:
    host = _host(store)
    _put(store, host, HostTopology((sample_topology().cells[0],)))
    with store.write() as conn:
        inventories.replace(conn, host.id, {})
        providers.delete_provider(conn, host.uuid)
    with store.read() as conn:
        count = conn.execute(select(func.count()).select_from(tables.host_topologies))
        assert count.scalar_one() == 0


def test_writes_reach_the_change_log(store: Store) -> None:
    host = _host(store)
    with store.read() as conn:
        head = changes.head(conn)
    _put(store, host, sample_topology())
    with store.read() as conn:
        ch = tables.changes
        touched = set(conn.execute(select(ch.c.provider_id).where(ch.c.id > head)).scalars())
        assert set(p.id for p in _tree(conn, host).values()) <= touched


# --------------------------------------------------------------------------- assignments


def _claim(store: Store, host: Provider, assignment: Assignment) -> tuple[str, int]:
    consumer_uuid = _allocate(store, {host.uuid: {"PCPU": 2, "MEMORY_MB": 1024}})
    with store.write() as conn:
        consumer = consumers.get(conn, consumer_uuid)
        assert consumer is not None
        db.record_assignment(conn, consumer.id, host.id, assignment)
    return consumer_uuid, consumer.id


PINNED = Assignment(
    cells=(CellAssignment(0, 1, ((0, 10), (1, 14)), 2048, 512),),
    emulator_cpus=frozenset({3}),
    devices=(("port:0", "0000:81:02.1"),),
)
SMALL = Assignment(
    cells=(CellAssignment(0, 1, (), 4, 0, reserved_cpus=frozenset({11}), shared_vcpus=2,
                          memory_mb=1024),)
)


def test_usage_adds_up_assignments(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology())
    _claim(store, host, PINNED)
    _, small_id = _claim(store, host, SMALL)
    with store.read() as conn:
        assert db.assignment(conn, small_id) == (host.id, SMALL)
        got = db.usage(conn, [host.id])
    assert got[host.id].of(1) == CellUsage(
        pinned_cpus=frozenset({10, 11, 14}),
        shared_vcpus=2,
        memory_mb=1024,
        pages_used=((2048, 512),),
    )
    assert got[host.id].of(0) == CellUsage(pinned_cpus=frozenset({3}))
    assert got[host.id].claimed_devices == {"0000:81:02.1"}
    assert got[host.id].of(1).pages(2048) == 512


def test_released_or_moved_consumers_hold_nothing(store: Store) -> None:
    host, other = _host(store), _host(store, "cn2")
    _put(store, host, sample_topology())
    with store.write() as conn:
        inventories.replace(conn, other.id, {"PCPU": Inventory(8)})
    released, released_id = _claim(store, host, PINNED)
    moved, moved_id = _claim(store, host, SMALL)
    with store.write() as conn:
        allocations.delete_consumer(conn, released)  # the consumer row goes: cascade
        consumer = consumers.get(conn, moved)
        assert consumer is not None
        allocations.replace(
            conn,
            [ConsumerAllocations(moved, {other.uuid: {"PCPU": 1}}, "p", "u", 1, True)],
        )
    with store.read() as conn:
        assert db.assignment(conn, released_id) is None
        assert db.assignment(conn, moved_id) is not None  # left behind, but not counted
        assert db.usage(conn, [host.id, other.id]) == {}
    with store.write() as conn:
        assert db.delete_assignment(conn, moved_id)
        assert not db.delete_assignment(conn, moved_id)


def test_device_types_survive_storage(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology())
    with store.read() as conn:
        found = db.get(conn, host.uuid)
    assert found is not None
    assert {d.device_type for d in found[0].devices} == set(PciDeviceType)


def test_large_documents_fit_on_every_engine(store: Store) -> None:
    """2,000 VFs: far beyond MySQL's 64 KiB TEXT."""
    host = _host(store)
    base = sample_topology()
    pf = base.devices[0]
    vfs = tuple(
        dataclasses.replace(
            base.devices[1], address=f"0000:{0x10 + n // 256:02x}:{(n // 8) % 32:02x}.{n % 8}"
        )
        for n in range(2000)
    )
    topo = dataclasses.replace(base, devices=(pf, *vfs))
    _put(store, host, topo)
    with store.read() as conn:
        assert db.get(conn, host.uuid) == (topo, 1)
        pf_rp = providers.get(conn, child_uuid(host.uuid, f"pf:{PF1}"))
        assert _invs(conn, pf_rp)["SRIOV_NET_VF"].total == 2000


def test_concurrent_writers_of_one_host_leave_document_and_providers_agreeing(
    store: Store,
) -> None:
    host = _host(store)
    full, small = sample_topology(), _without_pf2(sample_topology())
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(3):
                db.save(store, host.uuid, full if (n + i) % 2 else small)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.read() as conn:
        found = db.get(conn, host.uuid)
        assert found is not None
        want = 4 if found[0] == full else 3
        assert len(_tree(conn, host)) == want


def test_a_renamed_host_renames_its_children_and_can_always_be_deleted(store: Store) -> None:
    host = _host(store)
    _put(store, host, sample_topology())
    with store.write() as conn:
        providers.update_provider(conn, host.uuid, name="cn9")
    _put(store, host, sample_topology())
    with store.read() as conn:
        assert f"cn9_{PF1}" in _tree(conn, host)
    with store.write() as conn:
        providers.update_provider(conn, host.uuid, name="h" * 195)
    with pytest.raises(InvalidError, match="longer than 200"):
        _put(store, host, sample_topology())
    with store.write() as conn:
        db.delete_topology(conn, host.uuid)
    with store.read() as conn:
        assert len(_tree(conn, host)) == 1
