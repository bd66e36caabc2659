"""Which hosts could possibly take a request, and for the others the first reason why not.

The scheduler needs Placement's answer host by host, not candidate by candidate: which
provider trees can serve the request (to filter and weigh them), and for every tree that
cannot, a reason an operator understands ("insufficient MEMORY_MB", "lacks
HW_CPU_X86_AVX512F"). Materializing every allocation candidate of a 10,000-host cloud to
learn that costs far more than deciding, so this module answers with column arithmetic
over the capacity tables: per resource class, does the tree (or a sharing provider serving
it) have one provider with room for the amount; per required trait, does any provider of
the tree have it; per granular group, does one provider satisfy it alone.

These are necessary conditions, checked independently, so ``screen`` may keep a tree the
full engine then finds no combination for (e.g. ``group_policy=isolate`` with one
provider fitting two groups). The scheduler materializes the chosen host's allocation with
the engine (``candidates.find_in`` restricted to that tree) and treats "no candidate" as
one more rejection, so nothing invalid is ever claimed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.model.candidates import CandidateRequest, RequestGroup
from berth.model.cloud import SHARES_VIA_AGGREGATE
from berth.query.capacity import IntArray, Mask
from berth.query.index import CloudIndex


@dataclass(frozen=True, slots=True)
class Screen:
    """``roots``: every host tree considered, ascending. ``codes[i]`` is -1 when
    ``roots[i]`` passed, else the index in ``labels`` of the first reason it cannot serve
    the request (codes, not strings per host: a mass rejection of 10,000 hosts stays a
    few array operations)."""

    roots: IntArray
    codes: IntArray
    labels: tuple[str, ...]

    @property
    def passed(self) -> Mask:
        passed: Mask = self.codes < 0
        return passed

    def reason(self, pos: int) -> str | None:
        code = int(self.codes[pos])
        return self.labels[code] if code >= 0 else None

    def counts(self) -> dict[str, int]:
        """Reason -> how many hosts it removed."""
        failed = self.codes[self.codes >= 0]
        if not len(failed):
            return {}
        tally = np.bincount(failed, minlength=len(self.labels))
        return {self.labels[i]: int(n) for i, n in enumerate(tally.tolist()) if n}


def host_roots(index: CloudIndex) -> IntArray:
    """Roots of the trees that are hosts: every tree but stand-alone sharing providers.
    Cached on the index until its set of trees changes."""
    cached = index.derived.get("host_roots")
    if cached is None:
        roots = [
            r for r in sorted(index.trees) if not index.is_sharing(r) or len(index.trees[r]) > 1
        ]
        cached = np.fromiter(roots, dtype=np.int64, count=len(roots))
        index.derived["host_roots"] = cached
    return cached


def shared_roots(index: CloudIndex) -> frozenset[int]:
    """Roots some sharing provider serves (their candidates may draw from it). Cached on
    the index until its trees change."""
    cached = index.derived.get("shared_roots")
    if cached is None:
        served: set[int] = set()
        for pid in index.trait_members.get(SHARES_VIA_AGGREGATE, ()):
            served.update(index.anchors(pid))
        cached = index.derived["shared_roots"] = frozenset(served)
    return cached


def _forbidden_providers(index: CloudIndex, group: RequestGroup) -> set[int]:
    return index.having_any(group.traits.forbidden) if group.traits.forbidden else set()


def _sharing(index: CloudIndex, pids: IntArray) -> IntArray:
    """The sharing providers among ``pids``."""
    sharing = index.trait_members.get(SHARES_VIA_AGGREGATE)
    if not sharing or not len(pids):
        return np.zeros(0, dtype=np.int64)
    found: IntArray = pids[np.isin(pids, np.fromiter(sharing, dtype=np.int64))]
    return found


def _served_by_sharing(index: CloudIndex, pids: IntArray) -> set[int]:
    """Roots the sharing providers among ``pids`` serve."""
    out: set[int] = set()
    for pid in _sharing(index, pids).tolist():
        out.update(index.anchors(pid))
    return out


def _mark(roots: IntArray, hit: set[int] | IntArray) -> Mask:
    values = np.fromiter(hit, dtype=np.int64) if isinstance(hit, set) else hit
    return np.isin(roots, values)


def _class_ok(
    index: CloudIndex, roots: IntArray, rc: str, amount: int, excluded: set[int]
) -> Mask:
    """Trees where one provider (own, or sharing and serving it) has room for ``amount``."""
    table = index.classes.get(rc)
    if table is None:
        return np.zeros(len(roots), dtype=bool)
    fit = table.fits(amount)
    pids = table.pids[fit]
    owners = table.roots[fit]
    if excluded:
        keep = ~np.isin(pids, np.fromiter(excluded, dtype=np.int64))
        pids, owners = pids[keep], owners[keep]
    ok = _mark(roots, owners)
    shared = _served_by_sharing(index, pids)
    if shared:
        ok |= _mark(roots, shared)
    return ok


def _trait_ok(index: CloudIndex, roots: IntArray, trait: str) -> Mask:
    holders = index.trait_members.get(trait, set())
    trees = {index.root_of(p) for p in holders}
    trees |= _served_by_sharing(index, np.fromiter(holders, dtype=np.int64, count=len(holders)))
    return _mark(roots, trees) if trees else np.zeros(len(roots), dtype=bool)


def _single_provider_ok(index: CloudIndex, roots: IntArray, group: RequestGroup) -> Mask:
    """Trees with one provider that alone has room for all of a granular group."""
    fit: set[int] | None = None
    for rc, amount in group.resources.items():
        table = index.classes.get(rc)
        if table is None:
            return np.zeros(len(roots), dtype=bool)
        here = set(table.pids[table.fits(amount)].tolist())
        fit = here if fit is None else fit & here
    if fit is None:  # a resourceless group names a provider by traits only
        fit = set(index.nodes)
    fit -= _forbidden_providers(index, group)
    fit = {p for p in fit if group.traits.required <= index.traits(p)}
    trees = {index.root_of(p) for p in fit}
    for p in fit:
        if index.is_sharing(p):
            trees.update(index.anchors(p))
    return _mark(roots, trees) if trees else np.zeros(len(roots), dtype=bool)


def screen(index: CloudIndex, request: CandidateRequest, roots: IntArray) -> Screen:
    """Check ``roots`` against ``request``'s necessary conditions, first failure wins."""
    codes = np.full(len(roots), -1, dtype=np.int64)
    labels: list[str] = []
    alive = np.ones(len(roots), dtype=bool)

    def fail(ok: Mask, reason: str) -> None:
        hit = alive & ~ok
        if hit.any():
            if reason not in labels:
                labels.append(reason)
            codes[hit] = labels.index(reason)
        alive[:] &= ok

    for group in request.groups:
        if group.use_same_provider:
            continue
        excluded = _forbidden_providers(index, group)
        for rc, amount in sorted(group.resources.items()):
            fail(_class_ok(index, roots, rc, amount, excluded), f"insufficient {rc}")
        for trait in sorted(group.traits.required):
            fail(_trait_ok(index, roots, trait), f"lacks {trait}")
        for any_of in group.traits.any_of:
            ok = np.zeros(len(roots), dtype=bool)
            for trait in any_of:
                ok |= _trait_ok(index, roots, trait)
            fail(ok, f"lacks any of {', '.join(sorted(any_of))}")
        if group.member_of:
            member = np.fromiter(
                (
                    group.member_of.matches(index.aggregates(int(r)))
                    or any(group.member_of.matches(index.aggregates(p)) for p in index.trees[r])
                    for r in roots.tolist()
                ),
                dtype=bool,
                count=len(roots),
            )
            fail(member, "not in the requested aggregates")
    for group in request.groups:
        if group.use_same_provider:
            fail(
                _single_provider_ok(index, roots, group),
                f"no single provider for request group {group.suffix}",
            )
    required_root = request.root_traits
    if required_root:
        fail(
            np.fromiter(
                (required_root.matches(index.traits(int(r))) for r in roots.tolist()),
                dtype=bool,
                count=len(roots),
            ),
            "root provider traits do not match",
        )
    return Screen(roots, codes, tuple(labels))
