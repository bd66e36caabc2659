"""The allocation-candidate engine: ``find(cloud, request) -> CandidateResult``.

This is the one public entry point of ``berth.query``. It works on a ``Cloud`` snapshot
only (no database access), in four steps:

1. anchors allowed by ``root_required``;
2. per request group, the providers that can serve it, grouped by anchor (``matching``,
   ``unsuffixed``), as numpy columns;
3. the anchors common to all groups, in ascending order: for the unsuffixed group alone,
   every anchor with one option per class is solved at once (``uniform``); the others
   get a pruned depth-first search combining the groups (``combine``), lazily,
   de-duplicated;
4. summaries of the providers involved (``summaries``).

Steps 2 and 3 run over *windows* of anchors: without a limit one window holds them
all; with one, the first window holds a few more anchors than the limit and each next
one four times more, until the limit is met. Nothing beyond the window that meets it is
ever looked at, so ``limit=10`` on 10,000 hosts costs about what it costs on 50.

The same allocation can be reached from several anchors (a sharing provider serving
several trees); it is answered once, as Placement does (equal allocations and mappings
are one candidate).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np

from berth.model.candidates import AllocationRequest, CandidateRequest, CandidateResult
from berth.model.cloud import Cloud
from berth.query import uniform
from berth.query.capacity import IntArray, Mask
from berth.query.choices import Choices, Window
from berth.query.columns import columns_of
from berth.query.combine import Rules, Slot, rules_for, search_anchor
from berth.query.index import CloudIndex
from berth.query.matching import GranularGroup, allowed_anchors
from berth.query.results import CandidateList, ProviderUuids, Segment, UniformBlock
from berth.query.summaries import summarize
from berth.query.unsuffixed import UnsuffixedGroup, UnsuffixedOptions


def find(cloud: Cloud, request: CandidateRequest) -> CandidateResult:
    """All (or the first ``request.limit``) allocation candidates for ``request``."""
    return find_in(CloudIndex(cloud), request)


def find_in(
    index: CloudIndex, request: CandidateRequest, *, anchors: IntArray | None = None
) -> CandidateResult:
    """``find`` on a ready index (e.g. the resident one, see ``berth.query.resident``);
    only on the trees rooted at ``anchors`` when given (a scheduler materializing the
    allocation on the host it picked)."""
    chosen = CandidateList(_search(index, request, anchors))
    summaries = summarize(index, chosen.provider_ids(), nested_aware=request.nested_aware)
    named = {
        pid: index.node(pid).uuid
        for segment in chosen.segments
        if not isinstance(segment, UniformBlock)
        for areq in segment
        for pid in _named(areq)
    }
    return CandidateResult(
        allocation_requests=chosen,
        provider_summaries=summaries,
        uuids=ProviderUuids(summaries, named),
    )


def _named(areq: AllocationRequest) -> Iterator[int]:
    for allocation in areq.allocations:
        yield allocation.provider_id
    for _, pids in areq.mappings:
        yield from pids


class _Plan:
    """Every group of the request, ready to be matched window by window."""

    def __init__(
        self, index: CloudIndex, request: CandidateRequest, anchors: IntArray | None
    ) -> None:
        self.cols = cols = columns_of(index)
        self.anchors_ok = allowed_anchors(index, request.root_traits)
        if anchors is not None:
            only = np.zeros(cols.size, dtype=bool)
            only[anchors[(anchors >= 0) & (anchors < cols.size)]] = True
            self.anchors_ok = only if self.anchors_ok is None else self.anchors_ok & only
        self.unsuffixed: UnsuffixedGroup | None = None
        self.granular: list[tuple[str, tuple[tuple[str, int], ...], GranularGroup]] = []
        for group in request.groups:
            if group.use_same_provider:
                resources = tuple(sorted(group.resources.items()))
                matcher = GranularGroup(index, group, self.anchors_ok)
                self.granular.append((group.suffix, resources, matcher))
            elif group.resources:
                self.unsuffixed = UnsuffixedGroup(index, group, self.anchors_ok)

    @property
    def possible(self) -> bool:
        groups = [g for _, _, g in self.granular]
        if self.unsuffixed is not None:
            if not self.unsuffixed.possible:
                return False
        elif not groups:
            return False
        return all(g.possible for g in groups)

    def windows(self, limit: int | None) -> Iterator[Window]:
        """Ranges of anchor ids to search in turn: everything at once without a limit;
        with one, a few anchors first, then four times more each time."""
        roots = self.cols.root_ids
        if self.anchors_ok is not None:
            roots = roots[self.anchors_ok[roots]]
        if self.unsuffixed is not None and self.unsuffixed.tree is not None:
            roots = roots[roots == self.unsuffixed.tree]
        if not len(roots):
            return
        step = len(roots) if limit is None else _first_window(limit)
        start = 0
        while start < len(roots):
            stop = min(start + step, len(roots))
            yield Window(int(roots[start]), int(roots[stop - 1]) + 1)
            start, step = stop, step * _GROWTH

    def options(self, window: Window) -> _Options | None:
        unsuffixed = None
        common: Mask | None = None
        if self.unsuffixed is not None:
            unsuffixed = self.unsuffixed.options(window)
            if unsuffixed is None:
                return None
            common = unsuffixed.common
        granular: list[tuple[str, tuple[tuple[str, int], ...], Choices]] = []
        for suffix, resources, group in self.granular:
            choices = group.choices(window)
            if not len(choices):
                return None
            granular.append((suffix, resources, choices))
            marks = choices.mark()
            common = marks if common is None else common & marks
        if common is None:
            return None
        ordered: IntArray = np.flatnonzero(common) + window.lo
        return _Options(unsuffixed, granular, ordered)


def _first_window(limit: int) -> int:
    """How many anchors the first window of a limited request holds: enough for the
    limit when most anchors can serve the request. Each next window holds ``_GROWTH``
    times more, so a rare request takes a few windows, not a pass over the cloud."""
    return 2 * limit + 32


_GROWTH = 4


class _Options:
    """Every group's options in one window, and the anchors where all groups have some
    (``ordered``, ascending)."""

    def __init__(
        self,
        unsuffixed: UnsuffixedOptions | None,
        granular: list[tuple[str, tuple[tuple[str, int], ...], Choices]],
        ordered: IntArray,
    ) -> None:
        self.unsuffixed = unsuffixed
        self.granular = granular
        self.ordered = ordered

    def slots(self, anchors: IntArray) -> Iterator[list[Slot]]:
        """The search's slots for each of ``anchors`` in turn (the options of all of
        them located at once, the slots built only as the search reaches each)."""
        sources: list[tuple[str, tuple[tuple[str, int], ...], Choices]] = []
        if self.unsuffixed is not None:
            sources += [("", ((c.rc, c.amount),), c.choices) for c in self.unsuffixed.per_class]
        n_unsuffixed = len(sources)
        sources += self.granular
        located = [
            (
                choices.pids.tolist(),
                np.searchsorted(choices.anchors, anchors, side="left").tolist(),
                np.searchsorted(choices.anchors, anchors, side="right").tolist(),
            )
            for _, _, choices in sources
        ]
        for i in range(len(anchors)):
            slots = [
                Slot(suffix, resources, tuple(pids[lo[i] : hi[i]]))
                for (suffix, resources, _), (pids, lo, hi) in zip(sources, located, strict=True)
            ]
            # Most constrained group first: conflicts (isolate, capacity, same_subtree)
            # then surface near the root of the search, where pruning saves the most.
            slots[n_unsuffixed:] = sorted(slots[n_unsuffixed:], key=lambda s: len(s.options))
            yield slots


def _search(
    index: CloudIndex, request: CandidateRequest, anchors: IntArray | None
) -> list[Segment]:
    """The candidates, in anchor order, as segments; at most ``request.limit``."""
    plan = _Plan(index, request, anchors)
    if not plan.possible:
        return []
    rules = rules_for(request)
    out: list[Segment] = []
    seen: set[AllocationRequest] = set()
    left = request.limit if request.limit is not None else sys.maxsize
    for window in plan.windows(request.limit):
        found = plan.options(window)
        if found is None or not len(found.ordered):
            continue
        if found.unsuffixed is not None and not found.granular:
            solved = uniform.split(plan.cols, found.unsuffixed, found.ordered, rules)
        else:
            solved = uniform.unsolved(len(found.ordered))
        left = _collect(index, found, rules, solved, left, seen, out)
        if not left:
            break
    return out


def _collect(
    index: CloudIndex,
    found: _Options,
    rules: Rules,
    solved: uniform.Split,
    left: int,
    seen: set[AllocationRequest],
    out: list[Segment],
) -> int:
    """Append to ``out`` the solved rows and the searched anchors' candidates, in anchor
    order, stopping after ``left`` candidates; how many are still wanted."""
    start = 0  # the next block row to take
    end_of_anchors = len(found.ordered)
    slots = found.slots(found.ordered[solved.searched])
    for pos in [*solved.searched.tolist(), end_of_anchors]:
        stop = int(np.searchsorted(solved.positions, pos))  # block rows before this anchor
        if stop > start:
            take = min(stop - start, left)
            out.append(solved.block.rows(start, start + take))
            start += take
            left -= take
            if not left:
                return 0
        if pos == end_of_anchors:
            break
        candidates: list[AllocationRequest] = []
        for areq in search_anchor(index, next(slots), rules):
            if areq not in seen:
                seen.add(areq)
                candidates.append(areq)
                left -= 1
                if not left:
                    break
        if candidates:
            out.append(tuple(candidates))
        if not left:
            return 0
    return left
