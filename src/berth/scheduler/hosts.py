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
from typing import Protocol

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


class HostCounts(Protocol):
    """Anything that answers a count per host as a column (``PerHost``, recent claims)."""

    def column(self, roots: IntArray) -> FloatArray: ...


class PlusCounts:
    """``base`` plus counts kept beside it: the instances that requests decided earlier
    in the same batch put on each host, not yet in the database (``extra`` is read live,
    so it may grow while this is in use)."""

    def __init__(self, base: HostCounts, extra: Mapping[int, int]) -> None:
        self.base = base
        self.extra = extra

    def column(self, roots: IntArray) -> FloatArray:
        out = self.base.column(roots)
        if self.extra:
            out = out + PerHost(self.extra).column(roots)
        return out


class Hosts:
    """An ordered set of hosts (root provider ids, ascending) and lazily built columns."""

    def __init__(self, index: CloudIndex, roots: IntArray) -> None:
        self.index = index
        self.roots = roots
        self._totals: dict[str, tuple[IntArray, IntArray]] = {}
        # A subset computes its columns by slicing its parent's (cached there), so the
        # ``num_instances`` loop, which filters anew per instance, sums the cloud once.
        self._parent: tuple[Hosts, Mask | IntArray] | None = None

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

    def subset(self, keep: Mask | IntArray) -> Hosts:
        """The hosts where ``keep`` is true (or at ``keep``'s positions, ascending);
        computed columns are carried over."""
        out = Hosts(self.index, self.roots[keep])
        out._totals = {rc: (cap[keep], used[keep]) for rc, (cap, used) in self._totals.items()}
        out._parent = (self, keep)
        return out

    def positions_in(self, ancestor: Hosts) -> IntArray:
        """Where these hosts are in ``ancestor``, a ``Hosts`` they were subset from (by
        the subsets' own masks: no search over the roots)."""
        if self is ancestor:
            return np.arange(len(self), dtype=np.int64)
        if self._parent is None:
            return np.searchsorted(ancestor.roots, self.roots)
        parent, keep = self._parent
        positions: IntArray = parent.positions_in(ancestor)[keep]
        return positions

    def consume(self, root: int, amounts: dict[str, int]) -> None:
        """Count ``amounts`` as used on host ``root`` (an instance planned there; negative
        amounts take one back) in the columns computed so far. The pipeline charges the
        same amounts to the index (``CloudIndex.adjust_used``), which every column
        computed later is read from, so those must not add them again."""
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
            where, ours = table.host_positions(self.roots)
            # bincount sums per host an order of magnitude faster than np.add.at (exact:
            # amounts are integers far below 2**53).
            size = len(self)
            capacity = np.bincount(where, table.capacity[ours], size).astype(np.int64)
            used = np.bincount(where, table.used[ours], size).astype(np.int64)
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
