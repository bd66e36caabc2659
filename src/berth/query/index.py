"""Lookup structures over the cloud, patchable tree by tree.

The engine asks the same few questions many times: who has inventory of a class, which
providers form a tree, who is in an aggregate, which trees a sharing provider serves,
is A an ancestor of B. Answering them from prebuilt dicts keeps every step linear in what
the request touches rather than in the size of the cloud.

The index is built once from a ``Cloud`` and can then be patched: ``replace_trees``
swaps whole trees for their current state (see ``berth.query.resident``), keeping every
derived structure (per-class capacity arrays, tree lists, aggregate members, the sharing
anchors cache) in step with the providers it holds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from berth.model.candidates import ProviderSummary
from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud, Node
from berth.model.inventory import Inventory
from berth.query.activity import ClaimActivity
from berth.query.capacity import ClassTable, Row

if TYPE_CHECKING:
    from berth.query.columns import Columns


class CloudIndex:
    """Indexes over the providers of a set of whole trees."""

    def __init__(self, cloud: Cloud) -> None:
        self.nodes: dict[int, Node] = {}
        self.inventories: dict[int, dict[str, Inventory]] = {}
        self.usages: dict[int, dict[str, int]] = {}
        self.trait_names: dict[int, tuple[str, ...]] = {}
        self.trait_sets: dict[int, frozenset[str]] = {}
        self.aggregate_sets: dict[int, frozenset[str]] = {}
        self.classes: dict[str, ClassTable] = {}
        self.trees: dict[int, list[int]] = {}
        self.agg_members: dict[str, set[int]] = {}
        self.trait_members: dict[str, set[int]] = {}
        self.by_uuid: dict[str, int] = {}
        self._anchors: dict[int, tuple[int, ...]] = {}
        # Provider summaries by id, filled by ``summaries``; a summary shows the parent's
        # and root's uuids, so any change to a tree drops its members' entries.
        self.summaries: dict[int, ProviderSummary] = {}
        # Per-provider-id numpy columns (``berth.query.columns``), built on first use and
        # dropped by every change except a usage-only patch.
        self.columns: Columns | None = None
        # Claims seen landing per host, for the scheduler's IoOpsWeigher.
        self.activity = ClaimActivity()
        # Values derived from the set of trees (e.g. the host roots), dropped whenever a
        # provider is added or removed.
        self.derived: dict[str, Any] = {}
        self._add(cloud, bulk=True)

    # -- patching -------------------------------------------------------------------

    def replace_trees(self, roots: Iterable[int], fresh: Cloud) -> bool:
        """Drop every provider of the trees rooted at ``roots`` and add ``fresh``, the
        current state of (at least) those trees, each whole. True when only usage changed
        (then patched in place)."""
        gone: set[int] = set()
        for root in roots:
            gone.update(self.trees.get(root, ()))
        gone.update(pid for pid in fresh.nodes if pid in self.nodes)
        if gone == set(fresh.nodes) and all(self._same_but_usage(pid, fresh) for pid in gone):
            self._patch_usages(fresh)
            return True
        before = {pid: (self.nodes[pid].root_id, self.aggregates(pid)) for pid in gone}
        self._remove(gone)
        self._add(fresh, bulk=False)
        after = {pid: (self.nodes[pid].root_id, self.aggregates(pid)) for pid in fresh.nodes}
        if before != after:
            # Which trees a sharing provider serves depends on tree membership and
            # aggregates only: an inventory, trait or usage change keeps the cache.
            self._anchors.clear()
        return False

    def _same_but_usage(self, pid: int, fresh: Cloud) -> bool:
        """Whether ``pid`` differs from its fresh state in usage at most (the common
        case: an allocation was made or released), so it can be patched in place."""
        old, new = self.nodes[pid], fresh.nodes[pid]
        return (
            (old.uuid, old.name, old.parent_id, old.root_id)
            == (new.uuid, new.name, new.parent_id, new.root_id)
            and self.inventories.get(pid, {}) == dict(fresh.inventories.get(pid, {}))
            and self.trait_names.get(pid, ()) == tuple(fresh.traits.get(pid, ()))
            and self.aggregates(pid) == fresh.aggregates.get(pid, frozenset())
        )

    def _patch_usages(self, fresh: Cloud) -> None:
        claimed: set[int] = set()
        for pid, node in fresh.nodes.items():
            self.summaries.pop(pid, None)
            self.nodes[pid] = node  # the generation moves on with every allocation
            used = dict(fresh.usages.get(pid, {}))
            before = self.usages.get(pid, {})
            if any(n > before.get(rc, 0) for rc, n in used.items()):
                claimed.add(node.root_id)
            if used:
                self.usages[pid] = used
            else:
                self.usages.pop(pid, None)
            for rc in self.inventories.get(pid, {}):
                self.classes[rc].set_used(pid, used.get(rc, 0))
        for root in claimed:
            self.activity.note(root)

    def adjust_used(self, pid: int, rc: str, delta: int) -> None:
        """Add ``delta`` to ``pid``'s usage of ``rc`` in this index only (the database is
        untouched): the scheduler charges the instances it has planned but not yet
        claimed, so that the next instance of the same request sees them, and takes them
        back before the index is used for anything else."""
        used = dict(self.usages.get(pid, {}))
        used[rc] = used.get(rc, 0) + delta
        if used[rc] == 0:
            del used[rc]
        if used:
            self.usages[pid] = used
        else:
            self.usages.pop(pid, None)
        self.summaries.pop(pid, None)  # a summary (and its cached JSON) shows usage
        table = self.classes.get(rc)
        if table is not None:
            table.set_used(pid, used.get(rc, 0))

    def _remove(self, pids: set[int]) -> None:
        if not pids:
            return
        self.columns = None
        self.derived.clear()
        per_class: dict[str, list[int]] = {}
        for pid in pids:
            node = self.nodes.pop(pid, None)
            self.summaries.pop(pid, None)
            if node is None:
                continue
            self.by_uuid.pop(node.uuid, None)
            tree = self.trees.get(node.root_id)
            if tree is not None:
                tree.remove(pid)
                if not tree:
                    del self.trees[node.root_id]
            for rc in self.inventories.pop(pid, {}):
                per_class.setdefault(rc, []).append(pid)
            self.usages.pop(pid, None)
            self.trait_names.pop(pid, None)
            for trait in self.trait_sets.pop(pid, frozenset()):
                holders = self.trait_members[trait]
                holders.discard(pid)
                if not holders:
                    del self.trait_members[trait]
            for agg in self.aggregate_sets.pop(pid, frozenset()):
                members = self.agg_members.get(agg)
                if members is not None:
                    members.discard(pid)
                    if not members:
                        del self.agg_members[agg]
        for rc, gone in per_class.items():
            table = self.classes[rc]
            table.remove(gone)
            if not len(table):
                del self.classes[rc]

    def _add(self, cloud: Cloud, *, bulk: bool) -> None:
        self.columns = None
        self.derived.clear()
        per_class: dict[str, list[Row]] = {}
        for pid in sorted(cloud.nodes):
            node = cloud.nodes[pid]
            self.nodes[pid] = node
            self.by_uuid[node.uuid] = pid
            tree = self.trees.setdefault(node.root_id, [])
            if bulk:
                tree.append(pid)
            else:
                bisect.insort(tree, pid)
            invs = dict(cloud.inventories.get(pid, {}))
            if invs:
                self.inventories[pid] = invs
            used = dict(cloud.usages.get(pid, {}))
            if used:
                self.usages[pid] = used
            names = tuple(cloud.traits.get(pid, ()))
            if names:
                self.trait_names[pid] = names
                self.trait_sets[pid] = frozenset(names)
                for trait in names:
                    self.trait_members.setdefault(trait, set()).add(pid)
            aggs = cloud.aggregates.get(pid, frozenset())
            if aggs:
                self.aggregate_sets[pid] = aggs
                for agg in aggs:
                    self.agg_members.setdefault(agg, set()).add(pid)
            for rc, inv in invs.items():
                per_class.setdefault(rc, []).append((pid, node.root_id, inv, used.get(rc, 0)))
        for rc, rows in per_class.items():
            table = self.classes.get(rc)
            if table is None:
                self.classes[rc] = ClassTable.build(rows)
            else:
                table.insert(rows)

    # -- lookups --------------------------------------------------------------------

    def node(self, pid: int) -> Node:
        return self.nodes[pid]

    def root_of(self, pid: int) -> int:
        return self.nodes[pid].root_id

    def traits(self, pid: int) -> frozenset[str]:
        return self.trait_sets.get(pid, frozenset())

    def aggregates(self, pid: int) -> frozenset[str]:
        return self.aggregate_sets.get(pid, frozenset())

    def inventory(self, pid: int, rc: str) -> Inventory | None:
        return self.inventories.get(pid, {}).get(rc)

    def used(self, pid: int, rc: str) -> int:
        return self.usages.get(pid, {}).get(rc, 0)

    def with_class(self, rc: str) -> list[int]:
        """Providers having inventory of ``rc``, in id order."""
        table = self.classes.get(rc)
        return [] if table is None else table.provider_list()

    def count_with_class(self, rc: str) -> int:
        table = self.classes.get(rc)
        return 0 if table is None else len(table)

    def having_any(self, traits: Iterable[str]) -> set[int]:
        """Providers having at least one of ``traits``."""
        out: set[int] = set()
        for trait in traits:
            out |= self.trait_members.get(trait, set())
        return out

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
        return self.used(pid, rc) + amount <= inv.capacity

    def room(self, pid: int, rc: str, amount: int) -> bool:
        """Whether a combined ``amount`` still fits: capacity and max_unit only (summing
        valid single amounts keeps min_unit and step_size satisfied)."""
        inv = self.inventory(pid, rc)
        if inv is None:
            return False
        return amount <= inv.max_unit and self.used(pid, rc) + amount <= inv.capacity

    def anchors(self, sharing_id: int) -> tuple[int, ...]:
        """Roots of the trees a sharing provider serves: the tree of every provider that
        shares an aggregate with it (its own tree included when it has an aggregate).

        Cached; any change to tree membership or aggregates clears the cache."""
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
        index or a loop, which only a corrupt database could hold)."""
        seen: set[int] = set()
        current: int | None = pid
        while current is not None and current not in seen and current in self.nodes:
            seen.add(current)
            yield current
            current = self.nodes[current].parent_id

    def is_ancestor_or_self(self, ancestor: int, pid: int) -> bool:
        return any(a == ancestor for a in self.ancestry(pid))
