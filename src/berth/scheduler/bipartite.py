"""Kuhn's augmenting-path matching, shared by the NUMA fit (guest cells onto host cells)
and the PCI fit (device slots onto device addresses).

Left vertices are ``0..len(adj)-1``; ``adj[u]`` lists the right vertices ``u`` may take,
in preference order. A free right vertex is taken before any augmenting path is tried, so
earlier left vertices keep their first choice (deterministic, "pack" order). On failure
the answer is a Hall violator: the left vertices the last search visited and the right
vertices it saw (|right| < |left|), which is what an explanation names.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

R = TypeVar("R", bound=Hashable)


def match(
    adj: Sequence[Sequence[R]], owner: dict[R, int] | None = None
) -> dict[R, int] | tuple[set[int], set[R]]:
    """A matching saturating the left side (right -> left), extending ``owner`` (whose
    right vertices stay matched), or a Hall violator ``(left set, right set)``."""
    owner = dict(owner or {})
    matched = set(owner.values())

    def augment(u: int, seen_l: set[int], seen_r: set[R]) -> bool:
        seen_l.add(u)
        free = next((v for v in adj[u] if v not in owner), None)
        if free is not None:
            owner[free] = u
            return True
        for v in adj[u]:
            if v not in seen_r:
                seen_r.add(v)
                if augment(owner[v], seen_l, seen_r):
                    owner[v] = u
                    return True
        return False

    for u in range(len(adj)):
        seen_l: set[int] = set()
        seen_r: set[R] = set()
        if u not in matched and not augment(u, seen_l, seen_r):
            return seen_l, seen_r
    return owner
