"""Provider facts as numpy columns indexed by provider id, for whole-cloud filtering.

The candidate engine asks "which of these 10,000 providers (or anchors) have trait T,
are in aggregate A, belong to tree R?" for every request. Asked provider by provider
in Python that costs milliseconds; as a lookup into a boolean array indexed by provider
id it is one vectorized gather. Provider ids are small positive integers (database
ids), so arrays of size ``max id + 1`` stay compact.

The columns are derived from a ``CloudIndex`` and cached on it (``index.columns``);
the index drops them whenever providers come or go or change tree, traits or
aggregates (a usage-only patch keeps them). Per-trait and per-aggregate flags are
built on first use.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import numpy as np

from berth.model.cloud import SHARES_VIA_AGGREGATE
from berth.model.filters import AggregateFilter, TraitFilter
from berth.query.capacity import IntArray, Mask

if TYPE_CHECKING:
    from berth.query.index import CloudIndex


class Columns:
    """Per-provider-id arrays over one state of an index (see the module docstring)."""

    def __init__(self, index: CloudIndex) -> None:
        self._index = index
        ids = np.fromiter(index.nodes.keys(), dtype=np.int64, count=len(index.nodes))
        self.size = int(ids.max()) + 1 if len(ids) else 1
        # root id per provider id; -1 where there is no provider.
        self.roots: IntArray = np.full(self.size, -1, dtype=np.int64)
        self.roots[ids] = np.fromiter(
            (node.root_id for node in index.nodes.values()), dtype=np.int64, count=len(ids)
        )
        # Every root id, ascending: the anchors candidates can be built around.
        self.root_ids: IntArray = np.flatnonzero(self.roots == np.arange(self.size)).astype(
            np.int64
        )
        self._by_root: tuple[IntArray, IntArray] | None = None
        self._traits: dict[str, Mask] = {}
        self._aggregates: dict[str, Mask] = {}
        self._served: dict[int, IntArray] = {}
        self.sharing = self.trait(SHARES_VIA_AGGREGATE)
        self.sharing_ids: IntArray = np.flatnonzero(self.sharing).astype(np.int64)

    # -- single flags -----------------------------------------------------------------

    def _flags(self, members: Collection[int]) -> Mask:
        flags = np.zeros(self.size, dtype=bool)
        if members:
            flags[np.fromiter(members, dtype=np.int64, count=len(members))] = True
        return flags

    def trait(self, name: str) -> Mask:
        """True for providers having trait ``name``."""
        flags = self._traits.get(name)
        if flags is None:
            flags = self._flags(self._index.trait_members.get(name, ()))
            self._traits[name] = flags
        return flags

    def aggregate(self, uuid: str) -> Mask:
        """True for providers in aggregate ``uuid``."""
        flags = self._aggregates.get(uuid)
        if flags is None:
            flags = self._flags(self._index.agg_members.get(uuid, ()))
            self._aggregates[uuid] = flags
        return flags

    def served(self, sharing_id: int) -> IntArray:
        """Every anchor a sharing provider serves, ascending: its own root and the trees
        it shares an aggregate with (``CloudIndex.anchors``)."""
        found = self._served.get(sharing_id)
        if found is None:
            anchors = {int(self.roots[sharing_id]), *self._index.anchors(sharing_id)}
            found = np.array(sorted(anchors), dtype=np.int64)
            self._served[sharing_id] = found
        return found

    # -- combinations -------------------------------------------------------------------

    def any_trait(self, names: Iterable[str]) -> Mask | None:
        """Providers having at least one of ``names`` (None when there are no names)."""
        out: Mask | None = None
        for name in names:
            out = self.trait(name) if out is None else out | self.trait(name)
        return out

    def any_aggregate(self, uuids: Iterable[str]) -> Mask | None:
        """Providers in at least one of ``uuids`` (None when there are none)."""
        out: Mask | None = None
        for uuid in uuids:
            out = self.aggregate(uuid) if out is None else out | self.aggregate(uuid)
        return out

    def having(self, traits: TraitFilter) -> Mask | None:
        """Providers whose own traits satisfy ``traits`` (None: no constraint)."""
        out: Mask | None = None
        for name in traits.required:
            out = self.trait(name) if out is None else out & self.trait(name)
        for group in traits.any_of:
            hit = self.any_trait(group)
            assert hit is not None  # a parsed any-of group is never empty
            out = hit if out is None else out & hit
        forbidden = self.any_trait(traits.forbidden)
        if forbidden is not None:
            out = ~forbidden if out is None else out & ~forbidden
        return out

    def in_all_groups(self, member_of: AggregateFilter) -> Mask | None:
        """Providers in at least one aggregate of every ``member_of`` any-of group
        (None: no such groups)."""
        out: Mask | None = None
        for group in member_of.any_of:
            hit = self.any_aggregate(group)
            assert hit is not None
            out = hit if out is None else out & hit
        return out

    def member(self, member_of: AggregateFilter) -> Mask | None:
        """Providers whose own aggregates satisfy ``member_of`` (None: no constraint)."""
        out = self.in_all_groups(member_of)
        forbidden = self.any_aggregate(member_of.forbidden)
        if forbidden is not None:
            out = ~forbidden if out is None else out & ~forbidden
        return out

    def by_root(self) -> tuple[IntArray, IntArray]:
        """Every provider id ordered by (root, id), and the roots in that order."""
        if self._by_root is None:
            ids = np.flatnonzero(self.roots >= 0).astype(np.int64)
            order = np.lexsort((ids, self.roots[ids]))
            self._by_root = (ids[order], self.roots[ids][order])
        return self._by_root


def columns_of(index: CloudIndex) -> Columns:
    """The index's columns, built on first use after any change to its providers."""
    cols = index.columns
    if cols is None:
        cols = Columns(index)
        index.columns = cols
    return cols
