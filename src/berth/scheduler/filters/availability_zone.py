"""AvailabilityZoneFilter: only hosts in the requested availability zone.

A host's zones are the ``availability_zone`` values in the metadata of the aggregates
its root provider is in (Nova's host aggregates); a host in no zoned aggregate is in the
default zone (``default_availability_zone``, "nova" as in Nova).
"""

from __future__ import annotations

from typing import ClassVar

from berth.scheduler.host_metadata import Described
from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import PASS, Context, Verdict

KEY = "availability_zone"


def host_zones(hosts: Hosts, pos: int, ctx: Context) -> set[str]:
    zones = ctx.facts.values(int(hosts.roots[pos]), KEY)
    return zones or {ctx.config.default_availability_zone}


def _zones(meta: Described, default: str) -> frozenset[str]:
    return frozenset(m[KEY] for m in meta.values() if KEY in m) or frozenset({default})


class AvailabilityZoneFilter:
    name: ClassVar[str] = "AvailabilityZoneFilter"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        wanted = ctx.request.availability_zone
        if wanted is None:
            return PASS
        default = ctx.config.default_availability_zone
        outside = ctx.facts.metadata.per_host(
            hosts.roots, lambda meta: wanted not in _zones(meta, default), bool
        )
        return Verdict(
            ((f"not in availability zone {wanted}", outside),),
            detail=lambda pos: (
                f"host {hosts.name(pos)} is in zone(s) "
                + ", ".join(sorted(host_zones(hosts, pos, ctx)))
            ),
        )
