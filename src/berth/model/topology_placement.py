"""How a host's topology shows in Placement's model: the providers, inventories and traits.

Placement clients (Nova's scheduler report client, ``GET /allocation_candidates``) only
see providers, inventories and traits, so a registered topology is mirrored there:

* the root (the compute node) gets ``VCPU`` = shared CPUs (overcommitted by
  ``cpu_allocation_ratio``), ``PCPU`` = dedicated CPUs (ratio 1, never overcommitted),
  and ``MEMORY_MB`` = memory not backed by huge pages (Nova's accounting); a class whose
  total is 0 is not offered at all. Traits: ``HW_CPU_HYPERTHREADING`` when a core has
  more than one thread, ``COMPUTE_SOCKET_PCI_NUMA_AFFINITY`` when every cell names its
  socket (Nova's request filter requires it for ``hw:pci_numa_affinity_policy=socket``,
  and berth can only honour that policy knowing the sockets).
* each SR-IOV PF with VFs becomes a child ``<host>_<PF address>`` with ``SRIOV_NET_VF``
  = its VFs, trait ``HW_NIC_SRIOV`` and ``CUSTOM_PHYSNET_<NAME>`` for its network.
* plain passthrough devices (``type-PCI``, and PFs without VFs, which are handed over
  whole) are grouped per (vendor, product) into a child ``<host>_PCI_<VENDOR>_<PRODUCT>``
  with ``CUSTOM_PCI_<VENDOR>_<PRODUCT>`` = how many there are.

No NUMA-cell trait is put on device providers: the cell a guest lands in is chosen by
berth's NUMA fitting after Placement's candidates, and a cell number means nothing across
hosts, so no request could usefully name one.

Child uuids are uuid5 of the host's uuid and the device key, so every re-registration of
the same host names the same providers and the tree can be reconciled, not rebuilt.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from berth.model.errors import InvalidError
from berth.model.inventory import MAX_INT, Inventory
from berth.model.names import standard_traits
from berth.model.topology import SMALL_PAGE_KB, HostTopology, PciDevice, PciDeviceType

VCPU = "VCPU"
PCPU = "PCPU"
MEMORY_MB = "MEMORY_MB"
SRIOV_NET_VF = "SRIOV_NET_VF"
HOST_CLASSES = frozenset({VCPU, PCPU, MEMORY_MB})

TRAIT_SMT = "HW_CPU_HYPERTHREADING"
TRAIT_SOCKET_AFFINITY = "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"
TRAIT_SRIOV = "HW_NIC_SRIOV"
HOST_TRAITS = frozenset({TRAIT_SMT, TRAIT_SOCKET_AFFINITY})

# Nova's initial_cpu_allocation_ratio / initial_ram_allocation_ratio.
DEFAULT_CPU_ALLOCATION_RATIO = 4.0
DEFAULT_RAM_ALLOCATION_RATIO = 1.0
# Placement's provider name column.
MAX_PROVIDER_NAME = 200

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


@dataclass(frozen=True, slots=True)
class InventorySettings:
    """How the host's CPUs and memory become inventory; every value is resolved."""

    cpu_allocation_ratio: float = DEFAULT_CPU_ALLOCATION_RATIO
    ram_allocation_ratio: float = DEFAULT_RAM_ALLOCATION_RATIO
    reserved_host_cpus: int = 0
    reserved_host_memory_mb: int = 0


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """What one provider of the host's tree should look like.

    ``managed_classes``/``managed_traits`` are what the topology owns on it: those are
    set to ``inventory``/``traits`` exactly; anything else the provider has (DISK_GB on
    the root, a trait another service set) is left alone.
    """

    uuid: str
    name: str
    inventory: dict[str, Inventory] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    managed_classes: frozenset[str] = frozenset()
    managed_traits: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HostPlan:
    root: ProviderPlan
    children: tuple[ProviderPlan, ...] = ()

    @property
    def custom_classes(self) -> frozenset[str]:
        every = (self.root, *self.children)
        return frozenset(rc for p in every for rc in p.inventory if rc.startswith("CUSTOM_"))

    @property
    def custom_traits(self) -> frozenset[str]:
        every = (self.root, *self.children)
        return frozenset(t for p in every for t in p.traits if t.startswith("CUSTOM_"))


def physnet_trait(physnet: str) -> str:
    """``CUSTOM_PHYSNET_<NAME>``: upper-cased, anything not A-Z/0-9 becomes ``_`` (Neutron's)."""
    return "CUSTOM_PHYSNET_" + _NOT_ALNUM.sub("_", physnet.upper())


def pci_class(vendor_id: str, product_id: str) -> str:
    """``CUSTOM_PCI_<VENDOR>_<PRODUCT>``, the class Nova's PCI-in-Placement uses."""
    return f"CUSTOM_PCI_{vendor_id.upper()}_{product_id.upper()}"


def child_uuid(root_uuid: str, key: str) -> str:
    """A stable uuid for the child provider ``key`` (``pf:<address>``, ``pci:<v>:<p>``)."""
    return str(uuid.uuid5(uuid.UUID(root_uuid), key))


def huge_page_memory_mb(topology: HostTopology, cell_id: int) -> int:
    """Memory of one cell held in pages larger than small pages (rounded up to MiB)."""
    kb = sum(p.total * p.size_kb for p in topology.cell(cell_id).pages if p.size_kb > SMALL_PAGE_KB)
    return math.ceil(kb / 1024)


def _known(traits: set[str]) -> frozenset[str]:
    """Standard traits this os-traits release has (an older release may lack one)."""
    return frozenset(t for t in traits if t in standard_traits())


def _sized(total: int, reserved: int, ratio: float) -> Inventory:
    return Inventory(
        total=total, reserved=reserved, min_unit=1, max_unit=total, allocation_ratio=ratio
    )


def _root_plan(
    root_uuid: str, root_name: str, topology: HostTopology, settings: InventorySettings
) -> ProviderPlan:
    shared = sum(len(c.shared_cpus) for c in topology.cells)
    dedicated = sum(len(c.dedicated_cpus) for c in topology.cells)
    memory = sum(c.memory_mb - huge_page_memory_mb(topology, c.id) for c in topology.cells)
    if shared and settings.reserved_host_cpus > shared:
        raise InvalidError(
            f"reserved_host_cpus: {settings.reserved_host_cpus} is more than the host's "
            f"{shared} shared CPUs"
        )
    if memory and settings.reserved_host_memory_mb > memory:
        raise InvalidError(
            f"reserved_host_memory_mb: {settings.reserved_host_memory_mb} is more than the "
            f"host's {memory} MiB of memory not backed by huge pages"
        )
    for total, what in ((shared, "shared CPUs"), (memory, "memory")):
        if total > MAX_INT:
            raise InvalidError(f"cells: the host's {what} add up to more than {MAX_INT}")
    inventory: dict[str, Inventory] = {}
    if shared:
        inventory[VCPU] = _sized(shared, settings.reserved_host_cpus, settings.cpu_allocation_ratio)
    if dedicated:
        inventory[PCPU] = _sized(dedicated, 0, 1.0)
    if memory:
        inventory[MEMORY_MB] = _sized(
            memory, settings.reserved_host_memory_mb, settings.ram_allocation_ratio
        )
    traits: set[str] = set()
    if any(len(group) > 1 for c in topology.cells for group in c.siblings):
        traits.add(TRAIT_SMT)
    if topology.cells and all(c.socket is not None for c in topology.cells):
        traits.add(TRAIT_SOCKET_AFFINITY)
    return ProviderPlan(
        uuid=root_uuid,
        name=root_name,
        inventory=inventory,
        traits=_known(traits),
        managed_classes=HOST_CLASSES,
        managed_traits=_known(set(HOST_TRAITS)),
    )


def _child_name(root_name: str, suffix: str) -> str:
    name = f"{root_name}_{suffix}"
    if len(name) > MAX_PROVIDER_NAME:
        raise InvalidError(
            f"devices: the provider name {name!r} for a device of this host would be longer "
            f"than {MAX_PROVIDER_NAME} characters; rename the host's resource provider"
        )
    return name


def _pf_plan(root_uuid: str, root_name: str, pf: PciDevice, vfs: list[PciDevice]) -> ProviderPlan:
    physnets = {d.physnet for d in (pf, *vfs) if d.physnet is not None}
    traits = _known({TRAIT_SRIOV}) | {physnet_trait(p) for p in physnets}
    inventory = {SRIOV_NET_VF: _sized(len(vfs), 0, 1.0)}
    return ProviderPlan(
        uuid=child_uuid(root_uuid, f"pf:{pf.address}"),
        name=_child_name(root_name, pf.address),
        inventory=inventory,
        traits=frozenset(traits),
        managed_classes=frozenset(inventory),
        managed_traits=frozenset(traits),
    )


def _pci_plan(
    root_uuid: str, root_name: str, vendor: str, product: str, count: int
) -> ProviderPlan:
    rc = pci_class(vendor, product)
    return ProviderPlan(
        uuid=child_uuid(root_uuid, f"pci:{vendor}:{product}"),
        name=_child_name(root_name, rc.removeprefix("CUSTOM_")),
        inventory={rc: _sized(count, 0, 1.0)},
        managed_classes=frozenset({rc}),
    )


def plan(
    root_uuid: str, root_name: str, topology: HostTopology, settings: InventorySettings
) -> HostPlan:
    """The providers, inventories and traits ``topology`` stands for; 400 (InvalidError)
    naming the setting when reserved amounts exceed what the host has."""
    vfs: dict[str, list[PciDevice]] = defaultdict(list)
    for dev in topology.devices:
        if dev.device_type is PciDeviceType.VF and dev.parent_address is not None:
            vfs[dev.parent_address].append(dev)
    children: list[ProviderPlan] = []
    whole: dict[tuple[str, str], int] = defaultdict(int)
    for dev in topology.devices:
        if dev.device_type is PciDeviceType.PF and vfs.get(dev.address):
            children.append(_pf_plan(root_uuid, root_name, dev, vfs[dev.address]))
        elif dev.device_type is not PciDeviceType.VF:
            whole[(dev.vendor_id, dev.product_id)] += 1
    for (vendor, product), count in sorted(whole.items()):
        children.append(_pci_plan(root_uuid, root_name, vendor, product, count))
    return HostPlan(_root_plan(root_uuid, root_name, topology, settings), tuple(children))
