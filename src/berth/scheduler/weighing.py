"""Combining weighers: each one's raw values normalized to 0-100, times its multiplier.

Raw weigher outputs live on unrelated scales (free MB of RAM, free VCPUs, a count of
recent build failures). As in the Kubernetes scheduler framework, each is normalized to
0-100 across the hosts being compared (min-max; all-equal values score 0, as Nova's
normalization does, so a weigher that can't tell hosts apart adds nothing), then
multiplied by its configured multiplier and summed. A negative multiplier turns
"prefer more" into "prefer less": that is how the pack-versus-spread switch works
(spread: prefer hosts with more free RAM/CPU/disk; pack: fewer).

Ties are broken by root provider id so that decisions are reproducible; an operator who
wants Nova's ``host_subset_size`` randomness gets it from the pipeline, not from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from berth.scheduler.hosts import FloatArray, Hosts


def normalize(raw: FloatArray) -> FloatArray:
    """Min-max scale to 0-100; NaNs (no opinion) and all-equal columns score 0."""
    n = raw.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    low, high = float(raw.min()), float(raw.max())
    if math.isfinite(low) and math.isfinite(high):  # the common case: no NaN, no inf
        if high == low:
            return np.zeros(n, dtype=np.float64)
        scaled: FloatArray = (raw - low) * (100.0 / (high - low))
        return scaled
    out = np.zeros(n, dtype=np.float64)
    finite = np.isfinite(raw)
    if not finite.any():
        return out
    low, high = float(raw[finite].min()), float(raw[finite].max())
    if high == low:
        return out
    out[finite] = (raw[finite] - low) * (100.0 / (high - low))
    return out


@dataclass(frozen=True, slots=True)
class Part:
    """One weigher's contribution: its normalized column and multiplier."""

    name: str
    multiplier: float
    normalized: FloatArray


@dataclass(frozen=True, slots=True)
class Ranking:
    """Hosts with their scores; ``best_first`` yields positions into the ``Hosts`` ranked,
    best first, ties in ascending root id order. ``points(pos)`` is, per weigher, the
    weighted points host ``pos`` got (computed only for the hosts an explanation names)."""

    roots: np.ndarray
    total: FloatArray
    points: Callable[[int], dict[str, float]]

    def best_first(self, head: int = 8) -> Iterator[int]:
        """Positions best first. The pick usually takes the first host: it is the first
        maximum (``roots`` ascend, so the lowest root id among ties), found without
        sorting. Only if the pick gets past it are the top ``head`` (and every host tied
        with the last of them) sorted, and the full order only past those."""
        n = len(self.total)
        if n == 0:
            return
        first = int(np.argmax(self.total))
        yield first
        done = {first}
        if n > 4 * head:
            cut = np.partition(-self.total, head - 1)[head - 1]
            top = np.flatnonzero(-self.total <= cut)
            ordered = top[np.lexsort((self.roots[top], -self.total[top]))].tolist()
            yield from (p for p in ordered if p not in done)
            done.update(ordered)
        rest = np.lexsort((self.roots, -self.total))
        yield from (p for p in rest.tolist() if p not in done)

    def breakdown(self, pos: int) -> dict[str, float]:
        """Per weigher, the weighted points host ``pos`` got (for explanations)."""
        return self.points(pos)


def rank(hosts: Hosts, columns: Sequence[tuple[str, float, FloatArray]]) -> Ranking:
    """Rank ``hosts`` by the weighted sum of normalized ``(name, multiplier, raw)``."""
    total = np.zeros(len(hosts), dtype=np.float64)
    parts: list[Part] = []
    for name, multiplier, raw in columns:
        if multiplier == 0.0:
            continue
        normalized = normalize(np.asarray(raw, dtype=np.float64))
        parts.append(Part(name, multiplier, normalized))
        total += normalized * multiplier

    def points(pos: int) -> dict[str, float]:
        return {p.name: round(float(p.normalized[pos] * p.multiplier), 2) for p in parts}

    return Ranking(roots=hosts.roots, total=total, points=points)
