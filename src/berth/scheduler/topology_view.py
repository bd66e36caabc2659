"""Host topologies and NUMA/PCI usage for one decision, read only for the hosts examined.

A pinned or huge-page request passes Placement's pre-filter on every NFV host (2,000 of
a 10,000-host cloud); decoding every one's topology and every running guest's
assignment per request cost most of a second. The exact NUMA/PCI fit is only needed for
the hosts the decision actually examines, in rank order, usually the first one or two
(and every host only when nothing fits, to explain why). So:

* which hosts registered a topology, and at what generation, is one small query per
  decision (``registered``): the NUMA and PCI filters remove the hosts without one as a
  column;
* topologies are decoded once per generation and kept by the scheduler process
  (``TopologyCache``), so a re-registration is seen by the next decision;
* what running guests hold is read per examined host, in batches in rank order
  (``prefetch``), within fresh read transactions: never staler than the decision itself,
  and the claim re-checks it anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from berth.db import topology
from berth.db.engine import Store
from berth.model.topology import HostTopology, HostUsage
from berth.query.capacity import IntArray


class TopologyCache:
    """Decoded topologies by root provider id, each valid for one generation."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[int, HostTopology]] = {}


class TopologyView:
    """The topologies and NUMA/PCI usage of the hosts one decision examines."""

    def __init__(
        self, store: Store | None, cache: TopologyCache, generations: dict[int, int]
    ) -> None:
        self._store = store
        self._cache = cache
        self._generations = generations
        self._usage: dict[int, HostUsage] = {}
        self._registered = np.fromiter(sorted(generations), dtype=np.int64)

    @classmethod
    def empty(cls) -> TopologyView:
        """No host has a topology (a request that needs none never asks)."""
        return cls(None, TopologyCache(), {})

    def registered(self, roots: IntArray) -> np.ndarray:
        """Mask over ``roots``: hosts that registered a topology."""
        return np.isin(roots, self._registered)

    def topology(self, root: int) -> HostTopology | None:
        if root not in self._generations:
            return None
        self.prefetch((root,))
        return self._cache.entries[root][1]

    def usage(self, root: int) -> HostUsage:
        if root not in self._usage:
            self.prefetch((root,))
        return self._usage.get(root) or HostUsage()

    def prefetch(self, roots: Iterable[int]) -> None:
        """Load, in one read transaction, whatever ``roots`` still lack: topologies not
        cached at their current generation and the usage of running guests."""
        wanted = [r for r in roots if r in self._generations and r not in self._usage]
        if not wanted or self._store is None:
            return
        entries = self._cache.entries
        stale = [r for r in wanted if entries.get(r, (-1,))[0] != self._generations[r]]
        with self._store.read() as conn:
            if stale:
                entries.update(topology.topologies_at(conn, stale))
            found = topology.usage(conn, wanted)
        for root in wanted:
            self._usage[root] = found.get(root) or HostUsage()


class Topologies:
    """``facts.topologies``: root -> topology, loaded on first use."""

    def __init__(self, view: TopologyView) -> None:
        self.view = view

    def get(self, root: int) -> HostTopology | None:
        return self.view.topology(root)


class Usages:
    """``facts.usage``: root -> what running guests hold, loaded on first use."""

    def __init__(self, view: TopologyView) -> None:
        self.view = view

    def get(self, root: int) -> HostUsage | None:
        return self.view.usage(root)
