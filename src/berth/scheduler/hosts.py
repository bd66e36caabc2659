"""The hosts a scheduling request is deciding among, as columns over the resident index.

A host is a provider tree (Nova's compute node is its root). At 10,000 hosts a filter
that asks each host a question in Python costs milliseconds per filter per request, and
the scheduler must place a thousand instances a second; so filters and weighers see the
hosts as columns (numpy arrays aligned with ``roots``) and answer with masks and score
vectors. Per-host Python work is kept for what only exists per host (NUMA fitting on NFV
hosts, explanations for hosts the operator named).

Tree totals per resource class are the sums over the tree's own providers (what Nova's
host state calls free RAM, free disk, free VCPUs); sharing providers outside the tree are
not counted, as Nova's weighers don't see them either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import numpy.typing as npt

from berth.query.capacity import IntArray, Mask
from berth.query.index import CloudIndex

FloatArray = npt.NDArray[np.float64]


class PerHost:
    """A sparse count per host (root id -> n, absent is 0) as sorted arrays, built once
    per decision so that every instance's weigher reads it as a column in a few array
    operations (recent claims cover most of a busy cloud: 10,000 entries)."""

    def __init__(self, counts: Mapping[int, int]) -> None:
        roots = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        order = np.argsort(roots)
        self.roots: IntArray = roots[order]
        self.values: FloatArray = values[order]

    def __len__(self) -> int:
        return int(self.roots.shape[0])

    def column(self, roots: IntArray) -> FloatArray:
        """The counts of ``roots`` (aligned with them)."""
        out = np.zeros(len(roots), dtype=np.float64)
        if not len(self) or not len(roots):
            return out
        pos = np.minimum(np.searchsorted(self.roots, roots), len(self) - 1)
        found = self.roots[pos] == roots
        out[found] = self.values[pos[found]]
        return out


class Hosts:
    """An ordered set of hosts (root provider ids, ascending) and lazily built columns."""

    def __init__(self, index: CloudIndex, roots: IntArray) -> None:
        self.index = index
        self.roots = roots
        self._totals: dict[str, tuple[IntArray, IntArray]] = {}
        # root -> class -> amount this request has planned there (not yet in the index)
        self._planned: dict[int, dict[str, int]] = {}
        # A subset computes its columns by slicing its parent's (cached there), so the
        # ``num_instances`` loop, which filters anew per instance, sums the cloud once.
        self._parent: tuple[Hosts, Mask] | None = None

    @classmethod
    def all_roots(cls, index: CloudIndex) -> Hosts:
        return cls(index, np.fromiter(sorted(index.trees), dtype=np.int64))

    def __len__(self) -> int:
        return int(self.roots.shape[0])

    def __iter__(self) -> Iterator[int]:
        return iter(self.roots.tolist())

    def position(self, root: int) -> int | None:
        pos = int(np.searchsorted(self.roots, root))
        if pos < len(self) and int(self.roots[pos]) == root:
            return pos
        return None

    def subset(self, keep: Mask) -> Hosts:
        """The hosts where ``keep`` is true; computed columns are carried over."""
        out = Hosts(self.index, self.roots[keep])
        out._totals = {rc: (cap[keep], used[keep]) for rc, (cap, used) in self._totals.items()}
        out._planned = self._planned
        out._parent = (self, keep)
        return out

    def consume(self, root: int, amounts: dict[str, int]) -> None:
        """Count ``amounts`` as used on host ``root`` (an instance this request planned
        there), in every column computed now or later."""
        planned = self._planned.setdefault(root, {})
        for rc, amount in amounts.items():
            planned[rc] = planned.get(rc, 0) + amount
        self._charge_cached(root, amounts)

    def _charge_cached(self, root: int, amounts: dict[str, int]) -> None:
        """Add ``amounts`` to the columns computed so far here and in every parent, so a
        column sliced from a parent later is as current as one computed now."""
        pos = self.position(root)
        if pos is not None:
            for rc, amount in amounts.items():
                cached = self._totals.get(rc)
                if cached is not None:
                    cached[1][pos] += amount
        if self._parent is not None:
            self._parent[0]._charge_cached(root, amounts)

    # -- per host -----------------------------------------------------------------

    def uuid(self, pos: int) -> str:
        return self.index.node(int(self.roots[pos])).uuid

    def name(self, pos: int) -> str:
        return self.index.node(int(self.roots[pos])).name

    def traits(self, pos: int) -> frozenset[str]:
        return self.index.traits(int(self.roots[pos]))

    def aggregates(self, pos: int) -> frozenset[str]:
        return self.index.aggregates(int(self.roots[pos]))

    # -- columns ------------------------------------------------------------------

    def totals(self, rc: str) -> tuple[IntArray, IntArray]:
        """Per host: capacity and usage of ``rc`` summed over the host's own tree."""
        cached = self._totals.get(rc)
        if cached is not None:
            return cached
        if self._parent is not None:
            parent, keep = self._parent
            cap, use = parent.totals(rc)
            self._totals[rc] = (cap[keep], use[keep])
            return self._totals[rc]
        capacity = np.zeros(len(self), dtype=np.int64)
        used = np.zeros(len(self), dtype=np.int64)
        table = self.index.classes.get(rc)
        if table is not None and len(self):
            pos = np.searchsorted(self.roots, table.roots)
            pos_clipped = np.minimum(pos, len(self) - 1)
            ours = self.roots[pos_clipped] == table.roots
            np.add.at(capacity, pos_clipped[ours], table.capacity[ours])
            np.add.at(used, pos_clipped[ours], table.used[ours])
        for root, amounts in self._planned.items():
            pos_root = self.position(root)
            if pos_root is not None:
                used[pos_root] += amounts.get(rc, 0)
        self._totals[rc] = (capacity, used)
        return capacity, used

    def free(self, rc: str) -> IntArray:
        capacity, used = self.totals(rc)
        free: IntArray = capacity - used
        return free

    def with_trait(self, trait: str) -> Mask:
        """Hosts whose root provider has ``trait``."""
        holders = self.index.trait_members.get(trait)
        if not holders:
            return np.zeros(len(self), dtype=bool)
        return np.isin(self.roots, np.fromiter(holders, dtype=np.int64))

    def in_aggregates(self, aggregates: frozenset[str]) -> Mask:
        """Hosts whose root provider is in at least one of ``aggregates``."""
        members: set[int] = set()
        for agg in aggregates:
            members |= self.index.agg_members.get(agg, set())
        if not members:
            return np.zeros(len(self), dtype=bool)
        return np.isin(self.roots, np.fromiter(members, dtype=np.int64))

    def named(self, names: frozenset[str]) -> Mask:
        """Hosts whose name (or uuid) is in ``names``."""
        return np.fromiter(
            (
                self.index.node(root).name in names or self.index.node(root).uuid in names
                for root in self.roots.tolist()
            ),
            dtype=bool,
            count=len(self),
        )
