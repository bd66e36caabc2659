"""The engine's answer in a compact form that still reads as plain values.

An unlimited request over a large cloud has one candidate per host: 10,000 allocation
requests, each a few ``Allocation`` values. Building those Python objects costs more
than finding them, and the API only turns them into JSON text again. So the common
shape (the unsuffixed group alone, one provider per class on each anchor) is kept as a
``UniformBlock``, a matrix of provider ids, and the answer as a ``CandidateList`` of
segments: blocks and tuples of ``AllocationRequest`` (from the general search), in
answer order. ``CandidateList`` is a ``Sequence[AllocationRequest]``: code that iterates
it gets ordinary values (built on demand), the renderer reads the segments.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from berth.model.candidates import Allocation, AllocationRequest, ProviderSummary
from berth.query.capacity import IntArray


@dataclass(frozen=True, slots=True, eq=False)
class UniformBlock:
    """Candidates taking ``resources[j]`` from provider ``pids[i, j]`` (row i is one
    candidate of the unsuffixed group; a provider may appear in several columns)."""

    resources: tuple[tuple[str, int], ...]
    pids: IntArray  # shape (candidates, len(resources))

    def __len__(self) -> int:
        return int(self.pids.shape[0])

    def rows(self, start: int, stop: int) -> UniformBlock:
        return UniformBlock(self.resources, self.pids[start:stop])

    def request(self, row: int) -> AllocationRequest:
        """Row ``row`` as the value the general search would have built."""
        pids: list[int] = self.pids[row].tolist()
        served = zip(pids, self.resources, strict=True)
        allocations = sorted(
            (Allocation(pid, rc, amount) for pid, (rc, amount) in served),
            key=lambda a: (a.provider_id, a.resource_class),
        )
        return AllocationRequest(
            allocations=tuple(allocations), mappings=(("", tuple(sorted(set(pids)))),)
        )


Segment = UniformBlock | tuple[AllocationRequest, ...]


class CandidateList(Sequence[AllocationRequest]):
    """Allocation requests in answer order, stored as ``segments``."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments: tuple[Segment, ...] = tuple(s for s in segments if len(s))
        self._length = sum(len(s) for s in self.segments)
        self._flat: tuple[AllocationRequest, ...] | None = None

    def _all(self) -> tuple[AllocationRequest, ...]:
        if self._flat is None:
            self._flat = tuple(self._each())
        return self._flat

    def _each(self) -> Iterator[AllocationRequest]:
        for segment in self.segments:
            if isinstance(segment, UniformBlock):
                yield from (segment.request(i) for i in range(len(segment)))
            else:
                yield from segment

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, i: int) -> AllocationRequest: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[AllocationRequest]: ...

    def __getitem__(self, i: int | slice) -> AllocationRequest | Sequence[AllocationRequest]:
        return self._all()[i]

    def __iter__(self) -> Iterator[AllocationRequest]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CandidateList):
            return self._all() == other._all()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"CandidateList({len(self)} allocation requests)"

    def provider_ids(self) -> IntArray:
        """Every provider some candidate allocates from (unsorted, may repeat)."""
        parts: list[IntArray] = []
        general: list[int] = []
        for segment in self.segments:
            if isinstance(segment, UniformBlock):
                parts.append(segment.pids.ravel())
            else:
                general.extend(a.provider_id for areq in segment for a in areq.allocations)
        parts.append(np.array(general, dtype=np.int64))
        return np.concatenate(parts)


class ProviderUuids(Mapping[int, str]):
    """Provider id -> uuid for every provider a ``CandidateList`` names: those of the
    summaries (every provider allocated from) and ``extra`` (named in mappings only)."""

    def __init__(self, summaries: Sequence[ProviderSummary], extra: Mapping[int, str]) -> None:
        self._summaries = summaries
        self._extra = extra
        self._map: dict[int, str] | None = None

    def _all(self) -> dict[int, str]:
        if self._map is None:
            found = {s.provider_id: s.uuid for s in self._summaries}
            found.update(self._extra)
            self._map = found
        return self._map

    def __getitem__(self, pid: int) -> str:
        found = self._extra.get(pid)
        return found if found is not None else self._all()[pid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
