"""ServerGroupSoftAffinityWeigher / ServerGroupSoftAntiAffinityWeigher: soft group policies.

Soft policies never remove a host; they prefer hosts holding more (soft-affinity) or
fewer (soft-anti-affinity) of the group's members, counting this request's own planned
instances, as Nova's weighers do.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.model.server_group import SOFT_AFFINITY, SOFT_ANTI_AFFINITY
from berth.scheduler.filters.server_group import members_on
from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.protocols import Context


def _members(hosts: Hosts, ctx: Context, policy: str) -> FloatArray | None:
    group = ctx.facts.group
    if group is None or group.policy != policy:
        return None
    return members_on(hosts, ctx).astype(np.float64)


class ServerGroupSoftAffinityWeigher:
    name: ClassVar[str] = "ServerGroupSoftAffinityWeigher"
    reads_group: ClassVar[bool] = True

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        counts = _members(hosts, ctx, SOFT_AFFINITY)
        return counts if counts is not None else np.zeros(len(hosts))


class ServerGroupSoftAntiAffinityWeigher:
    name: ClassVar[str] = "ServerGroupSoftAntiAffinityWeigher"
    reads_group: ClassVar[bool] = True

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        counts = _members(hosts, ctx, SOFT_ANTI_AFFINITY)
        return -counts if counts is not None else np.zeros(len(hosts))
