"""Filters parsed from query strings: what a request asks of providers, as plain values.

The API layer parses ``required=`` / ``member_of=`` / ``resources=`` text into these; the db
and query layers only ever see the values, so one parser serves GET /resource_providers and
GET /allocation_candidates alike and the filtering code never re-reads query syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TraitFilter:
    """Trait constraints: every name in ``required``, none in ``forbidden``, and for each
    set in ``any_of`` at least one of its names (``required=in:A,B``, microversion 1.39)."""

    required: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()
    any_of: tuple[frozenset[str], ...] = ()

    @property
    def names(self) -> frozenset[str]:
        """Every trait name mentioned, to check all exist before filtering."""
        out = set(self.required) | set(self.forbidden)
        for group in self.any_of:
            out |= group
        return frozenset(out)

    @property
    def conflicts(self) -> frozenset[str]:
        """Names both required and forbidden (no provider can match; a_c refuses them)."""
        return self.required & self.forbidden

    def __bool__(self) -> bool:
        return bool(self.required or self.forbidden or self.any_of)

    def matches(self, traits: frozenset[str] | set[str]) -> bool:
        """Whether a provider having ``traits`` satisfies this filter."""
        if not self.required <= traits:
            return False
        if self.forbidden & traits:
            return False
        return all(group & traits for group in self.any_of)


@dataclass(frozen=True, slots=True)
class AggregateFilter:
    """Aggregate constraints: for each set in ``any_of`` membership in at least one of its
    aggregates (repeated ``member_of`` params AND together, ``in:`` ORs within one), and
    membership in none of ``forbidden`` (``!uuid`` / ``!in:...``, microversion 1.32)."""

    any_of: tuple[frozenset[str], ...] = ()
    forbidden: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        """Every aggregate uuid mentioned."""
        out = set(self.forbidden)
        for group in self.any_of:
            out |= group
        return frozenset(out)

    def __bool__(self) -> bool:
        return bool(self.any_of or self.forbidden)

    def matches(self, aggregates: frozenset[str] | set[str]) -> bool:
        """Whether a provider in ``aggregates`` satisfies this filter."""
        if self.forbidden & aggregates:
            return False
        return all(group & aggregates for group in self.any_of)


@dataclass(frozen=True, slots=True)
class ProviderQuery:
    """Everything GET /resource_providers can filter on; empty fields do not filter.

    ``resources`` maps a resource class name to an amount the provider must have room for.
    """

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: AggregateFilter = field(default_factory=AggregateFilter)
    resources: Mapping[str, int] = field(default_factory=dict)
    traits: TraitFilter = field(default_factory=TraitFilter)
