"""The change log: how many worker processes keep an in-process index coherent.

Writers call ``touch(conn, provider_ids)`` for every provider whose candidate-relevant
state (tree, inventory, usage, traits, aggregates) they change; ``Store.write`` turns the
touched set into ``berth_changes`` rows inside the same transaction, so a change row is
visible exactly when the change is. Before answering, a reader calls ``ChangeFeed.poll``
(one indexed query) and refreshes just the providers named since its last poll.

Resource class deletions are logged too (``touch_classes``, stored as provider id 0):
readers keep the class names and re-read them then, instead of on every request. A class
created meanwhile needs no entry: a reader looks up a name it does not know.

A change is either *full* (the provider's tree, inventory, traits or aggregates may
have changed: readers re-read its whole tree) or *usage-only* (``touch_usage``: only its
allocations and generation moved, as with every claim: readers re-read just its usage and
its row). A usage-only change is stored as the negated provider id (ids are positive), so
the log keeps one column; a full change of the same provider subsumes it.

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

from sqlalchemy import Connection, bindparam, delete, func, or_, select

from berth.db import many, tables

CH = tables.changes
_KEY = "berth.touched"
_USAGE_KEY = "berth.touched_usage"
_EVERYTHING = -1
_CLASSES = 0  # provider ids start at 1
# How long a skipped id is asked for again: longer than any write transaction lasts
# between taking its change ids and committing (a few statements).
GAP_TTL = 60.0
# Change rows older than this are pruned; readers idle for longer reload everything.
RETENTION = 600.0
_PRUNE_PROBABILITY = 0.001

# Built once (every request polls): constructing a statement costs more than running it.
_SINCE = select(CH.c.id, CH.c.provider_id).where(CH.c.id > bindparam("last")).order_by(CH.c.id)
_SINCE_OR_GAPS = (
    select(CH.c.id, CH.c.provider_id)
    .where(or_(CH.c.id > bindparam("last"), CH.c.id.in_(bindparam("gaps", expanding=True))))
    .order_by(CH.c.id)
)


def touch(conn: Connection, provider_ids: Iterable[int]) -> None:
    """Record that this transaction changes these providers (flushed at commit)."""
    conn.info.setdefault(_KEY, set()).update(provider_ids)


def touch_usage(conn: Connection, provider_ids: Iterable[int]) -> None:
    """Record that this transaction changes only these providers' allocations (and
    generation): readers may patch usage instead of re-reading the trees."""
    conn.info.setdefault(_USAGE_KEY, set()).update(provider_ids)


def touch_classes(conn: Connection) -> None:
    """Record that a resource class went away: readers re-read the class names."""
    conn.info.setdefault(_KEY, set()).add(_CLASSES)


def touch_everything(conn: Connection) -> None:
    """Record a change readers cannot localize (e.g. a tree re-shaped): full reload."""
    conn.info.setdefault(_KEY, set()).add(_EVERYTHING)


def discard(conn: Connection) -> None:
    """Forget touches (a new transaction starts; connections are pooled and reused)."""
    conn.info.pop(_KEY, None)
    conn.info.pop(_USAGE_KEY, None)


def flush(conn: Connection) -> None:
    """Write the touched sets as change rows; called by Store.write just before commit."""
    touched: set[int] = conn.info.pop(_KEY, None) or set()
    usage: set[int] = conn.info.pop(_USAGE_KEY, None) or set()
    stored: list[int | None]
    if _EVERYTHING in touched:
        stored = [None]
    else:
        stored = [*sorted(touched), *(-pid for pid in sorted(usage - touched))]
    if not stored:
        return
    stamp = tables.now()
    many.insert_rows(conn, CH, [{"provider_id": pid, "created_at": stamp} for pid in stored])
    if random.random() < _PRUNE_PROBABILITY:
        conn.execute(delete(CH).where(CH.c.created_at < stamp - timedelta(seconds=RETENTION)))


def head(conn: Connection) -> int:
    """The newest change id (0 for none): where a feed starts after a full load."""
    return int(conn.execute(select(func.coalesce(func.max(CH.c.id), 0))).scalar_one())


@dataclass(frozen=True, slots=True)
class Changes:
    """What a poll found: providers whose trees to re-read, providers whose usage alone
    moved (never among ``provider_ids``), or ``everything`` for a full reload."""

    provider_ids: frozenset[int] = frozenset()
    everything: bool = False
    usage_ids: frozenset[int] = frozenset()
    classes: bool = False  # a resource class was deleted

    @property
    def empty(self) -> bool:
        return not (self.everything or self.provider_ids or self.usage_ids or self.classes)


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
        if self.gaps:
            query = _SINCE_OR_GAPS
            params: dict[str, object] = {"last": self.last_id, "gaps": sorted(self.gaps)}
        else:
            query, params = _SINCE, {"last": self.last_id}
        rows = conn.execute(query, params).all()
        if not rows:
            return Changes()
        ids: set[int] = set()
        usage: set[int] = set()
        everything = classes = False
        newest = self.last_id
        for change_id, provider_id in rows:
            self.gaps.pop(change_id, None)
            if provider_id is None:
                everything = True
            elif provider_id == _CLASSES:
                classes = True
            elif provider_id < 0:
                usage.add(-provider_id)
            else:
                ids.add(provider_id)
            newest = max(newest, change_id)
        seen = {change_id for change_id, _ in rows}
        for missing in range(self.last_id + 1, newest):
            if missing not in seen:
                self.gaps.setdefault(missing, now)
        self.last_id = newest
        return Changes(frozenset(ids), everything, frozenset(usage - ids), classes)
