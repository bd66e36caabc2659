"""Lookup structures over a Cloud, built once per snapshot.

The engine asks the same few questions many times: who has inventory of a class, which
providers form a tree, who is in an aggregate, which trees a sharing provider serves,
is A an ancestor of B. Answering them from prebuilt dicts keeps every step linear in what
the request touches rather than in the size of the cloud. (An in-process index kept
coherent with committed writes can later replace the per-request build.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud, Node
from berth.model.inventory import Inventory


class CloudIndex:
    """Read-only indexes over one ``Cloud``."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.nodes = cloud.nodes
        by_class: dict[str, list[int]] = defaultdict(list)
        for pid in sorted(cloud.inventories):
            if pid in self.nodes:
                for rc in cloud.inventories[pid]:
                    by_class[rc].append(pid)
        self.by_class: dict[str, list[int]] = dict(by_class)
        trees: dict[int, list[int]] = defaultdict(list)
        for pid in sorted(self.nodes):
            trees[self.nodes[pid].root_id].append(pid)
        self.trees: dict[int, list[int]] = dict(trees)
        members: dict[str, set[int]] = defaultdict(set)
        for pid, aggs in cloud.aggregates.items():
            if pid in self.nodes:
                for agg in aggs:
                    members[agg].add(pid)
        self.agg_members: dict[str, set[int]] = dict(members)
        self.trait_sets: dict[int, frozenset[str]] = {
            pid: frozenset(names) for pid, names in cloud.traits.items()
        }
        self.by_uuid: dict[str, int] = {node.uuid: pid for pid, node in self.nodes.items()}
        self._anchors: dict[int, tuple[int, ...]] = {}

    def node(self, pid: int) -> Node:
        return self.nodes[pid]

    def root_of(self, pid: int) -> int:
        return self.nodes[pid].root_id

    def traits(self, pid: int) -> frozenset[str]:
        return self.trait_sets.get(pid, frozenset())

    def aggregates(self, pid: int) -> frozenset[str]:
        return self.cloud.aggregates.get(pid, frozenset())

    def inventory(self, pid: int, rc: str) -> Inventory | None:
        return self.cloud.inventories.get(pid, {}).get(rc)

    def is_sharing(self, pid: int) -> bool:
        return SHARES_VIA_AGGREGATE in self.traits(pid)

    def fits(self, pid: int, rc: str, amount: int) -> bool:
        """Whether one allocation of ``amount`` of ``rc`` from ``pid`` is acceptable now:
        within min/max unit, a multiple of the step size and within free capacity."""
        inv = self.inventory(pid, rc)
        if inv is None:
            return False
        if amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size:
            return False
        return self.cloud.used(pid, rc) + amount <= inv.capacity

    def room(self, pid: int, rc: str, amount: int) -> bool:
        """Whether a combined ``amount`` still fits: capacity and max_unit only (summing
        valid single amounts keeps min_unit and step_size satisfied)."""
        inv = self.inventory(pid, rc)
        if inv is None:
            return False
        return amount <= inv.max_unit and self.cloud.used(pid, rc) + amount <= inv.capacity

    def anchors(self, sharing_id: int) -> tuple[int, ...]:
        """Roots of the trees a sharing provider serves: the tree of every provider that
        shares an aggregate with it (its own tree included when it has an aggregate)."""
        cached = self._anchors.get(sharing_id)
        if cached is None:
            roots: set[int] = set()
            for agg in self.aggregates(sharing_id):
                for member in self.agg_members.get(agg, ()):
                    roots.add(self.root_of(member))
            cached = tuple(sorted(roots))
            self._anchors[sharing_id] = cached
        return cached

    def ancestry(self, pid: int) -> Iterable[int]:
        """``pid`` and its ancestors up to the root (stopping at a parent outside the
        snapshot or a loop, which only a corrupt database could hold)."""
        seen: set[int] = set()
        current: int | None = pid
        while current is not None and current not in seen and current in self.nodes:
            seen.add(current)
            yield current
            current = self.nodes[current].parent_id

    def is_ancestor_or_self(self, ancestor: int, pid: int) -> bool:
        return any(a == ancestor for a in self.ancestry(pid))
