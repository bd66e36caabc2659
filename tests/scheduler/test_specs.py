"""Flavor extra specs, image properties and ports -> ``Translated``, and every refusal.

Tables: each extra spec form with the exact Placement groups / guest topology it yields,
then each bad input with the text its ``InvalidError`` must contain (the offending key).
The Nova documentation examples are spelled out in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from berth.model.candidates import CandidateRequest, RequestGroup
from berth.model.errors import InvalidError
from berth.model.filters import TraitFilter
from berth.model.guest import (
    CpuPolicy,
    EmulatorThreads,
    GuestCell,
    GuestTopology,
    PageKind,
    PageRequest,
    PciNumaPolicy,
    PciRequest,
    ThreadPolicy,
)
from berth.model.schedule import (
    Flavor,
    Image,
    PortRequest,
    ScheduleRequest,
    VnicType,
    as_pairs,
)
from berth.model.topology import PciDeviceType
from berth.scheduler.aliases import PciAlias, parse_alias_request, parse_aliases
from berth.scheduler.image_props import ImageRequirements
from berth.scheduler.spec_match import MatchOp, SpecMatch, VersionBound, parse_match
from berth.scheduler.specs import Requirement, Translated, translate

ALIASES = parse_aliases(
    [
        '{"name": "a1", "vendor_id": "8086", "product_id": "154d", '
        '"device_type": "type-PF", "numa_policy": "required"}',
        {"name": "gpu", "vendor_id": "10DE", "product_id": "1db4"},
        {"name": "fpga", "resource_class": "fpga_x", "traits": "HW_GPU_API_VULKAN,fast"},
        {"name": "vf", "vendor_id": "8086", "product_id": "1515", "device_type": "type-VF"},
    ]
)


def request(
    specs: Mapping[str, str] | None = None,
    *,
    vcpus: int = 4,
    memory_mb: int = 4096,
    root_gb: int = 20,
    ephemeral_gb: int = 0,
    swap_mb: int = 0,
    props: Mapping[str, str] | None = None,
    ports: tuple[PortRequest, ...] = (),
    **kwargs: Any,
) -> ScheduleRequest:
    image_kw = {k: kwargs.pop(k) for k in ("min_ram_mb", "min_disk_gb") if k in kwargs}
    return ScheduleRequest(
        flavor=Flavor(
            name="f",
            vcpus=vcpus,
            memory_mb=memory_mb,
            root_gb=root_gb,
            ephemeral_gb=ephemeral_gb,
            swap_mb=swap_mb,
            extra_specs=as_pairs(specs or {}),
        ),
        image=Image(properties=as_pairs(props or {}), **image_kw),
        project_id="p",
        user_id="u",
        ports=ports,
        **kwargs,
    )


def tr(specs: Mapping[str, str] | None = None, **kwargs: Any) -> Translated:
    return translate(request(specs, **kwargs), ALIASES)


def group(
    suffix: str = "",
    required: tuple[str, ...] = (),
    forbidden: tuple[str, ...] = (),
    **resources: int,
) -> RequestGroup:
    return RequestGroup(
        suffix=suffix,
        resources=resources,
        traits=TraitFilter(required=frozenset(required), forbidden=frozenset(forbidden)),
    )


BASE = {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 20}


# -- the unsuffixed group ---------------------------------------------------------------

UNSUFFIXED = [
    ("plain flavor", {}, {}, group(**BASE)),
    ("swap rounds up to GiB", {}, {"swap_mb": 1}, group(VCPU=4, MEMORY_MB=4096, DISK_GB=21)),
    ("swap of exactly 1 GiB", {}, {"swap_mb": 1024}, group(VCPU=4, MEMORY_MB=4096, DISK_GB=21)),
    ("swap just over 1 GiB", {}, {"swap_mb": 1025}, group(VCPU=4, MEMORY_MB=4096, DISK_GB=22)),
    (
        "ephemeral adds to root",
        {},
        {"ephemeral_gb": 5},
        group(VCPU=4, MEMORY_MB=4096, DISK_GB=25),
    ),
    (
        "boot from volume leaves root out",
        {},
        {"boot_from_volume": True, "ephemeral_gb": 5},
        group(VCPU=4, MEMORY_MB=4096, DISK_GB=5),
    ),
    (
        "no disk at all drops DISK_GB",
        {},
        {"root_gb": 0},
        group(VCPU=4, MEMORY_MB=4096),
    ),
    ("dedicated: PCPU, no traits", {"hw:cpu_policy": "dedicated"}, {},
     group(PCPU=4, MEMORY_MB=4096, DISK_GB=20)),
    (
        "dedicated + isolated emulator threads: one more PCPU",
        {"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"},
        {},
        group(PCPU=5, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "emulator threads share: no extra PCPU",
        {"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "share"},
        {},
        group(PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "mixed: VCPU for shared, PCPU for the mask",
        {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"},
        {},
        group(VCPU=2, PCPU=2, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "mixed with a positive mask and isolated emulator threads",
        {
            "hw:cpu_policy": "mixed",
            "hw:cpu_dedicated_mask": "3",
            "hw:emulator_threads_policy": "isolate",
        },
        {},
        group(VCPU=3, PCPU=2, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "thread policy require requires hyperthreads",
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"},
        {},
        group(required=("HW_CPU_HYPERTHREADING",), PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "thread policy isolate forbids hyperthreads",
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
        {},
        group(forbidden=("HW_CPU_HYPERTHREADING",), PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "thread policy prefer adds nothing",
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer"},
        {},
        group(PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "resources:X=0 removes the class (baremetal style)",
        {
            "resources:VCPU": "0",
            "resources:MEMORY_MB": "0",
            "resources:DISK_GB": "0",
            "resources:CUSTOM_BAREMETAL_GOLD": "1",
        },
        {},
        group(CUSTOM_BAREMETAL_GOLD=1),
    ),
    (
        "resources: overrides and adds",
        {"resources:MEMORY_MB": "2048", "resources:VGPU": "1"},
        {},
        group(VCPU=4, MEMORY_MB=2048, DISK_GB=20, VGPU=1),
    ),
    (
        "resources:PCPU alone means dedicated",
        {"resources:PCPU": "4"},
        {},
        group(PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "resources:VCPU sets the shared amount",
        {"resources:VCPU": "2"},
        {},
        group(VCPU=2, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "a class requested in a granular group is not added by default",
        {"resources1:MEMORY_MB": "4096"},
        {},
        group(VCPU=4, DISK_GB=20),
    ),
    (
        "traits required and forbidden",
        {"trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_WINDOWS": "forbidden"},
        {},
        group(required=("HW_CPU_X86_AVX2",), forbidden=("CUSTOM_WINDOWS",), **BASE),
    ),
    (
        "hyperthreading trait with dedicated CPUs",
        {"hw:cpu_policy": "dedicated", "trait:HW_CPU_HYPERTHREADING": "forbidden"},
        {},
        group(forbidden=("HW_CPU_HYPERTHREADING",), PCPU=4, MEMORY_MB=4096, DISK_GB=20),
    ),
    (
        "image traits are required",
        {},
        {"props": {"trait:HW_CPU_X86_AVX512F": "required", "os_distro": "ubuntu"}},
        group(required=("HW_CPU_X86_AVX512F",), **BASE),
    ),
    (
        "socket PCI NUMA policy needs host support",
        {"hw:pci_numa_affinity_policy": "socket"},
        {},
        group(required=("COMPUTE_SOCKET_PCI_NUMA_AFFINITY",), **BASE),
    ),
    (
        "vTPM: version and (default) model traits",
        {"hw:tpm_version": "2.0"},
        {},
        group(required=("COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_TIS"), **BASE),
    ),
    (
        "vTPM from the image, CRB model",
        {},
        {"props": {"hw_tpm_version": "2.0", "hw_tpm_model": "tpm-crb"}},
        group(required=("COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_CRB"), **BASE),
    ),
    (
        "secure boot required",
        {"os:secure_boot": "required"},
        {},
        group(required=("COMPUTE_SECURITY_UEFI_SECURE_BOOT",), **BASE),
    ),
    (
        "memory encryption takes a context",
        {"hw:mem_encryption": "true"},
        {"props": {"hw_firmware_type": "uefi"}},
        group(MEM_ENCRYPTION_CONTEXT=1, **BASE),
    ),
    (
        "persistent memory namespaces",
        {"hw:pmem": "small,large,small"},
        {},
        group(CUSTOM_PMEM_NAMESPACE_SMALL=2, CUSTOM_PMEM_NAMESPACE_LARGE=1, **BASE),
    ),
    (
        "driver tuning is accepted and ignored",
        {"quota:cpu_shares": "2048", "hw_rng:allowed": "True", "hw:boot_menu": "yes"},
        {},
        group(**BASE),
    ),
]


@pytest.mark.parametrize(
    ("specs", "kwargs", "expected"), [c[1:] for c in UNSUFFIXED], ids=[c[0] for c in UNSUFFIXED]
)
def test_unsuffixed_group(
    specs: dict[str, str], kwargs: dict[str, Any], expected: RequestGroup
) -> None:
    got = tr(specs, **kwargs)
    assert got.unsuffixed == expected
    assert got.group("") == expected


# -- granular groups, ports, PCI aliases ------------------------------------------------


def test_granular_groups() -> None:
    got = tr(
        {
            "resources1:SRIOV_NET_VF": "1",
            "trait1:CUSTOM_PHYSNET_A": "required",
            "resources_gpu:VGPU": "1",
            "trait_gpu:CUSTOM_NVIDIA": "forbidden",
            "group_policy": "isolate",
        }
    )
    assert got.groups == (
        group(**BASE),
        group("1", required=("CUSTOM_PHYSNET_A",), SRIOV_NET_VF=1),
        group("_gpu", forbidden=("CUSTOM_NVIDIA",), VGPU=1),
    )
    assert got.group_policy == "isolate"
    assert got.group_sources == (
        ("1", "resources1:SRIOV_NET_VF, trait1:CUSTOM_PHYSNET_A"),
        ("_gpu", "resources_gpu:VGPU, trait_gpu:CUSTOM_NVIDIA"),
    )
    assert got.candidate_request(limit=5) == CandidateRequest(
        groups=got.groups, group_policy="isolate", limit=5
    )


def test_group_policy_defaults() -> None:
    assert tr({"resources1:VGPU": "1"}).group_policy is None
    assert tr({"resources1:VGPU": "1", "resources2:VGPU": "1"}).group_policy == "none"
    assert tr({"group_policy": "none"}).group_policy == "none"


def test_sriov_port_on_physnet() -> None:
    got = tr(ports=(PortRequest("physnet1"), PortRequest("phys-net.2", VnicType.MACVTAP)))
    assert got.groups == (
        group(**BASE),
        group("port0", required=("CUSTOM_PHYSNET_PHYSNET1",), SRIOV_NET_VF=1),
        group("port1", required=("CUSTOM_PHYSNET_PHYS_NET_2",), SRIOV_NET_VF=1),
    )
    assert got.group_policy == "none"
    assert got.group_sources == (
        ("port0", "port 0 (physnet1, direct)"),
        ("port1", "port 1 (phys-net.2, macvtap)"),
    )
    assert got.pci == (
        PciRequest(1, "port 0", device_type="type-VF", physnet="physnet1"),
        PciRequest(1, "port 1", device_type="type-VF", physnet="phys-net.2"),
    )
    assert got.guest is None  # legacy affinity alone does not pin the guest to a cell


def test_port_policy_wins_and_pins_the_guest_to_a_cell() -> None:
    port = PortRequest("physnet1", numa_policy=PciNumaPolicy.REQUIRED, id="p-1")
    got = tr({"hw:pci_numa_affinity_policy": "preferred"}, ports=(port,))
    vf = PciRequest(1, "port p-1", device_type="type-VF", physnet="physnet1",
                    numa_policy=PciNumaPolicy.REQUIRED)
    assert got.pci == (vf,)
    assert got.guest == GuestTopology(
        cells=(GuestCell(0, frozenset(range(4)), 4096),), pci=(vf,)
    )
    assert got.group_sources == (("port0", "port p-1 (physnet1, direct)"),)


def test_direct_physical_port_takes_a_pf_outside_placement() -> None:
    got = tr(ports=(PortRequest("physnet1", VnicType.DIRECT_PHYSICAL),))
    assert got.groups == (group(**BASE),)
    assert got.pci == (PciRequest(1, "port 0", device_type="type-PF", physnet="physnet1"),)


def test_alias_with_numa_policy() -> None:
    got = tr({"pci_passthrough:alias": "a1:2"})
    device = PciRequest(
        2,
        "pci_passthrough:alias a1",
        vendor_id="8086",
        product_id="154d",
        device_type="type-PF",
        numa_policy=PciNumaPolicy.REQUIRED,
    )
    assert got == Translated(
        groups=(
            group(**BASE),
            group("pci0_0", CUSTOM_PCI_8086_154D=1),
            group("pci0_1", CUSTOM_PCI_8086_154D=1),
        ),
        group_policy="none",
        group_sources=(
            ("pci0_0", "pci_passthrough:alias a1 (device 1 of 2)"),
            ("pci0_1", "pci_passthrough:alias a1 (device 2 of 2)"),
        ),
        guest=GuestTopology(cells=(GuestCell(0, frozenset(range(4)), 4096),), pci=(device,)),
        pci=(device,),
    )


def test_flavor_pci_policy_overrides_the_alias() -> None:
    got = tr({"pci_passthrough:alias": "a1:1, gpu:1", "hw:pci_numa_affinity_policy": "legacy"})
    assert [p.numa_policy for p in got.pci] == [PciNumaPolicy.LEGACY, PciNumaPolicy.LEGACY]
    assert got.guest is None
    assert got.groups[1:] == (
        group("pci0_0", CUSTOM_PCI_8086_154D=1),
        group("pci1_0", CUSTOM_PCI_10DE_1DB4=1),
    )
    assert got.pci[1] == PciRequest(
        1, "pci_passthrough:alias gpu", vendor_id="10de", product_id="1db4"
    )


def test_vf_alias_asks_for_a_vf() -> None:
    got = tr({"pci_passthrough:alias": "vf:1"})
    assert got.groups[1] == group("pci0_0", SRIOV_NET_VF=1)
    assert got.pci == (
        PciRequest(1, "pci_passthrough:alias vf", vendor_id="8086", product_id="1515",
                   device_type="type-VF"),
    )


def test_alias_with_resource_class_and_traits() -> None:
    got = tr({"pci_passthrough:alias": "fpga:1"})
    assert got.groups[1] == group(
        "pci0_0", required=("HW_GPU_API_VULKAN", "CUSTOM_FAST"), CUSTOM_FPGA_X=1
    )


# -- guest topology ---------------------------------------------------------------------


def cells(*shape: tuple[set[int], int, set[int]]) -> tuple[GuestCell, ...]:
    return tuple(
        GuestCell(n, frozenset(cpus), mem, frozenset(ded))
        for n, (cpus, mem, ded) in enumerate(shape)
    )


GUESTS = [
    ("shared, no NUMA asks: floats", {}, {}, None),
    (
        "numa_nodes=2 splits evenly",
        {"hw:numa_nodes": "2"},
        {},
        GuestTopology(cells(({0, 1}, 2048, set()), ({2, 3}, 2048, set()))),
    ),
    (
        "Nova doc: 4 vCPUs on 2 nodes, asymmetric",
        {
            "hw:numa_nodes": "2",
            "hw:numa_cpus.0": "0",
            "hw:numa_mem.0": "1024",
            "hw:numa_cpus.1": "1-3",
            "hw:numa_mem.1": "3072",
        },
        {},
        GuestTopology(cells(({0}, 1024, set()), ({1, 2, 3}, 3072, set()))),
    ),
    (
        "Nova doc: 6 vCPUs and 6 GB, 1:2 between the nodes",
        {
            "hw:numa_nodes": "2",
            "hw:numa_cpus.0": "0,1",
            "hw:numa_mem.0": "2048",
            "hw:numa_cpus.1": "2,3,4,5",
            "hw:numa_mem.1": "4096",
        },
        {"vcpus": 6, "memory_mb": 6144},
        GuestTopology(cells(({0, 1}, 2048, set()), ({2, 3, 4, 5}, 4096, set()))),
    ),
    (
        "dedicated: one implicit cell, all pinned, thread policy prefer",
        {"hw:cpu_policy": "dedicated"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.PREFER,
        ),
    ),
    (
        "isolate emulator threads",
        {"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.PREFER,
            emulator_threads=EmulatorThreads.ISOLATE,
        ),
    ),
    (
        "Nova doc: mixed with hw:cpu_dedicated_mask=^0-1",
        {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {2, 3})),
            cpu_policy=CpuPolicy.MIXED,
            thread_policy=ThreadPolicy.PREFER,
        ),
    ),
    (
        "mixed across two nodes keeps each cell's share of the mask",
        {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "1,3", "hw:numa_nodes": "2"},
        {},
        GuestTopology(
            cells(({0, 1}, 2048, {1}), ({2, 3}, 2048, {3})),
            cpu_policy=CpuPolicy.MIXED,
            thread_policy=ThreadPolicy.PREFER,
        ),
    ),
    (
        "mixed from a realtime mask",
        {"hw:cpu_policy": "mixed", "hw:cpu_realtime": "yes", "hw:cpu_realtime_mask": "^0"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {1, 2, 3})),
            cpu_policy=CpuPolicy.MIXED,
            thread_policy=ThreadPolicy.PREFER,
        ),
    ),
    (
        "thread policy require",
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.REQUIRE,
        ),
    ),
    (
        "1 GiB pages",
        {"hw:mem_page_size": "1GB"},
        {},
        GuestTopology(cells(({0, 1, 2, 3}, 4096, set())),
                      pages=PageRequest(PageKind.SIZE, 1048576)),
    ),
    (
        "large pages on two nodes",
        {"hw:mem_page_size": "large", "hw:numa_nodes": "2"},
        {},
        GuestTopology(cells(({0, 1}, 2048, set()), ({2, 3}, 2048, set())),
                      pages=PageRequest(PageKind.LARGE)),
    ),
    (
        "image chooses the size where the flavor says any",
        {"hw:mem_page_size": "any"},
        {"props": {"hw_mem_page_size": "2048"}},
        GuestTopology(cells(({0, 1, 2, 3}, 4096, set())),
                      pages=PageRequest(PageKind.SIZE, 2048)),
    ),
    (
        "image asks for pinning the flavor leaves open",
        {},
        {"props": {"hw_cpu_policy": "dedicated", "hw_cpu_thread_policy": "isolate"}},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.ISOLATE,
        ),
    ),
    (
        "image shapes NUMA when the flavor does not",
        {},
        {"props": {"hw_numa_nodes": "2", "hw_numa_cpus.0": "0-2", "hw_numa_cpus.1": "3",
                   "hw_numa_mem.0": "3072", "hw_numa_mem.1": "1024"}},
        GuestTopology(cells(({0, 1, 2}, 3072, set()), ({3}, 1024, set()))),
    ),
    (
        "image thread policy refines the flavor's prefer",
        {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer"},
        {"props": {"hw_cpu_thread_policy": "require"}},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.REQUIRE,
        ),
    ),
    (
        "hyperthreading trait stands for a thread policy",
        {"resources:PCPU": "4", "trait:HW_CPU_HYPERTHREADING": "required"},
        {},
        GuestTopology(
            cells(({0, 1, 2, 3}, 4096, {0, 1, 2, 3})),
            cpu_policy=CpuPolicy.DEDICATED,
            thread_policy=ThreadPolicy.REQUIRE,
        ),
    ),
]


@pytest.mark.parametrize(
    ("specs", "kwargs", "expected"), [c[1:] for c in GUESTS], ids=[c[0] for c in GUESTS]
)
def test_guest_topology(
    specs: dict[str, str], kwargs: dict[str, Any], expected: GuestTopology | None
) -> None:
    assert tr(specs, **kwargs).guest == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("small", PageRequest(PageKind.SMALL)),
        ("4", PageRequest(PageKind.SMALL)),
        ("4KiB", PageRequest(PageKind.SMALL)),
        ("any", PageRequest(PageKind.ANY)),
        ("2048", PageRequest(PageKind.SIZE, 2048)),
        ("2MB", PageRequest(PageKind.SIZE, 2048)),
        ("2M", PageRequest(PageKind.SIZE, 2048)),
        ("2MiB", PageRequest(PageKind.SIZE, 2048)),
        ("2097152B", PageRequest(PageKind.SIZE, 2048)),
        ("1G", PageRequest(PageKind.SIZE, 1048576)),
        ("1GiB", PageRequest(PageKind.SIZE, 1048576)),
        ("64k", PageRequest(PageKind.SIZE, 64)),
    ],
)
def test_page_sizes(text: str, expected: PageRequest) -> None:
    got = tr({"hw:mem_page_size": text})
    assert got.guest is not None
    assert got.guest.pages == expected


# -- filters' inputs --------------------------------------------------------------------


def test_aggregate_and_capability_specs() -> None:
    got = tr(
        {
            "aggregate_instance_extra_specs:ssd": "true",
            "aggregate_instance_extra_specs:tier": "<or> gold <or> silver",
            "capabilities:cpu_info:features": "<all-in> avx2 sse4.2",
            "capabilities:hypervisor_type": "s== QEMU",
            "capabilities:free_ram_mb": ">= 1024",
            "capabilities:cpu_info:vendor": "<in> Intel",
        }
    )
    assert got.aggregate_specs == (
        Requirement("aggregate_instance_extra_specs:ssd", ("ssd",),
                    SpecMatch(MatchOp.TEXT, ("true",))),
        Requirement("aggregate_instance_extra_specs:tier", ("tier",),
                    SpecMatch(MatchOp.OR, ("gold", "silver"))),
    )
    assert got.capabilities == (
        Requirement("capabilities:cpu_info:features", ("cpu_info", "features"),
                    SpecMatch(MatchOp.ALL_IN, ("avx2", "sse4.2"))),
        Requirement("capabilities:cpu_info:vendor", ("cpu_info", "vendor"),
                    SpecMatch(MatchOp.IN, ("Intel",))),
        Requirement("capabilities:free_ram_mb", ("free_ram_mb",),
                    SpecMatch(MatchOp.NUM_GE, ("1024",))),
        Requirement("capabilities:hypervisor_type", ("hypervisor_type",),
                    SpecMatch(MatchOp.STR_EQ, ("QEMU",))),
    )


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("true", "true", True),
        ("true", "True", False),
        ("= 1024", "2048", True),  # Nova's "=" is numeric at-least
        ("= 1024", "1000", False),
        ("== 2", "2.0", True),
        ("!= 2", "3", True),
        ("<= 4", "5", False),
        ("s== QEMU", "QEMU", True),
        ("s!= QEMU", "KVM", True),
        ("s< b", "a", True),
        ("s>= b", "a", False),
        ("<in> avx", "avx2 sse", True),
        ("<or> gold <or> silver", "silver", True),
        ("<or> gold <or> silver", "bronze", False),
        (">= 10", "not a number", False),
    ],
)
def test_spec_match_on_text(text: str, value: str, expected: bool) -> None:
    assert parse_match("k", text).matches(value) is expected


def test_spec_match_on_collections() -> None:
    assert parse_match("k", "<all-in> avx2 sse").matches({"avx2", "sse", "x"})
    assert not parse_match("k", "<all-in> avx2 sse").matches({"avx2"})
    assert parse_match("k", "<in> avx2").matches(["avx2", "sse"])
    assert parse_match("k", "gold").matches(["silver", "gold"])  # aggregate value sets


def test_image_requirements() -> None:
    got = tr(
        props={
            "hw_architecture": "AMD64",
            "img_hv_type": "xapi",
            "vm_mode": "hv",
            "img_hv_requested_version": ">=6.0, <8",
        }
    )
    assert got.image == ImageRequirements(
        architecture="x86_64",
        hypervisor_type="xen",
        vm_mode="hvm",
        hypervisor_version=(VersionBound(">=", (6, 0)), VersionBound("<", (8,))),
    )
    assert all(b.satisfied_by((7, 1, 0)) for b in got.image.hypervisor_version)
    assert not all(b.satisfied_by((8,)) for b in got.image.hypervisor_version)
    assert tr().image == ImageRequirements()


def test_device_profile_is_passed_on() -> None:
    assert tr({"accel:device_profile": "gpu-small"}).device_profile == "gpu-small"


# -- refusals ---------------------------------------------------------------------------

ERRORS: list[tuple[str, dict[str, str], dict[str, Any], str]] = [
    ("misspelt hw key", {"hw:cpu_polcy": "dedicated"}, {},
     "unknown extra spec hw:cpu_polcy; did you mean hw:cpu_policy?"),
    ("unknown hw key", {"hw:turbo": "on"}, {}, "unknown extra spec hw:turbo"),
    ("unknown namespace", {"fancy:thing": "1"}, {}, "namespace 'fancy'"),
    ("unknown bare key", {"fast": "yes"}, {}, "unknown extra spec fast"),
    ("misnamed max", {"hw:max_cpu_sockets": "2"}, {}, "did you mean hw:cpu_max_sockets?"),
    ("unknown hw_rng key", {"hw_rng:speed": "1"}, {}, "unknown extra spec hw_rng:speed"),
    ("bad cpu policy", {"hw:cpu_policy": "pinned"}, {},
     "hw:cpu_policy must be one of shared, dedicated, mixed"),
    ("bad thread policy", {"hw:cpu_thread_policy": "never"}, {}, "hw:cpu_thread_policy must be"),
    ("bad emulator policy", {"hw:emulator_threads_policy": "own"}, {},
     "hw:emulator_threads_policy must be"),
    ("non-integer nodes", {"hw:numa_nodes": "two"}, {}, "hw:numa_nodes must be an integer"),
    ("zero nodes", {"hw:numa_nodes": "0"}, {}, "hw:numa_nodes must be between 1 and 128"),
    ("negative memory", {"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-3",
                         "hw:numa_mem.0": "-4096"}, {}, "hw:numa_mem.0 must be between 1"),
    ("bad boolean", {"hw:cpu_realtime": "maybe"}, {}, "hw:cpu_realtime must be a boolean"),
    ("bad group policy", {"group_policy": "all"}, {}, "group_policy must be one of none, isolate"),
    ("bad secure boot", {"os:secure_boot": "please"}, {}, "os:secure_boot must be one of"),
    ("more nodes than vCPUs", {"hw:numa_nodes": "5"}, {},
     "hw:numa_nodes=5 asks for more guest NUMA nodes than the flavor's 4 vCPUs"),
    ("uneven split", {"hw:numa_nodes": "3"}, {},
     "hw:numa_nodes=3 does not split the flavor's 4 vCPUs"),
    ("thread policy with shared CPUs", {"hw:cpu_thread_policy": "isolate"}, {},
     "hw:cpu_thread_policy requires hw:cpu_policy=dedicated or mixed"),
    ("explicit shared with thread policy",
     {"hw:cpu_policy": "shared", "hw:cpu_thread_policy": "prefer"}, {},
     "hw:cpu_thread_policy requires hw:cpu_policy=dedicated or mixed"),
    ("isolated emulator threads without pinning", {"hw:emulator_threads_policy": "isolate"}, {},
     "hw:emulator_threads_policy=isolate requires hw:cpu_policy=dedicated or mixed"),
    ("mixed without a mask", {"hw:cpu_policy": "mixed"}, {},
     "hw:cpu_policy=mixed requires hw:cpu_dedicated_mask"),
    ("mask without mixed", {"hw:cpu_dedicated_mask": "0"}, {},
     "hw:cpu_dedicated_mask requires hw:cpu_policy=mixed"),
    ("mask with dedicated", {"hw:cpu_policy": "dedicated", "hw:cpu_dedicated_mask": "0"}, {},
     "hw:cpu_dedicated_mask requires hw:cpu_policy=mixed, not dedicated"),
    ("mask pins everything", {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-3"}, {},
     "hw:cpu_dedicated_mask must leave at least one shared and one dedicated vCPU"),
    ("mask beyond the vCPUs", {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "2,7"}, {},
     "hw:cpu_dedicated_mask names guest CPU 7, but the flavor has 4 vCPUs"),
    ("mask syntax", {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-"}, {},
     "hw:cpu_dedicated_mask: '0-' is not a CPU list"),
    ("mask and realtime mask",
     {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0", "hw:cpu_realtime": "yes",
      "hw:cpu_realtime_mask": "^0"}, {}, "not both"),
    ("realtime without pinning", {"hw:cpu_realtime": "true"}, {},
     "hw:cpu_realtime requires hw:cpu_policy=dedicated or mixed"),
    ("realtime on every vCPU", {"hw:cpu_policy": "dedicated", "hw:cpu_realtime": "true"}, {},
     "hw:cpu_realtime needs hw:cpu_realtime_mask"),
    ("numa cpus duplicated",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "1-3",
      "hw:numa_mem.0": "2048", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_cpus.1: guest CPU 1 is already in node 0"),
    ("numa cpus beyond the vCPUs",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-4",
      "hw:numa_mem.0": "2048", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_cpus.1 names guest CPU 4, but the flavor has 4 vCPUs (0-3)"),
    ("numa cpus leave one out",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2",
      "hw:numa_mem.0": "2048", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_cpus.N leave guest CPUs 3 in no node"),
    ("numa cpus leave a node empty",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_cpus.1": "3,^3",
      "hw:numa_mem.0": "2048", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_cpus.1 gives guest node 1 no CPUs"),
    ("numa mem does not add up",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-3",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_mem.N add up to 3072 MB, but the flavor has 4096 MB"),
    ("numa cpus for one node only",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "4096"}, {},
     "hw:numa_cpus.1 is missing"),
    ("numa cpus for a node that does not exist",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2",
      "hw:numa_cpus.2": "3", "hw:numa_mem.0": "2048", "hw:numa_mem.1": "2048"}, {},
     "hw:numa_cpus.2 names guest node 2, but the guest has 2 NUMA nodes (0-1)"),
    ("numa cpus without numa mem",
     {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-3"}, {},
     "hw:numa_cpus.N requires hw:numa_mem.N too"),
    ("numa cpus without numa nodes", {"hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "4096"}, {},
     "hw:numa_cpus.N requires hw:numa_nodes"),
    ("page size word", {"hw:mem_page_size": "huge"}, {},
     "hw:mem_page_size must be small, large, any or a size"),
    ("page size not a power of two", {"hw:mem_page_size": "3MB"}, {},
     "hw:mem_page_size: '3MB' is not a page size"),
    ("page size below small pages", {"hw:mem_page_size": "2"}, {},
     "hw:mem_page_size: '2' is not a page size"),
    ("memory not a whole number of pages",
     {"hw:mem_page_size": "1GB", "hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1",
      "hw:numa_cpus.1": "2-3", "hw:numa_mem.0": "1536", "hw:numa_mem.1": "2560"}, {},
     "guest node 0 has 1536 MB, not a whole number of 1048576 KiB pages"),
    ("locked memory without a page size", {"hw:locked_memory": "true"}, {},
     "hw:locked_memory requires hw:mem_page_size"),
    ("image page size, flavor silent", {}, {"props": {"hw_mem_page_size": "1GB"}},
     "image property hw_mem_page_size needs a flavor that allows it"),
    ("image page size below the flavor's large", {"hw:mem_page_size": "large"},
     {"props": {"hw_mem_page_size": "small"}},
     "image property hw_mem_page_size conflicts with the flavor's hw:mem_page_size=large"),
    ("image page size against an exact flavor size", {"hw:mem_page_size": "2MB"},
     {"props": {"hw_mem_page_size": "1GB"}}, "conflicts with the flavor's hw:mem_page_size=2MB"),
    ("image pins what the flavor shares", {"hw:cpu_policy": "shared"},
     {"props": {"hw_cpu_policy": "dedicated"}},
     "image property hw_cpu_policy=dedicated conflicts with the flavor's hw:cpu_policy=shared"),
    ("image dedicated against mixed", {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0"},
     {"props": {"hw_cpu_policy": "dedicated"}},
     "hw_cpu_policy=dedicated conflicts with the flavor's hw:cpu_policy=mixed"),
    ("image thread policy against the flavor's",
     {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"},
     {"props": {"hw_cpu_thread_policy": "isolate"}},
     "image property hw_cpu_thread_policy=isolate conflicts with the flavor's "
     "hw:cpu_thread_policy=require"),
    ("image thread policy on shared CPUs", {}, {"props": {"hw_cpu_thread_policy": "isolate"}},
     "image property hw_cpu_thread_policy requires hw:cpu_policy=dedicated or mixed"),
    ("image and flavor both count nodes", {"hw:numa_nodes": "2"},
     {"props": {"hw_numa_nodes": "2"}}, "image property hw_numa_nodes cannot override"),
    ("image and flavor both place CPUs",
     {"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "4096"},
     {"props": {"hw_numa_cpus.0": "0-3"}}, "image property hw_numa_cpus.N cannot override"),
    ("image PCI policy against the flavor's", {"hw:pci_numa_affinity_policy": "required"},
     {"props": {"hw_pci_numa_affinity_policy": "preferred"}},
     "image property hw_pci_numa_affinity_policy=preferred conflicts"),
    ("bad PCI policy", {"hw:pci_numa_affinity_policy": "strict"}, {},
     "hw:pci_numa_affinity_policy must be one of"),
    ("PCPU with a CPU policy", {"hw:cpu_policy": "dedicated", "resources:PCPU": "4"}, {},
     "resources:VCPU and resources:PCPU cannot be combined with hw:cpu_policy"),
    ("VCPU and PCPU", {"resources:VCPU": "2", "resources:PCPU": "2"}, {},
     "resources:VCPU and resources:PCPU cannot both be given"),
    ("PCPU not matching vCPUs", {"resources:PCPU": "3"}, {},
     "resources:PCPU=3 must equal the flavor's 4 vCPUs"),
    ("PCPU not counting emulator threads",
     {"resources:PCPU": "4", "hw:emulator_threads_policy": "isolate"}, {},
     "must equal the flavor's 4 vCPUs plus one for hw:emulator_threads_policy=isolate"),
    ("hyperthreading trait and thread policy",
     {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require",
      "trait:HW_CPU_HYPERTHREADING": "required"}, {},
     "trait:HW_CPU_HYPERTHREADING cannot be combined with hw:cpu_thread_policy"),
    ("hyperthreading trait on shared CPUs", {"trait:HW_CPU_HYPERTHREADING": "required"}, {},
     "trait:HW_CPU_HYPERTHREADING=required requires hw:cpu_policy=dedicated or mixed"),
    ("negative resource", {"resources:VCPU": "-1"}, {},
     "resources:VCPU must be between 0 and 2147483647, got -1"),
    ("non-integer resource", {"resources:VCPU": "two"}, {},
     "resources:VCPU must be an integer"),
    ("unknown resource class", {"resources:VCPUS": "1"}, {},
     "resources:VCPUS: 'VCPUS' is not a resource class"),
    ("unknown trait", {"trait:FAST_CPU": "required"}, {},
     "trait:FAST_CPU: 'FAST_CPU' is not a trait"),
    ("bad trait value", {"trait:HW_CPU_X86_AVX2": "preferred"}, {},
     "trait:HW_CPU_X86_AVX2 must be required or forbidden, got 'preferred'"),
    ("resourceless granular group", {"trait1:CUSTOM_X": "required"}, {},
     "trait1:CUSTOM_X: request group '1' asks for no resources"),
    ("granular group of zeros", {"resources1:VGPU": "0"}, {},
     "resources1:VGPU: request group '1' asks for no resources"),
    ("trait required by the image, forbidden by the flavor",
     {"trait:HW_CPU_X86_AVX2": "forbidden"}, {"props": {"trait:HW_CPU_X86_AVX2": "required"}},
     "trait HW_CPU_X86_AVX2 is both required and forbidden"),
    ("suffix taken by a port", {"resourcesport0:VGPU": "1"},
     {"ports": (PortRequest("physnet1"),)},
     "resourcesport0:VGPU: request group suffix 'port0' is reserved"),
    ("unknown alias", {"pci_passthrough:alias": "nope:1"}, {},
     "pci_passthrough:alias names unknown PCI alias 'nope'"),
    ("alias without a count", {"pci_passthrough:alias": "a1"}, {},
     "pci_passthrough:alias: expected 'alias:count[,alias:count...]'"),
    ("alias count of zero", {"pci_passthrough:alias": "a1:0"}, {},
     "pci_passthrough:alias: count for a1 must be between 1 and 64"),
    ("alias named twice", {"pci_passthrough:alias": "a1:1,a1:2"}, {},
     "pci_passthrough:alias: alias a1 is named twice"),
    ("capability comparing a word as a number", {"capabilities:vcpus": ">= many"}, {},
     "capabilities:vcpus: operator >= compares numbers; 'many' is not a number"),
    ("or without alternation", {"aggregate_instance_extra_specs:tier": "<or> a b"}, {},
     "aggregate_instance_extra_specs:tier: expected '<or> A <or> B ...'"),
    ("operator without a value", {"capabilities:hypervisor_type": "s=="}, {},
     "capabilities:hypervisor_type: operator s== needs a value"),
    ("empty capability path", {"capabilities::vendor": "Intel"}, {},
     "capabilities::vendor: empty attribute name"),
    ("unknown architecture", {}, {"props": {"hw_architecture": "z80"}},
     "image property hw_architecture: unknown value 'z80'"),
    ("legacy and current name disagree", {},
     {"props": {"hw_architecture": "x86_64", "architecture": "aarch64"}},
     "image properties hw_architecture='x86_64' and architecture='aarch64' disagree"),
    ("bad version predicate", {}, {"props": {"img_hv_requested_version": "at least 6"}},
     "img_hv_requested_version: expected comparisons like '>=6.0'"),
    ("image forbidding a trait", {}, {"props": {"trait:CUSTOM_X": "forbidden"}},
     "image property trait:CUSTOM_X: images can only require traits"),
    ("bad image property value", {}, {"props": {"hw_numa_nodes": "lots"}},
     "hw_numa_nodes must be an integer"),
    ("image bigger than the flavor's memory", {}, {"min_ram_mb": 8192},
     "flavor memory_mb=4096 is less than the image's min_ram_mb=8192"),
    ("image bigger than the root disk", {}, {"min_disk_gb": 40},
     "flavor root_gb=20 is less than the image's min_disk_gb=40"),
    ("TPM model without version", {"hw:tpm_model": "tpm-tis"}, {},
     "hw:tpm_model requires hw:tpm_version"),
    ("CRB on TPM 1.2", {"hw:tpm_model": "tpm-crb", "hw:tpm_version": "1.2"}, {},
     "hw:tpm_model=tpm-crb requires hw:tpm_version=2.0"),
    ("TPM version conflict", {"hw:tpm_version": "1.2"}, {"props": {"hw_tpm_version": "2.0"}},
     "image property hw_tpm_version=2.0 conflicts with the flavor's hw:tpm_version=1.2"),
    ("memory encryption without UEFI", {"hw:mem_encryption": "true"}, {},
     "hw:mem_encryption requires an image with hw_firmware_type=uefi"),
    ("sockets not dividing the vCPUs", {"hw:cpu_sockets": "3"}, {},
     "hw:cpu_sockets=3 must divide the flavor's 4 vCPUs"),
    ("topology not describing the vCPUs",
     {"hw:cpu_sockets": "2", "hw:cpu_cores": "1", "hw:cpu_threads": "1"}, {},
     "does not describe the flavor's 4 vCPUs"),
    ("image exceeding the flavor's maximum", {"hw:cpu_max_sockets": "1"},
     {"props": {"hw_cpu_max_sockets": "2"}},
     "image property hw_cpu_max_sockets=2 exceeds the flavor's hw:cpu_max_sockets=1"),
]


@pytest.mark.parametrize(
    ("specs", "kwargs", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_refusals(specs: dict[str, str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidError) as info:
        tr(specs, **kwargs)
    assert message in info.value.message


# -- PCI aliases ------------------------------------------------------------------------


def test_parse_aliases() -> None:
    assert {
        "a1": PciAlias("a1", "8086", "154d", PciDeviceType.PF, PciNumaPolicy.REQUIRED),
        "gpu": PciAlias("gpu", "10de", "1db4"),
        "vf": PciAlias("vf", "8086", "1515", PciDeviceType.VF),
        "fpga": PciAlias(
            "fpga",
            None,
            None,
            resource_class="CUSTOM_FPGA_X",
            traits=frozenset({"HW_GPU_API_VULKAN", "CUSTOM_FAST"}),
        ),
    } == ALIASES
    assert ALIASES["a1"].placement_class == "CUSTOM_PCI_8086_154D"
    assert parse_alias_request("k", "a1:2, gpu : 1") == (("a1", 2), ("gpu", 1))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["{not json"], "PCI alias is not valid JSON"),
        (["[1]"], "PCI alias must be a JSON object"),
        ([{"vendor_id": "8086", "product_id": "154d"}], "PCI alias: name must be"),
        ([{"name": "a", "vendor_id": "808", "product_id": "154d"}],
         "PCI alias 'a': vendor_id must be 4 hexadecimal digits"),
        ([{"name": "a", "vendor_id": "8086"}],
         "PCI alias 'a': vendor_id and product_id are required without resource_class"),
        ([{"name": "a", "vendor_id": "8086", "product_id": "154d", "device_type": "gpu"}],
         "PCI alias 'a': device_type must be one of type-PCI, type-PF, type-VF"),
        ([{"name": "a", "vendor_id": "8086", "product_id": "154d", "numa_policy": "near"}],
         "PCI alias 'a': numa_policy must be one of"),
        ([{"name": "a", "vendor_id": "8086", "product_id": "154d", "colour": "red"}],
         "PCI alias 'a': unknown key 'colour'"),
        ([{"name": "a", "resource_class": "X", "traits": 5}],
         "PCI alias 'a': traits must be a comma-separated string or a list"),
        ([{"name": "a", "resource_class": "X"}, {"name": "a", "resource_class": "Y"}],
         "PCI alias 'a' is defined twice"),
    ],
)
def test_alias_refusals(entries: list[Any], message: str) -> None:
    with pytest.raises(InvalidError) as info:
        parse_aliases(entries)
    assert message in info.value.message
