"""AggregateMultiTenancyIsolation: hosts in aggregates with ``filter_tenant_id`` metadata
take only instances of the projects listed there.

Keys ``filter_tenant_id`` and ``filter_tenant_id<suffix>`` may each hold one project id or
a comma-separated list (Nova's forms); a host in no such aggregate takes any project.
"""

from __future__ import annotations

from typing import ClassVar

from berth.scheduler.host_metadata import Described, HostMetadata
from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import Context, Verdict

PREFIX = "filter_tenant_id"


def _allowed(meta: Described) -> frozenset[str] | None:
    """The projects hosts with this metadata are reserved for, or None when not reserved."""
    allowed: set[str] = set()
    restricted = False
    for described in meta.values():
        for key, value in described.items():
            if key.startswith(PREFIX):
                restricted = True
                allowed.update(p.strip() for p in value.split(",") if p.strip())
    return frozenset(allowed) if restricted else None


def allowed_projects(hosts: Hosts, pos: int, ctx: Context) -> frozenset[str] | None:
    """The projects the host is reserved for, or None when it is not reserved."""
    return _allowed(ctx.facts.host_metadata(int(hosts.roots[pos])))


def isolates(metadata: HostMetadata) -> bool:
    """Whether any aggregate reserves its hosts for projects (else the request's project
    changes no decision, and requests of different projects may be decided alike)."""
    return metadata.with_key(lambda key: key.startswith(PREFIX))


class AggregateMultiTenancyIsolation:
    name: ClassVar[str] = "AggregateMultiTenancyIsolation"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        project = ctx.request.project_id
        if not isolates(ctx.facts.metadata):
            return Verdict()

        def refused(meta: Described) -> bool:
            allowed = _allowed(meta)
            return allowed is not None and project not in allowed

        mask = ctx.facts.metadata.per_host(hosts.roots, refused, bool)
        return Verdict(
            ((f"reserved for other projects than {project}", mask),),
            detail=lambda pos: (
                f"host {hosts.name(pos)} is reserved for "
                + ", ".join(sorted(allowed_projects(hosts, pos, ctx) or ()))
            ),
        )
