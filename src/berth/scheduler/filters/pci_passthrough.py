"""PciPassthroughFilter: free devices matching every PCI request, for guests without a
NUMA topology (those with one get their devices NUMA-placed by NUMATopologyFilter).

The Placement query already asked for the device classes (``CUSTOM_PCI_*``,
``SRIOV_NET_VF`` on a provider with the physnet's trait); this filter checks the exact
devices (vendor/product/type/physnet) against what running guests hold, so the claim can
record which device each request gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from berth.model.guest import PciRequest
from berth.model.topology import HostTopology, HostUsage, PciDevice
from berth.scheduler.filters.numa_topology import named_positions
from berth.scheduler.hosts import Hosts
from berth.scheduler.pci_fit import describe, free_devices, matches
from berth.scheduler.protocols import PASS, Context, Verdict

NO_DEVICES = "reports no PCI devices"


def _family(devices: Iterable[PciDevice], address: str, parent: str | None) -> set[str]:
    family = {address} | ({parent} if parent else set())
    family |= {d.address for d in devices if d.parent_address == address}
    return family


def pick_devices(
    root: int, ctx: Context, requests: tuple[PciRequest, ...]
) -> tuple[tuple[str, str], ...] | str:
    """(request source, device address) per device, or the request that can't be met."""
    topology = ctx.facts.topologies.get(root)
    if topology is None:
        return NO_DEVICES
    usage = ctx.usage.get(root) or ctx.facts.usage.get(root) or HostUsage()
    return choose_devices(topology, usage, requests)


def choose_devices(
    topology: HostTopology, usage: HostUsage, requests: tuple[PciRequest, ...]
) -> tuple[tuple[str, str], ...] | str:
    """Free devices of ``topology`` (minus ``usage``) for ``requests``, or the request that
    can't be met; also what the claim re-runs when a device it was given went meanwhile."""
    free = free_devices(topology, usage)
    taken: set[str] = set()
    chosen: list[tuple[str, str]] = []
    for request in requests:
        found = [d for d in free if d.address not in taken and matches(d, request)]
        if len(found) < request.count:
            return f"{describe(request)}: {len(found)} free"
        for device in found[: request.count]:
            # A VF and its PF are never handed out together.
            taken.update(_family(topology.devices, device.address, device.parent_address))
            chosen.append((request.source, device.address))
    return tuple(chosen)


class PciPassthroughFilter:
    """Removes hosts that registered no devices here; which free device each request
    gets is decided lazily, in rank order, when the pipeline picks a host (as for
    NUMATopologyFilter). Hosts the request names are checked here for their reason."""

    name: ClassVar[str] = "PciPassthroughFilter"
    per_instance: ClassVar[bool] = True

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        requests = ctx.spec.pci
        if not requests or ctx.spec.guest is not None:
            return PASS
        none = ~ctx.facts.topo_view.registered(hosts.roots)
        missing = np.zeros(len(hosts), dtype=bool)
        details: dict[int, str] = {}
        for pos in named_positions(hosts, ctx):
            got = pick_devices(int(hosts.roots[pos]), ctx, requests)
            if isinstance(got, str):
                missing[pos] = True
                details[pos] = got
        return Verdict(
            ((NO_DEVICES, none), ("no free matching PCI device", missing)),
            detail=lambda pos: details.get(pos, NO_DEVICES),
        )
