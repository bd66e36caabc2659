"""Every filter and weigher berth has, by name: the one place configuration resolves.

Configuration names filters (in the order they run) and weigher multipliers; this table
turns names into instances and rejects unknown names with the list of known ones, so a
typo in an operator's config is an error at start-up, not a silently skipped rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from berth.model.errors import InvalidError
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.filters.aggregate_extra_specs import AggregateInstanceExtraSpecsFilter
from berth.scheduler.filters.availability_zone import AvailabilityZoneFilter
from berth.scheduler.filters.compute import ComputeFilter
from berth.scheduler.filters.compute_capabilities import ComputeCapabilitiesFilter
from berth.scheduler.filters.image_properties import ImagePropertiesFilter
from berth.scheduler.filters.numa_topology import NUMATopologyFilter
from berth.scheduler.filters.pci_passthrough import PciPassthroughFilter
from berth.scheduler.filters.server_group import (
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from berth.scheduler.filters.tenant_isolation import AggregateMultiTenancyIsolation
from berth.scheduler.protocols import Filter, Weigher
from berth.scheduler.weighers.groups import (
    ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher,
)
from berth.scheduler.weighers.host_load import (
    BuildFailureWeigher,
    IoOpsWeigher,
    NumInstancesWeigher,
)
from berth.scheduler.weighers.resources import CPUWeigher, DiskWeigher, RAMWeigher

FILTERS: Mapping[str, type[Filter]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            ComputeFilter,
            AvailabilityZoneFilter,
            ComputeCapabilitiesFilter,
            ImagePropertiesFilter,
            AggregateInstanceExtraSpecsFilter,
            AggregateMultiTenancyIsolation,
            ServerGroupAffinityFilter,
            ServerGroupAntiAffinityFilter,
            NUMATopologyFilter,
            PciPassthroughFilter,
        )
    }
)

WEIGHERS: Mapping[str, type[Weigher]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            RAMWeigher,
            CPUWeigher,
            DiskWeigher,
            IoOpsWeigher,
            NumInstancesWeigher,
            ServerGroupSoftAffinityWeigher,
            ServerGroupSoftAntiAffinityWeigher,
            BuildFailureWeigher,
        )
    }
)


def filters(config: SchedulerConfig) -> tuple[Filter, ...]:
    unknown = [name for name in config.filters if name not in FILTERS]
    if unknown:
        raise InvalidError(
            f"unknown scheduler filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}"
        )
    return tuple(FILTERS[name]() for name in config.filters)


def weighers(config: SchedulerConfig) -> tuple[tuple[Weigher, float], ...]:
    """Enabled weighers (non-zero multiplier) with their effective multipliers."""
    unknown = [name for name in config.weights if name not in WEIGHERS]
    if unknown:
        raise InvalidError(
            f"unknown scheduler weigher(s) {', '.join(unknown)}; known: {', '.join(WEIGHERS)}"
        )
    out: list[tuple[Weigher, float]] = []
    for name, cls in WEIGHERS.items():
        multiplier = config.multiplier(name)
        if multiplier:
            out.append((cls(), multiplier))
    return tuple(out)
