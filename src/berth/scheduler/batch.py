"""What the requests decided earlier in one batch hold, for the requests decided after them.

A scheduler worker decides the requests that arrived together in one pass over the
resident index and claims them in one transaction (``berth.scheduler.admission``). Until
that claim commits, the database knows nothing of the earlier decisions, so the batch
keeps them here and every later request sees them exactly as it would see committed
instances:

* capacity: each planned allocation is charged to the index (``CloudIndex.adjust_used``)
  — the Placement pre-filter, the capacity columns and the materializing engine all
  read it — and taken back when the batch ends, whatever happens;
* server groups: members planned per group and host, added to the members the
  database holds (``Facts.group_members``), so two requests of one anti-affinity group
  in the same batch never share a host;
* recent claims and instance counts (IoOpsWeigher, NumInstancesWeigher): instances
  planned per host, added to what the index and database count;
* NUMA/PCI: each host's usage with the pinned CPUs, pages and devices planned there.

A request that cannot be placed is all-or-nothing: ``Mark``/``undo`` take back what its
earlier instances charged.

Also here: what the requests of a batch share besides that state, the facts read once
for all of them (``FactsCache``) and which of them form a *run* decided alike
(``run_key``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from berth.db.engine import Store
from berth.db.snapshot import ReadTx
from berth.model.candidates import AllocationRequest
from berth.model.schedule import ScheduleRequest
from berth.model.topology import HostUsage
from berth.query.index import CloudIndex
from berth.scheduler import facts as facts_mod
from berth.scheduler.facts import Facts, GroupState
from berth.scheduler.host_metadata import HostMetadata
from berth.scheduler.hosts import Hosts, PlusCounts
from berth.scheduler.specs import Translated
from berth.scheduler.topology_view import TopologyCache


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a request's own charges begin (to take them back if it fails)."""

    charges: int


@dataclass
class BatchState:
    index: CloudIndex
    groups: dict[str, GroupState] = field(default_factory=dict)
    charged: list[tuple[int, str, int]] = field(default_factory=list)
    usage: dict[int, HostUsage] = field(default_factory=dict)
    members: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    instances: Counter[int] = field(default_factory=Counter)

    def mark(self) -> Mark:
        return Mark(len(self.charged))

    def charge(self, areq: AllocationRequest) -> None:
        for a in areq.allocations:
            self.index.adjust_used(a.provider_id, a.resource_class, a.amount)
            self.charged.append((a.provider_id, a.resource_class, a.amount))

    def undo(self, mark: Mark) -> None:
        """Take back every charge made since ``mark``."""
        while len(self.charged) > mark.charges:
            pid, rc, amount = self.charged.pop()
            self.index.adjust_used(pid, rc, -amount)

    def release(self) -> None:
        """The batch is decided: the index goes back to what the database holds."""
        self.undo(Mark(0))

    def facts_for(self, shared: Facts, group_uuid: str | None) -> Facts:
        """``shared`` (the facts every request of the batch reads alike) for one request:
        its group and members, and the batch's planned instances on top."""
        facts = replace(
            shared,
            recent=PlusCounts(shared.recent, self.instances),
            instances=PlusCounts(shared.instances, self.instances),
        )
        if group_uuid is None:
            return facts
        state = self.groups.get(group_uuid, GroupState(None, {}))
        members: Counter[int] = Counter(state.members)
        members.update(self.members[group_uuid])
        return replace(facts, group=state.group, group_members=members)

    def placed(self, group_uuid: str | None, roots: list[int], usage: dict[int, HostUsage]) -> None:
        """A request's instances are decided (on ``roots``, one per instance, with the
        NUMA/PCI ``usage`` of the hosts it touched): count them for later requests."""
        self.instances.update(roots)
        if group_uuid is not None:
            self.members[group_uuid].update(roots)
        self.usage.update(usage)


class FactsCache:
    """The facts of one batch: read once in the batch's read transaction and shared by
    its runs (with and without host topologies), except when a run needs per-host reads
    of its candidates (registered capabilities, instance counts): those only the run
    knows, and it reads its own."""

    def __init__(
        self,
        store: Store,
        conn: ReadTx,
        index: CloudIndex,
        *,
        weighers_on: frozenset[str],
        io_ops_window_s: float,
        topology_cache: TopologyCache,
    ) -> None:
        self.weighers_on = weighers_on
        self.io_ops_window_s = io_ops_window_s
        self.topology_cache = topology_cache
        self.store = store
        self.conn = conn
        self.index = index
        self._loaded: dict[bool, Facts] = {}

    def metadata(self) -> HostMetadata:
        """The described aggregates (the same in every kind of facts)."""
        return self._shared(False).metadata

    def get(self, spec: Translated, hosts: Hosts) -> Facts:
        topology_needed = spec.guest is not None or bool(spec.pci)
        capabilities = facts_mod.needs_capabilities(spec)
        instances = "NumInstancesWeigher" in self.weighers_on
        if capabilities or instances:
            return self._read(topology_needed, hosts, capabilities, instances)
        return self._shared(topology_needed)

    def _shared(self, topology_needed: bool) -> Facts:
        got = self._loaded.get(topology_needed)
        if got is None:
            nobody = Hosts(self.index, np.zeros(0, dtype=np.int64))
            got = self._loaded[topology_needed] = self._read(topology_needed, nobody)
        return got

    def _read(
        self,
        topology_needed: bool,
        hosts: Hosts,
        capabilities: bool = False,
        instances: bool = False,
    ) -> Facts:
        io_ops = "IoOpsWeigher" in self.weighers_on
        return facts_mod.load(
            self.store,
            hosts,
            group_uuid=None,
            topology_needed=topology_needed,
            instances_needed=instances,
            index=self.index,
            recent_window_s=self.io_ops_window_s if io_ops else None,
            capabilities_needed=capabilities,
            topology_cache=self.topology_cache,
            conn=self.conn,
        )


def run_key(request: ScheduleRequest, position: int, by_project: bool) -> object:
    """Requests with equal keys are decided as one run: everything the pre-filter, the
    hints, the explanation and the once-per-decision filters read is equal; only the
    instances, the user, the group (read per instance) and, where no aggregate reserves
    hosts for projects, the project may differ. A dry run is a run of its own."""
    if request.dry_run:
        return ("alone", position)
    key = (
        request.flavor,
        request.image,
        request.availability_zone,
        request.project_id if by_project else None,
        request.ignore_hosts,
        request.force_hosts,
        request.force_nodes,
        request.ports,
        request.boot_from_volume,
        request.explain_hosts,
    )
    try:
        hash(key)
    except TypeError:
        return ("alone", position)
    return key
