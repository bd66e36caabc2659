"""What a scheduling decision reads from the database besides the resident index.

Placement's model (capacity, traits, aggregates) is answered by the resident index; the
scheduler also needs what only Nova used to know: aggregate metadata (availability zones,
tenant isolation, extra-spec matching), the request's server group and where its members
are, recent build failures and claims per host, and for NUMA/PCI guests the hosts'
topologies and what running guests hold. One read transaction loads exactly what this
request's filters and weighers need, for the candidate hosts only.

These facts may be stale by the time the claim commits; that is fine because the claim
re-checks everything that matters (capacity in the single committer, the group's
generation, the NUMA fit against the usage read inside the claim transaction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from berth.db import aggregate_metadata, host_load, host_stats, server_groups, topology
from berth.db.engine import Store
from berth.model.server_group import ServerGroup
from berth.model.topology import HostTopology, HostUsage


@dataclass(frozen=True, slots=True)
class Facts:
    """``metadata``: root -> aggregate uuid -> key -> value, for candidate hosts.
    ``group_members``: root -> members of the request's group already there."""

    metadata: Mapping[int, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    group: ServerGroup | None = None
    group_members: Mapping[int, int] = field(default_factory=dict)
    failures: Mapping[int, int] = field(default_factory=dict)
    topologies: Mapping[int, HostTopology] = field(default_factory=dict)
    usage: Mapping[int, HostUsage] = field(default_factory=dict)
    instances: Mapping[int, int] = field(default_factory=dict)
    recent: Mapping[int, int] = field(default_factory=dict)

    def host_metadata(self, root: int) -> Mapping[str, Mapping[str, str]]:
        return self.metadata.get(root, {})

    def values(self, root: int, key: str) -> set[str]:
        """Every value ``key`` has in the metadata of the host's aggregates."""
        return {meta[key] for meta in self.host_metadata(root).values() if key in meta}


def load(
    store: Store,
    roots: Iterable[int],
    *,
    group_uuid: str | None,
    topology_needed: bool,
    instances_needed: bool = False,
    recent_since: datetime | None = None,
) -> Facts:
    """Load the facts for ``roots`` in one read transaction (see the module docstring)."""
    wanted = sorted(set(roots))
    with store.read() as conn:
        metadata = aggregate_metadata.metadata_by_root(conn, wanted)
        group = server_groups.find(conn, group_uuid) if group_uuid is not None else None
        placed: Counter[int] = Counter()
        if group is not None:
            for _, root in server_groups.members(conn, [group.id])[group.id]:
                if root is not None:
                    placed[root] += 1
        failures = host_stats.failures_by_root(conn, wanted)
        topologies: dict[int, HostTopology] = {}
        usage: dict[int, HostUsage] = {}
        if topology_needed:
            topologies = topology.topologies(conn, wanted)
            usage = topology.usage(conn, list(topologies))
        instances = host_load.instances_by_root(conn, wanted) if instances_needed else {}
        recent: dict[int, int] = {}
        if recent_since is not None:
            recent = host_load.instances_by_root(conn, wanted, since=recent_since)
    return Facts(
        metadata={root: meta for root, meta in metadata.items() if meta},
        group=group,
        group_members=dict(placed),
        failures={root: n for root, n in failures.items() if n},
        topologies=topologies,
        usage=usage,
        instances=instances,
        recent=recent,
    )
