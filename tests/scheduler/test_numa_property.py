"""Random tiny hosts and guests: every fit is valid, every NoFit is confirmed by brute force.

Hosts have at most 3 cells and a few CPUs, devices and pages so that ``numa_oracle.exists``
(every permutation, every CPU subset, every device tuple) stays cheap. Placing several
guests in a row also checks ``consume``: each later fit is judged against the usage the
earlier ones left.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from scheduler.numa_oracle import device_violations, exists, violations

GIB, MIB2 = 1048576, 2048
CODES = {
    "numa.cells", "numa.cpu", "numa.pinning", "numa.thread_policy", "numa.memory",
    "numa.pages", "numa.emulator", "pci.none_matching", "pci.numa_affinity",
}


@st.composite
def hosts(draw: st.DrawFn, max_devices: int = 5) -> HostTopology:
    threads = draw(st.sampled_from([1, 2]))
    sockets = draw(st.booleans())
    cells, cpu = [], 0
    for i in range(draw(st.integers(1, 3))):
        cores = draw(st.integers(0, 4))
        ded = list(range(cpu, cpu + cores * threads))
        sibs = tuple(frozenset(ded[k * threads:(k + 1) * threads]) for k in range(cores))
        cpu += len(ded)
        shared = frozenset(range(cpu, cpu + draw(st.integers(0, 3))))
        cpu += len(shared)
        pools = (
            PagePool(GIB, draw(st.integers(0, 2))),
            PagePool(MIB2, draw(st.sampled_from([0, 256, 512])), draw(st.sampled_from([0, 64]))),
        )
        cells.append(HostCell(
            id=i, shared_cpus=shared, dedicated_cpus=frozenset(ded), memory_mb=4096,
            siblings=sibs if threads > 1 else (),
            pages=tuple(p for p in pools if p.total > p.reserved),
            socket=i // 2 if sockets else None,
        ))
    devices: list[PciDevice] = []
    for k in range(draw(st.integers(0, max_devices))):
        kind = draw(st.sampled_from(list(PciDeviceType)))
        pfs = [d.address for d in devices if d.device_type is PciDeviceType.PF]
        parent = draw(st.sampled_from(pfs)) if kind is PciDeviceType.VF and pfs else None
        devices.append(PciDevice(
            address=f"0000:0{k}:00.0", vendor_id=draw(st.sampled_from(["8086", "15b3"])),
            product_id="1", device_type=kind,
            numa_cell=draw(st.sampled_from([None, *range(len(cells))])),
            physnet=draw(st.sampled_from([None, "n1"])), parent_address=parent,
        ))
    return HostTopology(cells=tuple(cells), devices=tuple(devices))


@st.composite
def usages(draw: st.DrawFn, host: HostTopology) -> HostUsage:
    cells = {}
    for c in host.cells:
        if draw(st.booleans()):
            continue  # an idle cell
        cells[c.id] = CellUsage(
            pinned_cpus=frozenset(draw(st.sets(st.sampled_from(sorted(c.dedicated_cpus)),
                                               max_size=3)) if c.dedicated_cpus else ()),
            shared_vcpus=draw(st.integers(0, 3)),
            memory_mb=draw(st.sampled_from([0, 1024, 3072])),
            pages_used=tuple((p.size_kb, draw(st.integers(0, p.usable))) for p in c.pages),
        )
    addrs = [d.address for d in host.devices]
    claimed = draw(st.sets(st.sampled_from(addrs), max_size=2)) if addrs else set()
    return HostUsage(cells=cells, claimed_devices=frozenset(claimed))


@st.composite
def guests(draw: st.DrawFn, requests: tuple[int, ...] = (0, 0, 1, 1, 2)) -> GuestTopology:
    policy = draw(st.sampled_from(list(CpuPolicy)))
    pinned = policy is not CpuPolicy.SHARED
    cells, first = [], 0
    for i in range(draw(st.integers(1, 2))):
        n = draw(st.integers(1, 3))
        cpus = frozenset(range(first, first + n))
        ded = frozenset(range(first, first + draw(st.integers(1, n)))) \
            if policy is CpuPolicy.MIXED else frozenset()
        cells.append(GuestCell(i, cpus, draw(st.sampled_from([512, 1024, 1536, 2048])), ded))
        first += n
    pages = draw(st.sampled_from([
        None, None, None, PageRequest(PageKind.SMALL), PageRequest(PageKind.LARGE),
        PageRequest(PageKind.ANY),
        PageRequest(PageKind.SIZE, MIB2), PageRequest(PageKind.SIZE, GIB),
    ]))
    pci = tuple(
        PciRequest(
            count=draw(st.sampled_from([1, 1, 2])), source=f"req{k}",
            vendor_id=draw(st.sampled_from([None, "8086"])),
            device_type=draw(st.sampled_from([None, *(t.value for t in PciDeviceType)])),
            physnet=draw(st.sampled_from([None, "n1"])),
            numa_policy=draw(st.sampled_from(list(PciNumaPolicy))),
        )
        for k in range(draw(st.sampled_from(requests)))
    )
    return GuestTopology(
        cells=tuple(cells), cpu_policy=policy,
        thread_policy=draw(st.sampled_from([None, *ThreadPolicy])) if pinned else None,
        emulator_threads=draw(st.sampled_from(list(EmulatorThreads)))
        if pinned else EmulatorThreads.SHARE,
        pages=pages, pci=pci,
    )


Case = tuple[HostTopology, HostUsage, GuestTopology, float, float]


@st.composite
def cases(draw: st.DrawFn, pci_heavy: bool = False) -> Case:
    host = draw(hosts(max_devices=7 if pci_heavy else 5))
    if pci_heavy:  # roomy cells, so that the devices and their NUMA cells decide
        cells = tuple(
            replace(c, shared_cpus=frozenset(range(100 * c.id + 50, 100 * c.id + 54)), pages=())
            for c in host.cells
        )
        host = replace(host, cells=cells)
        guest = draw(guests(requests=(1, 2, 3)))
        guest = replace(guest, cpu_policy=CpuPolicy.SHARED, thread_policy=None,
                        emulator_threads=EmulatorThreads.SHARE, pages=None)
        guest = replace(guest, cells=tuple(replace(c, dedicated=frozenset()) for c in guest.cells))
        return (host, draw(usages(host)), guest, 2.0, 1.5)
    return (host, draw(usages(host)), draw(guests()), draw(st.sampled_from([1.0, 2.0])),
            draw(st.sampled_from([1.0, 1.5])))


def judge(case: Case) -> Assignment | NoFit:
    """Fit ``case`` and check the answer against the oracle; returns it."""
    host, usage, guest, cpu_ratio, ram_ratio = case
    got = fit(host, usage, guest, cpu_allocation_ratio=cpu_ratio, ram_allocation_ratio=ram_ratio)
    if isinstance(got, Assignment):
        assert violations(host, usage, guest, got, cpu_ratio, ram_ratio) == []
        if any(r.numa_policy is PciNumaPolicy.PREFERRED for r in guest.pci) and exists(
            host, usage, guest, cpu_ratio, ram_ratio, strict=True
        ):  # preferred affinity is honoured whenever some placement can honour it
            cells = {c.host_cell for c in got.cells}
            assert device_violations(host, usage, guest, list(got.devices), cells, True) == []
    else:
        assert isinstance(got, NoFit) and got.code in CODES and got.reason
        assert not exists(host, usage, guest, cpu_ratio, ram_ratio), got
    return got


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fit_is_valid_and_nofit_is_confirmed_by_brute_force(case: Case) -> None:
    judge(case)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(pci_heavy=True))
def test_pci_fits_are_valid_and_affine_when_possible(case: Case) -> None:
    judge(case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_guests_placed_in_a_row_never_overlap(case: Case) -> None:
    host, usage, guest, cpu_ratio, ram_ratio = case
    for _ in range(3):
        got = judge((host, usage, guest, cpu_ratio, ram_ratio))
        if isinstance(got, NoFit):
            return
        usage = consume(usage, guest, got)
