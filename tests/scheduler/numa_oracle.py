"""An independent judge of NUMA fits: validity of an Assignment, and brute-force existence.

Written from the rules (berth.scheduler.numa_cell's docstring, Nova's docs), not from the
fitting code: nothing here imports it. ``violations`` lists every rule an Assignment
breaks; ``exists`` tries every host-cell permutation, every emulator cell, every CPU subset
and every device tuple, so it is only usable on tiny hosts (<= 3 cells, few CPUs/devices).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations, permutations

from berth.model.guest import (
    Assignment,
    CpuPolicy,
    EmulatorThreads,
    GuestCell,
    GuestTopology,
    PageKind,
    PciNumaPolicy,
    PciRequest,
    ThreadPolicy,
)
from berth.model.topology import CellUsage, HostCell, HostTopology, HostUsage, PciDevice

SMALL = 4


def pinned_of(guest: GuestTopology, cell: GuestCell) -> frozenset[int]:
    if guest.cpu_policy is CpuPolicy.DEDICATED:
        return cell.cpus
    if guest.cpu_policy is CpuPolicy.MIXED:
        return cell.dedicated
    return frozenset()


def core_of(h: HostCell, cpu: int) -> frozenset[int]:
    for sib in h.siblings:
        if cpu in sib:
            return sib & h.dedicated_cpus
    return frozenset({cpu})


def threads_ok(h: HostCell, u: CellUsage, cpus: set[int], policy: ThreadPolicy | None) -> bool:
    """Thread policy rules for the host CPUs one guest takes in one cell (emulator included)."""
    if policy is ThreadPolicy.ISOLATE:
        cores = [core_of(h, c) for c in cpus]
        return len(set(cores)) == len(cores) and all(not (k & u.pinned_cpus) for k in cores)
    if policy is ThreadPolicy.REQUIRE:
        if not cpus:
            return True
        if not any(len(s & h.dedicated_cpus) >= 2 for s in h.siblings):
            return False
        if any(len(core_of(h, c) - u.pinned_cpus) < 2 for c in cpus):
            return False
        singles = [k for k in {core_of(h, c) for c in cpus} if len(k & cpus) == 1]
        return len(singles) <= 1
    return True


def small_mb(h: HostCell) -> int:
    return h.memory_mb - sum(p.total * p.size_kb for p in h.pages if p.size_kb > SMALL) // 1024


def page_sizes(guest: GuestTopology, h: HostCell) -> list[int]:
    req = guest.pages
    huge = [p.size_kb for p in h.pages if p.size_kb > SMALL]
    if req is None or req.kind is PageKind.SMALL:
        return [SMALL]
    if req.kind is PageKind.SIZE:
        return [req.size_kb or SMALL]
    return huge if req.kind is PageKind.LARGE else [*huge, SMALL]


def memory_ok(g: GuestCell, h: HostCell, u: CellUsage, size: int, ram_ratio: float) -> bool:
    if size == SMALL:
        return g.memory_mb <= small_mb(h) and g.memory_mb <= small_mb(h) * ram_ratio - u.memory_mb
    pool = h.pool(size)
    if pool is None or g.memory_mb * 1024 % size:
        return False
    return g.memory_mb * 1024 // size <= pool.usable - u.pages(size)


def shared_ok(n: int, h: HostCell, u: CellUsage, cpu_ratio: float) -> bool:
    return n == 0 or (
        n <= len(h.shared_cpus) and n <= len(h.shared_cpus) * cpu_ratio - u.shared_vcpus
    )


def free_devices(host: HostTopology, usage: HostUsage) -> list[PciDevice]:
    claimed = usage.claimed_devices
    out = []
    for d in host.devices:
        child_claimed = any(
            o.parent_address == d.address and o.address in claimed for o in host.devices
        )
        if d.address not in claimed and d.parent_address not in claimed and not child_claimed:
            out.append(d)
    return out


def device_matches(d: PciDevice, r: PciRequest) -> bool:
    return (
        (r.vendor_id is None or r.vendor_id == d.vendor_id)
        and (r.product_id is None or r.product_id == d.product_id)
        and (r.device_type is None or r.device_type == d.device_type.value)
        and (r.physnet is None or r.physnet == d.physnet)
    )


def affine(
    host: HostTopology, d: PciDevice, r: PciRequest, cells: set[int], strict: bool = False,
) -> bool:
    """Whether ``d`` may serve ``r`` for a guest on host cells ``cells``; ``strict`` holds
    ``preferred`` to ``required`` (the placement fit must find when one exists)."""
    policy = r.numa_policy
    if policy is PciNumaPolicy.PREFERRED:
        if not strict:
            return True
        policy = PciNumaPolicy.REQUIRED
    if d.numa_cell is None:
        return policy is PciNumaPolicy.LEGACY
    if d.numa_cell in cells:
        return True
    if policy is PciNumaPolicy.SOCKET:
        socket = next((c.socket for c in host.cells if c.id == d.numa_cell), None)
        return socket is not None and any(
            c.socket == socket for c in host.cells if c.id in cells
        )
    return False


def device_violations(
    host: HostTopology, usage: HostUsage, guest: GuestTopology, chosen: list[tuple[str, str]],
    cells: set[int], strict: bool = False,
) -> list[str]:
    errs: list[str] = []
    free = {d.address: d for d in free_devices(host, usage)}
    wanted = {r.source: r for r in guest.pci if r.count}
    addresses = [a for _, a in chosen]
    if len(set(addresses)) != len(addresses):
        errs.append("a device handed out twice")
    for source, r in wanted.items():
        got = [a for s, a in chosen if s == source]
        if len(got) != r.count:
            errs.append(f"{source}: {len(got)} devices for {r.count}")
        for a in got:
            d = free.get(a)
            if d is None:
                errs.append(f"{a} is not free")
            elif not device_matches(d, r):
                errs.append(f"{a} does not match {source}")
            elif not affine(host, d, r, cells, strict):
                errs.append(f"{a} not NUMA-affine for {source}")
    by_addr = {d.address: d for d in host.devices}
    for a in addresses:
        parent = by_addr[a].parent_address if a in by_addr else None
        if parent in addresses:
            errs.append(f"{a} handed out with its parent {parent}")
    return errs


def violations(
    host: HostTopology, usage: HostUsage, guest: GuestTopology, a: Assignment,
    cpu_ratio: float, ram_ratio: float,
) -> list[str]:
    """Every rule ``a`` breaks (empty: a valid placement)."""
    errs: list[str] = []
    gcells = {c.id: c for c in guest.cells}
    if sorted(c.guest_cell for c in a.cells) != sorted(gcells):
        return ["guest cells not each placed once"]
    hosts = [c.host_cell for c in a.cells]
    if len(set(hosts)) != len(hosts) or not set(hosts) <= {c.id for c in host.cells}:
        return [f"host cells not distinct or unknown: {hosts}"]
    emu = a.emulator_cpus
    if guest.emulator_threads is EmulatorThreads.ISOLATE:
        if len(emu) != 1:
            errs.append(f"emulator threads need 1 CPU, got {sorted(emu)}")
    elif emu:
        errs.append("emulator CPU without isolate")
    taken: set[int] = set()
    emu_placed = set()
    for placed in a.cells:
        g, h = gcells[placed.guest_cell], host.cell(placed.host_cell)
        u = usage.of(h.id)
        if {gc for gc, _ in placed.pinning} != pinned_of(guest, g):
            errs.append(f"guest cell {g.id}: pinned guest CPUs {placed.pinning}")
        cpus = [hc for _, hc in placed.pinning] + sorted(emu & h.dedicated_cpus)
        emu_placed |= emu & h.dedicated_cpus
        if len(set(cpus)) != len(cpus) or set(cpus) & taken:
            errs.append(f"host CPUs used twice: {cpus}")
        if not set(cpus) <= h.dedicated_cpus or set(cpus) & u.pinned_cpus:
            errs.append(f"host cell {h.id}: CPUs {cpus} not free dedicated CPUs")
        if not threads_ok(h, u, set(cpus), guest.thread_policy):
            errs.append(f"host cell {h.id}: {cpus} break thread policy {guest.thread_policy}")
        idle = set()
        if guest.thread_policy is ThreadPolicy.ISOLATE:
            idle = {t for c in cpus for t in core_of(h, c)} - set(cpus)
        if placed.reserved_cpus != frozenset(idle) | (emu & h.dedicated_cpus):
            errs.append(f"host cell {h.id}: reserved {sorted(placed.reserved_cpus)}")
        taken |= set(cpus) | idle
        if not shared_ok(len(g.cpus) - len(pinned_of(guest, g)), h, u, cpu_ratio):
            errs.append(f"host cell {h.id}: shared CPUs overcommitted")
        size = placed.page_size_kb
        if size not in page_sizes(guest, h) or not memory_ok(g, h, u, size, ram_ratio):
            errs.append(f"host cell {h.id}: memory in {size} KiB pages does not fit")
        if size != SMALL and placed.pages != g.memory_mb * 1024 // size:
            errs.append(f"host cell {h.id}: {placed.pages} pages")
    if emu_placed != emu:
        errs.append("emulator CPU outside the guest's host cells")
    errs += device_violations(host, usage, guest, list(a.devices), set(hosts))
    return errs


def _cell_ok(
    guest: GuestTopology, g: GuestCell, h: HostCell, u: CellUsage, extra: int,
    cpu_ratio: float, ram_ratio: float,
) -> bool:
    if not shared_ok(len(g.cpus) - len(pinned_of(guest, g)), h, u, cpu_ratio):
        return False
    if not any(memory_ok(g, h, u, s, ram_ratio) for s in page_sizes(guest, h)):
        return False
    n = len(pinned_of(guest, g)) + extra
    free = sorted(h.dedicated_cpus - u.pinned_cpus)
    return any(threads_ok(h, u, set(c), guest.thread_policy) for c in combinations(free, n))


def _device_tuples(
    host: HostTopology, usage: HostUsage, guest: GuestTopology,
) -> Iterator[list[tuple[str, str]]]:
    slots = [r.source for r in guest.pci for _ in range(r.count)]
    addresses = [d.address for d in free_devices(host, usage)]
    for combo in permutations(addresses, len(slots)):
        yield list(zip(slots, combo, strict=True))


def exists(
    host: HostTopology, usage: HostUsage, guest: GuestTopology, cpu_ratio: float,
    ram_ratio: float, strict: bool = False,
) -> bool:
    """Whether any valid placement exists, by exhaustive search (tiny cases only);
    ``strict``: with every ``preferred`` PCI request NUMA-local."""
    extra_options = (
        range(len(guest.cells)) if guest.emulator_threads is EmulatorThreads.ISOLATE else [None]
    )
    for perm in permutations(host.cells, len(guest.cells)):
        cells = {h.id for h in perm}
        for emu in extra_options:
            if all(
                _cell_ok(guest, g, h, usage.of(h.id), int(i == emu), cpu_ratio, ram_ratio)
                for i, (g, h) in enumerate(zip(guest.cells, perm, strict=True))
            ) and any(
                not device_violations(host, usage, guest, t, cells, strict)
                for t in _device_tuples(host, usage, guest)
            ):
                return True
    return False
