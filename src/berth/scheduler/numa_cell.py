"""Whether one guest NUMA cell fits one host NUMA cell, and exactly how.

``berth.scheduler.numa`` asks this for every (guest cell, host cell) pair and then only
combines the answers, so everything here is local to one host cell and its usage:

* Shared (floating) guest CPUs: at most the cell's shared CPUs (one guest never gets more
  vCPUs than the cell has CPUs, as in Nova) and within shared CPUs x cpu_allocation_ratio
  minus what floating guests already use.
* Pinned guest CPUs (policy dedicated, or the ``dedicated`` part of a mixed cell) plus the
  emulator thread CPU when asked: distinct free dedicated host CPUs, never overcommitted,
  under the thread policy (``None`` behaves as ``prefer``, Nova's default):
  - isolate: a whole free core per CPU; the core's other threads are kept idle (returned as
    ``idle`` and recorded as reserved, so nobody is pinned next to the guest later);
  - require: only cores with two or more free threads, filled whole, so at most one core
    ends up holding a single guest CPU; a cell without hyperthread siblings never fits;
  - prefer: any free CPUs, whole free cores first, the remainder on the smallest core that
    holds it (a half-used core rather than breaking a whole one: packing).
  Cores are the host's sibling sets restricted to the dedicated CPUs; CPUs in no sibling set
  are single-thread cores. Lowest CPU ids win ties so answers are reproducible.
* Memory: small pages (the default, ``small``, or ``any`` without usable huge pages) may be
  overcommitted: memory_mb ≤ small-page memory x ram_allocation_ratio - used, and never
  more than the cell's small-page memory itself. Huge pages never are: the memory must be a
  whole number of pages and that many must be free; ``large`` and ``any`` try the largest
  size first, ``size`` only the requested one.

Cost: O(c log c) for a cell with c dedicated CPUs (the remainder search is over cores).
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.model.guest import (
    CellAssignment,
    CpuPolicy,
    GuestCell,
    GuestTopology,
    PageKind,
    ThreadPolicy,
)
from berth.model.topology import SMALL_PAGE_KB, CellUsage, HostCell

STAGE_CPU, STAGE_PIN, STAGE_MEM, STAGE_EMU = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class CellFail:
    """Why a guest cell does not fit a host cell; a later ``stage`` got closer to fitting."""

    stage: int
    code: str
    detail: str  # "needs 4 dedicated CPUs; the cell has 3 free dedicated CPUs of 8"


@dataclass(frozen=True, slots=True)
class CellFit:
    assignment: CellAssignment
    emulator_cpus: frozenset[int]


@dataclass(frozen=True, slots=True)
class Pinned:
    cpus: tuple[int, ...]  # in the order guest CPUs (ascending) take them
    idle: frozenset[int]  # siblings isolate keeps free


def pinned_cpus(guest: GuestTopology, cell: GuestCell) -> frozenset[int]:
    """The guest CPUs of ``cell`` that get a host CPU of their own."""
    if guest.cpu_policy is CpuPolicy.DEDICATED:
        return cell.cpus
    return cell.dedicated if guest.cpu_policy is CpuPolicy.MIXED else frozenset()


def page_label(size_kb: int) -> str:
    if size_kb >= 1048576 and size_kb % 1048576 == 0:
        return f"{size_kb // 1048576} GiB"
    return f"{size_kb // 1024} MiB" if size_kb >= 1024 else f"{size_kb} KiB"


def small_page_mb(cell: HostCell) -> int:
    """Memory not set aside as huge pages: what small-page guests share (Nova's accounting)."""
    huge_kb = sum(p.total * p.size_kb for p in cell.pages if p.size_kb > SMALL_PAGE_KB)
    return cell.memory_mb - huge_kb // 1024


def cores_of(cell: HostCell) -> tuple[tuple[int, ...], ...]:
    """The cell's dedicated CPUs grouped by physical core, each core's threads ascending."""
    seen: set[int] = set()
    cores: list[tuple[int, ...]] = []
    for siblings in cell.siblings:
        core = tuple(sorted(c for c in siblings & cell.dedicated_cpus if c not in seen))
        if core:
            cores.append(core)
            seen.update(core)
    cores.extend((c,) for c in cell.dedicated_cpus - seen)
    return tuple(sorted(cores))


def pin(
    cell: HostCell, used: frozenset[int], n: int, policy: ThreadPolicy | None
) -> Pinned | CellFail:
    """``n`` free dedicated CPUs of ``cell`` under ``policy``, or why there are none."""
    if n == 0:
        return Pinned((), frozenset())
    cores = cores_of(cell)
    free = [tuple(c for c in core if c not in used) for core in cores]
    total = sum(len(f) for f in free)
    if total < n:
        return CellFail(STAGE_PIN, "numa.pinning", (
            f"the cell has {total} free dedicated CPUs of {len(cell.dedicated_cpus)}"))
    if policy is ThreadPolicy.ISOLATE:
        whole = [core for core, f in zip(cores, free, strict=True) if len(f) == len(core)]
        if len(whole) < n:
            return CellFail(STAGE_PIN, "numa.thread_policy", (
                f"thread policy isolate takes a whole core per CPU; the cell has {len(whole)} "
                f"fully free cores ({total} free dedicated CPUs)"))
        chosen = whole[:n]
        return Pinned(tuple(c[0] for c in chosen), frozenset(t for c in chosen for t in c[1:]))
    if policy is ThreadPolicy.REQUIRE:
        if all(len(core) < 2 for core in cores):
            return CellFail(STAGE_PIN, "numa.thread_policy", (
                "thread policy require needs hyperthread siblings; the cell's dedicated CPUs "
                "have none"))
        free = [f for f in free if len(f) >= 2]
        paired = sum(len(f) for f in free)
        if paired < n:
            return CellFail(STAGE_PIN, "numa.thread_policy", (
                f"thread policy require pins only to free sibling threads; the cell has {paired} "
                f"free CPUs on cores with 2 or more free threads ({total} free in all)"))
    return Pinned(_pack([f for f in free if f], n), frozenset())


def _pack(free: list[tuple[int, ...]], n: int) -> tuple[int, ...]:
    """Whole cores, largest first; the remainder on the smallest core that holds it."""
    out: list[int] = []
    rest = list(free)
    while n > 0:
        holding = [f for f in rest if len(f) >= n]
        if holding:
            out.extend(min(holding, key=lambda f: (len(f), f[0]))[:n])
            break
        core = max(rest, key=lambda f: (len(f), -f[0]))
        rest.remove(core)
        out.extend(core)
        n -= len(core)
    return tuple(out)


def fit_cell(
    guest: GuestTopology,
    g: GuestCell,
    h: HostCell,
    used: CellUsage,
    *,
    cpu_ratio: float,
    ram_ratio: float,
    emulator: bool,
) -> CellFit | CellFail:
    """Guest cell ``g`` on host cell ``h`` (plus the emulator CPU if ``emulator``)."""
    pinned = sorted(pinned_cpus(guest, g))
    shared = len(g.cpus) - len(pinned)
    if shared:
        cap = len(h.shared_cpus) * cpu_ratio
        if shared > len(h.shared_cpus) or shared > cap - used.shared_vcpus:
            return CellFail(STAGE_CPU, "numa.cpu", (
                f"needs {shared} shared CPUs; the cell has {len(h.shared_cpus)} shared CPUs x "
                f"ratio {cpu_ratio:g} = {cap:g}, {used.shared_vcpus} in use"))
    extra = 1 if emulator else 0
    pins = pin(h, used.pinned_cpus, len(pinned) + extra, guest.thread_policy)
    if isinstance(pins, CellFail):
        need = f"needs {len(pinned)} dedicated CPUs"
        if emulator and isinstance(pin(h, used.pinned_cpus, len(pinned), guest.thread_policy),
                                   Pinned):
            return CellFail(STAGE_EMU, "numa.emulator", (
                f"{need} + 1 for the emulator threads; {pins.detail}"))
        return CellFail(pins.stage, pins.code, f"{need}; {pins.detail}")
    memory = _fit_memory(guest, g, h, used, ram_ratio)
    if isinstance(memory, CellFail):
        return memory
    size, pages = memory
    emulator_cpus = frozenset(pins.cpus[len(pinned):])
    return CellFit(
        CellAssignment(
            guest_cell=g.id,
            host_cell=h.id,
            pinning=tuple(zip(pinned, pins.cpus, strict=False)),
            page_size_kb=size,
            pages=pages,
            reserved_cpus=pins.idle | emulator_cpus,
            shared_vcpus=len(g.cpus) - len(pinned),
            memory_mb=g.memory_mb if size == SMALL_PAGE_KB else 0,
        ),
        emulator_cpus,
    )


def _fit_memory(
    guest: GuestTopology, g: GuestCell, h: HostCell, used: CellUsage, ram_ratio: float
) -> tuple[int, int] | CellFail:
    """(page size KiB, pages taken) for the cell's memory; pages is 0 for small pages."""
    request = guest.pages
    kind = request.kind if request else PageKind.SMALL
    if kind is PageKind.SIZE and request and request.size_kb == SMALL_PAGE_KB:
        kind = PageKind.SMALL
    if kind is PageKind.SIZE:
        sizes = [request.size_kb] if request and request.size_kb else []
    elif kind in (PageKind.LARGE, PageKind.ANY):
        sizes = sorted((p.size_kb for p in h.pages if p.size_kb > SMALL_PAGE_KB), reverse=True)
    else:
        sizes = []
    notes = []
    for size in sizes:
        pool = h.pool(size)
        need = g.memory_mb * 1024 // size
        free = pool.usable - used.pages(size) if pool else 0
        if pool is None:
            notes.append(f"the cell has no {page_label(size)} pages")
        elif g.memory_mb * 1024 % size:
            notes.append(f"{g.memory_mb} MB is not a whole number of {page_label(size)} pages")
        elif need > free:
            notes.append(f"{need} {page_label(size)} pages needed, {free} free of {pool.usable}")
        else:
            return size, need
    if kind in (PageKind.LARGE, PageKind.SIZE):
        return CellFail(STAGE_MEM, "numa.pages", (
            f"needs {g.memory_mb} MB in huge pages; "
            + "; ".join(notes or ["the cell has no huge pages"])))
    small = small_page_mb(h)
    free_mb = small * ram_ratio - used.memory_mb
    if g.memory_mb > small or g.memory_mb > free_mb:
        tried = "".join(f"{n}; " for n in notes)
        return CellFail(STAGE_MEM, "numa.memory", (
            f"needs {g.memory_mb} MB; {tried}the cell has {small} MB of small-page memory x "
            f"ratio {ram_ratio:g}, {used.memory_mb} MB in use ({max(free_mb, 0):g} MB free)"))
    return SMALL_PAGE_KB, 0
