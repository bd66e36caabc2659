"""A resource provider's JSON body, in every microversion's shape, and the provider list's
body built from per-provider fragments cached across requests.

The body grows with the microversion (links as the endpoints they point at appear,
parent/root uuids at 1.14), so it is built in exactly one place, ``body``. A provider
list can hold every provider of the cloud (megabytes at 10,000 hosts); rendering each
provider anew per request would dominate its cost, so ``provider_list`` reuses each
provider's JSON until the index shows that provider changed.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from berth.api.http import Request
from berth.model.cloud import Node
from berth.model.provider import Provider
from berth.query.index import CloudIndex

# (rel, path suffix, microversion the link appears at)
_LINKS: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("self", "", (1, 0)),
    ("inventories", "/inventories", (1, 0)),
    ("usages", "/usages", (1, 0)),
    ("aggregates", "/aggregates", (1, 1)),
    ("traits", "/traits", (1, 6)),
    ("allocations", "/allocations", (1, 11)),
)


def _prefix(req: Request) -> str:
    return f"{req.environ.get('SCRIPT_NAME', '')}/resource_providers/"


def provider_url(req: Request, provider_uuid: str) -> str:
    """The provider's path, under whatever prefix the app is mounted at."""
    return _prefix(req) + provider_uuid


def render(req: Request, p: Provider) -> dict[str, Any]:
    """A provider as Placement shows it at the request's microversion."""
    return body(Shape.of(req), p.uuid, p.name, p.generation, p.parent_uuid, p.root_uuid)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a provider's body depends on besides the provider: the mount prefix, which
    links the microversion shows and whether it shows the tree (1.14)."""

    prefix: str
    links: tuple[tuple[str, str], ...]
    tree: bool

    @classmethod
    def of(cls, req: Request) -> Shape:
        return cls(
            prefix=_prefix(req),
            links=tuple((rel, suffix) for rel, suffix, since in _LINKS if req.version >= since),
            tree=req.version >= (1, 14),
        )


def body(
    shape: Shape, uuid: str, name: str, generation: int, parent: str | None, root: str
) -> dict[str, Any]:
    """A provider as Placement shows it in ``shape``."""
    base = shape.prefix + uuid
    out: dict[str, Any] = {
        "uuid": uuid,
        "name": name,
        "generation": generation,
        "links": [{"rel": rel, "href": base + suffix} for rel, suffix in shape.links],
    }
    if shape.tree:
        out["parent_provider_uuid"] = parent
        out["root_provider_uuid"] = root
    return out


def provider_list(
    req: Request, index: CloudIndex, found: list[int]
) -> tuple[bytes, datetime | None]:
    """The GET /resource_providers body for providers ``found`` (ids in ``index``, whose
    lock the caller holds) and their newest last-modified time."""
    parts, newest = _FRAGMENTS.collect(Shape.of(req), index, found)
    if not parts:
        return b'{"resource_providers":[]}', newest
    # One join builds the body: gluing the brackets onto megabytes of joined fragments
    # would copy them twice more.
    parts[0] = b'{"resource_providers":[' + parts[0]
    parts[-1] += b"]}"
    return b",".join(parts), newest


@dataclass(frozen=True, slots=True)
class _Fragment:
    """One provider's rendered JSON and what it was rendered from."""

    node: Node
    parent: str | None
    root: str
    json: bytes


class _ShapeCache:
    """Fragments of one ``Shape`` for the providers of one index, by provider id.

    ``idents`` (``id()`` of the node each fragment was made from; ``fragments`` keeps
    those nodes alive, so the ids stay unique) and ``jsons`` mirror ``fragments`` so
    the common case, nothing changed, is checked and gathered by C-level list
    operations instead of a Python loop over thousands of providers.
    """

    __slots__ = ("fragments", "idents", "jsons")

    def __init__(self) -> None:
        self.fragments: dict[int, _Fragment] = {}
        self.idents: dict[int, int] = {}
        self.jsons: dict[int, bytes] = {}

    def put(self, pid: int, fragment: _Fragment) -> None:
        self.fragments[pid] = fragment
        self.idents[pid] = id(fragment.node)
        self.jsons[pid] = fragment.json

    def prune(self, live: dict[int, Node]) -> None:
        """Forget providers no longer in the index."""
        for pid in [pid for pid in self.fragments if pid not in live]:
            del self.fragments[pid], self.idents[pid], self.jsons[pid]


_STAMP = attrgetter("last_modified")


class _Fragments:
    """Providers' JSON bodies, per index and ``Shape``, kept across requests.

    A fragment depends only on the node's fields, its parent's and root's uuids and the
    shape. The index replaces a provider's Node object whenever it re-reads the tree
    (any write to it), so "rendered from this very Node object" means still right;
    after a full reload (new objects) an equal node with the same parent and root
    uuids reuses the old JSON. Caches live and die with their index, whose lock every
    use holds (``collect`` runs inside ``berth.query.providers.listing``).

    Memory: about 1 KB per provider listed, per shape (the JSON itself; nodes and uuids
    are the index's own objects). Deleted providers' entries go when a cache outgrows
    its index; only the most recently used shapes are kept (clients tend to stick to one
    microversion, and at most five shapes exist: links change at 1.1, 1.6 and 1.11, the
    tree fields appear at 1.14).
    """

    MAX_SHAPES = 3

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_index: weakref.WeakKeyDictionary[CloudIndex, dict[Shape, _ShapeCache]] = (
            weakref.WeakKeyDictionary()
        )

    def _cache(self, shape: Shape, index: CloudIndex) -> _ShapeCache:
        with self._lock:
            shapes = self._by_index.setdefault(index, {})
        cache = shapes.pop(shape, None)
        if cache is None:
            cache = _ShapeCache()
            while len(shapes) >= self.MAX_SHAPES:
                del shapes[next(iter(shapes))]
        elif len(cache.fragments) > 2 * len(index.nodes) + 1000:
            cache.prune(index.nodes)
        shapes[shape] = cache  # most recently used last
        return cache

    def collect(
        self, shape: Shape, index: CloudIndex, found: list[int]
    ) -> tuple[list[bytes], datetime | None]:
        """The JSON of each provider in ``found`` and the newest last-modified time."""
        cache = self._cache(shape, index)
        current = list(map(index.nodes.__getitem__, found))
        if list(map(cache.idents.get, found)) != list(map(id, current)):
            for pid, node in zip(found, current, strict=True):
                if cache.idents.get(pid) != id(node):
                    cache.put(pid, _fragment(shape, index, node, cache.fragments.get(pid)))
        newest = max(filter(None, map(_STAMP, current)), default=None)
        return list(map(cache.jsons.__getitem__, found)), newest


def _fragment(shape: Shape, index: CloudIndex, node: Node, old: _Fragment | None) -> _Fragment:
    parent = None if node.parent_id is None else index.nodes[node.parent_id].uuid
    root = index.nodes[node.root_id].uuid
    if old is not None and (old.node, old.parent, old.root) == (node, parent, root):
        return _Fragment(node, parent, root, old.json)
    data = body(shape, node.uuid, node.name, node.generation, parent, root)
    return _Fragment(node, parent, root, json.dumps(data, separators=(",", ":")).encode())


_FRAGMENTS = _Fragments()
