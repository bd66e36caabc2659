"""GET /allocation_candidates as values: what is asked for and what is answered.

A request is a set of request groups plus request-wide settings. The unsuffixed group
(suffix ``""``) may be satisfied by several providers of one tree plus sharing providers;
every suffixed ("granular") group must be satisfied by one provider. The answer is a list
of allocation requests, each a complete, capacity-checked way to place the whole request,
and summaries of the providers involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berth.model.filters import AggregateFilter, TraitFilter

GROUP_POLICIES = ("none", "isolate")


@dataclass(frozen=True, slots=True)
class RequestGroup:
    """One request group: ``resources<S>``, ``required<S>``, ``member_of<S>``, ``in_tree<S>``.

    ``in_tree`` is a provider uuid (any provider of the wanted tree). A suffixed group
    without resources (microversion 1.36) only names a provider by traits/aggregates, for
    use in ``same_subtree``.
    """

    suffix: str
    resources: Mapping[str, int] = field(default_factory=dict)
    traits: TraitFilter = field(default_factory=TraitFilter)
    member_of: AggregateFilter = field(default_factory=AggregateFilter)
    in_tree: str | None = None

    @property
    def use_same_provider(self) -> bool:
        """Suffixed groups are satisfied by exactly one provider."""
        return self.suffix != ""


@dataclass(frozen=True, slots=True)
class CandidateRequest:
    """Everything the engine needs to know about one GET /allocation_candidates.

    ``root_traits`` is ``root_required`` (1.35): traits the tree's root must (not) have.
    ``same_subtrees`` (1.36) lists suffix sets whose providers must all sit under one of
    them. ``nested_aware`` is false before 1.29, when a candidate may not use two providers
    of one tree. ``limit`` stops the search once that many candidates are found.
    """

    groups: tuple[RequestGroup, ...]
    group_policy: str | None = None
    limit: int | None = None
    root_traits: TraitFilter = field(default_factory=TraitFilter)
    same_subtrees: tuple[tuple[str, ...], ...] = ()
    nested_aware: bool = True

    @property
    def resource_classes(self) -> frozenset[str]:
        out: set[str] = set()
        for group in self.groups:
            out.update(group.resources)
        return frozenset(out)

    @property
    def trait_names(self) -> frozenset[str]:
        out: set[str] = set(self.root_traits.names)
        for group in self.groups:
            out |= group.traits.names
        return frozenset(out)

    @property
    def has_resourceless_group(self) -> bool:
        return any(not g.resources for g in self.groups)


@dataclass(frozen=True, slots=True)
class Allocation:
    """``amount`` of ``resource_class`` from provider ``provider_id``."""

    provider_id: int
    resource_class: str
    amount: int


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    """One candidate: allocations (one per provider and class) and, per request group
    suffix, the providers that satisfied that group (``mappings``, shown from 1.34)."""

    allocations: tuple[Allocation, ...]
    mappings: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def provider_ids(self) -> frozenset[int]:
        return frozenset(a.provider_id for a in self.allocations)


@dataclass(frozen=True, slots=True)
class SummaryResource:
    resource_class: str
    capacity: int
    used: int


@dataclass(frozen=True, slots=True)
class ProviderSummary:
    """What a scheduler needs to weigh a provider: capacity and usage per class, traits,
    and its place in its tree (uuids, since that is how clients name providers)."""

    provider_id: int
    uuid: str
    parent_uuid: str | None
    root_uuid: str
    resources: tuple[SummaryResource, ...]
    traits: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CandidateResult:
    # In answer order; the engine may hand a compact sequence that builds the values
    # on demand (see ``berth.query.results``).
    allocation_requests: Sequence[AllocationRequest]
    provider_summaries: tuple[ProviderSummary, ...]
    # provider id -> uuid for every provider named in allocation_requests.
    uuids: Mapping[int, str] = field(default_factory=dict)
