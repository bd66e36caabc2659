"""RAMWeigher, CPUWeigher, DiskWeigher: prefer hosts with more free memory, VCPUs, disk.

Free is the host tree's capacity (allocation ratios applied) minus usage, including what
this request has already planned there. With a positive multiplier this spreads
instances out; the ``pack`` strategy flips the sign to fill hosts first (see ``config``).
"""

from __future__ import annotations

from typing import ClassVar

from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.protocols import Context


class _FreeWeigher:
    resource_class: ClassVar[str]
    reads_group: ClassVar[bool] = False

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return hosts.free(self.resource_class).astype("float64")


class RAMWeigher(_FreeWeigher):
    name: ClassVar[str] = "RAMWeigher"
    resource_class: ClassVar[str] = "MEMORY_MB"


class CPUWeigher(_FreeWeigher):
    name: ClassVar[str] = "CPUWeigher"
    resource_class: ClassVar[str] = "VCPU"


class DiskWeigher(_FreeWeigher):
    name: ClassVar[str] = "DiskWeigher"
    resource_class: ClassVar[str] = "DISK_GB"
