"""NUMATopologyFilter: the guest's NUMA cells, pinned CPUs, pages and affine devices fit.

Only guests with a topology (``Translated.guest``: pinning, ``hw:numa_nodes``, huge pages,
PCI NUMA affinity) are checked; a host that registered no topology cannot take them. The
fit itself (``berth.scheduler.numa.fit``) is exact and bounded; it runs per remaining host
against what running guests hold plus what this request has already planned there, with
the host's VCPU and MEMORY_MB allocation ratios from its inventory.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.model.guest import Assignment, GuestTopology, NoFit
from berth.model.topology import HostUsage
from berth.scheduler.hosts import Hosts
from berth.scheduler.numa import fit
from berth.scheduler.protocols import PASS, Context, Verdict

NO_TOPOLOGY = "reports no NUMA topology"
NO_TOPOLOGY_CODE = "numa.topology"


def fit_host(root: int, hosts: Hosts, ctx: Context, guest: GuestTopology) -> Assignment | NoFit:
    """The guest's exact placement on host ``root`` now, or why it does not fit."""
    topology = ctx.facts.topologies.get(root)
    if topology is None:
        return NoFit(NO_TOPOLOGY_CODE, NO_TOPOLOGY)
    usage = ctx.usage.get(root) or ctx.facts.usage.get(root) or HostUsage()
    vcpu = hosts.index.inventory(root, "VCPU")
    memory = hosts.index.inventory(root, "MEMORY_MB")
    return fit(
        topology,
        usage,
        guest,
        cpu_allocation_ratio=vcpu.allocation_ratio if vcpu is not None else 1.0,
        ram_allocation_ratio=memory.allocation_ratio if memory is not None else 1.0,
    )


def named_positions(hosts: Hosts, ctx: Context) -> list[int]:
    """Positions of the hosts the request asks about (``explain_hosts``)."""
    names = frozenset(ctx.request.explain_hosts)
    if not names:
        return []
    return [
        pos for pos in range(len(hosts)) if hosts.name(pos) in names or hosts.uuid(pos) in names
    ]


class NUMATopologyFilter:
    """Removes hosts without a topology here; the exact fit runs lazily, in rank order,
    when the pipeline picks a host (``berth.scheduler.pipeline``), because at 2,000 NFV
    hosts fitting every one per request cost most of a second while the pick usually
    needs one. Hosts the request names are fitted here so their exact reason shows."""

    name: ClassVar[str] = "NUMATopologyFilter"
    per_instance: ClassVar[bool] = True

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        guest = ctx.spec.guest
        if guest is None:
            return PASS
        reasons: dict[str, np.ndarray] = {
            f"NUMA: {NO_TOPOLOGY_CODE}": ~ctx.facts.topo_view.registered(hosts.roots)
        }
        details: dict[int, str] = {}
        for pos in named_positions(hosts, ctx):
            got = fit_host(int(hosts.roots[pos]), hosts, ctx, guest)
            if isinstance(got, NoFit):
                label = f"NUMA: {got.code}"
                mask = reasons.get(label)
                if mask is None:
                    mask = reasons[label] = np.zeros(len(hosts), dtype=bool)
                mask[pos] = True
                details[pos] = got.reason
        return Verdict(tuple(reasons.items()), detail=lambda pos: details.get(pos, NO_TOPOLOGY))
