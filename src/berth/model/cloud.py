"""The state the candidate engine reads: a consistent picture of (part of) the cloud.

The database is the source of truth; the engine never queries it. ``berth.db.snapshot``
loads a ``Cloud`` in one read transaction and ``berth.query`` works on these plain
values only, so the same engine can later run on an in-process index kept coherent with
committed writes, and tests can build clouds by hand.

Providers are keyed by their internal integer id (cheap to hash and compare); uuids are
only needed at the API edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from berth.model.inventory import Inventory

# The trait that marks a provider whose inventory is shared with every tree it shares an
# aggregate with (Placement's "sharing provider").
SHARES_VIA_AGGREGATE = "MISC_SHARES_VIA_AGGREGATE"


@dataclass(frozen=True, slots=True)
class Node:
    """A provider's identity and position in its tree.

    ``last_modified`` (updated_at, else created_at) is carried so GET /resource_providers
    can answer its Last-Modified header from the index alone.
    """

    id: int
    uuid: str
    name: str
    generation: int
    parent_id: int | None
    root_id: int
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class SnapshotScope:
    """What a snapshot must contain for one request.

    ``everything`` loads the whole cloud. Otherwise the snapshot holds every whole tree
    that has inventory of one of ``classes``, every tree sharing an aggregate with a
    sharing provider of one of them, and the trees of ``provider_uuids`` (``in_tree``).
    """

    classes: frozenset[str] = frozenset()
    provider_uuids: frozenset[str] = frozenset()
    everything: bool = False


@dataclass(frozen=True, slots=True)
class Cloud:
    """Providers with their inventories, usage, traits and aggregates.

    Every tree present is present whole: a provider's parent, root and siblings are always
    in ``nodes``. Mappings are keyed by provider id; absent keys mean "none".
    ``traits`` lists names in trait-id order (the order Placement reports them in).
    """

    nodes: Mapping[int, Node]
    inventories: Mapping[int, Mapping[str, Inventory]] = field(default_factory=dict)
    usages: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    traits: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    aggregates: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def used(self, provider_id: int, resource_class: str) -> int:
        return self.usages.get(provider_id, {}).get(resource_class, 0)

    def trait_set(self, provider_id: int) -> frozenset[str]:
        return frozenset(self.traits.get(provider_id, ()))

    def aggregates_of(self, provider_id: int) -> frozenset[str]:
        return self.aggregates.get(provider_id, frozenset())
