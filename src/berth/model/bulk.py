"""A batch of new providers for the bulk-load extension, and the rules a batch must obey
on its own, before any database is asked.

Onboarding a region (or migrating off Placement) creates tens of thousands of whole
provider trees; Placement's API needs four requests per provider for that. A batch is
self-describing instead: every provider names its parent by uuid, and that parent either
already exists or comes *earlier in the same batch*. The batch can therefore be written
parents first in one pass, and a loop (a provider its own ancestor) cannot even be
expressed: its first member would have to name a parent listed after it.

Errors name the offending item by position and uuid (``providers[3] (uuid …)``) and the
field at fault, because an operator feeding a generated file needs to find the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berth.model.errors import DUPLICATE_NAME, ConflictError, InvalidError
from berth.model.inventory import Inventory

# Providers created by a bulk load start here, like any newly created provider: the
# inventory, traits and aggregates arrive with the provider in one write.
NEW_GENERATION = 0


@dataclass(frozen=True, slots=True)
class NewProvider:
    """One provider of a batch, with everything Placement would set in four requests.

    ``uuid`` and ``parent_uuid`` are canonical (normalized) uuids; ``aggregates`` are kept
    as given, as PUT /resource_providers/{uuid}/aggregates keeps them.
    """

    uuid: str
    name: str
    parent_uuid: str | None = None
    inventories: Mapping[str, Inventory] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadedProvider:
    """What a bulk load reports per provider: enough to address it and write to it next."""

    uuid: str
    id: int
    generation: int = NEW_GENERATION


def label(index: int, uuid: object = None) -> str:
    """How an error names batch item ``index``: its position, and its uuid when it has one."""
    where = f"providers[{index}]"
    return f"{where} (uuid {uuid})" if isinstance(uuid, str) and uuid else where


def check_batch(batch: Sequence[NewProvider]) -> None:
    """Refuse a batch that contradicts itself, naming its first bad item.

    A uuid or name used twice is a 409 (as creating the second one would be); a provider
    that is its own parent, or whose parent comes later in the batch, is a 400.
    """
    position: dict[str, int] = {}
    for i, p in enumerate(batch):
        position.setdefault(p.uuid, i)
    seen_names: dict[str, int] = {}
    for i, p in enumerate(batch):
        where = label(i, p.uuid)
        first = position[p.uuid]
        if first != i:
            raise ConflictError(
                f"{where}: uuid: conflicting resource provider uuid: {p.uuid} is also "
                f"{label(first)} in this batch"
            )
        if p.name in seen_names:
            raise ConflictError(
                f"{where}: name: conflicting resource provider name: {p.name} is also "
                f"{label(seen_names[p.name])} in this batch",
                code=DUPLICATE_NAME,
            )
        seen_names[p.name] = i
        if p.parent_uuid is None:
            continue
        if p.parent_uuid == p.uuid:
            raise InvalidError(
                f"{where}: parent_provider_uuid: parent provider UUID cannot be same as UUID."
            )
        parent_at = position.get(p.parent_uuid)
        if parent_at is not None and parent_at > i:
            raise InvalidError(
                f"{where}: parent_provider_uuid: parent provider {p.parent_uuid} is "
                f"{label(parent_at)}, after its child: list parents before their children "
                "(a loop in the provider tree cannot be created)"
            )


def depths(batch: Sequence[NewProvider]) -> list[int]:
    """Each provider's depth counted from the nearest ancestor outside the batch (0: a
    root, or a child of an existing provider). Providers of one depth can be inserted
    together once the previous depth's ids are known. Assumes ``check_batch`` passed."""
    depth_of: dict[str, int] = {}
    out: list[int] = []
    for p in batch:
        depth = 0 if p.parent_uuid is None else depth_of.get(p.parent_uuid, -1) + 1
        depth_of[p.uuid] = depth
        out.append(depth)
    return out
