"""Provider summaries: capacity, usage and traits of the providers a scheduler will weigh.

From microversion 1.29 (nested-aware) the summaries cover every provider of every tree a
candidate allocates from, so a scheduler sees the whole tree (parents without inventory
included). Before 1.29 they cover exactly the providers the candidates allocate from.
Which resource classes are shown per microversion is the API's business; all are kept.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from berth.model.candidates import ProviderSummary, SummaryResource
from berth.query.capacity import IntArray
from berth.query.columns import columns_of
from berth.query.index import CloudIndex


def summarize(
    index: CloudIndex, used: IntArray, *, nested_aware: bool
) -> tuple[ProviderSummary, ...]:
    """Summaries, in provider id order, for the candidates allocating from ``used``
    (provider ids, in any order, repeats allowed)."""
    if not len(used):
        return ()
    if nested_aware:
        cols = columns_of(index)
        trees = np.zeros(cols.size, dtype=bool)
        trees[cols.roots[used]] = True
        shown: list[int] = np.flatnonzero(trees[cols.roots] & (cols.roots >= 0)).tolist()
    else:
        shown = np.unique(used).tolist()
    found = list(map(index.summaries.get, shown))  # (C-level: 14,000 at 10k hosts)
    if all(found):
        return tuple(cast(list[ProviderSummary], found))
    return tuple(summary(index, pid) for pid in shown)


def summary(index: CloudIndex, pid: int) -> ProviderSummary:
    """``pid``'s summary, cached on the index until the provider changes (an unlimited
    query over a large cloud summarizes thousands of providers per request)."""
    cached = index.summaries.get(pid)
    if cached is None:
        cached = _summary(index, pid)
        index.summaries[pid] = cached
    return cached


def _summary(index: CloudIndex, pid: int) -> ProviderSummary:
    node = index.node(pid)
    parent_node = index.nodes.get(node.parent_id) if node.parent_id is not None else None
    root_node = index.nodes.get(node.root_id, node)
    inventories = index.inventories.get(pid, {})
    resources = tuple(
        SummaryResource(rc, inv.capacity, index.used(pid, rc))
        for rc, inv in sorted(inventories.items())
    )
    return ProviderSummary(
        provider_id=pid,
        uuid=node.uuid,
        parent_uuid=parent_node.uuid if parent_node is not None else None,
        root_uuid=root_node.uuid,
        resources=resources,
        traits=index.trait_names.get(pid, ()),
    )
