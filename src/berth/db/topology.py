"""Host topologies and guest assignments: stored documents plus their Placement mirror.

A host's topology is one versioned JSON document per root provider
(``berth_host_topologies``). Writing it also reconciles what Placement clients see
(``berth.model.topology_placement`` says what that is), in the same transaction, through
the provider, inventory and trait modules every Placement write uses: generations move
by compare-and-swap and the change log is touched, so every worker's resident index sees
the new inventory on its next request. A re-PUT changes only what differs, and refuses
(409 ``placement.inventory.inuse``) to take away anything allocations still use; the
transaction then rolls back whole.

The document has its own ``generation`` (0 = none stored yet) for clients that want
compare-and-swap on the topology itself; provider generations are the server's business
here (clients do not send them), so losing one of those swaps is a ``RetryableConflict``
and ``save`` simply runs the transaction again.

Guest assignments (``berth_guest_assignments``) record what a claim pinned and took on a
host; ``usage`` adds them up per cell. Their consumer foreign key cascades, so releasing a
consumer's last allocation (which deletes the consumer row) drops its assignment too.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import changes, generations, inventories, providers, resource_classes, tables, traits
from berth.db.engine import Store
from berth.model.errors import (
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
    RetryableConflict,
)
from berth.model.guest import Assignment
from berth.model.inventory import Inventory
from berth.model.provider import Provider
from berth.model.topology import SMALL_PAGE_KB, CellUsage, HostTopology, HostUsage
from berth.model.topology_codec import (
    assignment_from_json,
    assignment_to_json,
    topology_from_json,
    topology_to_json,
)
from berth.model.topology_placement import (
    MEMORY_MB,
    VCPU,
    HostPlan,
    InventorySettings,
    ProviderPlan,
    plan,
)

_T = TypeVar("_T")
HT = tables.host_topologies
GA = tables.guest_assignments
FORMAT = 1
_IN_LIST_MAX = 500
_CONFLICT = (
    "topology generation conflict: another request changed the host's topology. "
    "Please re-read it and retry"
)


@dataclass(frozen=True, slots=True)
class SettingsRequest:
    """Inventory settings as a client gives them; None keeps the value the host's
    inventory already has (as Nova's ``initial_*_allocation_ratio`` does), else the
    default."""

    cpu_allocation_ratio: float | None = None
    ram_allocation_ratio: float | None = None
    reserved_host_cpus: int | None = None
    reserved_host_memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class StoredTopology:
    """A host's stored topology with what it resolved to and the generations involved."""

    root_id: int
    root_uuid: str
    topology: HostTopology
    settings: InventorySettings
    generation: int
    provider_generation: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Row:
    topology: HostTopology
    settings: InventorySettings
    generation: int
    text: str
    updated_at: datetime | None


# --------------------------------------------------------------------------- documents


def _encode(topology: HostTopology, settings: InventorySettings) -> str:
    doc = {
        "format": FORMAT,
        "topology": topology_to_json(topology),
        "settings": {
            "cpu_allocation_ratio": settings.cpu_allocation_ratio,
            "ram_allocation_ratio": settings.ram_allocation_ratio,
            "reserved_host_cpus": settings.reserved_host_cpus,
            "reserved_host_memory_mb": settings.reserved_host_memory_mb,
        },
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _decode(text: str) -> tuple[HostTopology, InventorySettings]:
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown topology document format {doc.get('format')!r}")
    s = doc["settings"]
    settings = InventorySettings(
        cpu_allocation_ratio=float(s["cpu_allocation_ratio"]),
        ram_allocation_ratio=float(s["ram_allocation_ratio"]),
        reserved_host_cpus=int(s["reserved_host_cpus"]),
        reserved_host_memory_mb=int(s["reserved_host_memory_mb"]),
    )
    return topology_from_json(doc["topology"]), settings


def _row(conn: Connection, root_id: int, *, lock: bool = False) -> _Row | None:
    query = select(HT.c.document, HT.c.generation, HT.c.updated_at).where(
        HT.c.root_provider_id == root_id
    )
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        return None
    topology, settings = _decode(found.document)
    return _Row(topology, settings, int(found.generation), found.document, found.updated_at)


def _root(conn: Connection, root_uuid: str) -> Provider:
    """The host's provider: 404 when unknown, 400 when it is not the root of its tree."""
    root = providers.get(conn, root_uuid)
    if root.parent_uuid is not None:
        raise InvalidError(
            f"Resource provider {root_uuid} is not a root provider: a topology describes a "
            f"compute host, whose provider is the root of its tree ({root.root_uuid})"
        )
    return root


def read(conn: Connection, root_uuid: str) -> StoredTopology | None:
    """The stored topology of host ``root_uuid`` (404 when the provider is unknown)."""
    root = _root(conn, root_uuid)
    row = _row(conn, root.id)
    if row is None:
        return None
    return StoredTopology(
        root_id=root.id,
        root_uuid=root.uuid,
        topology=row.topology,
        settings=row.settings,
        generation=row.generation,
        provider_generation=root.generation,
        updated_at=row.updated_at,
    )


def get(conn: Connection, root_uuid: str) -> tuple[HostTopology, int] | None:
    """The topology of host ``root_uuid`` and its generation, or None."""
    stored = read(conn, root_uuid)
    return None if stored is None else (stored.topology, stored.generation)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _IN_LIST_MAX):
        yield wanted[start : start + _IN_LIST_MAX]


def topologies(conn: Connection, root_ids: Iterable[int]) -> dict[int, HostTopology]:
    """The stored topologies of many hosts by root provider id (hosts without one absent)."""
    out: dict[int, HostTopology] = {}
    for chunk in _chunks(root_ids):
        rows = conn.execute(
            select(HT.c.root_provider_id, HT.c.document).where(HT.c.root_provider_id.in_(chunk))
        )
        for root_id, text in rows:
            out[int(root_id)] = _decode(text)[0]
    return out


def topology_generations(conn: Connection) -> dict[int, int]:
    """Root provider id -> topology generation, for every host that registered one: what
    a cache of decoded topologies checks itself against (two integers per host, where the
    documents are kilobytes of JSON to decode)."""
    rows = conn.execute(select(HT.c.root_provider_id, HT.c.generation))
    return {int(root): int(gen) for root, gen in rows}


def topologies_at(conn: Connection, root_ids: Iterable[int]) -> dict[int, tuple[int, HostTopology]]:
    """Like ``topologies``, with each topology's generation."""
    out: dict[int, tuple[int, HostTopology]] = {}
    for chunk in _chunks(root_ids):
        rows = conn.execute(
            select(HT.c.root_provider_id, HT.c.generation, HT.c.document).where(
                HT.c.root_provider_id.in_(chunk)
            )
        )
        for root_id, gen, text in rows:
            out[int(root_id)] = (int(gen), _decode(text)[0])
    return out


# --------------------------------------------------------------------------- writes


def _resolve(
    request: SettingsRequest, current: Mapping[str, Inventory], stored: InventorySettings | None
) -> InventorySettings:
    """Fill what the client left out: from the host's current inventory (an operator may
    have tuned it through the Placement API), else the last stored document, else the
    defaults."""
    base = stored or InventorySettings()
    vcpu, mem = current.get(VCPU), current.get(MEMORY_MB)
    cpu_ratio = vcpu.allocation_ratio if vcpu else base.cpu_allocation_ratio
    ram_ratio = mem.allocation_ratio if mem else base.ram_allocation_ratio
    cpus = vcpu.reserved if vcpu else base.reserved_host_cpus
    memory = mem.reserved if mem else base.reserved_host_memory_mb
    return InventorySettings(
        cpu_allocation_ratio=_given(request.cpu_allocation_ratio, cpu_ratio),
        ram_allocation_ratio=_given(request.ram_allocation_ratio, ram_ratio),
        reserved_host_cpus=_given(request.reserved_host_cpus, cpus),
        reserved_host_memory_mb=_given(request.reserved_host_memory_mb, memory),
    )


def _given(value: _T | None, fallback: _T) -> _T:
    return fallback if value is None else value


def _check_expected(expected: int | None, row: _Row | None) -> None:
    have = 0 if row is None else row.generation
    if expected is not None and expected != have:
        raise ConcurrentUpdate(
            f"topology generation conflict - expected {expected} but the host's topology is "
            f"at generation {have}. Please re-read it and retry"
        )


def put(
    conn: Connection,
    root_uuid: str,
    topology: HostTopology,
    *,
    expected_generation: int | None = None,
    settings: SettingsRequest | None = None,
) -> int:
    """Store host ``root_uuid``'s topology and reconcile its providers; the new generation.

    ``expected_generation`` (None: no check; 0: there must be no topology yet) guards the
    document. The document row is locked first, so concurrent writers of one host queue.
    An unchanged document keeps its generation (a periodic re-report changes nothing).
    """
    root = _root(conn, root_uuid)
    row = _row(conn, root.id, lock=True)
    if row is not None:  # the lock may have waited for another writer: see what it did
        root = _root(conn, root_uuid)
    _check_expected(expected_generation, row)
    resolved = _resolve(
        settings or SettingsRequest(),
        inventories.get_all(conn, root.id),
        None if row is None else row.settings,
    )
    new_plan = plan(root.uuid, root.name, topology, resolved)
    old_plan = None if row is None else _previous(root, row)
    text = _encode(topology, resolved)
    stamp = tables.now()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(HT).values(
                        root_provider_id=root.id,
                        document=text,
                        generation=1,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
        except IntegrityError as exc:  # a concurrent first PUT for this host won
            if expected_generation is not None:
                raise ConcurrentUpdate(_CONFLICT) from exc
            raise RetryableConflict(_CONFLICT) from exc
        generation = 1
    elif row.text != text:
        generation = row.generation + 1
        conn.execute(
            update(HT)
            .where(HT.c.root_provider_id == root.id)
            .values(document=text, generation=generation, updated_at=stamp)
        )
    else:
        generation = row.generation
    if generation != (0 if row is None else row.generation):
        changes.touch(conn, (root.id,))
    _reconcile(conn, root, old_plan, new_plan)
    return generation


def save(
    store: Store,
    root_uuid: str,
    topology: HostTopology,
    *,
    expected_generation: int | None = None,
    settings: SettingsRequest | None = None,
    attempts: int = 6,
) -> StoredTopology:
    """``put`` in a transaction of its own, run again after races the client did not see
    (a provider generation moved under it); answers what was stored."""
    for attempt in range(attempts):
        try:
            with store.write() as conn:
                put(
                    conn,
                    root_uuid,
                    topology,
                    expected_generation=expected_generation,
                    settings=settings,
                )
                stored = read(conn, root_uuid)
            assert stored is not None
            return stored
        except RetryableConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.002 * (2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def delete_topology(conn: Connection, root_uuid: str) -> None:
    """Forget host ``root_uuid``'s topology and remove the device providers it made.

    404 when there is none; 409 (nothing changed) while a device provider has
    allocations. The root keeps its inventories and traits: they describe a host that
    may well still run guests, and are plain Placement data from now on.
    """
    root = _root(conn, root_uuid)
    row = _row(conn, root.id, lock=True)
    if row is None:
        raise NotFoundError(f"No topology for resource provider {root_uuid}")
    old = _previous(root, row)
    for child in old.children:
        _retire(conn, root, child.uuid)
    conn.execute(delete(HT).where(HT.c.root_provider_id == root.id))
    changes.touch(conn, (root.id,))


def _previous(root: Provider, row: _Row) -> HostPlan:
    """What the stored document made. Only its uuids and owned classes and traits are
    used, never its names: a renamed root must not make an old child name invalid."""
    return plan(root.uuid, "", row.topology, row.settings)


def _reconcile(conn: Connection, root: Provider, old: HostPlan | None, new: HostPlan) -> None:
    """Make the host's tree match ``new``; ``old`` (what the previous document made)
    says which children and which of their classes and traits the topology owns."""
    for name in sorted(new.custom_classes):
        resource_classes.ensure(conn, name)
    for name in sorted(new.custom_traits):
        traits.ensure(conn, name)
    _apply(conn, root.id, root.generation, None if old is None else old.root, new.root)
    before = {} if old is None else {c.uuid: c for c in old.children}
    wanted = {c.uuid for c in new.children}
    for gone in sorted(set(before) - wanted):
        _retire(conn, root, gone)
    for child in new.children:
        current = providers.find(conn, child.uuid)
        if current is None:
            current = providers.create(
                conn, uuid=child.uuid, name=child.name, parent_uuid=root.uuid
            )
        elif current.root_uuid != root.uuid:
            raise ConflictError(
                f"Resource provider {child.uuid} ({current.name}) is in another tree; it "
                f"cannot become {child.name} of host {root.uuid}"
            )
        elif current.name != child.name:
            current = providers.update_provider(conn, child.uuid, name=child.name)
        _apply(conn, current.id, current.generation, before.get(child.uuid), child)


def _apply(
    conn: Connection, provider_id: int, seen: int, old: ProviderPlan | None, new: ProviderPlan
) -> None:
    """Set the classes and traits the topology owns on one provider; keep the rest."""
    owned_classes = new.managed_classes | (old.managed_classes if old else frozenset())
    owned_traits = new.managed_traits | (old.managed_traits if old else frozenset())
    have = inventories.get_all(conn, provider_id)
    want = {rc: inv for rc, inv in have.items() if rc not in owned_classes} | new.inventory
    have_traits = {t.name for t in traits.provider_traits(conn, provider_id)}
    want_traits = (have_traits - owned_traits) | new.traits
    if want == have and want_traits == have_traits:
        return
    try:
        generations.bump_provider(conn, provider_id, seen)
    except ConcurrentUpdate as exc:  # someone else wrote the provider since we read it
        raise RetryableConflict(exc.message) from exc
    if want != have:
        inventories.replace(conn, provider_id, want)
    if want_traits != have_traits:
        traits.set_provider_traits(conn, provider_id, want_traits)


def _retire(conn: Connection, root: Provider, child_uuid: str) -> None:
    """Remove a device provider the topology no longer has (409 while it is allocated)."""
    current = providers.find(conn, child_uuid)
    if current is None or current.root_uuid != root.uuid:
        return  # already gone (deleted through the Placement API), or not ours any more
    inventories.replace(conn, current.id, {})  # 409 placement.inventory.inuse when used
    providers.delete_provider(conn, child_uuid)


# --------------------------------------------------------------------------- assignments


def record_assignment(
    conn: Connection, consumer_id: int, root_id: int, assignment: Assignment
) -> None:
    """Record (or replace) what consumer ``consumer_id`` holds on host ``root_id``.

    Called by the claim path in the transaction that writes the consumer's allocations.
    """
    document = json.dumps(
        {"format": FORMAT, "assignment": assignment_to_json(assignment)},
        separators=(",", ":"),
        sort_keys=True,
    )
    conn.execute(delete(GA).where(GA.c.consumer_id == consumer_id))
    conn.execute(
        insert(GA).values(
            consumer_id=consumer_id,
            root_provider_id=root_id,
            document=document,
            created_at=tables.now(),
        )
    )
    changes.touch(conn, (root_id,))


def delete_assignment(conn: Connection, consumer_id: int) -> bool:
    """Forget consumer ``consumer_id``'s assignment; whether there was one."""
    query = select(GA.c.root_provider_id).where(GA.c.consumer_id == consumer_id)
    changes.touch(conn, conn.execute(query).scalars())
    return conn.execute(delete(GA).where(GA.c.consumer_id == consumer_id)).rowcount > 0


def _decode_assignment(text: str) -> Assignment:
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown assignment document format {doc.get('format')!r}")
    return assignment_from_json(doc["assignment"])


def assignment(conn: Connection, consumer_id: int) -> tuple[int, Assignment] | None:
    """The host (root provider id) and assignment recorded for a consumer, or None."""
    found = conn.execute(
        select(GA.c.root_provider_id, GA.c.document).where(GA.c.consumer_id == consumer_id)
    ).first()
    return None if found is None else (int(found[0]), _decode_assignment(found[1]))


def _live_assignments(conn: Connection, chunk: list[int]) -> Iterator[tuple[int, Assignment]]:
    """Assignments on these hosts whose consumer still holds allocations in that tree.

    An assignment left behind when a consumer's allocations moved elsewhere (a Placement
    client re-wrote them without berth's claim path) no longer holds anything.
    """
    alloc, rp, consumer = tables.allocations, tables.resource_providers, tables.consumers
    holds = (
        exists()
        .where(alloc.c.consumer_id == consumer.c.uuid)
        .where(rp.c.id == alloc.c.resource_provider_id)
        .where(rp.c.root_provider_id == GA.c.root_provider_id)
    )
    rows = conn.execute(
        select(GA.c.root_provider_id, GA.c.document)
        .join(consumer, consumer.c.id == GA.c.consumer_id)
        .where(GA.c.root_provider_id.in_(chunk), holds)
        .order_by(GA.c.consumer_id)
    )
    for root_id, text in rows:
        yield int(root_id), _decode_assignment(text)


@dataclass
class _CellTotals:
    """Running sums for one host cell while assignments are added up."""

    pinned: set[int] = field(default_factory=set)
    shared_vcpus: int = 0
    memory_mb: int = 0
    pages: dict[int, int] = field(default_factory=dict)


def usage(conn: Connection, root_ids: Iterable[int]) -> dict[int, HostUsage]:
    """What recorded assignments hold on each host, per cell (hosts with none absent).

    Per cell: pinned host CPUs (guest pinning, the CPUs an assignment reserves (idle
    isolate siblings, the emulator CPU) and isolated emulator CPUs, placed in the cell
    whose CPUs contain them), floating guest CPUs (``shared_vcpus``), small-page memory in
    MiB (``memory_mb``) and huge pages taken per page size (``pages_used``); per host: the
    claimed device addresses.
    """
    cells: dict[int, dict[int, _CellTotals]] = defaultdict(dict)
    devices: dict[int, set[str]] = defaultdict(set)
    emulators: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(root_ids):
        for root_id, got in _live_assignments(conn, chunk):
            host = cells[root_id]
            for ca in got.cells:
                totals = host.setdefault(ca.host_cell, _CellTotals())
                totals.pinned.update(h for _, h in ca.pinning)
                totals.pinned.update(ca.reserved_cpus)
                totals.shared_vcpus += ca.shared_vcpus
                if ca.page_size_kb == SMALL_PAGE_KB:
                    totals.memory_mb += ca.memory_mb
                else:
                    totals.pages[ca.page_size_kb] = totals.pages.get(ca.page_size_kb, 0) + ca.pages
            devices[root_id].update(address for _, address in got.devices)
            emulators[root_id].update(got.emulator_cpus)
    if any(emulators.values()):
        _place_emulator_cpus(conn, cells, emulators)
    return {
        root_id: HostUsage(
            cells={
                cell_id: CellUsage(
                    pinned_cpus=frozenset(t.pinned),
                    shared_vcpus=t.shared_vcpus,
                    memory_mb=t.memory_mb,
                    pages_used=tuple(sorted(t.pages.items())),
                )
                for cell_id, t in sorted(host.items())
            },
            claimed_devices=frozenset(devices[root_id]),
        )
        for root_id, host in cells.items()
    }


def _place_emulator_cpus(
    conn: Connection,
    cells: dict[int, dict[int, _CellTotals]],
    emulators: dict[int, set[int]],
) -> None:
    """Count isolated emulator-thread CPUs as pinned in the cell that has them."""
    known = topologies(conn, [r for r, cpus in emulators.items() if cpus])
    for root_id, cpus in emulators.items():
        topo = known.get(root_id)
        cell_of = {cpu: c.id for c in topo.cells for cpu in c.cpus} if topo else {}
        for cpu in cpus:
            # A CPU the host no longer reports stays held, in the host's first used cell.
            cell_id = cell_of.get(cpu, min(cells[root_id]))
            cells[root_id].setdefault(cell_id, _CellTotals()).pinned.add(cpu)
