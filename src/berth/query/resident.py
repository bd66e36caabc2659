"""The resident index: one ``CloudIndex`` per process, kept coherent with committed writes.

Loading a snapshot per request costs more than answering it (at 10,000 hosts, ~0.4 s of
reads against milliseconds of search). Instead each process loads the whole cloud once
and, at the start of every request, in ONE consistent read transaction:

1. checks the requested resource class and trait names (unknown ones are 400s), and that
   no resource class was renamed (renames are not in the change log: full reload);
2. polls the change log (``berth.db.changes``) and re-reads the whole current trees of
   the providers it names, plus the trees they belonged to before (a provider's tree may
   have changed), and swaps them into the index;
3. runs the engine on the patched index.

Since the poll runs in a transaction that begins after any write the client has seen
return, a request always sees every write that returned before it started, exactly as a
fresh snapshot would. One lock serializes poll, patch and search: the index is mutable,
and a worker's few threads would otherwise race on it.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from berth.db import changes, resource_classes, snapshot
from berth.db.engine import Store
from berth.model.candidates import CandidateRequest, CandidateResult
from berth.model.cloud import SnapshotScope
from berth.query.candidates import find_in
from berth.query.index import CloudIndex

# Beyond this many trees to re-read, one full reload is cheaper than the patch queries.
MAX_PATCH_TREES = 400
# How many recent change ids a full load checks for writers still in flight.
_GAP_WINDOW = 256


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one request: unknown names (the API answers 400) or a result."""

    unknown_classes: tuple[str, ...] = ()
    unknown_traits: tuple[str, ...] = ()
    result: CandidateResult | None = None


@dataclass(frozen=True, slots=True)
class Refresh:
    """What the last refresh did (for tests and benchmarks): ``kind`` is "none",
    "usage" (patched in place), "trees" or "full"; ``trees`` how many were re-read."""

    kind: str = "none"
    trees: int = 0


class ResidentIndex:
    """The candidate engine's state for one process and one database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._index: CloudIndex | None = None
        self._feed = changes.ChangeFeed()
        self._class_names: dict[int, str] = {}
        self.last_refresh = Refresh()

    def answer(self, request: CandidateRequest) -> Answer:
        with self._lock, snapshot.consistent_read(self.store) as conn:
            names = resource_classes.names_by_id(conn)
            known = set(names.values())
            bad_classes = tuple(sorted(c for c in request.resource_classes if c not in known))
            bad_traits: tuple[str, ...] = ()
            if request.trait_names:
                bad_traits = tuple(snapshot.unknown_names(conn, (), request.trait_names)[1])
            if bad_classes or bad_traits:
                return Answer(bad_classes, bad_traits)
            index = self._refresh(conn, names)
            return Answer(result=find_in(index, request))

    def warm(self) -> None:
        """Load the index now rather than on the first request."""
        with self._lock, snapshot.consistent_read(self.store) as conn:
            self._refresh(conn, resource_classes.names_by_id(conn))

    def _refresh(self, conn: snapshot.ReadTx, class_names: dict[int, str]) -> CloudIndex:
        if self._index is None or class_names != self._class_names:
            return self._reload(conn, class_names)
        found = self._feed.poll(conn)
        if found.everything:
            return self._reload(conn, class_names)
        if found.provider_ids:
            self._patch(conn, self._index, found.provider_ids)
        else:
            self.last_refresh = Refresh()
        return self._index

    def _reload(self, conn: snapshot.ReadTx, class_names: dict[int, str]) -> CloudIndex:
        cloud = snapshot.load(conn, SnapshotScope(everything=True))
        head = changes.head(conn)
        self._feed.reset(head)
        now = time.monotonic()
        self._feed.gaps = dict.fromkeys(snapshot.missing_change_ids(conn, head, _GAP_WINDOW), now)
        self._index = CloudIndex(cloud)
        self._class_names = dict(class_names)
        self.last_refresh = Refresh("full", len(self._index.trees))
        return self._index

    def _patch(self, conn: snapshot.ReadTx, index: CloudIndex, touched: frozenset[int]) -> None:
        """Re-read the trees ``touched`` belong to, now and before, until the set of
        trees is closed: nothing loaded sits in an index tree left out, and nothing of a
        replaced tree vanishes unless it no longer exists."""
        roots = {index.root_of(p) for p in touched if p in index.nodes}
        roots |= snapshot.current_roots(conn, touched)
        while True:
            if len(roots) > MAX_PATCH_TREES:
                self._reload(conn, self._class_names)
                return
            fresh = snapshot.load_trees(conn, roots)
            extra = {index.root_of(p) for p in fresh.nodes if p in index.nodes} - roots
            vanished = [p for r in roots for p in index.trees.get(r, ()) if p not in fresh.nodes]
            if vanished:
                extra |= snapshot.current_roots(conn, vanished) - roots
            if not extra:
                break
            roots |= extra
        usage_only = index.replace_trees(roots, fresh)
        self.last_refresh = Refresh("usage" if usage_only else "trees", len(roots))


_registry: weakref.WeakKeyDictionary[Store, ResidentIndex] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def for_store(store: Store) -> ResidentIndex:
    """The process's resident index for ``store`` (created on first use)."""
    with _registry_lock:
        resident = _registry.get(store)
        if resident is None:
            resident = ResidentIndex(store)
            _registry[store] = resident
        return resident
