"""Recent claims per host, as this worker saw them arrive through the change log.

Nova's IoOpsWeigher steers new builds away from hosts that are busy building, resizing
or migrating. berth's stand-in is "claims that landed on the host recently": every
allocation write reaches each worker's resident index as a usage change (see
``berth.query.resident``), so the index notes, per host, when usage went up. Counting
them here costs nothing per scheduling request, where asking the database for the claims
of the last minutes on 10,000 hosts cost more than the whole rest of the decision.

It is a worker's own view: a freshly started worker begins with no history, and times
are when the worker observed the change, not when it committed. That is the right
precision for a soft weigher (Nova's own counter is reported by each compute node
periodically), and no hard rule depends on it.

Events are kept in arrival order with a running count per host (a dense array indexed
by root provider id), so forgetting what fell out of the window is amortized O(1) per
event and reading the counts of 10,000 hosts is one array operation.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

# Never keep more than this many events, whatever the window (memory stays bounded at
# thousands of claims per second).
MAX_EVENTS = 500_000


class ClaimActivity:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._counts: npt.NDArray[np.int64] = np.zeros(1024, dtype=np.int64)

    def note(self, root: int) -> None:
        """A claim landed on host ``root`` just now."""
        if root >= len(self._counts):
            grown = np.zeros(max(2 * len(self._counts), root + 1), dtype=np.int64)
            grown[: len(self._counts)] = self._counts
            self._counts = grown
        self._events.append((self._clock(), root))
        self._counts[root] += 1
        if len(self._events) > MAX_EVENTS:
            self._drop_oldest()

    def recent(self, window_s: float) -> RecentClaims:
        """Claims seen per host within the last ``window_s`` seconds. The answer is a
        live view: read it while the index is held, do not keep it."""
        cutoff = self._clock() - window_s
        while self._events and self._events[0][0] < cutoff:
            self._drop_oldest()
        return RecentClaims(self._counts)

    def _drop_oldest(self) -> None:
        _, root = self._events.popleft()
        self._counts[root] -= 1


class RecentClaims:
    """Claims per host as a column over any set of hosts."""

    def __init__(self, counts: npt.NDArray[np.int64]) -> None:
        self._counts = counts

    def get(self, root: int, default: int = 0) -> int:
        return int(self._counts[root]) if 0 <= root < len(self._counts) else default

    def column(self, roots: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The counts of ``roots`` (0 for a host never seen), aligned with them."""
        inside = roots < len(self._counts)
        out = np.zeros(len(roots), dtype=np.float64)
        out[inside] = self._counts[roots[inside]]
        return out
