"""The unsuffixed group's options: per anchor, per class, who can supply it there.

Most providers only serve their own tree, so for them "which anchors can get ``amount``
of ``rc``?" is column arithmetic over the class's capacity table (``capacity``): a mask
of rows that fit and are not excluded by a forbidden trait, grouped by root. Sharing
providers (few) serve several anchors and go through the general per-provider rules.
Options for one anchor are only materialized when the search reaches it, so a ``limit``
that stops after ten anchors never pays for the other ten thousand.

Rules (see ``matching``): aggregate membership of a provider's root counts as its own;
a sharing provider must itself be in the requested ``member_of`` aggregates; providers
having a forbidden trait are left out (no candidate may use them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from berth.model.candidates import RequestGroup
from berth.model.cloud import SHARES_VIA_AGGREGATE
from berth.query.capacity import IntArray, Mask
from berth.query.index import CloudIndex
from berth.query.matching import NOWHERE, in_any_of, in_forbidden, tree_root


@dataclass(frozen=True, slots=True)
class ClassOptions:
    """For the unsuffixed group at one anchor: who can provide ``amount`` of ``rc``."""

    rc: str
    amount: int
    providers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClassChoices:
    """Everywhere: providers serving their own tree (sorted by root, then id) and the
    anchors sharing providers serve (anchor -> ids in id order)."""

    rc: str
    amount: int
    own_pids: IntArray
    own_roots: IntArray
    shared: dict[int, list[int]] = field(default_factory=dict)

    def mark(self, size: int) -> Mask:
        """A bitmap over root ids: True where this class has a provider for the anchor."""
        marks = np.zeros(size, dtype=bool)
        marks[self.own_roots] = True
        if self.shared:
            marks[np.fromiter(self.shared, dtype=np.int64)] = True
        return marks

    def top(self) -> int:
        """The largest anchor id (-1 for none)."""
        top = int(self.own_roots[-1]) if len(self.own_roots) else -1
        return max([top, *self.shared])

    def at(self, anchor: int) -> ClassOptions:
        lo = int(np.searchsorted(self.own_roots, anchor, side="left"))
        hi = int(np.searchsorted(self.own_roots, anchor, side="right"))
        own: list[int] = self.own_pids[lo:hi].tolist()
        extra = self.shared.get(anchor)
        providers = tuple(sorted(own + extra)) if extra else tuple(own)
        return ClassOptions(self.rc, self.amount, providers)


@dataclass(frozen=True, slots=True)
class UnsuffixedOptions:
    """The unsuffixed group's options; ``anchors`` are the anchors where every requested
    class has at least one provider, in ascending order."""

    anchors: tuple[int, ...]
    per_class: tuple[ClassChoices, ...]

    def at(self, anchor: int) -> list[ClassOptions]:
        return [choices.at(anchor) for choices in self.per_class]


_NOTHING = UnsuffixedOptions((), ())


def unsuffixed_options(
    index: CloudIndex, group: RequestGroup, anchors_ok: frozenset[int] | None
) -> UnsuffixedOptions:
    """Per anchor, per requested class, the providers that can supply it on that anchor."""
    tree = tree_root(index, group)
    if tree == NOWHERE:
        return _NOTHING
    member_of = group.member_of

    def aggs_ok(pid: int, anchor: int) -> bool:
        if member_of.any_of and not (
            in_any_of(index, pid, member_of) or in_any_of(index, anchor, member_of)
        ):
            return False
        return not (
            member_of.forbidden
            and (in_forbidden(index, pid, member_of) or in_forbidden(index, anchor, member_of))
        )

    def keep(pid: int, anchor: int) -> bool:
        if anchors_ok is not None and anchor not in anchors_ok:
            return False
        return not (member_of and not aggs_ok(pid, anchor))

    excluded = _ids(index.having_any(group.traits.forbidden))
    sharing = _ids(index.trait_members.get(SHARES_VIA_AGGREGATE, set()))
    ok_roots = None if anchors_ok is None else _ids(anchors_ok)
    per_class: list[ClassChoices] = []
    for rc, amount in sorted(group.resources.items()):
        table = index.classes.get(rc)
        if table is None:
            return _NOTHING
        mask = table.fits(amount)
        if len(excluded):
            mask &= ~np.isin(table.pids, excluded)
        if tree is not None:
            mask &= table.roots == tree
        shares = mask & np.isin(table.pids, sharing) if len(sharing) else None
        if shares is not None:
            mask &= ~shares
        if ok_roots is not None:
            mask &= np.isin(table.roots, ok_roots)
        pids = table.pids[mask]
        roots = table.roots[mask]
        if member_of:
            allowed = [keep(p, r) for p, r in zip(pids.tolist(), roots.tolist(), strict=True)]
            pids = pids[np.array(allowed, dtype=bool)] if allowed else pids
            roots = roots[np.array(allowed, dtype=bool)] if allowed else roots
        shared: dict[int, list[int]] = {}
        if shares is not None:
            for pid in table.pids[shares].tolist():
                root = index.root_of(pid)
                anchors = [root]
                if tree is None and (not member_of.any_of or in_any_of(index, pid, member_of)):
                    anchors.extend(a for a in index.anchors(pid) if a != root)
                for anchor in anchors:
                    if keep(pid, anchor):
                        shared.setdefault(anchor, []).append(pid)
        if not len(pids) and not shared:
            return _NOTHING
        if len(roots) > 1 and bool(np.any(roots[1:] < roots[:-1])):
            order = np.argsort(roots, kind="stable")  # nested trees: group by root
            pids, roots = pids[order], roots[order]
        per_class.append(ClassChoices(rc, amount, pids, roots, shared))
    if not per_class:
        return _NOTHING
    # Anchors every class can serve: AND of per-class bitmaps over root ids (linear,
    # in C, and already in ascending order).
    size = max(c.top() for c in per_class) + 1
    common = reduce(np.logical_and, (c.mark(size) for c in per_class))
    return UnsuffixedOptions(tuple(np.flatnonzero(common).tolist()), tuple(per_class))


def _ids(pids: set[int] | frozenset[int]) -> IntArray:
    return np.fromiter(pids, dtype=np.int64, count=len(pids))
