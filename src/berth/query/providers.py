"""GET /resource_providers filtering, answered from the resident index.

The provider list asks the same questions as allocation candidates (who has room for N
units of a class, who has these traits, who is in these aggregates, which tree), so it
is answered by the same per-process index (``berth.query.resident``), refreshed against
the change log first: a write that returned is visible, exactly as in a fresh read.

Placement's meaning of each filter, which ``search`` keeps, including the order in
which it gives up (an early empty answer wins over a later 400):

1. ``in_tree``: the whole tree of the named provider; an unknown uuid answers nothing.
2. ``required`` traits (plain names and ``in:`` groups): an unknown name is a 400; when
   no provider anywhere has them, the answer is empty at once.
3. forbidden traits (``!T``): an unknown name is a 400; holders are left out.
4. ``member_of`` (repeats AND, ``in:`` ORs): when no provider anywhere matches, the
   answer is empty at once (an unknown aggregate has no members); forbidden aggregates
   (``!``) leave their members out.
5. ``resources``: an unknown class is a 400 (the first one named); a provider must
   itself have room for each amount: inventory of the class, the amount within
   min_unit/max_unit and a multiple of step_size, and usage + amount within capacity.
6. ``name`` and ``uuid``: exact match (an empty name does not filter, as in Placement).

Sets of providers are sorted int64 arrays of ids, so the combination is a few numpy
passes; the answer is in provider id order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from berth.db import snapshot
from berth.db.engine import Store
from berth.model.errors import InvalidError
from berth.model.filters import AggregateFilter, ProviderQuery, TraitFilter
from berth.query import resident
from berth.query.capacity import IntArray
from berth.query.index import CloudIndex

_NONE: IntArray = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class UnknownNames:
    """Names the request mentions that do not exist (the store knows, not the index:
    a trait or class nobody uses yet is still valid)."""

    classes: frozenset[str] = frozenset()
    traits: frozenset[str] = frozenset()


@contextmanager
def listing(store: Store, query: ProviderQuery) -> Iterator[tuple[CloudIndex, list[int]]]:
    """The process's refreshed index for ``store`` and the ids of the providers matching
    ``query`` in it. The index is locked for the block: render inside it."""
    with resident.for_store(store).reading() as (conn, index):
        # A class someone has inventory of, or a trait someone has, exists (the index is
        # coherent with this transaction); only the others are looked up.
        classes, traits = snapshot.unknown_names(
            conn,
            (rc for rc in query.resources if rc not in index.classes),
            (t for t in query.traits.names if t not in index.trait_members),
        )
        unknown = UnknownNames(frozenset(classes), frozenset(traits))
        yield index, search(index, query, unknown)


def search(index: CloudIndex, query: ProviderQuery, unknown: UnknownNames) -> list[int]:
    """Ids of the providers in ``index`` matching every filter of ``query``, in id order.

    InvalidError (400) for unknown names, at the point Placement checks them."""
    chosen = _Selection(index)
    if query.in_tree is not None:
        pid = index.by_uuid.get(query.in_tree)
        if pid is None:
            return []
        chosen.keep(_sorted(index.trees[index.root_of(pid)]))
    if not _filter_traits(index, query.traits, unknown.traits, chosen):
        return []
    if not _filter_aggregates(index, query.member_of, chosen):
        return []
    _filter_resources(index, query.resources, unknown.classes, chosen)
    if query.uuid is not None:
        pid = index.by_uuid.get(query.uuid)
        chosen.keep(_NONE if pid is None else np.array([pid], dtype=np.int64))
    if query.name:
        named = [pid for pid, node in index.nodes.items() if node.name == query.name]
        chosen.keep(_sorted(named))
    ids: list[int] = chosen.ids().tolist()
    return ids


class _Selection:
    """The providers still in the running: everyone until a filter narrows it."""

    def __init__(self, index: CloudIndex) -> None:
        self._index = index
        self._ids: IntArray | None = None

    def keep(self, ids: IntArray) -> None:
        """Narrow to ``ids`` (sorted, unique)."""
        self._ids = ids if self._ids is None else _intersect(self._ids, ids)

    def drop(self, ids: IntArray) -> None:
        """Leave ``ids`` out."""
        if len(ids):
            current = self.ids()
            self._ids = current[~np.isin(current, ids, assume_unique=True)]

    def ids(self) -> IntArray:
        if self._ids is None:
            self._ids = _sorted(self._index.nodes)
        return self._ids


def _sorted(ids: Iterable[int]) -> IntArray:
    out = np.fromiter(ids, dtype=np.int64)
    out.sort()
    return out


def _intersect(a: IntArray, b: IntArray) -> IntArray:
    """Ids in both sorted unique arrays: each of the shorter one looked up in the longer
    by binary search (cheaper than ``np.intersect1d``, which sorts both again)."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a) or not len(b):
        return _NONE
    pos = np.searchsorted(b, a)
    pos[pos == len(b)] = 0
    found: IntArray = a[b[pos] == a]
    return found


def _no_such_traits(names: Iterable[str]) -> InvalidError:
    return InvalidError(
        f'Invalid trait(s) in "required" parameter: No such trait(s): {", ".join(sorted(names))}.'
    )


def _filter_traits(
    index: CloudIndex, wanted: TraitFilter, unknown: frozenset[str], chosen: _Selection
) -> bool:
    """Apply required, any-of and forbidden traits; False when nobody has the required
    ones (Placement then answers an empty list before looking further)."""
    groups = [frozenset({name}) for name in wanted.required] + list(wanted.any_of)
    if groups:
        bad = {name for group in groups for name in group} & unknown
        if bad:
            raise _no_such_traits(bad)
        # Smallest group first: the intersection only shrinks (having_any makes new sets).
        holders = sorted((index.having_any(group) for group in groups), key=len)
        having = holders[0]
        for more in holders[1:]:
            having &= more
        if not having:
            return False
        chosen.keep(_sorted(having))
    if wanted.forbidden:
        if wanted.forbidden & unknown:
            raise _no_such_traits(wanted.forbidden & unknown)
        chosen.drop(_sorted(index.having_any(wanted.forbidden)))
    return True


def _members(index: CloudIndex, aggregates: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for agg in aggregates:
        out |= index.agg_members.get(agg, set())
    return out


def _filter_aggregates(index: CloudIndex, wanted: AggregateFilter, chosen: _Selection) -> bool:
    """Apply member_of; False when no provider is in the required aggregates."""
    if wanted.any_of:
        members = sorted((_members(index, group) for group in wanted.any_of), key=len)
        inside = members[0]
        for more in members[1:]:
            inside &= more
        if not inside:
            return False
        chosen.keep(_sorted(inside))
    if wanted.forbidden:
        chosen.drop(_sorted(_members(index, wanted.forbidden)))
    return True


def _filter_resources(
    index: CloudIndex, wanted: Mapping[str, int], unknown: frozenset[str], chosen: _Selection
) -> None:
    """Keep providers with room for each amount themselves (not their tree)."""
    for rc in wanted:
        if rc in unknown:
            raise InvalidError(
                f"Invalid resource class in resources parameter: No such resource class {rc}."
            )
    for rc, amount in wanted.items():
        table = index.classes.get(rc)
        chosen.keep(_NONE if table is None else table.pids[table.fits(amount)])
