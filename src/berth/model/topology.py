"""A compute host's NUMA topology and what is already consumed on it.

Placement's model (providers, inventories, traits) answers "how much": enough VCPU, PCPU,
MEMORY_MB, SRIOV_NET_VF in a tree. NFV guests also need "which": the exact host CPUs a
pinned guest gets (and their hyperthread siblings), the NUMA cell its memory and huge pages
come from, the PCI device or virtual function it is handed. These values carry the detail
the scheduler's NUMA and PCI fitting needs; berth stores them next to the providers the
same host registers (see ``berth.db.topology``) and the fitting code never sees SQL.

Conventions, shared by every user of these values:
- CPU ids are the host's logical CPU numbers; ``siblings`` groups hyperthreads of one core.
- Page sizes are in KiB: 4 (small pages), 2048 (2 MiB), 1048576 (1 GiB).
- A cell's ``memory_mb`` is its whole memory; the part backed by huge pages is in ``pages``
  and is not usable as small-page memory (Nova's accounting, which operators expect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

SMALL_PAGE_KB = 4


class PciDeviceType(StrEnum):
    """Nova's device types: a plain passthrough device, an SR-IOV physical or virtual function."""

    PCI = "type-PCI"
    PF = "type-PF"
    VF = "type-VF"


@dataclass(frozen=True, slots=True)
class PagePool:
    """Huge (or small) pages of one size in one cell."""

    size_kb: int
    total: int
    reserved: int = 0

    @property
    def usable(self) -> int:
        return self.total - self.reserved


@dataclass(frozen=True, slots=True)
class PciDevice:
    """One assignable device; VFs name their PF, SR-IOV NICs name their physical network."""

    address: str
    vendor_id: str
    product_id: str
    device_type: PciDeviceType
    numa_cell: int | None
    physnet: str | None = None
    parent_address: str | None = None


@dataclass(frozen=True, slots=True)
class HostCell:
    """One NUMA cell: CPUs for floating (shared) and pinned (dedicated) guests, memory, pages."""

    id: int
    shared_cpus: frozenset[int]
    dedicated_cpus: frozenset[int]
    memory_mb: int
    siblings: tuple[frozenset[int], ...] = ()
    pages: tuple[PagePool, ...] = ()
    socket: int | None = None

    @property
    def cpus(self) -> frozenset[int]:
        return self.shared_cpus | self.dedicated_cpus

    def pool(self, size_kb: int) -> PagePool | None:
        return next((p for p in self.pages if p.size_kb == size_kb), None)


@dataclass(frozen=True, slots=True)
class HostTopology:
    """What a compute node reports about itself (cells and devices); immutable once read."""

    cells: tuple[HostCell, ...]
    devices: tuple[PciDevice, ...] = ()

    def cell(self, cell_id: int) -> HostCell:
        return next(c for c in self.cells if c.id == cell_id)


@dataclass(frozen=True, slots=True)
class CellUsage:
    """What running guests hold in one cell."""

    pinned_cpus: frozenset[int] = frozenset()
    shared_vcpus: int = 0
    memory_mb: int = 0
    pages_used: tuple[tuple[int, int], ...] = ()  # (size_kb, pages) pairs

    def pages(self, size_kb: int) -> int:
        return sum(n for size, n in self.pages_used if size == size_kb)


@dataclass(frozen=True, slots=True)
class HostUsage:
    """Consumption on a host, per cell, plus the devices already handed out."""

    cells: dict[int, CellUsage] = field(default_factory=dict)
    claimed_devices: frozenset[str] = frozenset()

    def of(self, cell_id: int) -> CellUsage:
        return self.cells.get(cell_id, CellUsage())
