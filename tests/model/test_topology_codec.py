"""The topology and assignment JSON forms round-trip, and the Placement mapping of a host."""

from __future__ import annotations

import json
import uuid

import pytest

from berth.model.errors import InvalidError
from berth.model.guest import Assignment, CellAssignment
from berth.model.inventory import Inventory
from berth.model.topology import HostCell, HostTopology, PagePool, PciDevice, PciDeviceType
from berth.model.topology_codec import (
    assignment_from_json,
    assignment_to_json,
    topology_from_json,
    topology_to_json,
)
from berth.model.topology_placement import (
    InventorySettings,
    child_uuid,
    pci_class,
    physnet_trait,
    plan,
)

PF = PciDeviceType.PF
VF = PciDeviceType.VF
PCI = PciDeviceType.PCI


def sample_topology() -> HostTopology:
    """Two SMT cells, 2 MiB and 1 GiB pages, two SR-IOV PFs and two GPUs."""
    cells = tuple(
        HostCell(
            id=n,
            shared_cpus=frozenset({8 * n, 8 * n + 1, 8 * n + 4, 8 * n + 5}),
            dedicated_cpus=frozenset({8 * n + 2, 8 * n + 3, 8 * n + 6, 8 * n + 7}),
            memory_mb=32768,
            siblings=tuple(frozenset({8 * n + k, 8 * n + k + 4}) for k in range(4)),
            pages=(PagePool(4, 4194304), PagePool(2048, 2048, 16), PagePool(1048576, 4)),
            socket=n,
        )
        for n in (0, 1)
    )
    devices = (
        PciDevice("0000:81:00.0", "8086", "1572", PF, 0, "physnet1"),
        *(
            PciDevice(f"0000:81:02.{f}", "8086", "154c", VF, 0, "physnet1", "0000:81:00.0")
            for f in range(4)
        ),
        PciDevice("0000:82:00.0", "8086", "1572", PF, 1, "phys-net.2"),
        *(
            PciDevice(f"0000:82:02.{f}", "8086", "154c", VF, 1, None, "0000:82:00.0")
            for f in range(2)
        ),
        PciDevice("0000:3b:00.0", "10de", "1db4", PCI, 0),
        PciDevice("0000:d8:00.0", "10de", "1db4", PCI, None),
    )
    return HostTopology(cells=cells, devices=devices)


def test_topology_round_trips_through_json_text() -> None:
    topo = sample_topology()
    text = json.dumps(topology_to_json(topo))
    assert topology_from_json(json.loads(text)) == topo
    assert json.dumps(topology_to_json(topology_from_json(json.loads(text)))) == text


def test_cpu_sets_encode_sorted_so_equal_topologies_give_equal_text() -> None:
    a = HostCell(0, frozenset({3, 1, 2}), frozenset(), 1024)
    b = HostCell(0, frozenset({2, 3, 1}), frozenset(), 1024)
    ja, jb = topology_to_json(HostTopology((a,))), topology_to_json(HostTopology((b,)))
    assert ja == jb
    assert ja["cells"][0]["shared_cpus"] == [1, 2, 3]


def test_optional_keys_take_model_defaults_and_hex_is_lower_cased() -> None:
    topo = topology_from_json(
        {
            "cells": [{"id": 0, "memory_mb": 512, "shared_cpus": [0]}],
            "devices": [
                {
                    "address": "0000:AF:00.1",
                    "vendor_id": "15B3",
                    "product_id": "101E",
                    "device_type": "type-VF",
                    "parent_address": "0000:AF:00.0",
                }
            ],
        }
    )
    cell = topo.cells[0]
    assert (cell.dedicated_cpus, cell.siblings, cell.pages, cell.socket) == (
        frozenset(),
        (),
        (),
        None,
    )
    dev = topo.devices[0]
    assert (dev.address, dev.vendor_id, dev.product_id, dev.parent_address) == (
        "0000:af:00.1",
        "15b3",
        "101e",
        "0000:af:00.0",
    )
    assert dev.numa_cell is None and dev.physnet is None


def test_assignment_round_trips() -> None:
    assignment = Assignment(
        cells=(
            CellAssignment(0, 1, ((0, 10), (1, 14)), 2048, 512),
            CellAssignment(1, 0, (), 4, 262144),
        ),
        emulator_cpus=frozenset({11}),
        devices=(("alias:gpu", "0000:3b:00.0"), ("port:0", "0000:81:02.1")),
    )
    text = json.dumps(assignment_to_json(assignment))
    assert assignment_from_json(json.loads(text)) == assignment


def test_malformed_document_raises_instead_of_half_building() -> None:
    with pytest.raises(KeyError):
        topology_from_json({"cells": [{"id": 0}]})
    with pytest.raises(ValueError):
        topology_from_json(
            {
                "cells": [{"id": 0, "memory_mb": 1}],
                "devices": [
                    {
                        "address": "0000:00:01.0",
                        "vendor_id": "8086",
                        "product_id": "0001",
                        "device_type": "type-XX",
                    }
                ],
            }
        )


# --------------------------------------------------------------------------- mapping


ROOT = str(uuid.UUID(int=7))


def test_plan_root_inventory_and_traits() -> None:
    host = plan(ROOT, "cn1", sample_topology(), InventorySettings(reserved_host_memory_mb=512))
    # 2 cells x (32768 - 2048*2 MiB/1024 - 4 GiB) = 2 x 24576
    assert host.root.inventory == {
        "VCPU": Inventory(8, 0, 1, 8, 1, 4.0),
        "PCPU": Inventory(8, 0, 1, 8, 1, 1.0),
        "MEMORY_MB": Inventory(49152, 512, 1, 49152, 1, 1.0),
    }
    assert host.root.traits == {"HW_CPU_HYPERTHREADING", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"}
    assert host.root.managed_classes == {"VCPU", "PCPU", "MEMORY_MB"}


def test_plan_children_per_pf_and_per_passthrough_product() -> None:
    host = plan(ROOT, "cn1", sample_topology(), InventorySettings())
    by_name = {c.name: c for c in host.children}
    assert set(by_name) == {"cn1_0000:81:00.0", "cn1_0000:82:00.0", "cn1_PCI_10DE_1DB4"}
    pf1 = by_name["cn1_0000:81:00.0"]
    assert pf1.uuid == child_uuid(ROOT, "pf:0000:81:00.0")
    assert pf1.inventory == {"SRIOV_NET_VF": Inventory(4, 0, 1, 4, 1, 1.0)}
    assert pf1.traits == {"HW_NIC_SRIOV", "CUSTOM_PHYSNET_PHYSNET1"}
    assert by_name["cn1_0000:82:00.0"].traits == {"HW_NIC_SRIOV", "CUSTOM_PHYSNET_PHYS_NET_2"}
    gpus = by_name["cn1_PCI_10DE_1DB4"]
    assert gpus.inventory == {"CUSTOM_PCI_10DE_1DB4": Inventory(2, 0, 1, 2, 1, 1.0)}
    assert host.custom_classes == {"CUSTOM_PCI_10DE_1DB4"}
    assert host.custom_traits == {"CUSTOM_PHYSNET_PHYSNET1", "CUSTOM_PHYSNET_PHYS_NET_2"}


def test_plan_without_smt_sockets_shared_cpus_or_devices() -> None:
    cell = HostCell(0, frozenset(), frozenset({0, 1}), 1024, siblings=(frozenset({0}),))
    host = plan(ROOT, "cn", HostTopology((cell,)), InventorySettings())
    assert set(host.root.inventory) == {"PCPU", "MEMORY_MB"}
    assert host.root.traits == frozenset()
    assert host.children == ()


def test_a_pf_without_vfs_is_a_whole_passthrough_device() -> None:
    cell = HostCell(0, frozenset({0}), frozenset(), 1024)
    pf = PciDevice("0000:05:00.0", "8086", "1572", PF, 0, "physnet1")
    host = plan(ROOT, "cn", HostTopology((cell,), (pf,)), InventorySettings())
    assert [c.inventory for c in host.children] == [
        {"CUSTOM_PCI_8086_1572": Inventory(1, 0, 1, 1, 1, 1.0)}
    ]


def test_reserved_beyond_what_the_host_has_names_the_setting() -> None:
    with pytest.raises(InvalidError, match="reserved_host_cpus"):
        plan(ROOT, "cn", sample_topology(), InventorySettings(reserved_host_cpus=9))
    with pytest.raises(InvalidError, match="reserved_host_memory_mb"):
        plan(ROOT, "cn", sample_topology(), InventorySettings(reserved_host_memory_mb=49153))


def test_child_names_longer_than_placement_allows_are_refused() -> None:
    with pytest.raises(InvalidError, match="longer than 200"):
        plan(ROOT, "h" * 190, sample_topology(), InventorySettings())


def test_names() -> None:
    assert physnet_trait("phys-net.2") == "CUSTOM_PHYSNET_PHYS_NET_2"
    assert pci_class("10de", "1db4") == "CUSTOM_PCI_10DE_1DB4"
    assert child_uuid(ROOT, "pf:a") == child_uuid(ROOT, "pf:a") != child_uuid(ROOT, "pf:b")
