"""The unsuffixed group's options: per requested class, who can supply it on each anchor.

Most providers only serve their own tree, so for them "which anchors of this window can
get ``amount`` of ``rc``?" is column arithmetic over the rows of the class's capacity
table (``capacity``) whose root falls in the window: a mask of rows that fit and are
not excluded by a forbidden trait or aggregate rule. Sharing providers (few) serve
several anchors each; they are checked once per request and their anchors cut to each
window. The result per class is a ``Choices``, so no step here loops over the cloud in
Python, and a ``limit`` that is met in the first window never looks at the others.

Rules (see ``matching``): a provider qualifies for ``member_of`` when it, or the anchor
it serves, is in the requested aggregates (an aggregate on the root spans the tree); a
sharing provider only serves other trees when it is itself in them; providers having a
forbidden trait are left out (no candidate may use them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from berth.model.candidates import RequestGroup
from berth.query.capacity import ClassTable, IntArray, Mask
from berth.query.choices import Choices, SharedRows, Window
from berth.query.columns import Columns, columns_of
from berth.query.index import CloudIndex
from berth.query.matching import NOWHERE, tree_root


@dataclass(frozen=True, slots=True, eq=False)
class ClassChoices:
    """Who can provide ``amount`` of ``rc`` for the unsuffixed group, per anchor."""

    rc: str
    amount: int
    choices: Choices


@dataclass(frozen=True, slots=True, eq=False)
class UnsuffixedOptions:
    """The unsuffixed group's options per class in ``window``, and ``common``: a bitmap
    over the window's anchor ids, True where every class has at least one provider."""

    window: Window
    per_class: tuple[ClassChoices, ...]
    common: Mask


class _Keep:
    """Whether a provider may serve an anchor: ``anchors_ok`` (root_required) and
    ``member_of``, vectorized over (provider, anchor) pairs."""

    def __init__(self, cols: Columns, group: RequestGroup, anchors_ok: Mask | None) -> None:
        self.anchors_ok = anchors_ok
        self.in_groups = cols.in_all_groups(group.member_of)
        self.forbidden = cols.any_aggregate(group.member_of.forbidden)

    def in_groups_ok(self, pid: int) -> bool:
        """Whether ``pid`` itself is in every requested aggregate group."""
        return self.in_groups is None or bool(self.in_groups[pid])

    def __call__(self, pids: IntArray, anchors: IntArray) -> Mask | None:
        ok: Mask | None = None
        if self.anchors_ok is not None:
            ok = self.anchors_ok[anchors]
        if self.in_groups is not None:
            hit = self.in_groups[pids] | self.in_groups[anchors]
            ok = hit if ok is None else ok & hit
        if self.forbidden is not None:
            miss = ~(self.forbidden[pids] | self.forbidden[anchors])
            ok = miss if ok is None else ok & miss
        return ok


@dataclass(frozen=True, slots=True, eq=False)
class _Class:
    rc: str
    amount: int
    table: ClassTable
    sharing: list[SharedRows]


class UnsuffixedGroup:
    """The unsuffixed group of one request, ready to be matched window by window."""

    def __init__(self, index: CloudIndex, group: RequestGroup, anchors_ok: Mask | None) -> None:
        self.cols = cols = columns_of(index)
        self.tree = tree_root(index, group)
        self.keep = _Keep(cols, group, anchors_ok)
        self.excluded = cols.any_trait(group.traits.forbidden)
        self.classes: list[_Class] = []
        self.possible = self.tree != NOWHERE
        for rc, amount in sorted(group.resources.items()):
            table = index.classes.get(rc)
            if table is None:
                self.possible = False
                break
            self.classes.append(_Class(rc, amount, table, self._sharing(table, amount)))

    def _sharing(self, table: ClassTable, amount: int) -> list[SharedRows]:
        """Sharing providers of ``table``'s class that can supply ``amount``, with the
        anchors each may serve for this group (checked once, not per window)."""
        cols = self.cols
        out: list[SharedRows] = []
        pids = cols.sharing_ids
        pos = np.searchsorted(table.pids, pids)
        has = pos < len(table)
        pids, pos = pids[has], pos[has]
        has = table.pids[pos] == pids
        pids, pos = pids[has], pos[has]
        fit = table.fits_at(amount, pos)
        for pid in pids[fit].tolist():
            root = int(cols.roots[pid])
            if self.excluded is not None and self.excluded[pid]:
                continue
            if self.tree is not None and root != self.tree:
                continue
            if self.tree is None and self.keep.in_groups_ok(pid):
                anchors = cols.served(pid)
            else:
                anchors = np.array([root], dtype=np.int64)
            ok = self.keep(np.full(len(anchors), pid, dtype=np.int64), anchors)
            if ok is not None:
                anchors = anchors[ok]
            if len(anchors):
                out.append(SharedRows(pid, anchors))
        return out

    def options(self, window: Window) -> UnsuffixedOptions | None:
        """The options within ``window``; None when some class has none there."""
        per_class: list[ClassChoices] = []
        for c in self.classes:
            choices = self._choices(c, window)
            if not len(choices):
                return None
            per_class.append(ClassChoices(c.rc, c.amount, choices))
        if not per_class:
            return None
        # Anchors every class can serve: AND of per-class bitmaps over the window.
        common = reduce(np.logical_and, (c.choices.mark() for c in per_class))
        return UnsuffixedOptions(window, tuple(per_class), common)

    def _choices(self, c: _Class, window: Window) -> Choices:
        order, sorted_roots = c.table.by_root()
        lo, hi = np.searchsorted(sorted_roots, (window.lo, window.hi))
        rows = order[lo:hi]
        roots = sorted_roots[lo:hi]
        pids = c.table.pids[rows]
        mask = c.table.fits_at(c.amount, rows) & ~self.cols.sharing[pids]
        if self.excluded is not None:
            mask &= ~self.excluded[pids]
        if self.tree is not None:
            mask &= roots == self.tree
        ok = self.keep(pids, roots)
        if ok is not None:
            mask &= ok
        return Choices.build(window, pids[mask], roots[mask], c.sharing)
