"""One scheduling decision: pre-filter → filters → weighers → pick, instance by instance.

1. Placement pre-filter on the resident index (``berth.query.feasible.screen``): which
   host trees could serve the request at all; every other host gets its first reason.
2. Host hints: ``ignore_hosts`` and ``force_hosts``/``force_nodes``.
3. The configured filters, in order, each removing hosts with reasons.
4. The weighers rank the survivors (0-100 normalized, multiplied, summed).
5. The best host's allocation is materialized by the candidate engine restricted to that
   tree (so the claim is always a valid Placement allocation), plus, for NUMA/PCI guests,
   the exact ``Assignment``. A host the engine finds no combination for is rejected and
   the next one is tried.

With ``num_instances`` > 1 the loop runs once per instance; each pick is counted against
its host (capacity columns, the index's usage for materializing, NUMA usage, group
members) so the instances honour capacity and the group's policy among themselves. The
decision is all-or-nothing: if instance k cannot be placed, nothing is.

The resident index is read (and temporarily charged with the planned instances) under its
lock; the claim (``berth.scheduler.claim``) runs after, in its own transaction, and
re-checks everything, so a decision made on state that moved on costs a retry, never an
overcommit or a broken group rule.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from berth.db.engine import Store
from berth.model.candidates import Allocation, AllocationRequest, CandidateRequest
from berth.model.errors import DomainError
from berth.model.guest import Assignment, NoFit
from berth.model.schedule import ScheduleRequest
from berth.model.topology import HostUsage
from berth.query import feasible, resident
from berth.query.candidates import find_in
from berth.query.index import CloudIndex
from berth.scheduler import facts as facts_mod
from berth.scheduler.batch import BatchState, FactsCache, Mark, run_key
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.explain import Explanation, Recorder, Rejection
from berth.scheduler.facts import Facts
from berth.scheduler.filters.numa_topology import fit_host
from berth.scheduler.filters.pci_passthrough import pick_devices
from berth.scheduler.filters.tenant_isolation import isolates
from berth.scheduler.hosts import Hosts
from berth.scheduler.numa import consume
from berth.scheduler.protocols import Context, Filter, Weigher
from berth.scheduler.scoreboard import Scoreboard
from berth.scheduler.specs import Translated
from berth.scheduler.topology_view import TopologyCache

PLACEMENT_STAGE = "placement"
_NO_COMBINATION = "no combination of its providers satisfies every request group"
HINTS_STAGE = "host hints"
# Rank -> next rank up to which host topologies are read in one go: a few first (the top
# host usually fits), then growing batches (a request nothing fits examines every host).
_PREFETCH_AT = {0: 4, 4: 32, **{2**k: 2 ** (k + 2) for k in range(5, 20, 2)}}
CLAIM_STAGE = "claim"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one instance goes: its host, its Placement allocation and, for NUMA/PCI
    guests, the exact CPUs, cells, pages and devices."""

    instance_uuid: str
    root_id: int
    host_uuid: str
    host_name: str
    allocations: dict[str, dict[str, int]]  # provider uuid -> class -> amount
    assignment: Assignment | None = None
    score: float = 0.0


@dataclass
class Decision:
    """The outcome: placements for every instance, or none and the explanation why."""

    placements: tuple[Placement, ...]
    explanation: Explanation
    group_uuid: str | None = None
    group_generation: int | None = None
    failed_instance: int | None = None
    attempts: int = 1
    claimed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.placements)


def prefilter_request(spec: Translated) -> CandidateRequest:
    """The Placement query for one instance. Zone, tenant and aggregate rules stay filters
    (not ``member_of``) so that every host they remove is explained by name."""
    return spec.candidate_request(limit=None)


def _host_amounts(index: CloudIndex, root: int, areq: AllocationRequest) -> dict[str, int]:
    """What ``areq`` takes from the host's own tree, per class (not sharing providers)."""
    out: dict[str, int] = {}
    for a in areq.allocations:
        if index.root_of(a.provider_id) == root:
            out[a.resource_class] = out.get(a.resource_class, 0) + a.amount
    return out


class Pipeline:
    """The configured filters and weighers, applied to the requests of one batch."""

    def __init__(
        self,
        config: SchedulerConfig,
        filters: tuple[Filter, ...],
        weighers: tuple[tuple[Weigher, float], ...],
    ) -> None:
        self.config = config
        self.filters = filters
        self.weighers = weighers
        self.topology_cache = TopologyCache()
        # How many leading filters do not depend on earlier instances of the request
        # (``Filter.per_instance`` false): they run once per decision, not per instance.
        self._static = next((i for i, f in enumerate(filters) if f.per_instance), len(filters))
        self._weighers_on = frozenset(w.name for w, _ in weighers)

    def decide(
        self, store: Store, request: ScheduleRequest, spec: Translated, attempt: int = 1
    ) -> Decision:
        """Decide one request on current state (a batch of one); see ``decide_many``."""
        (got,) = self.decide_many(store, [(request, spec)], attempt)
        if isinstance(got, DomainError):
            raise got
        return got

    def decide_many(
        self,
        store: Store,
        items: Sequence[tuple[ScheduleRequest, Translated]],
        attempt: int = 1,
    ) -> list[Decision | DomainError]:
        """Decide ``items`` on one refresh of the index, each seeing what the ones decided
        before it planned (``BatchState``); an answer per item, in ``items``' order. Runs
        are decided in the order of their first request, each run's requests in order.

        Requests alike in everything but their instances and group (same flavor, image,
        zone, project, host hints) form a *run*: the pre-filter, the once-per-decision
        filters and the weighers' columns are computed once for the run.

        ``attempt`` > 1 means the previous decision lost its claim to a racing scheduler:
        then each pick is spread at random over the best 2^(attempt-1) hosts, since
        racers rank alike and would collide again."""
        spread = 2 ** (attempt - 1)
        out: list[Decision | DomainError | None] = [None] * len(items)
        with resident.for_store(store).reading() as (conn, index):
            batch = BatchState(index)
            try:
                named_groups = {r.server_group.uuid for r, _ in items if r.server_group}
                batch.groups = facts_mod.load_groups(
                    conn, {uuid for uuid in named_groups if uuid is not None}
                )
                facts = FactsCache(
                    store,
                    conn,
                    index,
                    weighers_on=self._weighers_on,
                    io_ops_window_s=self.config.io_ops_window_s,
                    topology_cache=self.topology_cache,
                )
                # The project matters to a decision only where aggregates reserve hosts
                # for projects; otherwise requests of all projects share a run.
                by_project = isolates(facts.metadata())
                runs: dict[object, list[int]] = {}
                for k, (request, _) in enumerate(items):
                    runs.setdefault(run_key(request, k, by_project), []).append(k)
                for positions in runs.values():
                    mark = batch.mark()
                    decided: list[Decision | DomainError]
                    try:
                        decided = list(self._run(facts, index, items, positions, batch, spread))
                    except DomainError as exc:
                        batch.undo(mark)
                        decided = [exc] * len(positions)
                    for k, answer in zip(positions, decided, strict=True):
                        out[k] = answer
            finally:
                batch.release()
        return [answer for answer in out if answer is not None]

    def _run(
        self,
        facts: FactsCache,
        index: CloudIndex,
        items: Sequence[tuple[ScheduleRequest, Translated]],
        positions: list[int],
        batch: BatchState,
        spread: int,
    ) -> list[Decision]:
        """Decide the requests of one run (see ``decide_many``), in order."""
        request, spec = items[positions[0]]
        query = prefilter_request(spec)
        everyone = feasible.host_roots(index)
        screened = feasible.screen(index, query, everyone)
        named = _named_roots(index, everyone, frozenset(request.explain_hosts))
        # Rejections before the per-instance filters are the same for every instance:
        # recorded once (anonymous hosts counted, the hosts the request names kept by
        # name) and replayed into each instance's explanation.
        base = Recorder()
        base.stage(PLACEMENT_STAGE)
        base_counts: Counter[str] = Counter(screened.counts())
        for root, name in named.items():
            pos = int(np.searchsorted(everyone, root))
            reason = screened.reason(pos)
            if reason is not None:
                base_counts[reason] -= 1
                base.reject(name, Rejection(PLACEMENT_STAGE, reason))
        for reason, count in base_counts.items():
            base.reject_many(PLACEMENT_STAGE, reason, count)
        base.stage(HINTS_STAGE)
        # Subset of every host (not built from the survivors' roots): columns of the whole
        # host list reuse the per-class positions the index remembers for it.
        hosts = Hosts(index, everyone).subset(screened.passed)
        hosts, hint_counts, hint_named = self._hints(hosts, request, named)
        for (stage, reason), count in hint_counts.items():
            base.reject_many(stage, reason, count)
        for name, rejection in hint_named:
            base.reject(name, rejection)
        shared = facts.get(spec, hosts)
        # The leading filters do not depend on earlier instances, nor on the group.
        static = Context(request, spec, batch.facts_for(shared, None), self.config)
        hosts = self._filter(self.filters[: self._static], hosts, static, base, named)
        board = Scoreboard(self.weighers, hosts, static)
        run = _Run(index, hosts, board, query, everyone, base, named, batch, spread)
        return [self._place(run, items[k][0], spec, shared) for k in positions]

    def _place(
        self, run: _Run, request: ScheduleRequest, spec: Translated, shared: Facts
    ) -> Decision:
        """Place every instance of ``request``, or none (its charges taken back)."""
        index, hosts, batch = run.index, run.hosts, run.batch
        group_uuid = request.server_group.uuid if request.server_group else None
        facts = batch.facts_for(shared, group_uuid)
        if group_uuid != run.group_uuid:
            run.board.reweigh(Context(request, spec, facts, self.config, {}, dict(batch.usage)))
            run.group_uuid = group_uuid
        group_generation = facts.group.generation if facts.group is not None else None
        planned: dict[int, int] = {}
        usage: dict[int, HostUsage] = dict(batch.usage)  # plans on top of facts.usage
        placements: list[Placement] = []
        consumed: list[tuple[int, dict[str, int]]] = []
        first: Explanation | None = None
        uuids = request.instance_uuids
        explain = frozenset(request.explain_hosts)
        mark = batch.mark()
        for n in range(request.num_instances):
            ex = Explanation(len(run.everyone), explain)
            run.base.replay(ex)
            ctx = Context(request, spec, facts, self.config, dict(planned), dict(usage))
            picked = self._pick(run, ctx, ex)
            first = first or ex
            if picked is None:
                _take_back(run, mark, consumed, planned)
                ex.chosen.extend(p.host_name for p in placements)
                return Decision((), ex, group_uuid, group_generation, failed_instance=n)
            root, areq, assignment, score = picked
            amounts = _host_amounts(index, root, areq)
            hosts.consume(root, amounts)
            consumed.append((root, amounts))
            run.board.touch((root,))
            batch.charge(areq)
            planned[root] = planned.get(root, 0) + 1
            if assignment is not None and spec.guest is not None:
                before = usage.get(root) or facts.usage.get(root) or HostUsage()
                usage[root] = consume(before, spec.guest, assignment)
            elif assignment is not None and assignment.devices:
                before = usage.get(root) or facts.usage.get(root) or HostUsage()
                usage[root] = replace(
                    before,
                    claimed_devices=before.claimed_devices
                    | frozenset(d for _, d in assignment.devices),
                )
            node = index.node(root)
            allocations: dict[str, dict[str, int]] = {}
            for a in areq.allocations:
                target = allocations.setdefault(index.node(a.provider_id).uuid, {})
                target[a.resource_class] = target.get(a.resource_class, 0) + a.amount
            placements.append(
                Placement(uuids[n], root, node.uuid, node.name, allocations, assignment, score)
            )
        assert first is not None
        if request.dry_run:  # it claims nothing, so the requests after it don't see it
            _take_back(run, mark, consumed, planned)
        else:
            batch.placed(group_uuid, [p.root_id for p in placements], usage)
        first.chosen.extend(p.host_name for p in placements)
        return Decision(tuple(placements), first, group_uuid, group_generation)

    def _hints(
        self, hosts: Hosts, request: ScheduleRequest, named: dict[int, str]
    ) -> tuple[Hosts, Counter[tuple[str, str]], list[tuple[str, Rejection]]]:
        drop = np.zeros(len(hosts), dtype=bool)
        counts: Counter[tuple[str, str]] = Counter()
        rules: list[tuple[str, np.ndarray]] = []
        if request.ignore_hosts:
            rules.append(("in ignore_hosts", hosts.named(frozenset(request.ignore_hosts))))
        forced = frozenset(request.force_hosts) | frozenset(request.force_nodes)
        if forced:
            rules.append(("not a forced host", ~hosts.named(forced)))
        out: list[tuple[str, Rejection]] = []
        for reason, mask in rules:
            hit = mask & ~drop
            for pos in np.flatnonzero(hit).tolist():
                root = int(hosts.roots[pos])
                if root in named:
                    out.append((named[root], Rejection(HINTS_STAGE, reason)))
                else:
                    counts[(HINTS_STAGE, reason)] += 1
            drop |= hit
        return hosts.subset(~drop), counts, out

    def _filter(
        self,
        filters: Sequence[Filter],
        hosts: Hosts,
        ctx: Context,
        ex: Explanation | Recorder,
        named: dict[int, str],
    ) -> Hosts:
        """``hosts`` minus those ``filters`` remove, each removal recorded in ``ex`` by
        filter and reason (and by name for the hosts the request asks about)."""
        survivors = hosts
        for f in filters:
            ex.stage(f.name)
            verdict = f.filter(survivors, ctx)
            if not verdict.rejected:
                continue
            remaining = np.ones(len(survivors), dtype=bool)
            for reason, mask in verdict.rejected:
                hit = mask & remaining
                remaining &= ~hit
                count = int(hit.sum())
                for root, name in named.items():
                    pos = survivors.position(root)
                    if pos is not None and hit[pos]:
                        count -= 1
                        detail = verdict.detail(pos) if verdict.detail else ""
                        ex.reject(name, Rejection(f.name, reason, detail))
                ex.reject_many(f.name, reason, count)
            survivors = survivors.subset(remaining)
            if not len(survivors):
                return survivors
        return survivors

    def _pick(
        self, run: _Run, ctx: Context, ex: Explanation
    ) -> tuple[int, AllocationRequest, Assignment | None, float] | None:
        named = run.named
        survivors = self._filter(self.filters[self._static :], run.hosts, ctx, ex, named)
        if not len(survivors):
            return None
        ranking = run.board.rank(survivors, ctx)
        one = replace(run.query, limit=1)
        exact = ctx.spec.guest is not None or bool(ctx.spec.pci)
        order = ranking.best_first()
        if run.spread > 1:
            top = list(itertools.islice(order, run.spread))
            random.shuffle(top)
            order = itertools.chain(top, order)
        ahead: deque[int] = deque()
        for place in itertools.count():
            if exact and place in _PREFETCH_AT:
                # Topologies and guest usage of the next hosts in rank order, in one read.
                ahead.extend(itertools.islice(order, _PREFETCH_AT[place] - place - len(ahead)))
                ctx.facts.topo_view.prefetch(int(survivors.roots[p]) for p in ahead)
            pos = ahead.popleft() if ahead else next(order, None)
            if pos is None:
                break
            root = int(survivors.roots[pos])
            name = survivors.name(pos)
            found = materialize(run.index, one, root)
            if not found:
                ex.reject(name, Rejection(PLACEMENT_STAGE, _NO_COMBINATION))
                continue
            assignment: Assignment | None = None
            if ctx.spec.guest is not None:
                got = fit_host(root, survivors, ctx, ctx.spec.guest)
                if isinstance(got, NoFit):
                    ex.reject(name, Rejection("NUMATopologyFilter", f"NUMA: {got.code}"))
                    continue
                assignment = got
            elif ctx.spec.pci:
                devices = pick_devices(root, ctx, ctx.spec.pci)
                if isinstance(devices, str):
                    ex.reject(name, Rejection("PciPassthroughFilter", devices))
                    continue
                assignment = Assignment(cells=(), devices=devices)
            for other_root, other_name in named.items():
                other = survivors.position(other_root)
                if other is not None and other != pos:
                    ex.note(
                        other_name,
                        Rejection(
                            "weighers",
                            "outweighed",
                            f"score {ranking.total[other]:.1f} vs {ranking.total[pos]:.1f} "
                            f"of {name}; {ranking.breakdown(other)}",
                        ),
                    )
            return root, found[0], assignment, float(ranking.total[pos])
        return None


@dataclass
class _Run:
    """What the requests of one run share while they are placed one after another."""

    index: CloudIndex
    hosts: Hosts
    board: Scoreboard
    query: CandidateRequest
    everyone: np.ndarray
    base: Recorder
    named: dict[int, str]
    batch: BatchState
    spread: int
    group_uuid: str | None = None


def _take_back(
    run: _Run, mark: Mark, consumed: list[tuple[int, dict[str, int]]], planned: dict[int, int]
) -> None:
    """Undo what a request that is not going to be claimed charged (all-or-nothing)."""
    run.batch.undo(mark)
    for root, amounts in consumed:
        run.hosts.consume(root, {rc: -amount for rc, amount in amounts.items()})
    run.board.touch(planned)


def materialize(index: CloudIndex, query: CandidateRequest, root: int) -> list[AllocationRequest]:
    """The allocation for one instance on host ``root`` (at most one), as the candidate
    engine restricted to that tree would give it.

    The common case, a plain flavor on a host that is one provider with no sharing
    provider serving it, has exactly one candidate: everything from the root. It is
    built directly (the engine's general search cost a third of a 100-instance
    decision); everything else goes through ``find_in``."""
    if len(query.groups) == 1 and len(index.trees.get(root, ())) == 1:
        group = query.groups[0]
        if (
            not group.use_same_provider
            and group.in_tree is None
            and group.resources
            and root not in feasible.shared_roots(index)
        ):
            if not all(index.fits(root, rc, n) for rc, n in group.resources.items()):
                return []
            allocations = tuple(
                Allocation(root, rc, n) for rc, n in sorted(group.resources.items())
            )
            return [AllocationRequest(allocations=allocations, mappings=(("", (root,)),))]
    only = np.array([root], dtype=np.int64)
    return list(find_in(index, query, anchors=only).allocation_requests)


def _named_roots(index: CloudIndex, roots: np.ndarray, names: frozenset[str]) -> dict[int, str]:
    """Root id -> name for the hosts the request asks about (by name or uuid)."""
    if not names:
        return {}
    out: dict[int, str] = {}
    for root in roots.tolist():
        node = index.node(root)
        if node.name in names or node.uuid in names:
            out[root] = node.name
    return out
