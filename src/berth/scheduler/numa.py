"""Fitting one guest onto one host's NUMA topology: exact pinning, pages and devices.

Nova's ``numa_fit_instance_to_host`` tries permutations of host cells for the guest cells
(16 host cells x 8 guest cells once took it six minutes). Here no permutation is ever
enumerated:

1. Every (guest cell, host cell) pair is decided on its own by
   ``berth.scheduler.numa_cell.fit_cell`` (CPUs, pinning under the thread policy, memory
   or huge pages), once per distinct guest cell shape; with
   ``hw:emulator_threads_policy=isolate`` a second variant asks for one more dedicated
   CPU. For G guest cells, H host cells of c CPUs: O(G·H·c log c).
2. The cross-cell constraints are matchings on that G-by-H graph (E <= G·H edges). Distinct
   host cells: a matching saturating the guest side (Kuhn's augmenting paths, O(G·E)).
   The emulator CPU: one guest cell restricted to its "+1 CPU" edges, G choices. PCI NUMA
   affinity: the chosen host cells must hit a set of device groups (cells or sockets)
   whose devices meet every request; ``berth.scheduler.pci_fit.PciPlan.search`` finds one
   by a bounded branch and bound (it is a hitting-set problem), checking each candidate
   set with a matching of groups against guest cells extended by augmenting paths, which
   never unmatch a host cell, so the groups stay hit: O(G·E) per set visited.
3. The answer is the lexicographically first valid placement in host-cell preference order
   (for a guest without PCI requests, cells without PCI devices first, as Nova keeps them
   for guests that need them; then lowest id): each guest cell in turn takes the first
   host cell that still admits a completion. The last completion's witness answers for its
   own choice, so a search only runs for host cells preferred over it: at most G·H.

Total O(G·H·c log c + G·H·G·N·G·E) where N is the PCI search's sets visited (1 without PCI,
at most ``pci_fit.MAX_SEARCH_NODES``); no factorial term. bench/bench_numa.py measures
16 host cells x 8 guest cells at a few milliseconds.
When nothing fits, the most informative reason: a guest cell no host cell takes (naming the
host cell that got furthest), the guest cells competing for too few host cells (a Hall
violator from the failed augmenting search), the emulator CPU, or the PCI request whose
devices no valid placement is NUMA-local to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from berth.model.guest import (
    Assignment,
    EmulatorThreads,
    GuestTopology,
    NoFit,
    PciNumaPolicy,
    PciRequest,
)
from berth.model.topology import SMALL_PAGE_KB, CellUsage, HostTopology, HostUsage
from berth.scheduler import bipartite
from berth.scheduler.numa_cell import CellFail, CellFit, fit_cell, pinned_cpus
from berth.scheduler.pci_fit import PciPlan, describe

Adjacency = Sequence[Sequence[int]]


def _match(
    adj: Adjacency, owner: dict[int, int] | None = None
) -> dict[int, int] | tuple[set[int], set[int]]:
    """Guest cells (left) onto host cells (right): see ``berth.scheduler.bipartite``."""
    return bipartite.match(adj, owner)


class _Fitter:
    """The per-pair answers for one (host, usage, guest) and the searches over them."""

    def __init__(self, host: HostTopology, usage: HostUsage, guest: GuestTopology,
                 cpu_ratio: float, ram_ratio: float) -> None:
        self.host, self.usage, self.guest = host, usage, guest
        self.requests = tuple(r for r in guest.pci if r.count > 0)
        pci_cells = {d.numa_cell for d in host.devices}
        self.cells = sorted(
            host.cells, key=lambda c: (not self.requests and c.id in pci_cells, c.id))
        self.pos = {c.id: hi for hi, c in enumerate(self.cells)}
        self.emulator = guest.emulator_threads is EmulatorThreads.ISOLATE
        self.fits: dict[tuple[int, int], CellFit] = {}
        self.emu_fits: dict[tuple[int, int], CellFit] = {}
        self.fails: dict[tuple[int, int], CellFail] = {}
        # Guest cells of one shape (pinned and floating CPU counts, memory) fit a host cell
        # identically up to guest CPU ids: each shape is fitted once per host cell, and
        # ``placed`` renames the guest side for the pairs finally chosen.
        shapes: dict[tuple[int, int, int, int, bool], CellFit | CellFail] = {}
        for gi, g in enumerate(guest.cells):
            pinned = sorted(pinned_cpus(guest, g))
            for hi, h in enumerate(self.cells):
                for emulator in (False, True) if self.emulator else (False,):
                    key = (len(pinned), len(g.cpus), g.memory_mb, hi, emulator)
                    if key not in shapes:
                        shapes[key] = fit_cell(guest, g, h, usage.of(h.id), cpu_ratio=cpu_ratio,
                                               ram_ratio=ram_ratio, emulator=emulator)
                    got = shapes[key]
                    if isinstance(got, CellFail):
                        self.fails[gi, hi] = got
                        break
                    (self.emu_fits if emulator else self.fits)[gi, hi] = got
        n = len(guest.cells)
        self.adj = [[hi for hi in range(len(self.cells)) if (gi, hi) in self.fits]
                    for gi in range(n)]
        self.emu_adj = [[hi for hi in self.adj[gi] if (gi, hi) in self.emu_fits]
                        for gi in range(n)]

    def placed(self, gi: int, hi: int, emulator: bool) -> CellFit:
        """The fit of pair (gi, hi) with guest cell ``gi``'s own id and CPU ids."""
        got = (self.emu_fits if emulator else self.fits)[gi, hi]
        g = self.guest.cells[gi]
        host_cpus = (hc for _, hc in got.assignment.pinning)
        pinning = tuple(zip(sorted(pinned_cpus(self.guest, g)), host_cpus, strict=True))
        return replace(got, assignment=replace(got.assignment, guest_cell=g.id, pinning=pinning))

    # ------------------------------------------------------------------ searching

    def _restrict(self, fixed: dict[int, int], emu: int | None) -> list[list[int]]:
        adj = [list(a) for a in self.adj]
        if emu is not None:
            adj[emu] = list(self.emu_adj[emu])
        for gi, hi in fixed.items():
            adj[gi] = [hi] if hi in adj[gi] else []
        return adj

    def complete(self, plan: PciPlan | None, fixed: dict[int, int]) -> dict[int, int] | None:
        """A whole placement (guest cell -> host cell position) extending ``fixed`` that
        meets the emulator and PCI constraints, or None."""
        for emu in range(len(self.guest.cells)) if self.emulator else (None,):
            adj = self._restrict(fixed, emu)
            if not all(adj) or not isinstance(_match(adj), dict):
                continue
            got = self._hit(adj, []) if plan is None else self._search(plan, adj)
            if got is not None:
                return got
        return None

    def _search(self, plan: PciPlan, adj: Adjacency) -> dict[int, int] | None:
        def column(group: frozenset[int]) -> frozenset[int]:
            members = {self.pos[c] for c in group}
            return frozenset(gi for gi, a in enumerate(adj) if members.intersection(a))

        return plan.search(len(adj), column, lambda groups: self._hit(adj, groups))

    def _hit(self, adj: Adjacency, groups: list[frozenset[int]]) -> dict[int, int] | None:
        """A placement whose host cells hit every group (host cell ids): distinct guest cells
        for the groups first, then augmenting paths to place the rest."""
        members = [frozenset(self.pos[c] for c in group) for group in groups]
        gadj = [[gi for gi, a in enumerate(adj) if any(h in m for h in a)] for m in members]
        picked = _match(gadj)
        if not isinstance(picked, dict):
            return None
        owner = {next(h for h in adj[gi] if h in members[k]): gi for gi, k in picked.items()}
        full = _match(adj, owner)
        return {gi: hi for hi, gi in full.items()} if isinstance(full, dict) else None

    def first(self, plan: PciPlan | None, witness: dict[int, int]) -> dict[int, int]:
        """The lexicographically first placement in host-cell preference order: each guest
        cell in turn takes the first host cell that still completes; the witness in hand
        answers for its own choice without a search."""
        fixed: dict[int, int] = {}
        for gi, choices in enumerate(self.adj):
            for hi in choices:
                if hi in fixed.values():
                    continue
                got = witness if witness[gi] == hi else self.complete(plan, {**fixed, gi: hi})
                if got is not None:
                    witness, fixed[gi] = got, hi
                    break
        return fixed

    # ------------------------------------------------------------------ explaining

    def closest(self, pairs: list[tuple[int, int]]) -> tuple[int, int, CellFail] | None:
        best = None
        for gi, hi in pairs:
            fail = self.fails.get((gi, hi))
            if fail is not None and (best is None or fail.stage > best[2].stage):
                best = (gi, hi, fail)
        return best

    def say(self, gi: int, hi: int, fail: CellFail) -> str:
        return f"host cell {self.cells[hi].id} rejects guest cell {self.guest.cells[gi].id}: " \
            + fail.detail

    def no_host(self, gi: int) -> NoFit:
        """Guest cell ``gi`` fits no host cell: say why for the one that got furthest."""
        g = self.guest.cells[gi]
        got = self.closest([(gi, h) for h in range(len(self.cells))])
        if got is None:  # the host has no cells at all
            return NoFit("numa.cells", f"guest cell {g.id}: the host reports no NUMA cells")
        why = self.say(*got)
        if len(self.cells) > 1:
            why = f"guest cell {g.id} fits none of the {len(self.cells)} host cells; closest: {why}"
        return NoFit(got[2].code, why)

    def crowded(self, lefts: set[int], rights: set[int]) -> NoFit:
        names = ", ".join(str(self.guest.cells[gi].id) for gi in sorted(lefts))
        hosts = ", ".join(str(self.cells[hi].id) for hi in sorted(rights)) or "none"
        pairs = [(gi, hi) for gi in lefts for hi in range(len(self.cells)) if hi not in rights]
        gi, hi, fail = self.closest(pairs) or (0, 0, None)
        why = f"; {self.say(gi, hi, fail)}" if fail else ""
        return NoFit(fail.code if fail else "numa.cells",
                     f"guest cells {names} fit only host cell(s) {hosts} between them{why}")

    def no_emulator(self) -> NoFit:
        got = self.closest([(gi, hi) for gi, a in enumerate(self.adj) for hi in a])
        why = f"; {self.say(*got)}" if got else ""
        return NoFit("numa.emulator", "emulator threads policy isolate needs one more free "
                     f"dedicated CPU in a host cell the guest uses; no placement has one{why}")

    def no_affinity(self) -> NoFit:
        for request in self.requests:
            plan = PciPlan(self.host, self.usage, [request], strict=False)
            if self.complete(plan, {}) is None:
                return NoFit("pci.numa_affinity", self._affinity_reason(request, plan))
        names = ", ".join(describe(r) for r in self.requests)
        return NoFit("pci.numa_affinity", f"PCI requests {names} cannot all get devices "
                     "NUMA-local to the host cells one placement of the guest uses")

    def _affinity_reason(self, request: PciRequest, plan: PciPlan) -> str:
        head = f"PCI request {describe(request)} (NUMA policy {request.numa_policy.value})"
        cands = plan.candidates[0]
        if not cands:
            return f"{head}: none of its {len(plan.matching[0])} free matching devices reports " \
                "a NUMA cell"
        pos = self.pos
        cells = sorted({c for cand in cands for c in cand.group or ()})
        what = "on the sockets of" if request.numa_policy is PciNumaPolicy.SOCKET else "in"
        got = self.closest([(gi, pos[c]) for gi in range(len(self.guest.cells)) for c in cells])
        why = self.say(*got) if got else "no placement of the guest's cells on distinct host " \
            "cells uses one of them"
        return f"{head}: its free devices are usable {what} host cell(s) " \
            f"{', '.join(map(str, cells))}; {why}"


def fit(
    host: HostTopology,
    usage: HostUsage,
    guest: GuestTopology,
    *,
    cpu_allocation_ratio: float,
    ram_allocation_ratio: float,
) -> Assignment | NoFit:
    """The exact placement of ``guest`` on ``host`` minus ``usage``, or why there is none."""
    if len(guest.cells) > len(host.cells):
        return NoFit("numa.cells", f"the guest has {len(guest.cells)} NUMA cells; the host "
                     f"has {len(host.cells)}")
    f = _Fitter(host, usage, guest, cpu_allocation_ratio, ram_allocation_ratio)
    for gi, choices in enumerate(f.adj):
        if not choices:
            return f.no_host(gi)
    matched = _match(f.adj)
    if not isinstance(matched, dict):
        return f.crowded(*matched)
    witness = f.complete(None, {})
    if witness is None:
        return f.no_emulator()
    plan: PciPlan | None = None
    if f.requests:
        relaxed = PciPlan(host, usage, f.requests, strict=False)
        short = relaxed.shortage()
        if short is not None:
            return short
        plans = [relaxed]
        if any(r.numa_policy is PciNumaPolicy.PREFERRED for r in f.requests):
            plans.insert(0, PciPlan(host, usage, f.requests, strict=True))
        for plan in plans:
            witness = f.complete(plan, {})
            if witness is not None:
                break
        else:
            return f.no_affinity()
    chosen = f.first(plan, witness)
    emu = next((gi for gi, hi in sorted(chosen.items()) if (gi, hi) in f.emu_fits), None)
    cells = [f.placed(gi, hi, gi == emu) for gi, hi in sorted(chosen.items())]
    devices: tuple[tuple[str, str], ...] = ()
    if plan is not None:
        got = plan.assign(frozenset(f.cells[hi].id for hi in chosen.values()))
        if got is None:  # complete() found devices for these cells; never expected
            return f.no_affinity()
        devices = got
    return Assignment(
        cells=tuple(c.assignment for c in cells),
        emulator_cpus=frozenset().union(*(c.emulator_cpus for c in cells)),
        devices=devices,
    )


def consume(usage: HostUsage, guest: GuestTopology, assignment: Assignment) -> HostUsage:
    """The host's usage once ``guest`` runs as ``assignment`` says (a new value)."""
    cells = dict(usage.cells)
    by_id = {c.id: c for c in guest.cells}
    for placed in assignment.cells:
        g = by_id[placed.guest_cell]
        now = cells.get(placed.host_cell, CellUsage())
        pages: dict[int, int] = {}
        for size, count in now.pages_used:
            pages[size] = pages.get(size, 0) + count
        memory = now.memory_mb
        if placed.page_size_kb == SMALL_PAGE_KB:
            memory += g.memory_mb
        else:
            pages[placed.page_size_kb] = pages.get(placed.page_size_kb, 0) + placed.pages
        cells[placed.host_cell] = CellUsage(
            pinned_cpus=now.pinned_cpus
            | frozenset(h for _, h in placed.pinning)
            | placed.reserved_cpus,
            shared_vcpus=now.shared_vcpus + len(g.cpus) - len(pinned_cpus(guest, g)),
            memory_mb=memory,
            pages_used=tuple(sorted(pages.items())),
        )
    return HostUsage(
        cells=cells,
        claimed_devices=usage.claimed_devices | {address for _, address in assignment.devices},
    )
