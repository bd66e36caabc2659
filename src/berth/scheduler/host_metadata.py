"""Aggregate metadata per host, evaluated once per distinct combination of aggregates.

Nova's aggregate filters (availability zone, tenant isolation, extra-spec matching) ask,
per host, about the metadata of the aggregates the host is in. At 10,000 hosts asking
each host costs tens of milliseconds per filter per request; but a cloud has a handful
of described aggregates, so hosts fall into a handful of *profiles* (the set of described
aggregates a host is in), and every host of a profile gets the same answer. ``per_host``
groups the hosts by profile with a few numpy operations, calls the question once per
profile and spreads the answers back.

Membership comes from the resident index (it is Placement's data and always current);
the metadata itself is read from the database with each decision (one small query over
the described aggregates, however many hosts there are).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from berth.query.capacity import IntArray
from berth.query.index import CloudIndex

T = TypeVar("T")
Described = Mapping[str, Mapping[str, str]]  # aggregate uuid -> key -> value


class HostMetadata:
    """The described aggregates (``aggregate uuid -> metadata``) and who is in them."""

    def __init__(self, index: CloudIndex | None, described: Described) -> None:
        self._index = index
        self.described = described
        self._members: dict[str, IntArray] = {}

    def __bool__(self) -> bool:
        return bool(self.described)

    def of(self, root: int) -> Described:
        """The metadata of each described aggregate host ``root`` is in."""
        if self._index is None or not self.described:
            return {}
        return {
            agg: self.described[agg]
            for agg in self._index.aggregates(root)
            if agg in self.described
        }

    def values(self, root: int, key: str) -> set[str]:
        """Every value ``key`` has in the metadata of the host's aggregates."""
        return {meta[key] for meta in self.of(root).values() if key in meta}

    def with_key(self, predicate: Callable[[str], bool]) -> bool:
        """Whether any described aggregate has a key ``predicate`` accepts."""
        return any(predicate(k) for meta in self.described.values() for k in meta)

    def per_host(self, roots: IntArray, question: Callable[[Described], T], dtype: Any) -> Any:
        """``question(metadata of the host's aggregates)`` for every host in ``roots``,
        asked once per profile."""
        aggs = sorted(self.described)
        if not len(roots):
            return np.zeros(0, dtype=dtype)
        if not aggs or self._index is None:
            return np.full(len(roots), question({}), dtype=dtype)
        inside = np.stack([np.isin(roots, self._member_ids(agg)) for agg in aggs], axis=1)
        profiles, which = np.unique(np.packbits(inside, axis=1), axis=0, return_inverse=True)
        answers = []
        for row in np.unpackbits(profiles, axis=1, count=len(aggs)).astype(bool):
            meta = {agg: self.described[agg] for agg, there in zip(aggs, row, strict=True) if there}
            answers.append(question(meta))
        return np.asarray(answers, dtype=dtype)[which.reshape(-1)]

    def _member_ids(self, agg: str) -> IntArray:
        cached = self._members.get(agg)
        if cached is None:
            assert self._index is not None
            members = self._index.agg_members.get(agg, set())
            cached = np.fromiter(members, dtype=np.int64, count=len(members))
            self._members[agg] = cached
        return cached
