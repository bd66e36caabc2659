"""The resident index: one ``CloudIndex`` per process, kept coherent with committed writes.

Loading a snapshot per request costs more than answering it (at 10,000 hosts, ~0.4 s of
reads against milliseconds of search). Instead each process loads the whole cloud once
and, at the start of every request, in ONE consistent read transaction:

1. polls the change log (``berth.db.changes``); for providers whose allocations alone
   changed (every claim) it re-reads just their usage and generation, in one query; for
   the others it re-reads the whole current trees they belong to, plus the trees they
   belonged to before (a provider's tree may have changed), and swaps them into the index;
2. checks the requested resource class and trait names (unknown ones are 400s): class
   names are kept, and re-read when the log says a class was deleted (a rename reloads
   everything; a name not kept is looked up, as it may be new);
3. runs the engine on the patched index.

Since the poll runs in a transaction that begins after any write the client has seen
return, a request always sees every write that returned before it started, exactly as a
fresh snapshot would. One lock serializes poll, patch and search: the index is mutable,
and a worker's few threads would otherwise race on it. The connection is checked out
before the lock is taken and the transaction ends after it is released: the snapshot is
taken by the first statement, inside the lock, and the lock is held for no round trip
that does not need it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from berth.db import changes, resource_classes, snapshot, usages
from berth.db.engine import Store
from berth.model.candidates import CandidateRequest, CandidateResult
from berth.model.cloud import Cloud, SnapshotScope
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
        self._class_names: set[str] = set()  # resource class names, as of the last poll
        self.last_refresh = Refresh()

    def answer(self, request: CandidateRequest) -> Answer:
        with snapshot.consistent_read(self.store) as conn, self._lock:
            index = self._refresh(conn)
            bad_classes = tuple(self._unknown_classes(conn, request.resource_classes))
            bad_traits: tuple[str, ...] = ()
            if request.trait_names:
                bad_traits = tuple(snapshot.unknown_names(conn, (), request.trait_names)[1])
            if bad_classes or bad_traits:
                return Answer(bad_classes, bad_traits)
            return Answer(result=find_in(index, request))

    @contextmanager
    def reading(self) -> Iterator[tuple[snapshot.ReadTx, CloudIndex]]:
        """The index, refreshed, and the read transaction it is now coherent with, for
        questions other than candidates (GET /resource_providers). The lock is held for
        the whole block: use the index only inside it."""
        with snapshot.consistent_read(self.store) as conn, self._lock:
            yield conn, self._refresh(conn)

    def warm(self) -> None:
        """Load the index now rather than on the first request."""
        with snapshot.consistent_read(self.store) as conn, self._lock:
            self._refresh(conn)

    def _unknown_classes(self, conn: snapshot.ReadTx, wanted: Iterable[str]) -> list[str]:
        """Requested resource classes that do not exist, sorted. The names kept since the
        last load (deletions are in the change log, renames reload everything) answer
        without a query; a name not among them is looked up (it may be newer)."""
        missing = sorted({c for c in wanted if c not in self._class_names})
        if not missing:
            return []
        unknown = snapshot.unknown_names(conn, missing, ())[0]
        self._class_names.update(c for c in missing if c not in unknown)
        return unknown

    def _refresh(self, conn: snapshot.ReadTx) -> CloudIndex:
        if self._index is None:
            return self._reload(conn)
        found = self._feed.poll(conn)
        if found.everything:
            return self._reload(conn)
        if found.classes:
            self._class_names = set(resource_classes.names_by_id(conn).values())
        self.last_refresh = Refresh()
        trees = set(found.provider_ids)
        if found.usage_ids:
            trees |= self._patch_usage(conn, self._index, found.usage_ids)
        if trees:
            self._patch(conn, self._index, frozenset(trees))
        return self._index

    def _reload(self, conn: snapshot.ReadTx) -> CloudIndex:
        self._class_names = set(resource_classes.names_by_id(conn).values())
        cloud = snapshot.load(conn, SnapshotScope(everything=True))
        head = changes.head(conn)
        self._feed.reset(head)
        now = time.monotonic()
        self._feed.gaps = dict.fromkeys(snapshot.missing_change_ids(conn, head, _GAP_WINDOW), now)
        previous = self._index
        self._index = CloudIndex(cloud)
        if previous is not None:  # recent claims outlive a reload (IoOpsWeigher)
            self._index.activity = previous.activity
        self.last_refresh = Refresh("full", len(self._index.trees))
        return self._index

    def _patch_usage(
        self, conn: snapshot.ReadTx, index: CloudIndex, touched: frozenset[int]
    ) -> set[int]:
        """Patch the usage (and generation) of providers whose allocations alone changed,
        in one query; return those it cannot patch (unknown here, or gone), whose trees
        must be re-read instead."""
        states = usages.provider_states(conn, (p for p in touched if p in index.nodes))
        if states:
            # The whole trees as the index has them, but for the moved providers: the
            # index sees nothing changed but usage and patches it in place.
            roots = {index.root_of(p) for p in states}
            members = [p for r in roots for p in index.trees[r]]
            nodes = {p: index.nodes[p] for p in members}
            used = {p: index.usages.get(p, {}) for p in members}
            for pid, state in states.items():
                nodes[pid] = replace(
                    nodes[pid], generation=state.generation, last_modified=state.last_modified
                )
                used[pid] = state.used
            fresh = Cloud(
                nodes=nodes,
                inventories={p: index.inventories.get(p, {}) for p in members},
                usages=used,
                traits={p: index.trait_names.get(p, ()) for p in members},
                aggregates={p: index.aggregates(p) for p in members},
            )
            index.replace_trees(roots, fresh)
            self.last_refresh = Refresh("usage", len(roots))
        return set(touched - states.keys())

    def _patch(self, conn: snapshot.ReadTx, index: CloudIndex, touched: frozenset[int]) -> None:
        """Re-read the trees ``touched`` belong to, now and before, until the set of
        trees is closed: nothing loaded sits in an index tree left out, and nothing of a
        replaced tree vanishes unless it no longer exists."""
        roots = {index.root_of(p) for p in touched if p in index.nodes}
        roots |= snapshot.current_roots(conn, touched)
        while True:
            if len(roots) > MAX_PATCH_TREES:
                self._reload(conn)
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
