"""The allocation-candidate engine: ``find(cloud, request) -> CandidateResult``.

This is the one public entry point of ``berth.query``. It works on a ``Cloud`` snapshot
only (no database access), in four steps:

1. anchors allowed by ``root_required``;
2. per request group, the providers that can serve it, grouped by anchor (``matching``);
3. per anchor common to all groups, a pruned depth-first search combining the groups
   (``combine``), lazily, de-duplicated, stopping at ``limit``;
4. summaries of the providers involved (``summaries``).

The same allocation can be reached from several anchors (a sharing provider serving
several trees); it is answered once, as Placement does (equal allocations and mappings
are one candidate).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from berth.model.candidates import AllocationRequest, CandidateRequest, CandidateResult
from berth.model.cloud import Cloud
from berth.query.combine import Slot, rules_for, search_anchor
from berth.query.index import CloudIndex
from berth.query.matching import allowed_anchors, granular_options
from berth.query.summaries import summarize
from berth.query.unsuffixed import unsuffixed_options


def find(cloud: Cloud, request: CandidateRequest) -> CandidateResult:
    """All (or the first ``request.limit``) allocation candidates for ``request``."""
    return find_in(CloudIndex(cloud), request)


def find_in(index: CloudIndex, request: CandidateRequest) -> CandidateResult:
    """``find`` on a ready index (e.g. the resident one, see ``berth.query.resident``)."""
    found = _stream(index, request)
    if request.limit is not None:
        found = islice(found, request.limit)
    chosen = tuple(found)
    summaries = summarize(index, chosen, nested_aware=request.nested_aware)
    uuids = {pid: index.node(pid).uuid for areq in chosen for pid in _named(areq)}
    return CandidateResult(allocation_requests=chosen, provider_summaries=summaries, uuids=uuids)


def _named(areq: AllocationRequest) -> Iterator[int]:
    for allocation in areq.allocations:
        yield allocation.provider_id
    for _, pids in areq.mappings:
        yield from pids


def _stream(index: CloudIndex, request: CandidateRequest) -> Iterator[AllocationRequest]:
    """Valid candidates, lazily, in a deterministic order (anchor by anchor)."""
    anchors_ok = allowed_anchors(index, request.root_traits)
    if anchors_ok is not None and not anchors_ok:
        return
    unsuffixed = None
    granular: list[tuple[str, tuple[tuple[str, int], ...], dict[int, list[int]]]] = []
    for group in request.groups:
        if group.use_same_provider:
            options = granular_options(index, group, anchors_ok)
            if not options:
                return
            granular.append((group.suffix, tuple(sorted(group.resources.items())), options))
        elif group.resources:
            unsuffixed = unsuffixed_options(index, group, anchors_ok)
            if not unsuffixed.anchors:
                return
    ordered: list[int] | tuple[int, ...]
    if unsuffixed is not None and not granular:
        ordered = unsuffixed.anchors  # already sorted: no set of every anchor to build
    else:
        common: set[int] | None = set(unsuffixed.anchors) if unsuffixed is not None else None
        for _, _, options in granular:
            common = set(options) if common is None else common & options.keys()
        ordered = sorted(common or ())
    if not ordered:
        return
    rules = rules_for(request)
    seen: set[AllocationRequest] = set()
    for anchor in ordered:
        slots: list[Slot] = []
        if unsuffixed is not None:
            slots.extend(Slot("", ((c.rc, c.amount),), c.providers) for c in unsuffixed.at(anchor))
        # Most constrained group first: conflicts (isolate, capacity, same_subtree)
        # then surface near the root of the search, where pruning saves the most.
        per_group = [
            Slot(suffix, resources, tuple(options[anchor]))
            for suffix, resources, options in granular
        ]
        slots.extend(sorted(per_group, key=lambda slot: len(slot.options)))
        for areq in search_anchor(index, slots, rules):
            if areq not in seen:
                seen.add(areq)
                yield areq
