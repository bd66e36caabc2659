"""AggregateMultiTenancyIsolation: hosts in aggregates with ``filter_tenant_id`` metadata
take only instances of the projects listed there.

Keys ``filter_tenant_id`` and ``filter_tenant_id<suffix>`` may each hold one project id or
a comma-separated list (Nova's forms); a host in no such aggregate takes any project.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import Context, Verdict

PREFIX = "filter_tenant_id"


def allowed_projects(hosts: Hosts, pos: int, ctx: Context) -> set[str] | None:
    """The projects the host is reserved for, or None when it is not reserved."""
    allowed: set[str] = set()
    restricted = False
    for meta in ctx.facts.host_metadata(int(hosts.roots[pos])).values():
        for key, value in meta.items():
            if key.startswith(PREFIX):
                restricted = True
                allowed.update(p.strip() for p in value.split(",") if p.strip())
    return allowed if restricted else None


class AggregateMultiTenancyIsolation:
    name: ClassVar[str] = "AggregateMultiTenancyIsolation"

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        project = ctx.request.project_id
        if not ctx.facts.metadata:
            return Verdict()

        def refused(pos: int) -> bool:
            allowed = allowed_projects(hosts, pos, ctx)
            return allowed is not None and project not in allowed

        mask = np.fromiter((refused(p) for p in range(len(hosts))), dtype=bool, count=len(hosts))
        return Verdict(
            ((f"reserved for other projects than {project}", mask),),
            detail=lambda pos: f"host {hosts.name(pos)} is reserved for "
            + ", ".join(sorted(allowed_projects(hosts, pos, ctx) or ())),
        )
