"""Combining request groups into allocation requests, one anchor at a time.

For each anchor the request becomes a sequence of *slots*: one per resource class of the
unsuffixed group (each may come from a different provider), then one per suffixed group
(one provider for the whole group). A depth-first search picks a provider per slot and
checks every rule as soon as the slots it depends on are filled, so a partial choice that
cannot lead to a valid candidate is abandoned at once instead of being built and thrown
away:

* capacity: amounts of one class on one provider, summed over groups, fit its free
  capacity and max_unit;
* the unsuffixed group's required traits, satisfied by the providers it uses together
  (pruned early when the remaining slots cannot supply a missing trait);
* ``group_policy=isolate``: suffixed groups use pairwise different providers;
* ``same_subtree``: one of the named groups' providers is an ancestor of (or is) all of
  them;
* before microversion 1.29, no two different providers of one tree.

Candidates are produced by generators, so a ``limit`` stops the search itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from berth.model.candidates import Allocation, AllocationRequest, CandidateRequest
from berth.model.filters import TraitFilter
from berth.query.index import CloudIndex


@dataclass(frozen=True, slots=True)
class Slot:
    """One choice to make: a provider for ``resources`` on behalf of group ``suffix``."""

    suffix: str
    resources: tuple[tuple[str, int], ...]
    options: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """The request-wide rules the search enforces."""

    unsuffixed_traits: TraitFilter
    isolate: bool
    same_subtrees: tuple[frozenset[str], ...]
    nested_aware: bool


def rules_for(request: CandidateRequest) -> Rules:
    unsuffixed = next((g for g in request.groups if not g.use_same_provider), None)
    return Rules(
        unsuffixed_traits=unsuffixed.traits if unsuffixed is not None else TraitFilter(),
        isolate=request.group_policy == "isolate",
        same_subtrees=tuple(frozenset(s) for s in request.same_subtrees),
        nested_aware=request.nested_aware,
    )


def _satisfiable(traits: TraitFilter, have: frozenset[str]) -> bool:
    """Whether traits ``have`` (all a candidate could still gather) can meet ``traits``."""
    return traits.required <= have and all(group & have for group in traits.any_of)


class _Search:
    """Depth-first search over the slots of one anchor."""

    def __init__(self, index: CloudIndex, slots: Sequence[Slot], rules: Rules) -> None:
        self.index = index
        self.slots = slots
        self.rules = rules
        self.n_unsuffixed = sum(1 for s in slots if s.suffix == "")
        traits = rules.unsuffixed_traits
        self.check_traits = bool(traits.required or traits.any_of) and self.n_unsuffixed > 0
        # For pruning: the traits still obtainable from unsuffixed slots i.. onwards.
        reach: list[frozenset[str]] = [frozenset()] * (self.n_unsuffixed + 1)
        for i in range(self.n_unsuffixed - 1, -1, -1):
            gathered: set[str] = set(reach[i + 1])
            for pid in slots[i].options:
                gathered |= index.traits(pid)
            reach[i] = frozenset(gathered)
        self.reach = reach
        # same_subtree sets are checked once their last group has been placed.
        position = {s.suffix: i for i, s in enumerate(slots) if s.suffix}
        self.subtree_checks: dict[int, list[frozenset[str]]] = {}
        for names in rules.same_subtrees:
            last = max(position[name] for name in names)
            self.subtree_checks.setdefault(last, []).append(names)
        self.chosen: list[int] = []
        self.usage: dict[tuple[int, str], int] = {}
        self.isolated: set[int] = set()
        self.tree_user: dict[int, int] = {}  # root -> the provider using it (pre-1.29)
        self.tree_count: dict[int, int] = {}

    def run(self) -> Iterator[AllocationRequest]:
        if self.check_traits and not _satisfiable(self.rules.unsuffixed_traits, self.reach[0]):
            return
        yield from self._place(0, frozenset())

    def _place(self, depth: int, gathered: frozenset[str]) -> Iterator[AllocationRequest]:
        if depth == len(self.slots):
            yield self._build()
            return
        slot = self.slots[depth]
        granular = slot.suffix != ""
        for pid in slot.options:
            if granular and self.rules.isolate and pid in self.isolated:
                continue
            if not self._take(pid, slot):
                continue
            now = gathered
            ok = True
            if not granular and self.check_traits:
                now = gathered | self.index.traits(pid)
                ok = _satisfiable(self.rules.unsuffixed_traits, now | self.reach[depth + 1])
            if ok:
                ok = self._subtrees_hold(depth)
            if ok:
                track = granular and self.rules.isolate
                if track:
                    self.isolated.add(pid)
                yield from self._place(depth + 1, now)
                if track:
                    self.isolated.discard(pid)
            self._release(pid, slot)

    def _take(self, pid: int, slot: Slot) -> bool:
        """Add ``slot``'s resources on ``pid`` if capacity and tree rules allow."""
        for rc, amount in slot.resources:
            total = self.usage.get((pid, rc), 0) + amount
            if not self.index.room(pid, rc, total):
                return False
        if not self.rules.nested_aware and slot.resources:
            root = self.index.root_of(pid)
            user = self.tree_user.get(root)
            if user is not None and user != pid:
                return False
        for rc, amount in slot.resources:
            self.usage[(pid, rc)] = self.usage.get((pid, rc), 0) + amount
        if not self.rules.nested_aware and slot.resources:
            root = self.index.root_of(pid)
            self.tree_user[root] = pid
            self.tree_count[root] = self.tree_count.get(root, 0) + 1
        self.chosen.append(pid)
        return True

    def _release(self, pid: int, slot: Slot) -> None:
        self.chosen.pop()
        for rc, amount in slot.resources:
            left = self.usage[(pid, rc)] - amount
            if left:
                self.usage[(pid, rc)] = left
            else:
                del self.usage[(pid, rc)]
        if not self.rules.nested_aware and slot.resources:
            root = self.index.root_of(pid)
            self.tree_count[root] -= 1
            if not self.tree_count[root]:
                del self.tree_count[root]
                del self.tree_user[root]

    def _subtrees_hold(self, depth: int) -> bool:
        for names in self.subtree_checks.get(depth, ()):
            pids = {
                self.chosen[i] for i, s in enumerate(self.slots[: depth + 1]) if s.suffix in names
            }
            if not any(all(self.index.is_ancestor_or_self(top, p) for p in pids) for top in pids):
                return False
        return True

    def _build(self) -> AllocationRequest:
        allocations = tuple(
            Allocation(pid, rc, amount) for (pid, rc), amount in sorted(self.usage.items())
        )
        mapped: dict[str, set[int]] = {}
        for slot, pid in zip(self.slots, self.chosen, strict=True):
            mapped.setdefault(slot.suffix, set()).add(pid)
        mappings = tuple((suffix, tuple(sorted(pids))) for suffix, pids in sorted(mapped.items()))
        return AllocationRequest(allocations=allocations, mappings=mappings)


def search_anchor(
    index: CloudIndex, slots: Sequence[Slot], rules: Rules
) -> Iterator[AllocationRequest]:
    """Every valid candidate on one anchor, lazily, in a deterministic order."""
    return _Search(index, slots, rules).run()
