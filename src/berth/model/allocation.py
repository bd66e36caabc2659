"""Allocations as values: what a consumer asks to hold, and what it holds.

A write always states a consumer's *complete* new set of allocations (Placement replaces,
never merges), so the request value is one consumer with every provider it will use; an
empty set means "release everything". Reads come back as views carrying the generations
clients need for their next compare-and-swap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from berth.model.inventory import Inventory

# Consumers written before 1.8 name no project or user: Placement records them under this
# placeholder (its default ``incomplete_consumer_project_id``/``..._user_id``).
INCOMPLETE_CONSUMER_ID = "00000000-0000-0000-0000-000000000000"

# What 1.38+ shows for a consumer written without a type (before 1.38).
UNKNOWN_CONSUMER_TYPE = "unknown"

# provider uuid -> resource class name -> amount
Resources = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class ConsumerAllocations:
    """The whole new allocation set of one consumer, as one write asks for it.

    ``check_generation`` is False before microversion 1.28 (no generation is sent and none
    is checked); from 1.28 ``generation`` must equal the consumer's current generation, or
    be None for a consumer that does not exist yet.
    ``project_id``/``user_id`` None (before 1.8) keep an existing consumer's owner and file a
    new one under ``INCOMPLETE_CONSUMER_ID``. ``consumer_type`` None leaves the type as is.
    """

    consumer_uuid: str
    resources: Resources
    project_id: str | None = None
    user_id: str | None = None
    generation: int | None = None
    check_generation: bool = False
    consumer_type: str | None = None

    @property
    def is_empty(self) -> bool:
        return not any(self.resources.values())


@dataclass(frozen=True, slots=True)
class Consumer:
    """A consumer row: who owns the allocations and its compare-and-swap generation."""

    id: int
    uuid: str
    project_id: str
    user_id: str
    generation: int
    consumer_type: str | None


@dataclass(frozen=True, slots=True)
class ProviderAllocation:
    """What one consumer holds on one provider, with the provider's current generation."""

    provider_uuid: str
    provider_generation: int
    resources: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ConsumerView:
    """GET /allocations/{consumer}: all of a consumer's allocations (empty if none)."""

    consumer: Consumer | None
    allocations: tuple[ProviderAllocation, ...] = ()
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProviderAllocationsView:
    """GET /resource_providers/{uuid}/allocations: every consumer's holding on a provider."""

    provider_generation: int
    by_consumer: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProviderInventories:
    """One provider's complete new inventory in a reshape, against the generation it saw."""

    provider_uuid: str
    generation: int
    inventories: Mapping[str, Inventory]
