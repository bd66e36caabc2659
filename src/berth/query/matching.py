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

import numpy as np

from berth.model.candidates import RequestGroup
from berth.model.filters import AggregateFilter, TraitFilter
from berth.query.index import CloudIndex

# anchor root id -> provider ids, in id order
AnchorOptions = dict[int, list[int]]


def allowed_anchors(index: CloudIndex, root_traits: TraitFilter) -> frozenset[int] | None:
    """Roots that pass ``root_required`` (1.35), or None when there is no such filter."""
    if not root_traits:
        return None
    return frozenset(root for root in index.trees if root_traits.matches(index.traits(root)))


# Provider ids are positive: a root no provider has, for an ``in_tree`` naming nobody.
NOWHERE = -1


def tree_root(index: CloudIndex, group: RequestGroup) -> int | None:
    """The root ``in_tree`` restricts the group to (None: no restriction); NOWHERE when
    the named provider does not exist, so that the group matches nothing."""
    if group.in_tree is None:
        return None
    pid = index.by_uuid.get(group.in_tree)
    return NOWHERE if pid is None else index.root_of(pid)


def aggs_match(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    return member_of.matches(index.aggregates(pid))


def in_any_of(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    aggs = index.aggregates(pid)
    return all(group & aggs for group in member_of.any_of)


def in_forbidden(index: CloudIndex, pid: int, member_of: AggregateFilter) -> bool:
    return bool(member_of.forbidden & index.aggregates(pid))


def single_providers(index: CloudIndex, group: RequestGroup) -> list[int]:
    """Providers that alone satisfy ``group`` (resources, traits, aggregates, in_tree)."""
    tree = tree_root(index, group)
    if tree == NOWHERE:
        return []
    resources = sorted(group.resources.items())
    pool: list[int]
    if tree is not None:
        pool = [
            pid
            for pid in index.trees.get(tree, ())
            if all(index.fits(pid, rc, amount) for rc, amount in resources)
        ]
    elif resources:
        pool = fitting_everywhere(index, resources)
    else:
        pool = sorted(index.nodes)
    found = []
    for pid in pool:
        if group.traits and not group.traits.matches(index.traits(pid)):
            continue
        if group.member_of and not aggs_match(index, pid, group.member_of):
            continue
        found.append(pid)
    return found


def fitting_everywhere(index: CloudIndex, resources: list[tuple[str, int]]) -> list[int]:
    """Providers that can take every one of ``resources`` alone, in id order (one numpy
    pass per class, intersected starting from the rarest class)."""
    tables = []
    for rc, amount in resources:
        table = index.classes.get(rc)
        if table is None:
            return []
        tables.append((table, amount))
    tables.sort(key=lambda item: len(item[0]))
    first, amount = tables[0]
    pool = first.pids[first.fits(amount)]
    for table, amount in tables[1:]:
        if not len(pool):
            break
        pool = np.intersect1d(pool, table.pids[table.fits(amount)], assume_unique=True)
    result: list[int] = pool.tolist()
    return result


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
