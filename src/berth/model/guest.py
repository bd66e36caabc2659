"""What one guest needs from a host's topology, and the exact assignment that satisfies it.

``GuestTopology`` is the typed form of a flavor's ``hw:*`` extra specs and image
properties after validation (``berth.scheduler.specs`` builds it and rejects contradictory
input); ``berth.scheduler.numa`` fits it onto a ``HostTopology`` minus its ``HostUsage``
and answers either an ``Assignment`` (which host CPU each guest CPU is pinned to, which
cell and page size backs each guest cell's memory, which devices are handed over) or a
reason it cannot fit, phrased for an operator.

A guest without ``hw:numa_nodes`` but with pinning, huge pages or PCI NUMA affinity still
gets one implicit guest cell, as in Nova.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CpuPolicy(StrEnum):
    SHARED = "shared"
    DEDICATED = "dedicated"
    MIXED = "mixed"


class ThreadPolicy(StrEnum):
    """How pinned guest CPUs may use hyperthread siblings (only with dedicated CPUs)."""

    PREFER = "prefer"  # siblings if possible, otherwise any free cores
    ISOLATE = "isolate"  # each guest CPU on a core whose siblings stay unused
    REQUIRE = "require"  # guest CPUs pinned to sibling pairs only (an SMT host)


class EmulatorThreads(StrEnum):
    SHARE = "share"
    ISOLATE = "isolate"  # one extra dedicated host CPU for the emulator threads


class PageKind(StrEnum):
    SMALL = "small"
    LARGE = "large"  # any huge page size, largest first
    ANY = "any"  # huge pages if available, else small
    SIZE = "size"  # exactly ``PageRequest.size_kb``


@dataclass(frozen=True, slots=True)
class PageRequest:
    kind: PageKind
    size_kb: int | None = None  # only for ``PageKind.SIZE``


class PciNumaPolicy(StrEnum):
    REQUIRED = "required"  # device in a cell the guest uses
    LEGACY = "legacy"  # required when the device reports a cell; otherwise anywhere
    PREFERRED = "preferred"  # best effort
    SOCKET = "socket"  # device on the same socket as a guest cell


@dataclass(frozen=True, slots=True)
class PciRequest:
    """``count`` devices of one kind: a PCI alias or an SR-IOV port on ``physnet``.

    ``source`` names where the request came from (``pci_passthrough:alias`` entry or port
    index) so a rejection can say which one could not be met.
    """

    count: int
    source: str
    vendor_id: str | None = None
    product_id: str | None = None
    device_type: str | None = None  # a PciDeviceType value; None means any
    physnet: str | None = None
    numa_policy: PciNumaPolicy = PciNumaPolicy.LEGACY


@dataclass(frozen=True, slots=True)
class GuestCell:
    """One guest NUMA node: its guest CPU ids (``dedicated`` ⊆ ``cpus``) and memory."""

    id: int
    cpus: frozenset[int]
    memory_mb: int
    dedicated: frozenset[int] = frozenset()

    @property
    def shared(self) -> frozenset[int]:
        return self.cpus - self.dedicated


@dataclass(frozen=True, slots=True)
class GuestTopology:
    cells: tuple[GuestCell, ...]
    cpu_policy: CpuPolicy = CpuPolicy.SHARED
    thread_policy: ThreadPolicy | None = None
    emulator_threads: EmulatorThreads = EmulatorThreads.SHARE
    pages: PageRequest | None = None
    pci: tuple[PciRequest, ...] = ()

    @property
    def vcpus(self) -> int:
        return sum(len(c.cpus) for c in self.cells)

    @property
    def memory_mb(self) -> int:
        return sum(c.memory_mb for c in self.cells)


@dataclass(frozen=True, slots=True)
class CellAssignment:
    """Where one guest cell landed: the host cell, pinned CPUs, and its memory's page size."""

    guest_cell: int
    host_cell: int
    pinning: tuple[tuple[int, int], ...] = ()  # (guest cpu, host cpu), dedicated cpus only
    page_size_kb: int = 4
    pages: int = 0  # pages of page_size_kb taken (memory_mb * 1024 // page_size_kb)
    # Host CPUs of this cell held but not pinned to a guest CPU: the emulator thread CPU
    # and the idle siblings thread policy isolate keeps free; consume() marks them pinned.
    reserved_cpus: frozenset[int] = frozenset()
    # What the cell holds besides pinned CPUs and huge pages: floating guest CPUs on the
    # cell's shared CPUs, and small-page memory (0 when backed by huge pages). Recorded so
    # that usage read back from the database is exact (``berth.db.topology.usage``).
    shared_vcpus: int = 0
    memory_mb: int = 0


@dataclass(frozen=True, slots=True)
class Assignment:
    """The exact placement of a guest on a host: what the claim records and the answer shows."""

    cells: tuple[CellAssignment, ...]
    emulator_cpus: frozenset[int] = frozenset()
    devices: tuple[tuple[str, str], ...] = ()  # (request source, device address)


@dataclass(frozen=True, slots=True)
class NoFit:
    """Why a guest cannot fit a host, e.g. "guest cell 1 needs 4 dedicated CPUs with
    thread policy isolate; host cell 1 has 2 free cores". ``code`` groups reasons for the
    aggregated explanation ("numa.pinning", "numa.memory", "numa.pages", "pci.physnet", ...).
    """

    code: str
    reason: str
