"""The scheduler's configuration: which filters run, in what order, and how hosts are weighed.

Defaults follow Nova's (``[filter_scheduler]``): the same filters an operator of a Nova
cloud expects enabled, the same weigher multipliers (RAM/CPU/disk 1.0, I/O ops -1.0,
instance count 0, soft affinity 1.0, build failures 1,000,000). ``strategy`` is the
pack-versus-spread switch: ``spread`` (Nova's default behaviour) prefers hosts with more
free RAM/CPU/disk; ``pack`` flips those three multipliers' sign to fill hosts up first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from berth.model.errors import InvalidError
from berth.scheduler.aliases import PciAlias


class Strategy(StrEnum):
    SPREAD = "spread"
    PACK = "pack"


DEFAULT_FILTERS: tuple[str, ...] = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "AggregateInstanceExtraSpecsFilter",
    "AggregateMultiTenancyIsolation",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
    "NUMATopologyFilter",
    "PciPassthroughFilter",
)

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "RAMWeigher": 1.0,
        "CPUWeigher": 1.0,
        "DiskWeigher": 1.0,
        "IoOpsWeigher": -1.0,
        "NumInstancesWeigher": 0.0,
        "ServerGroupSoftAffinityWeigher": 1.0,
        "ServerGroupSoftAntiAffinityWeigher": 1.0,
        "BuildFailureWeigher": 1_000_000.0,
    }
)

# Weighers whose sign the pack/spread switch flips.
RESOURCE_WEIGHERS = frozenset({"RAMWeigher", "CPUWeigher", "DiskWeigher"})


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """There is no cap on the Placement pre-filter (Nova's ``max_placement_results``):
    berth screens every host as columns, so no candidate is left unseen.
    ``max_attempts`` bounds re-decisions after a lost claim; ``io_ops_window_s`` is how
    far back a claim still counts as an operation in progress on its host."""

    filters: tuple[str, ...] = DEFAULT_FILTERS
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    strategy: Strategy = Strategy.SPREAD
    max_attempts: int = 8
    default_availability_zone: str = "nova"
    io_ops_window_s: float = 300.0
    pci_aliases: Mapping[str, PciAlias] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidError("scheduler max_attempts must be at least 1")

    def multiplier(self, weigher: str) -> float:
        """The weigher's multiplier, sign-flipped for resource weighers when packing."""
        value = float(self.weights.get(weigher, 0.0))
        if self.strategy is Strategy.PACK and weigher in RESOURCE_WEIGHERS:
            return -value
        return value
