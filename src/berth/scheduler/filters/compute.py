"""ComputeFilter: disabled compute services take no new instances.

Nova marks a disabled compute service's root provider with ``COMPUTE_STATUS_DISABLED``
(and Placement-only deployments can set the trait by hand); such hosts are removed
here rather than in the Placement query so that the explanation can say so.
"""

from __future__ import annotations

from typing import ClassVar

from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import Context, Verdict

DISABLED = "COMPUTE_STATUS_DISABLED"


class ComputeFilter:
    name: ClassVar[str] = "ComputeFilter"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        disabled = hosts.with_trait(DISABLED)
        return Verdict(
            ((f"compute service disabled ({DISABLED})", disabled),),
            detail=lambda pos: f"host {hosts.name(pos)} has trait {DISABLED}",
        )
