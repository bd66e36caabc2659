"""A brute-force reference for allocation candidates, written to be obviously right.

It knows nothing of the engine's indexes, pruning or anchors-by-group bookkeeping: for
every tree root (anchor) it tries every assignment of a provider to every choice the
request makes (one per resource class of the unsuffixed group, one per suffixed group)
-- each choice among the providers that meet that choice's own rules -- and keeps the
assignments that satisfy every rule, read straight off Placement's semantics.
Exponential, so only for small clouds.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

from berth.model.candidates import CandidateRequest, RequestGroup
from berth.model.cloud import SHARES_VIA_AGGREGATE, Cloud

# A candidate, comparable across engines: its allocations (provider uuid, class, amount)
# and its mappings (suffix, provider uuids).
Key = tuple[frozenset[tuple[str, str, int]], frozenset[tuple[str, frozenset[str]]]]


def reference(cloud: Cloud, request: CandidateRequest) -> set[Key]:
    ref = _Reference(cloud, request)
    return ref.run()


class _Reference:
    def __init__(self, cloud: Cloud, request: CandidateRequest) -> None:
        self.cloud = cloud
        self.request = request
        self.pids = sorted(cloud.nodes)
        self.roots = sorted({n.root_id for n in cloud.nodes.values()})
        # The choices: (group, resource class or None for a whole suffixed group).
        self.slots: list[tuple[RequestGroup, str | None]] = []
        for group in request.groups:
            if group.use_same_provider:
                self.slots.append((group, None))
            else:
                self.slots.extend((group, rc) for rc in sorted(group.resources))

    # --- facts about providers ---------------------------------------------------------
    def root(self, pid: int) -> int:
        return self.cloud.nodes[pid].root_id

    def traits(self, pid: int) -> frozenset[str]:
        return self.cloud.trait_set(pid)

    def aggs(self, pid: int) -> frozenset[str]:
        return self.cloud.aggregates_of(pid)

    def served_trees(self, pid: int) -> set[int]:
        """Roots a provider can serve: its own, plus (sharing providers) the tree of every
        provider with which it shares an aggregate."""
        out = {self.root(pid)}
        if SHARES_VIA_AGGREGATE in self.traits(pid):
            out |= {self.root(q) for q in self.pids if self.aggs(q) & self.aggs(pid)}
        return out

    def fits(self, pid: int, rc: str, amount: int) -> bool:
        inv = self.cloud.inventories.get(pid, {}).get(rc)
        if inv is None:
            return False
        return (
            inv.min_unit <= amount <= inv.max_unit
            and amount % inv.step_size == 0
            and self.cloud.used(pid, rc) + amount <= inv.capacity
        )

    def in_all_of(self, pid: int, group: RequestGroup) -> bool:
        return all(terms & self.aggs(pid) for terms in group.member_of.any_of)

    def in_forbidden(self, pid: int, group: RequestGroup) -> bool:
        return bool(group.member_of.forbidden & self.aggs(pid))

    def tree_of(self, uuid: str) -> int:
        """The root of the named provider's tree; -1 (no tree) when it does not exist."""
        for pid, node in self.cloud.nodes.items():
            if node.uuid == uuid:
                return self.root(pid)
        return -1

    def is_ancestor_or_self(self, top: int, pid: int) -> bool:
        current: int | None = pid
        while current is not None:
            if current == top:
                return True
            current = self.cloud.nodes[current].parent_id
        return False

    # --- the rules ---------------------------------------------------------------------
    def unsuffixed_ok(self, group: RequestGroup, rc: str, pid: int, anchor: int) -> bool:
        if not self.fits(pid, rc, group.resources[rc]):
            return False
        if group.traits.forbidden & self.traits(pid):
            return False
        if group.in_tree is not None:
            tree = self.tree_of(group.in_tree)
            if self.root(pid) != tree or anchor != tree:
                return False
        elif self.root(pid) != anchor:
            # Another tree's provider: only a sharing provider serving this anchor, and
            # then it must itself be in the requested aggregates.
            if anchor not in self.served_trees(pid):
                return False
            if not self.in_all_of(pid, group):
                return False
        if group.member_of.any_of and not (
            self.in_all_of(pid, group) or self.in_all_of(anchor, group)
        ):
            return False
        return not (self.in_forbidden(pid, group) or self.in_forbidden(anchor, group))

    def granular_ok(self, group: RequestGroup, pid: int, anchor: int) -> bool:
        if not all(self.fits(pid, rc, amount) for rc, amount in group.resources.items()):
            return False
        if not group.traits.matches(self.traits(pid)):
            return False
        if not group.member_of.matches(self.aggs(pid)):
            return False
        if group.in_tree is not None and self.root(pid) != self.tree_of(group.in_tree):
            return False
        return anchor in self.served_trees(pid)

    def slot_ok(self, slot: tuple[RequestGroup, str | None], pid: int, anchor: int) -> bool:
        """The rules one choice must meet on its own."""
        group, rc = slot
        if rc is not None:
            return self.unsuffixed_ok(group, rc, pid, anchor)
        return self.granular_ok(group, pid, anchor)

    def valid(self, choice: Sequence[int]) -> bool:
        """The rules on the combination (each choice already passed ``slot_ok``)."""
        request = self.request
        unsuffixed_traits: set[str] = set()
        unsuffixed_group = None
        granular: list[int] = []
        for (group, rc), pid in zip(self.slots, choice, strict=True):
            if rc is not None:
                unsuffixed_group = group
                unsuffixed_traits |= self.traits(pid)
            else:
                granular.append(pid)
        if unsuffixed_group is not None:
            wanted = unsuffixed_group.traits
            have = frozenset(unsuffixed_traits)
            if not (wanted.required <= have and all(t & have for t in wanted.any_of)):
                return False
        totals = self.totals(choice)
        for (pid, rc), amount in totals.items():
            inv = self.cloud.inventories[pid][rc]
            if amount > inv.max_unit or self.cloud.used(pid, rc) + amount > inv.capacity:
                return False
        if request.group_policy == "isolate" and len(set(granular)) != len(granular):
            return False
        mappings = self.mappings(choice)
        for names in request.same_subtrees:
            members = set().union(*(mappings[n] for n in names))
            if not any(all(self.is_ancestor_or_self(t, p) for p in members) for t in members):
                return False
        if not request.nested_aware:
            users = {pid for pid, _ in totals}
            if len({self.root(p) for p in users}) != len(users):
                return False
        return True

    def totals(self, choice: Sequence[int]) -> dict[tuple[int, str], int]:
        out: dict[tuple[int, str], int] = {}
        for (group, rc), pid in zip(self.slots, choice, strict=True):
            asked = {rc: group.resources[rc]} if rc is not None else dict(group.resources)
            for name, amount in asked.items():
                out[(pid, name)] = out.get((pid, name), 0) + amount
        return out

    def mappings(self, choice: Sequence[int]) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for (group, _), pid in zip(self.slots, choice, strict=True):
            out.setdefault(group.suffix, set()).add(pid)
        return out

    def run(self) -> set[Key]:
        found: set[Key] = set()
        uuid = {pid: node.uuid for pid, node in self.cloud.nodes.items()}
        for anchor in self.roots:
            if self.request.root_traits and not self.request.root_traits.matches(
                self.traits(anchor)
            ):
                continue
            # Every combination of providers that each pass their own choice's rules.
            each = [[p for p in self.pids if self.slot_ok(s, p, anchor)] for s in self.slots]
            for choice in product(*each):
                if self.valid(choice):
                    allocations = frozenset(
                        (uuid[pid], rc, amount) for (pid, rc), amount in self.totals(choice).items()
                    )
                    mappings = frozenset(
                        (suffix, frozenset(uuid[p] for p in pids))
                        for suffix, pids in self.mappings(choice).items()
                    )
                    found.add((allocations, mappings))
        return found
