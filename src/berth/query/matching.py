"""Per-group matching: which providers can serve a request group, grouped by anchor.

An *anchor* is the root of the tree a candidate is built around. A provider serves its
own tree; a sharing provider (MISC_SHARES_VIA_AGGREGATE) also serves every tree that has a
provider in one of its aggregates. Candidates are only ever combined within one anchor.

* A suffixed group needs one provider with room for all its resources and, on that
  provider itself, the required/forbidden traits and aggregate membership.
* The unsuffixed group may take each resource class from a different provider of the
  tree or a sharing provider (``unsuffixed``). Aggregate membership of a provider's root
  counts as its own there (an aggregate on the root spans the tree); a sharing provider
  must itself be in the requested aggregates. Trait requirements apply to the providers
  a candidate uses, taken together; that is checked when combining (``combine``).

Every filter here is a numpy pass over provider-id columns (``columns``) of the window
of anchors being searched, never a Python loop over the cloud.
"""

from __future__ import annotations

import numpy as np

from berth.model.candidates import RequestGroup
from berth.model.filters import TraitFilter
from berth.query.capacity import ClassTable, IntArray, Mask
from berth.query.choices import Choices, SharedRows, Window
from berth.query.columns import columns_of
from berth.query.index import CloudIndex


def allowed_anchors(index: CloudIndex, root_traits: TraitFilter) -> Mask | None:
    """A bitmap over provider ids of the roots that pass ``root_required`` (1.35), or
    None when there is no such filter."""
    if not root_traits:
        return None
    cols = columns_of(index)
    is_root: Mask = cols.roots == np.arange(cols.size, dtype=np.int64)
    having = cols.having(root_traits)
    return is_root if having is None else is_root & having


# Provider ids are positive: a root no provider has, for an ``in_tree`` naming nobody.
NOWHERE = -1


def tree_root(index: CloudIndex, group: RequestGroup) -> int | None:
    """The root ``in_tree`` restricts the group to (None: no restriction); NOWHERE when
    the named provider does not exist, so that the group matches nothing."""
    if group.in_tree is None:
        return None
    pid = index.by_uuid.get(group.in_tree)
    return NOWHERE if pid is None else index.root_of(pid)


class GranularGroup:
    """A suffixed group of one request, ready to be matched window by window."""

    def __init__(self, index: CloudIndex, group: RequestGroup, anchors_ok: Mask | None) -> None:
        self.cols = cols = columns_of(index)
        self.tree = tree_root(index, group)
        self.anchors_ok = anchors_ok
        own = (cols.having(group.traits), cols.member(group.member_of))
        self.masks = [mask for mask in own if mask is not None]
        self.tables: list[tuple[ClassTable, int]] = []
        self.possible = self.tree != NOWHERE
        for rc, amount in sorted(group.resources.items()):
            table = index.classes.get(rc)
            if table is None:
                self.possible = False
            else:
                self.tables.append((table, amount))
        self.tables.sort(key=lambda item: len(item[0]))  # rarest class first
        self.sharing: list[SharedRows] = []
        if self.possible:
            for pid in self._qualify(cols.sharing_ids, cols.roots[cols.sharing_ids]).tolist():
                anchors = cols.served(pid)
                if anchors_ok is not None:
                    anchors = anchors[anchors_ok[anchors]]
                if len(anchors):
                    self.sharing.append(SharedRows(pid, anchors))

    def _qualify(self, pool: IntArray, roots: IntArray) -> IntArray:
        """The providers of ``pool`` (roots ``roots``) that alone satisfy the group."""
        keep: Mask = np.ones(len(pool), dtype=bool)
        for table, amount in self.tables:
            pos = np.minimum(np.searchsorted(table.pids, pool), max(len(table) - 1, 0))
            keep &= (table.pids[pos] == pool) & table.fits_at(amount, pos)
        if self.tree is not None:
            keep &= roots == self.tree
        for mask in self.masks:
            keep &= mask[pool]
        found: IntArray = pool[keep]
        return found

    def choices(self, window: Window) -> Choices:
        """Per anchor of ``window``, the providers satisfying the group there."""
        cols = self.cols
        if self.tables:
            # Candidates are the rarest class's rows in the window; the others are
            # checked for those providers only.
            table, _ = self.tables[0]
            order, sorted_roots = table.by_root()
            lo, hi = np.searchsorted(sorted_roots, (window.lo, window.hi))
            pool, roots = table.pids[order[lo:hi]], sorted_roots[lo:hi]
        else:
            by_root, sorted_roots = cols.by_root()
            lo, hi = np.searchsorted(sorted_roots, (window.lo, window.hi))
            pool, roots = by_root[lo:hi], sorted_roots[lo:hi]
        own = ~cols.sharing[pool]
        if self.anchors_ok is not None:
            own &= self.anchors_ok[roots]
        pool, roots = pool[own], roots[own]
        found = self._qualify(pool, roots)
        if len(found) != len(pool):
            roots = cols.roots[found]
        return Choices.build(window, found, roots, self.sharing)
