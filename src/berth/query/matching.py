"""Per-group matching: which providers can serve a request group, grouped by anchor.

An *anchor* is the root of the tree a candidate is built around. A provider serves its
own tree; a sharing provider (MISC_SHARES_VIA_AGGREGATE) also serves every tree that has a
provider in one of its aggregates. Candidates are only ever combined within one anchor.

* A suffixed group needs one provider with room for all its resources and, on that
  provider itself, the required/forbidden traits and aggregate membership.
* The unsuffixed group may take each resource class from a different provider of the
  tree or a sharing provider. Aggregate membership of a provider's root counts as its own
  there (an aggregate on the root spans the tree); a sharing provider must itself be in
  the requested aggregates. Trait requirements apply to the providers a candidate uses,
  taken together; that is checked when combining (see ``combine``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from berth.model.candidates import RequestGroup
from berth.model.filters import AggregateFilter, TraitFilter
from berth.query.index import CloudIndex

# anchor root id -> provider ids, in id order
AnchorOptions = dict[int, list[int]]


@dataclass(frozen=True, slots=True)
class ClassOptions:
    """For the unsuffixed group at one anchor: who can provide ``amount`` of ``rc``."""

    rc: str
    amount: int
    providers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnsuffixedOptions:
    """The unsuffixed group's options, per anchor on demand (a limit may stop the search
    long before most anchors are looked at)."""

    anchors: frozenset[int]
    per_class: tuple[tuple[str, int, dict[int, list[int]]], ...]

    def at(self, anchor: int) -> list[ClassOptions]:
        return [ClassOptions(rc, n, tuple(opts[anchor])) for rc, n, opts in self.per_class]


def allowed_anchors(index: CloudIndex, root_traits: TraitFilter) -> frozenset[int] | None:
    """Roots that pass ``root_required`` (1.35), or None when there is no such filter."""
    if not root_traits:
        return None
    return frozenset(root for root in index.trees if root_traits.matches(index.traits(root)))


# Provider ids are positive: a root no provider has, for an ``in_tree`` naming nobody.
NOWHERE = -1


def _tree_root(index: CloudIndex, group: RequestGroup) -> int | None:
    """The root ``in_tree`` restricts the group to (None: no restriction); NOWHERE when
    the named provider does not exist, so that the group matches nothing."""
    if group.in_tree is None:
        return None
    pid = index.by_uuid.get(group.in_tree)
    return NOWHERE if pid is None else index.root_of(pid)


def _aggs_match(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    return member_of.matches(index.aggregates(pid))


def _in_any_of(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    aggs = index.aggregates(pid)
    return all(group & aggs for group in member_of.any_of)


def _in_forbidden(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    return bool(member_of.forbidden & index.aggregates(pid))


def single_providers(index: CloudIndex, group: RequestGroup) -> list[int]:
    """Providers that alone satisfy ``group`` (resources, traits, aggregates, in_tree)."""
    tree = _tree_root(index, group)
    if tree == NOWHERE:
        return []
    resources = sorted(group.resources.items())
    if resources:
        # Start from the rarest requested class: the shortest list to filter.
        rarest = min(resources, key=lambda item: len(index.by_class.get(item[0], ())))
        pool: Iterable[int] = index.by_class.get(rarest[0], ())
    else:
        pool = sorted(index.nodes)
    found = []
    for pid in pool:
        if tree is not None and index.root_of(pid) != tree:
            continue
        if not all(index.fits(pid, rc, amount) for rc, amount in resources):
            continue
        if group.traits and not group.traits.matches(index.traits(pid)):
            continue
        if group.member_of and not _aggs_match(index, pid, group.member_of):
            continue
        found.append(pid)
    return found


def granular_options(
    index: CloudIndex, group: RequestGroup, anchors_ok: frozenset[int] | None
) -> AnchorOptions:
    """anchor -> providers satisfying the suffixed ``group`` for candidates on that anchor."""
    out: dict[int, list[int]] = defaultdict(list)
    for pid in single_providers(index, group):
        anchors = {index.root_of(pid)}
        if index.is_sharing(pid):
            anchors.update(index.anchors(pid))
        for anchor in anchors:
            if anchors_ok is None or anchor in anchors_ok:
                out[anchor].append(pid)
    return dict(out)


def unsuffixed_options(
    index: CloudIndex, group: RequestGroup, anchors_ok: frozenset[int] | None
) -> UnsuffixedOptions:
    """Per anchor, per requested class, the providers that can supply it on that anchor.

    Only anchors where every requested class has at least one provider are kept.
    Providers having a forbidden trait are left out here: no candidate may use them.
    """
    nothing = UnsuffixedOptions(frozenset(), ())
    tree = _tree_root(index, group)
    if tree == NOWHERE:
        return nothing
    member_of = group.member_of
    forbidden_traits = group.traits.forbidden

    def aggs_ok(pid: int, anchor: int) -> bool:
        if member_of.any_of and not (
            _in_any_of(index, pid, member_of) or _in_any_of(index, anchor, member_of)
        ):
            return False
        return not (
            member_of.forbidden
            and (_in_forbidden(index, pid, member_of) or _in_forbidden(index, anchor, member_of))
        )

    per_class: list[tuple[str, int, dict[int, list[int]]]] = []
    for rc, amount in sorted(group.resources.items()):
        by_anchor: dict[int, list[int]] = defaultdict(list)
        for pid in index.by_class.get(rc, ()):
            if not index.fits(pid, rc, amount):
                continue
            if forbidden_traits and forbidden_traits & index.traits(pid):
                continue
            root = index.root_of(pid)
            if tree is not None and root != tree:
                continue
            anchors = [root]
            if (
                tree is None
                and index.is_sharing(pid)
                and (not member_of.any_of or _in_any_of(index, pid, member_of))
            ):
                anchors.extend(a for a in index.anchors(pid) if a != root)
            for anchor in anchors:
                if anchors_ok is not None and anchor not in anchors_ok:
                    continue
                if member_of and not aggs_ok(pid, anchor):
                    continue
                by_anchor[anchor].append(pid)
        if not by_anchor:
            return nothing
        per_class.append((rc, amount, by_anchor))
    if not per_class:
        return nothing
    common = set(per_class[0][2])
    for _, _, by_anchor in per_class[1:]:
        common &= by_anchor.keys()
    return UnsuffixedOptions(frozenset(common), tuple(per_class))
