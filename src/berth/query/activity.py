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

Events are kept in arrival order with a running count per host, so forgetting what fell
out of the window is amortized O(1) per event.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

# Never keep more than this many events, whatever the window (memory stays bounded at
# thousands of claims per second).
MAX_EVENTS = 500_000


class ClaimActivity:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._counts: Counter[int] = Counter()

    def note(self, root: int) -> None:
        """A claim landed on host ``root`` just now."""
        self._events.append((self._clock(), root))
        self._counts[root] += 1
        if len(self._events) > MAX_EVENTS:
            self._drop_oldest()

    def recent(self, window_s: float) -> Counter[int]:
        """Host -> claims seen within the last ``window_s`` seconds (hosts with none
        absent). The returned counter is live: read it, do not keep it."""
        cutoff = self._clock() - window_s
        while self._events and self._events[0][0] < cutoff:
            self._drop_oldest()
        return self._counts

    def _drop_oldest(self) -> None:
        _, root = self._events.popleft()
        left = self._counts[root] - 1
        if left:
            self._counts[root] = left
        else:
            del self._counts[root]
