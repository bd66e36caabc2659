"""The common case, solved for every anchor at once: one provider per class.

When a request is the unsuffixed group alone, most anchors have exactly one provider
able to supply each requested class (the compute node itself, or it and one sharing
disk pool). There is then one possible candidate per anchor, and whether it holds is a
handful of column tests instead of a search:

* capacity: each class comes from a different slot, and every option already fits its
  amount alone (``unsuffixed``), so nothing can overflow;
* the unsuffixed group's required (and any-of) traits, met by the chosen providers
  taken together;
* before 1.29, no two different providers of one tree.

Anchors with several options for some class go to the general search (``combine``),
and so do anchors whose candidate would use sharing providers only: the same
allocation could then be reached from other anchors too, and only the general path
de-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.query.capacity import IntArray, Mask
from berth.query.columns import Columns
from berth.query.combine import Rules
from berth.query.results import UniformBlock
from berth.query.unsuffixed import UnsuffixedOptions


@dataclass(frozen=True, slots=True, eq=False)
class Split:
    """Of the anchors ``ordered``: ``block`` row i is the candidate at position
    ``positions[i]``; the anchors at ``searched`` positions need the general search;
    the rest have no candidate."""

    block: UniformBlock
    positions: IntArray
    searched: IntArray


def unsolved(count: int) -> Split:
    """Nothing solved: each of ``count`` anchors needs the general search."""
    nothing = UniformBlock((), np.zeros((0, 0), dtype=np.int64))
    return Split(nothing, np.zeros(0, dtype=np.int64), np.arange(count, dtype=np.int64))


def split(cols: Columns, options: UnsuffixedOptions, ordered: IntArray, rules: Rules) -> Split:
    """Solve every anchor of ``ordered`` (ascending, all within the options' window)
    that has one option per class."""
    single: Mask = np.ones(len(ordered), dtype=bool)
    starts: list[IntArray] = []
    at_window = ordered - options.window.lo
    for c in options.per_class:
        counts = c.choices.counts()
        single &= counts[at_window] == 1
        starts.append(c.choices.starts(counts))
    chosen = at_window[single]
    columns: list[IntArray] = []
    only_shared: Mask = np.ones(len(chosen), dtype=bool)
    for c, start in zip(options.per_class, starts, strict=True):
        rows = start[chosen]
        columns.append(c.choices.pids[rows])
        only_shared &= c.choices.shared[rows]
    valid = ~only_shared
    if not rules.nested_aware:
        roots = [cols.roots[column] for column in columns]
        for i in range(len(columns)):
            for j in range(i + 1, len(columns)):
                valid &= (roots[i] != roots[j]) | (columns[i] == columns[j])
    traits = rules.unsuffixed_traits
    if traits.required or traits.any_of:
        valid &= _traits_met(cols, columns, traits.required, traits.any_of)
    at = np.flatnonzero(single)
    needed = ~single
    needed[at[only_shared]] = True
    searched = np.flatnonzero(needed)
    pids = np.stack(columns, axis=1)[valid] if columns else np.zeros((0, 0), dtype=np.int64)
    resources = tuple((c.rc, c.amount) for c in options.per_class)
    return Split(UniformBlock(resources, pids), at[valid], searched)


def _traits_met(
    cols: Columns,
    columns: list[IntArray],
    required: frozenset[str],
    any_of: tuple[frozenset[str], ...],
) -> Mask:
    """Per row: whether the row's providers together have every required trait and one
    of each any-of group."""

    def gathered(name: str) -> Mask:
        flags = cols.trait(name)
        have: Mask = np.zeros(len(columns[0]), dtype=bool)
        for column in columns:
            have |= flags[column]
        return have

    ok: Mask = np.ones(len(columns[0]), dtype=bool)
    for name in required:
        ok &= gathered(name)
    for group in any_of:
        hit: Mask = np.zeros(len(columns[0]), dtype=bool)
        for name in group:
            hit |= gathered(name)
        ok &= hit
    return ok
