"""The claim: a decision becomes allocations, group membership and NUMA/PCI assignments
in ONE transaction, or nothing at all.

Everything the decision assumed is re-checked inside the transaction, under the same
optimistic rules as the rest of berth:

* capacity: the single committer (``berth.db.allocations.replace``) locks the providers
  it allocates from, in id order, and refuses any overcommit;
* the server group: its row is locked (its generation moved on) and its members read
  under that lock; the group's rule is checked again with this claim's instances added
  (``berth.model.server_group.violation``). Claims on one group queue on that row, each
  sees every member committed before it, so affinity, anti-affinity and
  ``max_server_per_host`` hold however many schedulers race; only a real conflict (the
  same host taken for an anti-affinity group) makes the decision be made again, not
  every concurrent change of the membership;
* NUMA/PCI: each host's recorded assignments are read again after its root provider is
  locked, and the new assignment must not take a pinned CPU, a device, pages or memory
  someone else now holds.

A lost race raises ``LostRace``; the caller re-decides (bounded attempts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from berth.db import allocations, consumers, inventories, server_groups, topology
from berth.db.engine import Store
from berth.db.snapshot import ReadTx as Connection
from berth.model.allocation import ConsumerAllocations
from berth.model.errors import ConflictError, DomainError
from berth.model.guest import Assignment, GuestTopology, NoFit, PciRequest
from berth.model.schedule import ScheduleRequest
from berth.model.server_group import violation
from berth.model.topology import SMALL_PAGE_KB, HostTopology, HostUsage
from berth.scheduler.filters.pci_passthrough import choose_devices
from berth.scheduler.numa import consume, fit
from berth.scheduler.numa_cell import small_page_mb
from berth.scheduler.pipeline import Decision, Placement

CONSUMER_TYPE = "INSTANCE"


class LostRace(ConflictError):
    """The state the decision was made on moved before the claim committed."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One decided request to claim: its decision and what its guests need."""

    request: ScheduleRequest
    decision: Decision
    guest: GuestTopology | None = None
    pci: tuple[PciRequest, ...] = ()


def commit(
    store: Store,
    request: ScheduleRequest,
    guest: GuestTopology | None,
    decision: Decision,
    pci: tuple[PciRequest, ...] = (),
) -> None:
    """Claim every placement of ``decision`` atomically (see the module docstring).

    A NUMA/PCI assignment that collides with one committed meanwhile is fitted again on
    the same (now locked) host; ``decision.placements`` then carry the new assignment."""
    with store.write() as conn:
        _write(conn, [Claim(request, decision, guest, pci)])


def commit_many(store: Store, claims: Sequence[Claim]) -> list[DomainError | None]:
    """Claim a batch of decisions: per claim, None when it is committed, else the error
    (``LostRace``/``RetryableConflict``: decide again; anything else: the answer).

    The batch is written in one transaction (one round of locks, one commit). If any
    claim of it fails, that transaction is rolled back and every claim is committed in a
    transaction of its own, so that one lost race costs the others nothing (so does a
    batch naming one instance twice: the second claim of it must fail on its own)."""
    uuids = [p.instance_uuid for c in claims for p in c.decision.placements]
    if len(claims) > 1 and len(set(uuids)) == len(uuids):
        try:
            with store.write() as conn:
                _write(conn, claims)
            return [None] * len(claims)
        except DomainError:
            pass
    out: list[DomainError | None] = []
    for c in claims:
        try:
            with store.write() as conn:
                _write(conn, [c])
            out.append(None)
        except DomainError as exc:
            out.append(exc)
    return out


def _write(conn: Connection, claims: Sequence[Claim]) -> None:
    """Everything ``claims`` hold, in ``conn``'s transaction; LostRace when the state the
    decisions assumed moved on (see the module docstring)."""
    batch = [
        ConsumerAllocations(
            consumer_uuid=p.instance_uuid,
            resources=p.allocations,
            project_id=c.request.project_id,
            user_id=c.request.user_id,
            generation=None,
            check_generation=True,
            consumer_type=CONSUMER_TYPE,
        )
        for c in claims
        for p in c.decision.placements
    ]
    try:
        allocations.replace(conn, batch)
    except ConflictError as exc:
        raise LostRace(f"capacity moved on: {exc.message}") from exc
    by_group: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for c in claims:
        if c.decision.group_uuid is not None:
            by_group[c.decision.group_uuid] += [
                (p.instance_uuid, p.root_id) for p in c.decision.placements
            ]
    locked = server_groups.lock_many(conn, by_group)  # in one lock order for every writer
    for group_uuid in sorted(by_group):
        group, members = locked[group_uuid]
        broken = violation(group, members, by_group[group_uuid])
        if broken is not None:
            raise LostRace(f"server group {group.uuid} changed: {broken}")
    server_groups.record_members_many(
        conn, [(locked[g][0], placing) for g, placing in sorted(by_group.items())]
    )
    assigned = [(c, p) for c in claims for p in c.decision.placements if p.assignment is not None]
    if not assigned:
        return
    roots = sorted({p.root_id for _, p in assigned})
    topologies = topology.topologies(conn, roots)
    usage = topology.usage(conn, roots)
    ids = consumers.get_many(conn, [p.instance_uuid for _, p in assigned])
    by_host: dict[int, list[tuple[Claim, Placement]]] = defaultdict(list)
    for c, p in assigned:
        by_host[p.root_id].append((c, p))
    refitted: dict[str, Placement] = {}
    for root, placed in by_host.items():
        host = topologies.get(root)
        invs = inventories.get_all(conn, root)
        ram_ratio = invs["MEMORY_MB"].allocation_ratio if "MEMORY_MB" in invs else 1.0
        cpu_ratio = invs["VCPU"].allocation_ratio if "VCPU" in invs else 1.0
        # usage() counts assignments whose consumer holds allocations in the tree:
        # ours were just written above, but their assignments are not yet recorded.
        now = usage.get(root, HostUsage())
        for c, p in placed:
            assert p.assignment is not None
            try:
                now = _take(host, now, c.guest, p.assignment, p.host_name, ram_ratio)
            except LostRace:
                # What the decision picked on this host was taken meanwhile (racing
                # schedulers rank hosts alike); the host is locked now, so fit again
                # against what is held and keep the claim if the guest still fits.
                again = _refit(host, now, c.guest, c.pci, cpu_ratio, ram_ratio)
                if again is None:
                    raise
                p = refitted[p.instance_uuid] = replace(p, assignment=again)
                assert p.assignment is not None
                now = _take(host, now, c.guest, p.assignment, p.host_name, ram_ratio)
            assert p.assignment is not None
            topology.record_assignment(conn, ids[p.instance_uuid].id, root, p.assignment)
    if refitted:
        # Only now, when nothing can fail any more: a rolled-back batch keeps the
        # assignments its decisions were made with.
        for c in claims:
            c.decision.placements = tuple(
                refitted.get(p.instance_uuid, p) for p in c.decision.placements
            )


def _refit(
    host: HostTopology | None,
    usage: HostUsage,
    guest: GuestTopology | None,
    pci: tuple[PciRequest, ...],
    cpu_ratio: float,
    ram_ratio: float,
) -> Assignment | None:
    """A fresh assignment on ``host`` given what is held now, or None when none fits."""
    if host is None:
        return None
    if guest is not None:
        got = fit(
            host, usage, guest, cpu_allocation_ratio=cpu_ratio, ram_allocation_ratio=ram_ratio
        )
        return None if isinstance(got, NoFit) else got
    devices = choose_devices(host, usage, pci)
    return None if isinstance(devices, str) else Assignment(cells=(), devices=devices)


def _take(
    host: HostTopology | None,
    usage: HostUsage,
    guest: GuestTopology | None,
    assignment: Assignment,
    name: str,
    ram_ratio: float,
) -> HostUsage:
    """``usage`` plus ``assignment``, or LostRace when it collides with what is held."""
    if host is None:
        raise LostRace(f"host {name} no longer reports a topology")
    taken = frozenset(d for _, d in assignment.devices)
    if taken & usage.claimed_devices:
        raise LostRace(f"a device on {name} was claimed meanwhile")
    for cell in assignment.cells:
        held = usage.of(cell.host_cell).pinned_cpus
        if held & (frozenset(h for _, h in cell.pinning) | cell.reserved_cpus):
            raise LostRace(f"a pinned CPU on {name} was claimed meanwhile")
    if guest is None:
        return HostUsage(usage.cells, usage.claimed_devices | taken)
    after = consume(usage, guest, assignment)
    for cell in assignment.cells:
        host_cell = host.cell(cell.host_cell)
        cell_usage = after.of(cell.host_cell)
        if cell.page_size_kb == SMALL_PAGE_KB:
            if cell_usage.memory_mb > small_page_mb(host_cell) * ram_ratio:
                raise LostRace(f"memory of NUMA cell {cell.host_cell} on {name} ran out")
        else:
            pool = host_cell.pool(cell.page_size_kb)
            if pool is None or cell_usage.pages(cell.page_size_kb) > pool.usable:
                raise LostRace(f"huge pages of NUMA cell {cell.host_cell} on {name} ran out")
    return after
