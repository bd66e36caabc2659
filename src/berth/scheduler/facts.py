"""What a scheduling decision reads from the database besides the resident index.

Placement's model (capacity, traits, aggregates) is answered by the resident index; the
scheduler also needs what only Nova used to know: aggregate metadata (availability zones,
tenant isolation, extra-spec matching), the request's server group and where its members
are, recent build failures and claims per host, for NUMA/PCI guests the hosts'
topologies and what running guests hold, and for flavors with ``capabilities:`` specs or
images with host requirements the hosts' registered capabilities. One read transaction
loads exactly what this request's filters and weighers need, for the candidate hosts only.

These facts may be stale by the time the claim commits; that is fine because the claim
re-checks everything that matters (capacity in the single committer, the group's
generation, the NUMA fit against the usage read inside the claim transaction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from berth.db import (
    aggregate_metadata,
    host_capabilities,
    host_load,
    host_stats,
    server_groups,
    topology,
)
from berth.db.engine import Store
from berth.db.snapshot import ReadTx as Connection
from berth.model.capabilities import HostCapabilities
from berth.model.server_group import ServerGroup
from berth.query.index import CloudIndex
from berth.scheduler.host_metadata import HostMetadata
from berth.scheduler.hosts import HostCounts, PerHost
from berth.scheduler.specs import Translated
from berth.scheduler.topology_view import Topologies, TopologyCache, TopologyView, Usages


@dataclass(frozen=True, slots=True)
class Facts:
    """``metadata``: the described aggregates and who is in them (``HostMetadata``).
    ``group_members``: root -> members of the request's group already there.
    ``recent``: root -> claims seen landing within the I/O-ops window."""

    metadata: HostMetadata = field(default_factory=lambda: HostMetadata(None, {}))
    group: ServerGroup | None = None
    group_members: Mapping[int, int] = field(default_factory=dict)
    failures: PerHost = field(default_factory=lambda: PerHost({}))
    topo_view: TopologyView = field(default_factory=TopologyView.empty)
    instances: HostCounts = field(default_factory=lambda: PerHost({}))
    recent: HostCounts = field(default_factory=lambda: PerHost({}))
    # root -> registered capabilities (hosts that registered none absent); loaded only
    # when ``needs_capabilities``
    capabilities: Mapping[int, HostCapabilities] = field(default_factory=dict)

    @property
    def topologies(self) -> Topologies:
        """Root -> registered topology (None without one), read on first use."""
        return Topologies(self.topo_view)

    @property
    def usage(self) -> Usages:
        """Root -> what running guests hold of its topology, read on first use."""
        return Usages(self.topo_view)

    def host_metadata(self, root: int) -> Mapping[str, Mapping[str, str]]:
        return self.metadata.of(root)

    def values(self, root: int, key: str) -> set[str]:
        """Every value ``key`` has in the metadata of the host's aggregates."""
        return self.metadata.values(root, key)


@contextmanager
def _reading(store: Store, conn: Connection | None) -> Iterator[Connection]:
    if conn is not None:
        yield conn
        return
    with store.read() as fresh:
        yield fresh


def needs_capabilities(spec: Translated) -> bool:
    """Whether a filter will read host capabilities: the flavor has ``capabilities:``
    specs or the image names an architecture, hypervisor type, VM mode or version."""
    image = spec.image
    return bool(
        spec.capabilities
        or image.architecture
        or image.hypervisor_type
        or image.vm_mode
        or image.hypervisor_version
    )


@dataclass(frozen=True, slots=True)
class GroupState:
    """A server group as the database holds it now: its row and its members per host."""

    group: ServerGroup | None
    members: Mapping[int, int]


def load_groups(conn: Connection, uuids: Iterable[str]) -> dict[str, GroupState]:
    """The groups named by a batch of requests, each with members per host, read in the
    decision's own read transaction (a group that does not exist maps to no row)."""
    wanted = set(uuids)
    found = server_groups.find_many(conn, wanted)
    out = {uuid: GroupState(None, {}) for uuid in wanted - found.keys()}
    rows = server_groups.members(conn, [g.id for g in found.values()]) if found else {}
    for uuid, group in found.items():
        placed: Counter[int] = Counter()
        for _, root in rows[group.id]:
            if root is not None:
                placed[root] += 1
        out[uuid] = GroupState(group, dict(placed))
    return out


def with_group(facts: Facts, state: GroupState | None) -> Facts:
    """``facts`` for a request of this group (``None``: a request without one)."""
    if state is None:
        return facts
    return replace(facts, group=state.group, group_members=state.members)


def load(
    store: Store,
    roots: Iterable[int],
    *,
    group_uuid: str | None,
    topology_needed: bool,
    instances_needed: bool = False,
    index: CloudIndex | None = None,
    recent_window_s: float | None = None,
    capabilities_needed: bool = False,
    topology_cache: TopologyCache | None = None,
    conn: Connection | None = None,
) -> Facts:
    """Load the facts for ``roots`` in one read transaction (see the module docstring).

    Only what is small is read whole: the described aggregates (mapped onto hosts by
    ``index``'s memberships) and the hosts with failed builds. Recent claims come from
    ``index`` (``berth.query.activity``), not the database. With ``conn`` (the read
    transaction the resident index was just refreshed in) the facts come from the same
    snapshot as the index, and no second transaction is opened. The group's part is
    ``load_groups``/``with_group``: a batch of requests reads its groups once.
    """
    # Only per-host reads need the candidate list (10,000 Python ints to sort).
    wanted = sorted(set(roots)) if instances_needed or capabilities_needed else []
    with _reading(store, conn) as conn:
        metadata = HostMetadata(index, aggregate_metadata.described(conn))
        groups = load_groups(conn, [group_uuid]) if group_uuid is not None else {}
        failures = host_stats.failures_by_root(conn)
        view = TopologyView.empty()
        if topology_needed:
            cache = topology_cache or TopologyCache()
            view = TopologyView(store, cache, topology.topology_generations(conn))
        instances = host_load.instances_by_root(conn, wanted) if instances_needed else {}
        recent: HostCounts = PerHost({})
        if recent_window_s is not None and index is not None:
            recent = index.activity.recent(recent_window_s)
        capabilities = (
            host_capabilities.capabilities_by_root(conn, wanted) if capabilities_needed else {}
        )
    facts = Facts(
        metadata=metadata,
        failures=PerHost({root: n for root, n in failures.items() if n}),
        topo_view=view,
        instances=PerHost(instances),
        recent=recent,
        capabilities=capabilities,
    )
    return with_group(facts, groups.get(group_uuid) if group_uuid is not None else None)
