"""The change log: how many worker processes keep an in-process index coherent.

Writers call ``touch(conn, provider_ids)`` for every provider whose candidate-relevant
state (tree, inventory, usage, traits, aggregates) they change; ``Store.write`` turns the
touched set into ``berth_changes`` rows inside the same transaction, so a change row is
visible exactly when the change is. Before answering, a reader calls ``ChangeFeed.poll``
(one indexed query) and refreshes just the providers named since its last poll.

Ids are handed out before commit, so a later id can become visible before an earlier one.
The feed therefore remembers the ids it skipped ("gaps") and asks for them again until
they appear or ``GAP_TTL`` passes (a rolled-back writer never fills its gap). A reader
that has not polled for longer than the retention falls back to a full reload.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, delete, func, insert, or_, select

from berth.db import tables

CH = tables.changes
_KEY = "berth.touched"
_EVERYTHING = -1
# How long a skipped id is asked for again: longer than any write transaction lasts
# between taking its change ids and committing (a few statements).
GAP_TTL = 60.0
# Change rows older than this are pruned; readers idle for longer reload everything.
RETENTION = 600.0
_PRUNE_PROBABILITY = 0.001


def touch(conn: Connection, provider_ids: Iterable[int]) -> None:
    """Record that this transaction changes these providers (flushed at commit)."""
    conn.info.setdefault(_KEY, set()).update(provider_ids)


def touch_everything(conn: Connection) -> None:
    """Record a change readers cannot localize (e.g. a tree re-shaped): full reload."""
    conn.info.setdefault(_KEY, set()).add(_EVERYTHING)


def discard(conn: Connection) -> None:
    """Forget touches (a new transaction starts; connections are pooled and reused)."""
    conn.info.pop(_KEY, None)


def flush(conn: Connection) -> None:
    """Write the touched set as change rows; called by Store.write just before commit."""
    touched: set[int] | None = conn.info.pop(_KEY, None)
    if not touched:
        return
    stamp = tables.now()
    conn.execute(
        insert(CH),
        [
            {"provider_id": None if pid == _EVERYTHING else pid, "created_at": stamp}
            for pid in sorted(touched)
        ],
    )
    if random.random() < _PRUNE_PROBABILITY:
        conn.execute(delete(CH).where(CH.c.created_at < stamp - timedelta(seconds=RETENTION)))


def head(conn: Connection) -> int:
    """The newest change id (0 for none): where a feed starts after a full load."""
    return int(conn.execute(select(func.coalesce(func.max(CH.c.id), 0))).scalar_one())


@dataclass(frozen=True, slots=True)
class Changes:
    """What a poll found: providers to refresh, or ``everything`` for a full reload."""

    provider_ids: frozenset[int] = frozenset()
    everything: bool = False

    @property
    def empty(self) -> bool:
        return not self.everything and not self.provider_ids


@dataclass
class ChangeFeed:
    """One process's position in the change log."""

    last_id: int = 0
    gaps: dict[int, float] = field(default_factory=dict)
    last_poll: float = field(default_factory=time.monotonic)

    def reset(self, head_id: int) -> None:
        self.last_id = head_id
        self.gaps.clear()
        self.last_poll = time.monotonic()

    def poll(self, conn: Connection) -> Changes:
        now = time.monotonic()
        if now - self.last_poll > RETENTION * 0.9:
            return Changes(everything=True)
        self.last_poll = now
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_TTL:
                del self.gaps[gap]
        cond = CH.c.id > self.last_id
        if self.gaps:
            cond = or_(cond, CH.c.id.in_(sorted(self.gaps)))
        rows = conn.execute(select(CH.c.id, CH.c.provider_id).where(cond).order_by(CH.c.id)).all()
        if not rows:
            return Changes()
        ids: set[int] = set()
        everything = False
        newest = self.last_id
        for change_id, provider_id in rows:
            self.gaps.pop(change_id, None)
            if provider_id is None:
                everything = True
            else:
                ids.add(provider_id)
            newest = max(newest, change_id)
        seen = {change_id for change_id, _ in rows}
        for missing in range(self.last_id + 1, newest):
            if missing not in seen:
                self.gaps.setdefault(missing, now)
        self.last_id = newest
        return Changes(frozenset(ids), everything)
