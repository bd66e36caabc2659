"""NUMA fitting on cases from Nova's docs: thread policies, huge pages, emulator threads, PCI.

Every placement is also checked by the independent judge in ``numa_oracle``; every
rejection has its stable code and a reason naming the numbers an operator needs.
"""

from __future__ import annotations

import pytest

from berth.model.guest import (
    Assignment,
    CpuPolicy,
    EmulatorThreads,
    GuestCell,
    GuestTopology,
    NoFit,
    PageKind,
    PageRequest,
    PciNumaPolicy,
    PciRequest,
    ThreadPolicy,
)
from berth.model.topology import (
    CellUsage,
    HostCell,
    HostTopology,
    HostUsage,
    PagePool,
    PciDevice,
    PciDeviceType,
)
from berth.scheduler.numa import consume, fit
from scheduler.numa_oracle import violations

GIB, MIB2 = 1048576, 2048


def cell(
    i: int, cores: int, *, threads: int = 2, shared: int = 0, memory: int = 16384,
    pages: tuple[PagePool, ...] = (), socket: int | None = None, stride: int = 100,
) -> HostCell:
    """Host cell ``i``: ``cores`` dedicated cores of ``threads`` threads, CPU ids from
    ``i * stride``; core k's threads are k, k + cores, ... (Linux's usual numbering)."""
    base = i * stride
    ded = [base + k + t * cores for k in range(cores) for t in range(threads)]
    sibs = tuple(frozenset(base + k + t * cores for t in range(threads)) for k in range(cores))
    sh = frozenset(range(base + cores * threads, base + cores * threads + shared))
    return HostCell(
        id=i, shared_cpus=sh, dedicated_cpus=frozenset(ded), memory_mb=memory,
        siblings=sibs if threads > 1 else (), pages=pages, socket=socket,
    )


def host(*cells: HostCell, devices: tuple[PciDevice, ...] = ()) -> HostTopology:
    return HostTopology(cells=tuple(cells), devices=devices)


def guest(
    *sizes: int, memory: int = 2048, policy: CpuPolicy = CpuPolicy.DEDICATED,
    threads: ThreadPolicy | None = None, emulator: EmulatorThreads = EmulatorThreads.SHARE,
    pages: PageRequest | None = None, pci: tuple[PciRequest, ...] = (),
    dedicated: tuple[int, ...] = (),
) -> GuestTopology:
    """A guest with one cell per entry of ``sizes`` (vCPUs), each of ``memory`` MB; for
    ``mixed``, ``dedicated[i]`` of cell i's CPUs are pinned."""
    cells, first = [], 0
    for i, n in enumerate(sizes):
        cpus = frozenset(range(first, first + n))
        ded = frozenset(range(first, first + dedicated[i])) if dedicated else frozenset()
        cells.append(GuestCell(id=i, cpus=cpus, memory_mb=memory, dedicated=ded))
        first += n
    return GuestTopology(
        cells=tuple(cells), cpu_policy=policy, thread_policy=threads, emulator_threads=emulator,
        pages=pages, pci=pci,
    )


CPU_RATIO, RAM_RATIO = 4.0, 1.5


def place(h: HostTopology, g: GuestTopology, usage: HostUsage | None = None) -> Assignment:
    usage = usage or HostUsage()
    got = fit(h, usage, g, cpu_allocation_ratio=CPU_RATIO, ram_allocation_ratio=RAM_RATIO)
    assert isinstance(got, Assignment), got
    assert violations(h, usage, g, got, CPU_RATIO, RAM_RATIO) == []
    return got


def reject(h: HostTopology, g: GuestTopology, usage: HostUsage | None = None) -> NoFit:
    got = fit(h, usage or HostUsage(), g, cpu_allocation_ratio=CPU_RATIO,
              ram_allocation_ratio=RAM_RATIO)
    assert isinstance(got, NoFit), got
    return got


def host_cpus(a: Assignment) -> list[int]:
    return [hc for c in a.cells for _, hc in c.pinning]


# ------------------------------------------------------------------ thread policies

SMT = host(cell(0, 4), cell(1, 4))  # per cell: 4 cores x 2 threads; core k = {k, k+4}


def test_prefer_packs_guest_cpus_onto_sibling_pairs() -> None:
    a = place(SMT, guest(4, threads=ThreadPolicy.PREFER))
    assert a.cells[0].host_cell == 0
    assert host_cpus(a) == [0, 4, 1, 5]  # two whole cores
    assert a.cells[0].reserved_cpus == frozenset()


def test_default_thread_policy_is_prefer_and_fills_a_half_used_core_first() -> None:
    used = HostUsage(cells={0: CellUsage(pinned_cpus=frozenset({0}))})
    a = place(SMT, guest(1), used)
    assert host_cpus(a) == [4]  # core 0's free sibling, not a whole core


def test_isolate_takes_a_whole_core_per_cpu_and_reserves_the_siblings() -> None:
    g = guest(2, threads=ThreadPolicy.ISOLATE)
    a = place(SMT, g)
    assert host_cpus(a) == [0, 1]
    assert a.cells[0].reserved_cpus == {4, 5}
    after = consume(HostUsage(), g, a)
    assert after.of(0).pinned_cpus == {0, 1, 4, 5}
    # a prefer guest may not land on the siblings isolate keeps idle
    b = place(SMT, guest(4), after)
    assert not set(host_cpus(b)) & {0, 1, 4, 5}


def test_isolate_after_isolate_moves_to_the_next_cell_when_cores_run_out() -> None:
    g = guest(3, threads=ThreadPolicy.ISOLATE)
    usage = consume(HostUsage(), g, place(SMT, g))
    assert usage.of(0).pinned_cpus == {0, 1, 2, 4, 5, 6}
    second = place(SMT, g, usage)
    assert second.cells[0].host_cell == 1
    usage = consume(usage, g, second)
    no = reject(SMT, g, usage)
    assert no.code == "numa.pinning" and "2 free dedicated CPUs of 8" in no.reason


def test_isolate_needs_whole_free_cores_not_just_free_cpus() -> None:
    used = HostUsage(cells={0: CellUsage(pinned_cpus=frozenset({0, 1}))})
    no = reject(host(cell(0, 4)), guest(3, threads=ThreadPolicy.ISOLATE), used)
    assert no.code == "numa.thread_policy"
    assert "the cell has 2 fully free cores (6 free dedicated CPUs)" in no.reason


def test_isolate_on_a_non_smt_host_is_plain_pinning() -> None:
    h = host(cell(0, 4, threads=1))
    a = place(h, guest(4, threads=ThreadPolicy.ISOLATE))
    assert sorted(host_cpus(a)) == [0, 1, 2, 3]
    assert a.cells[0].reserved_cpus == frozenset()


def test_require_pins_onto_sibling_pairs() -> None:
    a = place(SMT, guest(4, threads=ThreadPolicy.REQUIRE))
    assert host_cpus(a) == [0, 4, 1, 5]


def test_require_with_an_odd_count_leaves_at_most_one_core_half_used() -> None:
    a = place(SMT, guest(3, threads=ThreadPolicy.REQUIRE))
    assert host_cpus(a) == [0, 4, 1]


def test_require_fails_on_a_non_smt_host() -> None:
    h = host(cell(0, 8, threads=1))
    no = reject(h, guest(2, threads=ThreadPolicy.REQUIRE))
    assert no.code == "numa.thread_policy"
    assert "hyperthread siblings" in no.reason and "host cell 0" in no.reason


def test_require_fails_when_free_cpus_have_no_free_sibling() -> None:
    # one thread of every core is taken: 4 free CPUs, but none with a free sibling
    used = HostUsage(cells={0: CellUsage(pinned_cpus=frozenset({0, 1, 2, 3}))})
    no = reject(host(cell(0, 4)), guest(2, threads=ThreadPolicy.REQUIRE), used)
    assert no.code == "numa.thread_policy"
    assert "0 free CPUs on cores with 2 or more free threads (4 free in all)" in no.reason
    assert isinstance(fit(host(cell(0, 4)), used, guest(2, threads=ThreadPolicy.PREFER),
                          cpu_allocation_ratio=1, ram_allocation_ratio=1), Assignment)


def test_pinned_cpus_are_never_overcommitted() -> None:
    h = host(cell(0, 2))  # 4 dedicated CPUs
    no = fit(h, HostUsage(), guest(5), cpu_allocation_ratio=16.0, ram_allocation_ratio=1.0)
    assert isinstance(no, NoFit) and no.code == "numa.pinning"
    assert no.reason == (
        "host cell 0 rejects guest cell 0: needs 5 dedicated CPUs; "
        "the cell has 4 free dedicated CPUs of 4"
    )


def test_other_guests_pinned_cpus_are_respected() -> None:
    used = HostUsage(cells={0: CellUsage(pinned_cpus=frozenset({0, 1, 4, 5, 2}))})
    a = place(SMT, guest(3), used)  # 3 free in cell 0: 6, 3, 7
    assert a.cells[0].host_cell == 0 and sorted(host_cpus(a)) == [3, 6, 7]


# ------------------------------------------------------------------ shared and mixed CPUs


def test_shared_cpus_overcommit_by_the_ratio() -> None:
    h = host(cell(0, 0, shared=4))
    used = HostUsage(cells={0: CellUsage(shared_vcpus=14)})
    place(h, guest(2, policy=CpuPolicy.SHARED), used)  # 4 x 4.0 = 16, 14 used
    no = reject(h, guest(3, policy=CpuPolicy.SHARED), used)
    assert no.code == "numa.cpu"
    assert "4 shared CPUs x ratio 4 = 16, 14 in use" in no.reason


def test_a_guest_cell_never_gets_more_vcpus_than_the_cell_has_cpus() -> None:
    no = reject(host(cell(0, 0, shared=4)), guest(5, policy=CpuPolicy.SHARED))
    assert no.code == "numa.cpu" and "needs 5 shared CPUs" in no.reason


def test_mixed_policy_pins_the_dedicated_part_and_floats_the_rest() -> None:
    h = host(cell(0, 4, shared=4))
    g = guest(4, policy=CpuPolicy.MIXED, dedicated=(2,))
    a = place(h, g)
    assert a.cells[0].pinning == ((0, 0), (1, 4))
    after = consume(HostUsage(), g, a)
    assert after.of(0).shared_vcpus == 2 and after.of(0).pinned_cpus == {0, 4}


def test_mixed_policy_needs_shared_cpus_for_the_floating_part() -> None:
    no = reject(host(cell(0, 4)), guest(4, policy=CpuPolicy.MIXED, dedicated=(2,)))
    assert no.code == "numa.cpu" and "0 shared CPUs" in no.reason


# ------------------------------------------------------------------ emulator threads


def test_emulator_threads_isolate_takes_one_more_dedicated_cpu() -> None:
    g = guest(2, emulator=EmulatorThreads.ISOLATE)
    a = place(SMT, g)
    assert a.emulator_cpus == {1}
    assert a.cells[0].reserved_cpus == {1}
    assert consume(HostUsage(), g, a).of(0).pinned_cpus == {0, 4, 1}


def test_emulator_threads_isolate_with_thread_isolate_gets_a_whole_core() -> None:
    a = place(SMT, guest(2, threads=ThreadPolicy.ISOLATE, emulator=EmulatorThreads.ISOLATE))
    assert host_cpus(a) == [0, 1] and a.emulator_cpus == {2}
    assert a.cells[0].reserved_cpus == {2, 4, 5, 6}


def test_emulator_cpu_lands_in_whichever_guest_host_cell_has_room() -> None:
    used = HostUsage(cells={0: CellUsage(pinned_cpus=frozenset({0, 1, 2, 3}))})
    a = place(SMT, guest(4, 4, emulator=EmulatorThreads.ISOLATE), used)
    assert a.emulator_cpus <= SMT.cell(1).dedicated_cpus


def test_emulator_threads_isolate_fails_when_no_cell_has_a_spare_cpu() -> None:
    h = host(cell(0, 2), cell(1, 2))  # 4 dedicated CPUs per cell
    no = reject(h, guest(4, 4, emulator=EmulatorThreads.ISOLATE))
    assert no.code == "numa.emulator"
    assert "needs 4 dedicated CPUs + 1 for the emulator threads" in no.reason
    assert "4 free dedicated CPUs of 4" in no.reason


# ------------------------------------------------------------------ memory and huge pages


def test_small_page_memory_overcommits_by_the_ratio() -> None:
    h = host(cell(0, 4, memory=8192))
    used = HostUsage(cells={0: CellUsage(memory_mb=8192)})
    place(h, guest(1, memory=4096), used)  # 8192 x 1.5 = 12288
    no = reject(h, guest(1, memory=4097), used)
    assert no.code == "numa.memory"
    assert "8192 MB of small-page memory x ratio 1.5, 8192 MB in use (4096 MB free)" in no.reason


def test_huge_pages_back_the_memory_exactly_and_are_not_small_memory() -> None:
    h = host(cell(0, 4, memory=16384, pages=(PagePool(GIB, 8),)))
    a = place(h, guest(2, memory=4096, pages=PageRequest(PageKind.SIZE, GIB)))
    assert (a.cells[0].page_size_kb, a.cells[0].pages) == (GIB, 4)
    # only 16384 - 8 GiB = 8192 MB is small-page memory
    no = reject(h, guest(2, memory=8192 + 1))
    assert no.code == "numa.memory" and "8192 MB of small-page memory" in no.reason


def test_huge_pages_are_never_overcommitted() -> None:
    h = host(cell(0, 4, pages=(PagePool(GIB, 8, reserved=2),)))
    used = HostUsage(cells={0: CellUsage(pages_used=((GIB, 4),))})
    no = fit(h, used, guest(2, memory=3072, pages=PageRequest(PageKind.SIZE, GIB)),
             cpu_allocation_ratio=16, ram_allocation_ratio=100)
    assert isinstance(no, NoFit) and no.code == "numa.pages"
    assert "3 1 GiB pages needed, 2 free of 6" in no.reason


def test_memory_that_is_not_a_whole_number_of_pages_is_rejected() -> None:
    h = host(cell(0, 4, pages=(PagePool(GIB, 8),)))
    no = reject(h, guest(2, memory=1536, pages=PageRequest(PageKind.SIZE, GIB)))
    assert no.code == "numa.pages"
    assert "1536 MB is not a whole number of 1 GiB pages" in no.reason


def test_2mib_pages_take_memory_over_2_pages() -> None:
    h = host(cell(0, 4, pages=(PagePool(MIB2, 1024),)))
    a = place(h, guest(2, memory=1536, pages=PageRequest(PageKind.SIZE, MIB2)))
    assert (a.cells[0].page_size_kb, a.cells[0].pages) == (MIB2, 768)


def test_large_uses_the_largest_size_that_fits() -> None:
    h = host(cell(0, 4, pages=(PagePool(MIB2, 2048), PagePool(GIB, 4))))
    a = place(h, guest(2, memory=2048, pages=PageRequest(PageKind.LARGE)))
    assert (a.cells[0].page_size_kb, a.cells[0].pages) == (GIB, 2)
    b = place(h, guest(2, memory=1536, pages=PageRequest(PageKind.LARGE)))
    assert (b.cells[0].page_size_kb, b.cells[0].pages) == (MIB2, 768)


def test_large_without_huge_pages_is_rejected() -> None:
    no = reject(host(cell(0, 4)), guest(2, pages=PageRequest(PageKind.LARGE)))
    assert no.code == "numa.pages" and "the cell has no huge pages" in no.reason


def test_any_falls_back_to_small_pages() -> None:
    h = host(cell(0, 4, pages=(PagePool(GIB, 1),)))
    a = place(h, guest(2, memory=2048, pages=PageRequest(PageKind.ANY)))
    assert (a.cells[0].page_size_kb, a.cells[0].pages) == (4, 0)
    b = place(h, guest(2, memory=1024, pages=PageRequest(PageKind.ANY)))
    assert b.cells[0].page_size_kb == GIB


def test_consume_counts_pages_and_small_memory_separately() -> None:
    h = host(cell(0, 4, pages=(PagePool(GIB, 4),)))
    g = guest(1, memory=2048, pages=PageRequest(PageKind.SIZE, GIB))
    usage = consume(HostUsage(), g, place(h, g))
    assert usage.of(0).pages(GIB) == 2 and usage.of(0).memory_mb == 0
    usage = consume(usage, g, place(h, g, usage))
    no = reject(h, g, usage)
    assert no.code == "numa.pages" and "0 free of 4" in no.reason


# ------------------------------------------------------------------ cells


def test_a_guest_with_more_cells_than_the_host_is_rejected() -> None:
    no = reject(SMT, guest(1, 1, 1))
    assert no == NoFit("numa.cells", "the guest has 3 NUMA cells; the host has 2")


@pytest.mark.parametrize("n_cells", [2, 4, 8])
def test_two_cell_guest_on_hosts_of_2_4_8_cells(n_cells: int) -> None:
    h = host(*(cell(i, 4) for i in range(n_cells)))
    g = guest(4, 4, threads=ThreadPolicy.ISOLATE)
    a = place(h, g)
    assert [c.host_cell for c in a.cells] == [0, 1]
    usage = consume(HostUsage(), g, a)
    placed = 1
    while isinstance(got := fit(h, usage, g, cpu_allocation_ratio=1, ram_allocation_ratio=1),
                     Assignment):
        assert violations(h, usage, g, got, 1, 1) == []
        usage = consume(usage, g, got)
        placed += 1
    assert placed == n_cells // 2  # each guest cell takes a whole host cell's 4 cores
    assert got.code == "numa.pinning"


def test_the_closest_host_cell_is_named_when_no_cell_fits() -> None:
    h = host(cell(0, 1, memory=16384), cell(1, 4, memory=1024))
    no = reject(h, guest(4, memory=2048))
    # cell 1 has the CPUs but not the memory: it got further than cell 0
    assert no.code == "numa.memory"
    assert no.reason.startswith("guest cell 0 fits none of the 2 host cells; closest: host "
                                "cell 1 rejects guest cell 0: needs 2048 MB")


def test_guest_cells_competing_for_one_host_cell_are_named() -> None:
    h = host(cell(0, 4), cell(1, 1), cell(2, 1))
    no = reject(h, guest(4, 4, 1))
    assert no.code == "numa.pinning"
    assert no.reason.startswith("guest cells 0, 1 fit only host cell(s) 0 between them")


# ------------------------------------------------------------------ PCI


def dev(addr: str, cell_id: int | None, kind: PciDeviceType = PciDeviceType.PCI,
        physnet: str | None = None, parent: str | None = None, product: str = "10fb") -> PciDevice:
    return PciDevice(addr, "8086", product, kind, cell_id, physnet, parent)


def nic(policy: PciNumaPolicy, count: int = 1) -> PciRequest:
    return PciRequest(count=count, source="alias nic", vendor_id="8086", product_id="10fb",
                      numa_policy=policy)


PCI_HOST = host(cell(0, 4), cell(1, 4), devices=(dev("0000:81:00.0", 1),))


@pytest.mark.parametrize("policy", list(PciNumaPolicy))
def test_each_policy_puts_the_guest_next_to_its_device_when_it_can(policy: PciNumaPolicy) -> None:
    h = host(cell(0, 4, socket=0), cell(1, 4, socket=0), devices=(dev("0000:81:00.0", 1),))
    a = place(h, guest(2, pci=(nic(policy),)))
    assert a.devices == (("alias nic", "0000:81:00.0"),)
    if policy is not PciNumaPolicy.SOCKET:
        assert a.cells[0].host_cell == 1
    else:  # any cell of the device's socket will do; the lowest is preferred
        assert a.cells[0].host_cell == 0


def test_required_fails_when_the_device_cell_is_full() -> None:
    used = HostUsage(cells={1: CellUsage(pinned_cpus=SMT.cell(1).dedicated_cpus)})
    no = reject(PCI_HOST, guest(2, pci=(nic(PciNumaPolicy.REQUIRED),)), used)
    assert no.code == "pci.numa_affinity"
    assert "usable in host cell(s) 1" in no.reason
    assert "host cell 1 rejects guest cell 0: needs 2 dedicated CPUs; the cell has 0 free" \
        in no.reason


def test_legacy_behaves_as_required_for_devices_with_a_cell() -> None:
    used = HostUsage(cells={1: CellUsage(pinned_cpus=SMT.cell(1).dedicated_cpus)})
    no = reject(PCI_HOST, guest(2, pci=(nic(PciNumaPolicy.LEGACY),)), used)
    assert no.code == "pci.numa_affinity"


def test_legacy_accepts_devices_reporting_no_cell_anywhere_but_required_does_not() -> None:
    h = host(cell(0, 4), cell(1, 4), devices=(dev("0000:81:00.0", None),))
    a = place(h, guest(2, pci=(nic(PciNumaPolicy.LEGACY),)))
    assert a.devices == (("alias nic", "0000:81:00.0"),)
    no = reject(h, guest(2, pci=(nic(PciNumaPolicy.REQUIRED),)))
    assert no.code == "pci.numa_affinity" and "reports a NUMA cell" in no.reason


def test_preferred_falls_back_to_a_remote_device() -> None:
    used = HostUsage(cells={1: CellUsage(pinned_cpus=SMT.cell(1).dedicated_cpus)})
    a = place(PCI_HOST, guest(2, pci=(nic(PciNumaPolicy.PREFERRED),)), used)
    assert a.cells[0].host_cell == 0 and a.devices == (("alias nic", "0000:81:00.0"),)


def test_socket_accepts_any_cell_of_the_device_socket_only() -> None:
    cells = [cell(i, 2, socket=i // 2) for i in range(4)]
    h = host(*cells, devices=(dev("0000:81:00.0", 1),))
    full = {i: CellUsage(pinned_cpus=cells[i].dedicated_cpus) for i in (1,)}
    a = place(h, guest(2, pci=(nic(PciNumaPolicy.SOCKET),)), HostUsage(cells=full))
    assert a.cells[0].host_cell == 0
    full = {i: CellUsage(pinned_cpus=cells[i].dedicated_cpus) for i in (0, 1)}
    no = reject(h, guest(2, pci=(nic(PciNumaPolicy.SOCKET),)), HostUsage(cells=full))
    assert no.code == "pci.numa_affinity" and "on the sockets of host cell(s) 0, 1" in no.reason


def test_two_cell_guest_needs_only_one_cell_next_to_the_device() -> None:
    h = host(*(cell(i, 4) for i in range(4)), devices=(dev("0000:81:00.0", 3),))
    a = place(h, guest(2, 2, pci=(nic(PciNumaPolicy.REQUIRED),)))
    assert [c.host_cell for c in a.cells] == [0, 3]


def test_two_requests_needing_devices_in_two_cells() -> None:
    devices = (dev("0000:81:00.0", 2), dev("0000:82:00.0", 3, product="1572"))
    h = host(*(cell(i, 4) for i in range(4)), devices=devices)
    second = PciRequest(count=1, source="alias fpga", vendor_id="8086", product_id="1572",
                        numa_policy=PciNumaPolicy.REQUIRED)
    a = place(h, guest(2, 2, pci=(nic(PciNumaPolicy.REQUIRED), second)))
    assert sorted(c.host_cell for c in a.cells) == [2, 3]
    no = reject(h, guest(2, pci=(nic(PciNumaPolicy.REQUIRED), second)))
    assert no.code == "pci.numa_affinity"
    assert "cannot all get devices NUMA-local" in no.reason


def test_a_guest_without_pci_keeps_off_the_pci_cells() -> None:
    a = place(PCI_HOST.__class__(cells=(cell(0, 4), cell(1, 4)),
                                 devices=(dev("0000:81:00.0", 0),)), guest(2))
    assert a.cells[0].host_cell == 1


def sriov_host() -> HostTopology:
    pf1, pf2 = "0000:81:00.0", "0000:82:00.0"
    devices = [dev(pf1, 0, PciDeviceType.PF, "physnet1", product="1572"),
               dev(pf2, 1, PciDeviceType.PF, "physnet2", product="1572")]
    for pf, net, c in ((pf1, "physnet1", 0), (pf2, "physnet2", 1)):
        devices += [dev(f"{pf[:-1]}{k + 1}", c, PciDeviceType.VF, net, pf, "154c")
                    for k in range(2)]
    return host(cell(0, 4), cell(1, 4), devices=tuple(devices))


def vf(physnet: str, count: int = 1) -> PciRequest:
    return PciRequest(count=count, source="port 0", device_type="type-VF", physnet=physnet,
                      numa_policy=PciNumaPolicy.REQUIRED)


def test_vf_on_the_requested_physnet_and_the_guest_follows_it() -> None:
    a = place(sriov_host(), guest(2, pci=(vf("physnet2"),)))
    assert a.cells[0].host_cell == 1 and a.devices == (("port 0", "0000:82:00.1"),)


def test_claimed_vfs_are_skipped_and_a_claimed_pf_takes_its_vfs() -> None:
    h = sriov_host()
    used = HostUsage(claimed_devices=frozenset({"0000:82:00.1"}))
    assert place(h, guest(2, pci=(vf("physnet2"),)), used).devices == (("port 0", "0000:82:00.2"),)
    no = reject(h, guest(2, pci=(vf("physnet2", 2),)), used)
    assert no.code == "pci.none_matching"
    assert no.reason.removeprefix("PCI request ") \
        == "port 0 (2 x type-VF on physnet 'physnet2'): host has 1 free matching device(s) of 2"
    used = HostUsage(claimed_devices=frozenset({"0000:82:00.0"}))  # the PF itself
    assert reject(h, guest(2, pci=(vf("physnet2"),)), used).code == "pci.none_matching"


def test_a_pf_with_a_claimed_vf_cannot_be_handed_out_whole() -> None:
    h = sriov_host()
    pf = PciRequest(count=1, source="alias pf", device_type="type-PF", physnet="physnet1",
                    numa_policy=PciNumaPolicy.LEGACY)
    assert place(h, guest(2, pci=(pf,))).devices == (("alias pf", "0000:81:00.0"),)
    used = HostUsage(claimed_devices=frozenset({"0000:81:00.2"}))
    assert reject(h, guest(2, pci=(pf,)), used).code == "pci.none_matching"


def test_one_guest_never_gets_a_pf_and_its_own_vf() -> None:
    h = host(cell(0, 4), devices=(dev("pf", 0, PciDeviceType.PF, "n"),
                                  dev("vf1", 0, PciDeviceType.VF, "n", "pf")))
    any_dev = PciRequest(count=2, source="alias any", numa_policy=PciNumaPolicy.LEGACY)
    assert reject(h, guest(1, pci=(any_dev,))).code == "pci.none_matching"
    one = PciRequest(count=1, source="alias any", numa_policy=PciNumaPolicy.LEGACY)
    pf_only = PciRequest(count=1, source="alias pf", device_type="type-PF",
                         numa_policy=PciNumaPolicy.LEGACY)
    assert reject(h, guest(1, pci=(one, pf_only))).code == "pci.none_matching"


def test_consume_claims_the_devices() -> None:
    g = guest(2, pci=(vf("physnet1", 2),))
    usage = consume(HostUsage(), g, place(sriov_host(), g))
    assert usage.claimed_devices == {"0000:81:00.1", "0000:81:00.2"}
    assert reject(sriov_host(), g, usage).code == "pci.none_matching"


# ------------------------------------------------------------------ worst cases


def big_host(cells: int = 16, cores: int = 16, memory: int = 65536) -> HostTopology:
    return host(*(cell(i, cores, memory=memory, shared=4) for i in range(cells)))


def test_16_host_cells_8_guest_cells_fits() -> None:
    g = guest(*([8] * 8), memory=8192, threads=ThreadPolicy.ISOLATE,
              emulator=EmulatorThreads.ISOLATE)
    a = place(big_host(), g)
    assert [c.host_cell for c in a.cells] == list(range(8))


def test_16_host_cells_8_guest_cells_fits_only_on_the_last_8() -> None:
    h = big_host()
    used = HostUsage(cells={i: CellUsage(memory_mb=65536 * 3 // 2) for i in range(8)})
    a = place(h, guest(*([8] * 8), memory=8192), used)
    assert [c.host_cell for c in a.cells] == list(range(8, 16))


def test_16_host_cells_8_guest_cells_does_not_fit_on_7_cells() -> None:
    used = HostUsage(cells={i: CellUsage(memory_mb=65536 + 32768) for i in range(9)})
    no = reject(big_host(), guest(*([8] * 8), memory=8192), used)
    assert no.code == "numa.memory"
    assert no.reason.startswith("guest cells 0, 1, 2, 3, 4, 5, 6, 7 fit only host cell(s) "
                                "9, 10, 11, 12, 13, 14, 15 between them")


def test_16_host_cells_8_guest_cells_with_no_room_for_the_emulator() -> None:
    used = HostUsage(cells={i: CellUsage(pinned_cpus=frozenset(range(i * 100, i * 100 + 24)))
                            for i in range(16)})  # 8 of 32 dedicated CPUs left per cell
    g = guest(*([8] * 8), memory=1024, emulator=EmulatorThreads.ISOLATE)
    assert reject(big_host(), g, used).code == "numa.emulator"


def test_16_host_cells_8_guest_cells_with_pci_in_the_last_cell() -> None:
    h = HostTopology(cells=big_host().cells, devices=(dev("0000:81:00.0", 15),))
    a = place(h, guest(*([8] * 8), memory=8192, pci=(nic(PciNumaPolicy.REQUIRED),)))
    assert [c.host_cell for c in a.cells] == [*range(7), 15]
    used = HostUsage(cells={15: CellUsage(memory_mb=65536 * 2)})
    no = reject(h, guest(*([8] * 8), memory=8192, pci=(nic(PciNumaPolicy.REQUIRED),)), used)
    assert no.code == "pci.numa_affinity"


def test_64_cpu_cells_with_isolate() -> None:
    h = big_host(cells=16, cores=32)  # 64 dedicated CPUs per cell
    g = guest(*([31] * 8), memory=4096, threads=ThreadPolicy.ISOLATE,
              emulator=EmulatorThreads.ISOLATE)
    a = place(h, g)
    assert [c.host_cell for c in a.cells] == list(range(8))
    assert len(a.emulator_cpus) == 1 and a.emulator_cpus <= h.cell(0).dedicated_cpus
    assert len(a.cells[0].reserved_cpus) == 33  # 31 idle siblings, the emulator core
    no = reject(h, guest(*([32] * 8), memory=4096, threads=ThreadPolicy.ISOLATE,
                         emulator=EmulatorThreads.ISOLATE))
    assert no.code == "numa.emulator"
    no = reject(h, guest(*([33] * 8), memory=4096, threads=ThreadPolicy.ISOLATE))
    assert no.code == "numa.thread_policy"
    assert "the cell has 32 fully free cores (64 free dedicated CPUs)" in no.reason


def test_16x8_eight_aliases_each_in_its_own_cell() -> None:
    devices = tuple(dev(f"0000:{c + 16:02x}:00.0", c, product=f"{c:04x}") for c in range(16))
    h = HostTopology(cells=big_host().cells, devices=devices)
    aliases = tuple(
        PciRequest(1, f"alias a{k}", "8086", f"{2 * k + 1:04x}", numa_policy=PciNumaPolicy.REQUIRED)
        for k in range(8)
    )
    a = place(h, guest(*([8] * 8), memory=8192, pci=aliases))
    assert [c.host_cell for c in a.cells] == list(range(1, 16, 2))
    # a ninth alias whose only device is in cell 0 needs a ninth host cell
    ninth = PciRequest(1, "alias z", "8086", "0000", numa_policy=PciNumaPolicy.REQUIRED)
    no = reject(h, guest(*([8] * 8), memory=8192, pci=(*aliases, ninth)))
    assert no.code == "pci.numa_affinity" and "cannot all get devices" in no.reason


def test_socket_and_required_requests_together() -> None:
    cells = [cell(i, 2, socket=i // 2) for i in range(4)]
    h = host(*cells, devices=(dev("a", 1), dev("b", 3, product="1572")))
    by_socket = PciRequest(1, "alias a", "8086", "10fb", numa_policy=PciNumaPolicy.SOCKET)
    local = PciRequest(1, "alias b", "8086", "1572", numa_policy=PciNumaPolicy.REQUIRED)
    used = HostUsage(cells={1: CellUsage(pinned_cpus=cells[1].dedicated_cpus)})
    a = place(h, guest(2, 2, pci=(by_socket, local)), used)
    assert [c.host_cell for c in a.cells] == [0, 3]
    assert a.devices == (("alias a", "a"), ("alias b", "b"))
    no = reject(h, guest(2, pci=(by_socket, local)), used)  # one cell cannot be near both
    assert no.code == "pci.numa_affinity"
