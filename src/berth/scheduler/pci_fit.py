"""Which free PCI devices a guest can be handed, given the host cells it will use.

``berth.scheduler.numa`` chooses host cells for the guest's cells; PCI NUMA affinity makes
that choice and the device choice depend on each other. This module keeps the device side
pure and phrased in terms of *groups*: a set of host cells at least one of which the guest
must use for a device to be acceptable for a request:

* ``required``: the device's cell ``{c}``; devices reporting no cell are never acceptable.
* ``legacy``: ``{c}`` too, but a device reporting no cell is acceptable anywhere.
* ``preferred``: anywhere; the NUMA fit first tries it as ``required`` (``strict``) and
  relaxes only when that cannot fit, so affinity is honoured whenever it is possible.
* ``socket``: every cell on the device cell's socket (``{c}`` when the socket is unknown).

Groups are single cells or whole sockets: two groups are disjoint or one holds the other.
Hitting a group (some guest cell on one of its host cells) is what the NUMA side checks,
one bipartite matching of groups against guest cells; ``search`` looks for a set of groups
whose usable devices meet every request and which the guest's cells can hit.

Devices: a device is free when neither it, its parent (a VF's PF) nor any of its children
is claimed; one guest never gets both a PF and one of its VFs. Choosing ``count`` devices
per request is a bipartite matching of request slots against devices. A PF that competes
with its own VFs makes that a branch (take the PF, or leave it for its VFs): those PFs are
enumerated, ``2**k`` for ``k`` such PFs, capped at ``MAX_FAMILY_BRANCHES`` (beyond it the
remaining PFs are left to their VFs; no real request asks for a PF and its VFs at once).

Choosing host cells so that every request has NUMA-local devices is a hitting-set problem
(NP-hard in general), so ``search`` is a bounded branch and bound: at most
``min(slots, guest cells)`` groups deep, branching only on groups that supply a request
still short of devices, interchangeable groups counted rather than enumerated, and at most
``MAX_SEARCH_NODES`` sets visited. Real requests (a few ports or aliases, devices on one or
two cells per socket) visit a handful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from berth.model.guest import NoFit, PciNumaPolicy, PciRequest
from berth.model.topology import HostTopology, HostUsage, PciDevice
from berth.scheduler import bipartite

Group = frozenset[int]
T = TypeVar("T")
MAX_FAMILY_BRANCHES = 6
MAX_SEARCH_NODES = 4096


@dataclass(frozen=True, slots=True)
class Candidate:
    """A free device that matches a request, and the group it needs (None: anywhere)."""

    device: PciDevice
    group: Group | None


def free_devices(host: HostTopology, usage: HostUsage) -> list[PciDevice]:
    """Devices nobody holds: not claimed, parent not claimed, no child claimed."""
    claimed = usage.claimed_devices
    busy_parents = {d.parent_address for d in host.devices if d.address in claimed}
    return sorted(
        (
            d
            for d in host.devices
            if d.address not in claimed
            and d.parent_address not in claimed
            and d.address not in busy_parents
        ),
        key=lambda d: d.address,
    )


def matches(device: PciDevice, request: PciRequest) -> bool:
    return (
        (request.vendor_id is None or request.vendor_id.lower() == device.vendor_id.lower())
        and (request.product_id is None or request.product_id.lower() == device.product_id.lower())
        and (request.device_type is None or request.device_type == device.device_type.value)
        and (request.physnet is None or request.physnet == device.physnet)
    )


def describe(request: PciRequest) -> str:
    """The request as an operator wrote it: alias or port, and what it matches."""
    parts = [
        f"vendor {request.vendor_id}" if request.vendor_id else "",
        f"product {request.product_id}" if request.product_id else "",
        request.device_type or "",
        f"on physnet {request.physnet!r}" if request.physnet else "",
    ]
    what = " ".join(p for p in parts if p) or "any device"
    return f"{request.source} ({request.count} x {what})"


class PciPlan:
    """The guest's PCI requests against one host's free devices."""

    def __init__(
        self, host: HostTopology, usage: HostUsage, requests: Iterable[PciRequest], *, strict: bool
    ) -> None:
        self.host = host
        self.requests = tuple(r for r in requests if r.count > 0)
        self.strict = strict
        cells = frozenset(c.id for c in host.cells)
        free = free_devices(host, usage)
        self.matching = [[d for d in free if matches(d, r)] for r in self.requests]
        self.total = [sum(matches(d, r) for d in host.devices) for r in self.requests]
        self.candidates: list[list[Candidate]] = []
        for request, devices in zip(self.requests, self.matching, strict=True):
            cands = []
            for dev in devices:
                group = self._group(request.numa_policy, dev, cells)
                if group != frozenset():
                    cands.append(Candidate(dev, group))
            self.candidates.append(cands)
        self.universe = sorted(
            {c.group for cands in self.candidates for c in cands if c.group is not None},
            key=lambda g: (len(g), sorted(g)),
        )
        self.content = {group: self._content(group) for group in self.universe}
        self.helps = {  # the requests a group can make a candidate usable for
            group: frozenset(
                i for i, cands in enumerate(self.candidates)
                if any(c.group is not None and group <= c.group for c in cands)
            )
            for group in self.universe
        }
        self.symmetric = self._symmetric()
        self._shortfall: dict[object, tuple[frozenset[int], bool]] = {}

    def _group(self, policy: PciNumaPolicy, dev: PciDevice, cells: frozenset[int]) -> Group | None:
        """None: acceptable anywhere; the empty group: never acceptable."""
        if policy is PciNumaPolicy.PREFERRED and not self.strict:
            return None
        if dev.numa_cell is None:
            return None if policy is PciNumaPolicy.LEGACY else frozenset()
        if dev.numa_cell not in cells:
            return frozenset()
        if policy is PciNumaPolicy.SOCKET:
            socket = self.host.cell(dev.numa_cell).socket
            if socket is not None:
                return frozenset(c.id for c in self.host.cells if c.socket == socket)
        return frozenset({dev.numa_cell})

    def _content(self, group: Group) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """The group's devices up to identity: for which requests each needs this group, and
        for which it needs none."""
        devices: dict[str, tuple[list[int], list[int]]] = {}
        for i, cands in enumerate(self.candidates):
            for c in cands:
                if c.group == group or c.group is None:
                    devices.setdefault(c.device.address, ([], []))[c.group is None].append(i)
        return tuple(sorted((tuple(a), tuple(b)) for a, b in devices.values() if a))

    def _symmetric(self) -> bool:
        """Whether groups with equal content are interchangeable: no group inside another
        (socket and cell policies mixed) and no PF competing with its own VFs."""
        if any(a < b for a in self.universe for b in self.universe):
            return False
        addresses = {c.device.address for cands in self.candidates for c in cands}
        return not any(
            c.device.parent_address in addresses for cands in self.candidates for c in cands
        )

    @property
    def slots(self) -> int:
        return sum(r.count for r in self.requests)

    def shortage(self) -> NoFit | None:
        """Why the requests cannot be met even ignoring NUMA affinity, or None."""
        for request, devices, total in zip(self.requests, self.matching, self.total, strict=True):
            if len(devices) < request.count:
                return NoFit(
                    "pci.none_matching",
                    f"PCI request {describe(request)}: host has {len(devices)} free matching "
                    f"device(s) of {total}",
                )
        if self._assign([[Candidate(d, None) for d in m] for m in self.matching])[0] is None:
            return NoFit(
                "pci.none_matching",
                f"PCI requests {', '.join(describe(r) for r in self.requests)} need "
                f"{self.slots} distinct free devices together; the host cannot provide them",
            )
        return None

    def search(
        self,
        max_groups: int,
        column: Callable[[Group], frozenset[int]],
        hit: Callable[[list[Group]], T | None],
    ) -> T | None:
        """The first witness ``hit`` gives for a set of groups that satisfies every request.

        ``column(group)`` is the set of guest cells that could use the group under the
        caller's current restrictions; ``hit(groups)`` answers a placement whose host cells
        hit all of ``groups``, or None (then no superset can be hit either).

        Depth-first from the empty set. While the usable devices fall short, the slot
        matching's Hall violator names the requests short of devices: any sufficient
        superset must add a group making one of their candidates usable, so only such
        groups are branched on; when a request is short on its own it must get one of its
        own helpers, so only the request with the fewest is branched on (hitting-set
        branching). Groups with equal columns and content are interchangeable, so a branch
        takes the next group of a class, never a particular one. At most ``max_groups``
        groups (distinct guest cells hit them) and ``MAX_SEARCH_NODES`` sets are visited;
        past that the search gives up (None).
        """
        classes: dict[tuple[object, ...], list[Group]] = {}
        for group in self.universe:
            key = (column(group), self.content[group] if self.symmetric else group)
            classes.setdefault(key, []).append(group)
        members = sorted(classes.values(), key=lambda m: sorted(m[0]))
        limit = min(max_groups, self.slots)
        visited: set[tuple[int, ...]] = set()

        def visit(counts: tuple[int, ...]) -> T | None:
            if counts in visited or len(visited) >= MAX_SEARCH_NODES:
                return None
            visited.add(counts)
            chosen = [g for m, k in zip(members, counts, strict=True) for g in m[:k]]
            witness = hit(chosen)
            if witness is None:
                return None
            lacking, alone = self._lacking(frozenset(chosen))
            if not lacking:
                return witness
            if sum(counts) >= limit:
                return None
            branches = {
                r: [i for i, (m, k) in enumerate(zip(members, counts, strict=True))
                    if k < len(m) and r in self.helps[m[k]]]
                for r in lacking
            }
            if alone:  # each of these requests needs a group of its own helpers: the fewest
                pick = min(branches.values(), key=len)
            else:
                pick = sorted({i for b in branches.values() for i in b})
            for i in pick:
                got = visit((*counts[:i], counts[i] + 1, *counts[i + 1:]))
                if got is not None:
                    return got
            return None

        return visit((0,) * len(members))

    def _lacking(self, chosen: frozenset[Group]) -> tuple[frozenset[int], bool]:
        """The requests (indices) short of devices once the guest hits ``chosen`` (empty
        when every request can be met) and whether each is short on its own (rather than
        only together, sharing devices). Remembered: by content when groups are
        interchangeable, else by identity."""
        key: object = (
            tuple(sorted(self.content[g] for g in chosen)) if self.symmetric else chosen
        )
        if key not in self._shortfall:
            usable = [
                [c for c in cands if c.group is None or any(g <= c.group for g in chosen)]
                for cands in self.candidates
            ]
            short = frozenset(
                i for i, (u, r) in enumerate(zip(usable, self.requests, strict=True))
                if len(u) < r.count
            )
            self._shortfall[key] = (short, True) if short else (self._assign(usable)[1], False)
        return self._shortfall[key]

    def assign(self, cells: frozenset[int]) -> tuple[tuple[str, str], ...] | None:
        """Devices for the guest on host cells ``cells``: NUMA-local ones first, then by address."""
        usable = [
            sorted(
                (c for c in cands if c.group is None or c.group & cells),
                key=lambda c: (c.device.numa_cell not in cells, c.device.address),
            )
            for cands in self.candidates
        ]
        return self._assign(usable)[0]

    def _assign(
        self, usable: list[list[Candidate]]
    ) -> tuple[tuple[tuple[str, str], ...] | None, frozenset[int]]:
        """Distinct devices for every slot, no PF together with its VF; or None and the
        requests of the Hall violators (every PF branch's) that blocked it."""
        addresses = {c.device.address for cands in usable for c in cands}
        parents = {
            c.device.parent_address
            for cands in usable
            for c in cands
            if c.device.parent_address in addresses
        }
        families = sorted(p for p in parents if p is not None)
        branched = families[:MAX_FAMILY_BRANCHES]
        blocked: set[int] = set()
        for mask in range(2 ** len(branched)):
            take_pf = {p for i, p in enumerate(branched) if mask >> i & 1}
            allowed = [
                [
                    c
                    for c in cands
                    if not (c.device.address in parents and c.device.address not in take_pf)
                    and c.device.parent_address not in take_pf
                ]
                for cands in usable
            ]
            result = self._match_slots(allowed)
            if not isinstance(result, frozenset):
                return result, frozenset()
            blocked |= result
        return None, frozenset(blocked)

    def _match_slots(
        self, usable: list[list[Candidate]]
    ) -> tuple[tuple[str, str], ...] | frozenset[int]:
        """Kuhn's augmenting paths, slots (request, n) against device addresses; on failure
        the requests of the slots the last search visited (a Hall violator)."""
        slots = [i for i, r in enumerate(self.requests) for _ in range(r.count)]
        adj = [[c.device.address for c in usable[request]] for request in slots]
        found = bipartite.match(adj)
        if isinstance(found, tuple):
            visited, _ = found
            return frozenset(slots[v] for v in visited)
        owner = found
        by_slot = sorted((slot, addr) for addr, slot in owner.items())
        return tuple((self.requests[slots[s]].source, addr) for s, addr in by_slot)
